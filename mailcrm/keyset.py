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

from django.db.models import Q, QuerySet
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
        op = "lt" if descending else "gt"
        if field == "pk":
            after = Q(**{f"pk__{op}": pk})
        else:
            # The first term repeats the bound the OR implies: without it PostgreSQL cannot
            # start the (workspace, field, id) index at the cursor and reads every row before
            # it (a page half-way through a million contacts: 940 ms instead of 0.3 ms).
            after = Q(**{f"{field}__{op}e": value}) & (
                Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"pk__{op}": pk})
            )
        queryset = queryset.filter(after)
    rows = list(queryset[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, field), last.pk])
    return Page(rows=rows, next_cursor=next_cursor)
