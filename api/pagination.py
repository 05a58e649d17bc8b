"""Pagination of the API lists.

``Pagination``: page numbers for every list, ``page`` and ``page_size`` (up to 1000), strictly
validated (a malformed page size is a 400, not silently ignored).

``KeysetPagination`` (the scores list, 1.2 million rows on the demo): without ``page``, a
keyset ("cursor") list: each page is read from an index in the list's order, starting after the
last row of the previous page, so every page costs the same however deep it is and no
``COUNT(*)`` runs. ``next`` carries an opaque ``cursor``; follow it until it is ``null``. With
``page``, the page-number form (``count``, ``next`` and ``previous`` by page number) over the
first ``MAX_WINDOW`` rows only, as Elasticsearch's ``max_result_window``: ``page × page_size``
beyond 10,000 rows is a 400 naming the cursor form, and the count stops at the window:
``count`` is exact when the list holds at most 10,000 rows, else ``null`` with
``count_at_least: 10001``, never a wrong number. The ``next`` link of the window's last page
continues by cursor, so following ``next`` still reaches every row. Every page then costs at
most an index read of 10,001 rows, not a ``COUNT(*)`` and an ``OFFSET`` over 1.2 million
(issue 19, docs/performance.md).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from django.db.models import Q, QuerySet
from rest_framework.exceptions import NotFound, ValidationError
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


MAX_WINDOW = 10_000
"""Rows reachable by page number in a keyset list (``page × page_size`` at most this)."""


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
    max_window = MAX_WINDOW

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        raw_cursor = param_single(request, self.cursor_query_param)
        self.keyset = raw_cursor is not None or param_single(request, self.page_query_param) is None
        if not self.keyset:
            return self._page_number_rows(queryset, request, view)
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

    def _page_number_rows(self, queryset: QuerySet[Any], request: Request, view: Any) -> list[Any]:
        """The page-number form within the window (module doc). Raises ValidationError (400)
        for a page past the window or ``last`` over a list longer than it, NotFound (404) for a
        page past the end of a shorter list."""
        self.request = request
        self.page_size = size = self.get_page_size(request)
        page = self.get_page_number(request, None)
        window = self.max_window
        # COUNT over at most window + 1 rows: exact up to the window, "more" beyond it.
        count = queryset.order_by().values("pk")[: window + 1].count()
        self.count: int | None = count if count <= window else None
        if page in self.last_page_strings:
            if self.count is None:
                raise ValidationError({self.page_query_param: [self._past_window(size)]})
            page = max(-(-count // size), 1)
        if page * size > window:
            raise ValidationError({self.page_query_param: [self._past_window(size)]})
        offset = (page - 1) * size
        rows = list(queryset[offset : offset + size])
        if not rows and page > 1:
            raise NotFound(f"Invalid page: the list has {count} rows.")
        self.page_number = page
        more = offset + len(rows) < count
        self.next_link: str | None = None
        url = request.build_absolute_uri()
        if more and (page + 1) * size <= window:
            self.next_link = replace_query_param(url, self.page_query_param, page + 1)
        elif more:  # the window's last page: the rest by cursor
            last = rows[-1]
            fields = view.keyset_fields
            key = [last[f] if isinstance(last, dict) else getattr(last, f) for f in fields]
            self.next_link = remove_query_param(
                replace_query_param(url, self.cursor_query_param, self.encode(key)),
                self.page_query_param,
            )
        self.previous_link = (
            replace_query_param(url, self.page_query_param, page - 1) if page > 1 else None
        )
        return rows

    def _past_window(self, size: int) -> str:
        return (
            f"Page numbers reach the first {self.max_window:,} rows of this list (page × "
            f"page_size ≤ {self.max_window:,}; at page_size={size}, page ≤ "
            f"{self.max_window // size}). Beyond, read it by cursor: leave out `page` and "
            "follow the `next` links (docs/researcher-guide.md)."
        )

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
            body: dict[str, Any] = {"count": self.count}
            if self.count is None:
                body["count_at_least"] = self.max_window + 1
            body |= {"next": self.next_link, "previous": self.previous_link, "results": data}
            return Response(body)
        url = self.request.build_absolute_uri()
        next_url = None
        if self.next_cursor is not None:
            next_url = replace_query_param(url, self.cursor_query_param, self.next_cursor)
            next_url = remove_query_param(next_url, self.page_query_param)
        return Response({"next": next_url, "previous": None, "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        body = super().get_paginated_response_schema(schema)
        body["required"] = ["next", "previous", "results"]
        body["properties"]["count"] = {
            "type": "integer",
            "nullable": True,
            "example": 123,
            "description": (
                f"Only with `page` (page-number form): the number of rows when the list holds "
                f"at most {self.max_window:,}, else null (see `count_at_least`)."
            ),
        }
        body["properties"]["count_at_least"] = {
            "type": "integer",
            "example": self.max_window + 1,
            "description": (
                f"Only with `page`, when `count` is null: the list holds more than "
                f"{self.max_window:,} rows."
            ),
        }
        body["properties"]["next"]["description"] = (
            "The next page (a `cursor` link, or the next page number with `page`, by cursor "
            "past the page-number window); null at the end."
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
                    f"Page number (page-number form, with `count`), over the first "
                    f"{self.max_window:,} rows: page × page_size ≤ {self.max_window:,}, else "
                    "400 (the window's last page links on by cursor). Without it the list is "
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
