"""Keyset ("cursor") pagination: `{"results", "next"}`, `?page_size=` (default 50, max 500),
`?count=true` adds `"count"`. Pages are found by (ordering value, id) > cursor, never OFFSET,
so the last page of a million rows costs what the first does.

An exact count reads every matching row (a million contacts: ~0.7–1.2 s on PostgreSQL, far
outside the list's 100 ms), so ``?count=estimate`` offers the planner's estimate instead: on
PostgreSQL, when the planner expects at least ``ESTIMATE_ABOVE`` rows, ``"count"`` is its row
estimate for the filtered query (EXPLAIN, no row read; as good as the table's statistics) and
``"count_estimated": true`` says so; below that, or on SQLite, the count is exact and
``"count_estimated"`` is false."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from mailcrm.keyset import InvalidCursor, keyset_page
from mailcrm.query_plans import query_plan

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# Under this many expected rows an exact count is cheap (an index range of a few thousand
# entries) and is what ?count=estimate answers.
ESTIMATE_ABOVE = 10_000


def planner_rows(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows ``queryset`` returns (EXPLAIN without ANALYZE: the
    query is planned, not run); None elsewhere."""
    if connection.vendor != "postgresql":
        return None
    plan = query_plan(queryset.order_by().values("pk"))
    return 0 if plan is None else int(plan["Plan Rows"])


def counts_asked(params) -> bool:
    """Whether a list's query parameters ask for a count (``?count=true`` or ``estimate``)."""
    return params.get("count") in ("true", "estimate")


def count_rows(queryset: QuerySet, *, estimate: bool) -> tuple[int, bool]:
    """(count, estimated): the exact count, or with ``estimate`` the planner's when it expects
    at least ``ESTIMATE_ABOVE`` rows."""
    queryset = queryset.order_by()
    if estimate:
        expected = planner_rows(queryset)
        if expected is not None and expected >= ESTIMATE_ABOVE:
            return expected, True
    return queryset.count(), False


class KeysetPagination(BasePagination):
    """Views may declare ``ordering_fields`` (non-null columns), ``ordering_expressions``
    (field name -> the expression to order it by) and ``default_ordering``; the ``ordering``
    query parameter picks one (``-`` for descending). Ties break on id."""

    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset: QuerySet, request, view=None):
        self.request = request
        self.page_size = self._page_size(request)
        field, descending = self._ordering(request, view)
        # An ordering may be an expression (``ordering_expressions``), e.g. lower(email) where
        # that is what an index holds; it is annotated and paged on like a column.
        expression = getattr(view, "ordering_expressions", {}).get(field)
        if expression is not None:
            field = f"{field}_ordering"
            queryset = queryset.annotate(**{field: expression})
        self.count, self.count_estimated = None, False
        wanted = request.query_params.get("count", "")
        if wanted not in ("true", "estimate", "false", ""):
            # Not silently "no count": the schema names the values (found by the API fuzzing).
            raise ValidationError({"count": ["Must be true, false or estimate."]})
        if counts_asked(request.query_params):
            self.count, self.count_estimated = count_rows(queryset, estimate=wanted == "estimate")
        try:
            page = keyset_page(
                queryset,
                field=field,
                descending=descending,
                cursor=request.query_params.get("cursor"),
                size=self.page_size,
                # The view's rows to look for a newest-first page among first (or None).
                window=view.newest_window() if hasattr(view, "newest_window") else None,
            )
        except InvalidCursor:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None
        self.next_cursor = page.next_cursor
        return page.rows

    def _page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return DEFAULT_PAGE_SIZE
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({"page_size": ["Must be a whole number."]}) from None
        if size < 1:
            raise ValidationError({"page_size": ["Must be at least 1."]})
        return min(size, MAX_PAGE_SIZE)

    def _ordering(self, request, view) -> tuple[str, bool]:
        allowed = list(getattr(view, "ordering_fields", []))
        default = getattr(view, "default_ordering", "-pk")
        raw = request.query_params.get("ordering") or default
        field = raw.lstrip("-")
        if field not in allowed and raw != default:
            choices = ", ".join(allowed + [f"-{name}" for name in allowed]) or "none"
            raise ValidationError(
                {"ordering": [f"Unknown ordering '{raw}'. Use one of: {choices}."]}
            )
        return field, raw.startswith("-")

    def get_paginated_response(self, data) -> Response:
        body: dict[str, Any] = {}
        if self.count is not None:
            body["count"] = self.count
            if self.request.query_params.get("count") == "estimate":
                body["count_estimated"] = self.count_estimated
        body["results"] = data
        body["next"] = (
            replace_query_param(self.request.build_absolute_uri(), "cursor", self.next_cursor)
            if self.next_cursor
            else None
        )
        return Response(body)

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "count": {
                    "type": "integer",
                    "description": "Only with ?count=true (exact) or ?count=estimate.",
                },
                "count_estimated": {
                    "type": "boolean",
                    "description": "Only with ?count=estimate: true when count is the "
                    "database planner's estimate (lists of 10,000 rows or more on PostgreSQL).",
                },
                "results": schema,
                "next": {"type": "string", "format": "uri", "nullable": True},
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
            {
                "name": "page_size",
                "in": "query",
                "required": False,
                # No maximum: a larger page size is capped, not refused (the schema said 500
                # was the most it took; found by the API fuzzing's invalid requests).
                "description": f"At most {MAX_PAGE_SIZE}: a larger page size is capped.",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": "count",
                "in": "query",
                "required": False,
                "description": "true: add the exact count; estimate: add the planner's "
                "estimate when it is 10,000 rows or more (exact below).",
                "schema": {"type": "string", "enum": ["true", "false", "estimate"]},
            },
        ]
