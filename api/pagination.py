"""Pagination of the API lists.

``Pagination``: page numbers for every list, ``page`` and ``page_size`` (up to 1000), strictly
validated (a malformed page size is a 400, not silently ignored).

``KeysetPagination`` (the scores list, 1.2 million rows on the demo): without ``page``, a
keyset ("cursor") list: each page is read from an index in the list's order, starting after the
last row of the previous page, so every page costs the same however deep it is and no
``COUNT(*)`` runs. ``next`` carries an opaque ``cursor``; follow it until it is ``null``. With
``page``, the page-number form as before (``count``, ``next`` and ``previous`` by page number),
whose ``OFFSET`` and count grow with the list: kept for clients that jump to a page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

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


def keyset_after(fields: Sequence[str], values: Sequence[Any]) -> Q:
    """Rows strictly after ``values`` in the order of ``fields`` (all ascending): the row
    comparison ``(f1, f2, …) > (v1, v2, …)`` written out as
    ``f1 > v1 OR (f1 = v1 AND f2 > v2) OR …``, plus ``f1 >= v1``, which lets the database start
    its index scan at the cursor instead of filtering every row before it."""
    if not fields or len(fields) != len(values):
        raise ValueError("keyset_after needs one value per field.")
    after = Q()
    for i, name in enumerate(fields):
        term = Q(**{f"{name}__gt": values[i]})
        for prior, value in zip(fields[:i], values[:i], strict=True):
            term &= Q(**{prior: value})
        after |= term
    return Q(**{f"{fields[0]}__gte": values[0]}) & after


class KeysetPagination(Pagination):
    """Keyset pages without ``page`` (module doc), page numbers with it.

    The view names its order in ``keyset_fields``: fields or annotations of the queryset, all
    ascending, unique together over the list, with an index in that order (the queryset must be
    ordered by exactly them; its rows are model instances or ``values()`` dicts).
    ``keyset_types`` gives each one's Python type, to validate a cursor. A cursor is the last
    row's values as URL-safe base64 of a JSON array: opaque to clients, and any value it carries
    only narrows the client's own filtered list.
    """

    cursor_query_param = "cursor"
    invalid_cursor_message = "Invalid cursor: use the `next` link of the previous page."

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        raw_cursor = param_single(request, self.cursor_query_param)
        self.keyset = raw_cursor is not None or param_single(request, self.page_query_param) is None
        if not self.keyset:
            return super().paginate_queryset(queryset, request, view)
        if raw_cursor is not None and param_single(request, self.page_query_param) is not None:
            raise ValidationError({self.cursor_query_param: ["Give either `page` or `cursor`."]})
        fields, types = view.keyset_fields, view.keyset_types
        self.request = request
        self.page_size = self.get_page_size(request)
        if raw_cursor is not None:
            queryset = queryset.filter(keyset_after(fields, self.decode(raw_cursor, types)))
        rows = list(queryset[: self.page_size + 1])
        self.next_cursor = None
        if len(rows) > self.page_size:
            rows = rows[: self.page_size]
            last = rows[-1]
            key = [last[f] if isinstance(last, dict) else getattr(last, f) for f in fields]
            self.next_cursor = self.encode(key)
        return rows

    def encode(self, values: list[Any]) -> str:
        """The cursor after a row with these key values."""
        data = json.dumps(values, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    def decode(self, raw: str, types: Sequence[type]) -> list[Any]:
        """A cursor's key values. Raises ValidationError (400) for anything ``encode`` did not
        make: bad base64 or JSON, a wrong number of values, a value of the wrong type."""
        if len(raw) > 2048:
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})
        try:
            values = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except (binascii.Error, ValueError):
            raise ValidationError(
                {self.cursor_query_param: [self.invalid_cursor_message]}
            ) from None
        if not (
            isinstance(values, list)
            and len(values) == len(types)
            and all(
                type(v) is t
                and (t is not int or 0 <= v <= MAX_ID)
                and (t is not str or len(v) < 256)
                for v, t in zip(values, types, strict=True)
            )
        ):
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})
        return values

    def get_paginated_response(self, data: Any) -> Response:
        if not self.keyset:
            return super().get_paginated_response(data)
        url = self.request.build_absolute_uri()
        next_url = None
        if self.next_cursor is not None:
            next_url = replace_query_param(url, self.cursor_query_param, self.next_cursor)
            next_url = remove_query_param(next_url, self.page_query_param)
        return Response({"next": next_url, "previous": None, "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        body = super().get_paginated_response_schema(schema)
        body["required"] = ["next", "previous", "results"]
        body["properties"]["count"]["description"] = "Only with `page` (page-number form)."
        body["properties"]["next"]["description"] = (
            "The next page (a `cursor` link, or the next page number with `page`); null at the end."
        )
        body["properties"]["previous"]["description"] = (
            "The previous page with `page`; always null in the cursor form (forward only)."
        )
        return body

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        params = super().get_schema_operation_parameters(view)
        for p in params:
            if p["name"] == self.page_query_param:
                p["description"] = (
                    "Page number (page-number form, with `count`). Without it the list is "
                    "read by cursor: follow `next`."
                )
        params.append(
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque position from a `next` link (not with `page`).",
                "schema": {"type": "string", "maxLength": 2048, "pattern": "^[A-Za-z0-9_-]*$"},
            }
        )
        return params
