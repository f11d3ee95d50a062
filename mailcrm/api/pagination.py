"""Keyset ("cursor") pagination: `{"results", "next"}`, `?page_size=` (default 50, max 500),
`?count=true` adds `"count"`. Pages are found by (ordering value, id) > cursor, never OFFSET,
so the last page of a million rows costs what the first does."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from mailcrm.keyset import InvalidCursor, keyset_page

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


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
        self.count = None
        if request.query_params.get("count", "").lower() in ("1", "true", "yes"):
            self.count = queryset.order_by().count()
        try:
            page = keyset_page(
                queryset,
                field=field,
                descending=descending,
                cursor=request.query_params.get("cursor"),
                size=self.page_size,
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
                "count": {"type": "integer", "description": "Only with ?count=true."},
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
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            },
            {"name": "count", "in": "query", "required": False, "schema": {"type": "boolean"}},
        ]
