"""Page-number pagination for every API list: ``page`` and ``page_size`` (up to 1000), strictly
validated (a malformed page size is a 400, not silently ignored)."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from api.params import MAX_ID, param_int, param_single


class Pagination(PageNumberPagination):
    """Page numbers; ``page_size`` up to 1000. A malformed page size is a 400, not ignored."""

    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        raw = param_single(request, self.page_query_param)
        if raw is None:
            return 1
        if raw in self.last_page_strings:
            return raw
        return param_int(request, self.page_query_param, minimum=1, maximum=MAX_ID)

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        return param_int(request, self.page_size_query_param, minimum=1, maximum=self.max_page_size)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        params = super().get_schema_operation_parameters(view)
        for p in params:
            p["schema"]["minimum"] = 1
            p["schema"]["maximum"] = (
                self.max_page_size if p["name"] == self.page_size_query_param else MAX_ID
            )
        return params
