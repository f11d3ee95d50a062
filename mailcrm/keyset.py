"""Keyset pagination shared by the API and the dashboard: a page is the rows after the last
(ordering value, id) seen, never an OFFSET, so the last page of a million rows costs what the
first does. The cursor is an opaque url-safe string."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import BooleanField, F, Func, Q, QuerySet, Value
from django.db.models.fields import Field
from django.utils.dateparse import parse_datetime


class InvalidCursor(ValueError):
    pass


def encode_cursor(values: list[Any]) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return {"dt": value.isoformat()}
        if isinstance(value, uuid.UUID | Decimal):
            return str(value)
        return value

    raw = json.dumps([plain(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != 2:
            raise ValueError
        decoded = [parse_datetime(v["dt"]) if isinstance(v, dict) else v for v in values]
        uuid.UUID(str(decoded[1]))
        return decoded
    except (ValueError, TypeError, KeyError, AttributeError):
        raise InvalidCursor("Invalid cursor.") from None


class _Row(Func):
    """``(a, b)``: a row value, compared element by element."""

    template = "(%(expressions)s)"


class RowAfter(Func):
    """``(a, b) > (x, y)``: PostgreSQL matches a row comparison to consecutive index columns,
    so a ``(workspace, field, id)`` index starts exactly at the cursor, ties included (the
    written-out ``a > x OR (a = x AND b > y)`` only bounds ``a``: a page deep in 10,000
    contacts of one score read them all). SQLite (3.15+) has row values too."""

    template = "%(expressions)s"
    arg_joiner = " > "
    output_field = BooleanField()
    conditional = True


class RowBefore(RowAfter):
    arg_joiner = " < "


def _field(queryset: QuerySet, name: str) -> Field:
    annotation = queryset.query.annotations.get(name)
    if annotation is not None:
        return annotation.output_field
    return queryset.model._meta.get_field(name)


@dataclass
class Page:
    rows: list[Any]
    next_cursor: str | None


def keyset_page(
    queryset: QuerySet, *, field: str = "pk", descending: bool = True, cursor: str | None, size: int
) -> Page:
    """One page of ``queryset`` ordered by (field, pk). ``field`` must be a non-null column."""
    direction = "-" if descending else ""
    queryset = queryset.order_by(f"{direction}{field}", f"{direction}pk")
    if cursor:
        value, pk = decode_cursor(cursor)
        if field == "pk":
            queryset = queryset.filter(Q(**{f"pk__{'lt' if descending else 'gt'}": pk}))
        else:
            column, key = _field(queryset, field), queryset.model._meta.pk
            try:
                value = column.to_python(value)
            except (ValidationError, ValueError, TypeError):
                # A cursor of another ordering (a date where a score is expected).
                raise InvalidCursor("Invalid cursor.") from None
            compare = RowBefore if descending else RowAfter
            queryset = queryset.filter(
                compare(
                    _Row(F(field), F("pk")),
                    _Row(Value(value, output_field=column), Value(pk, output_field=key)),
                )
            )
    rows = list(queryset[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, field), last.pk])
    return Page(rows=rows, next_cursor=next_cursor)
