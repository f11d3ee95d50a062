"""Keyset ("cursor") pagination: `{"results", "next"}`, `?page_size=` (default 50, max 500),
`?count=true` adds `"count"`. Pages are found by (ordering value, id) > cursor, never OFFSET,
so the last page of a million rows costs what the first does."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def _encode(values: list[Any]) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return {"dt": value.isoformat()}
        if isinstance(value, uuid.UUID | Decimal):
            return str(value)
        return value

    raw = json.dumps([plain(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != 2:
            raise ValueError
        return [parse_datetime(v["dt"]) if isinstance(v, dict) else v for v in values]
    except (ValueError, TypeError, KeyError, json.JSONDecodeError):
        raise ValidationError({"cursor": ["Invalid cursor."]}) from None


class KeysetPagination(BasePagination):
    """Views may declare ``ordering_fields`` (non-null columns) and ``default_ordering``;
    the ``ordering`` query parameter picks one (``-`` for descending). Ties break on id."""

    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset: QuerySet, request, view=None):
        self.request = request
        self.page_size = self._page_size(request)
        field, descending = self._ordering(request, view)
        direction = "-" if descending else ""
        queryset = queryset.order_by(f"{direction}{field}", f"{direction}pk")
        self.count = None
        if request.query_params.get("count", "").lower() in ("1", "true", "yes"):
            self.count = queryset.order_by().count()
        cursor = request.query_params.get("cursor")
        if cursor:
            value, pk = _decode(cursor)
            queryset = queryset.filter(self._after(field, value, pk, descending))
        rows = list(queryset[: self.page_size + 1])
        self.has_next = len(rows) > self.page_size
        rows = rows[: self.page_size]
        self.next_cursor = None
        if self.has_next and rows:
            last = rows[-1]
            self.next_cursor = _encode([getattr(last, field), last.pk])
        return rows

    def _after(self, field: str, value: Any, pk: Any, descending: bool) -> Q:
        op = "lt" if descending else "gt"
        if field == "pk":
            return Q(**{f"pk__{op}": pk})
        try:
            return Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"pk__{op}": pk})
        except (ValueError, TypeError):
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None

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
