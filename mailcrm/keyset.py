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
from django.db import connection
from django.db.models import BooleanField, F, Func, Q, QuerySet, Value
from django.db.models.fields import Field
from django.utils.dateparse import parse_datetime

from mailcrm.query_plans import query_plan


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


# A newest-first page is first looked for among this many of the newest rows below the cursor
# when PostgreSQL means to collect every match and sort them (next to newest_window_rows)...
WINDOW_ROWS = 10_000
# ...at a cost it puts above this (its units: ≈ a page read; finding the window's end reads
# ≈ 5,000 index pages, 1.5 ms): a plan it expects cheaper is left as it is.
SORT_COST_ABOVE = 10_000


def _sorts_every_match(queryset: QuerySet) -> bool:
    """Whether PostgreSQL's plan for the page reads every match and sorts them (a Sort under
    the Limit, at a cost above SORT_COST_ABOVE) rather than walking an index in the page's
    order (EXPLAIN: planned, not run)."""
    node = query_plan(queryset)
    if node is None:  # nothing can match: no plan, nothing to sort
        return False
    # Limit, then (a parallel plan) Gather Merge, then the node that produces the order.
    while node["Node Type"] in ("Limit", "Gather Merge") and node.get("Plans"):
        node = node["Plans"][0]
    return node["Node Type"] == "Sort" and node["Total Cost"] > SORT_COST_ABOVE


def newest_window_rows(queryset: QuerySet, limit: int, window: QuerySet, below) -> list[Any]:
    """The first ``limit`` rows of ``queryset`` (newest first by id, already below the cursor
    ``below``), looked for first among the newest WINDOW_ROWS rows of ``window`` (the
    unfiltered rows, e.g. a workspace's contacts, with an index on (workspace, id)) below the
    cursor.

    PostgreSQL cannot estimate conditions such as ``email ENDS WITH`` or a property's prefix
    and assumes a few matches in a million, so it reads every match and sorts them (a
    million contacts: 270 ms) where the matches are many among the newest rows and walking
    the index would find a page in a few thousand rows. Bounded to the window, the walk is
    its cheap plan. Exact whatever the data: the rows the window holds are the page's first
    rows, and the rest, if the window holds fewer than ``limit``, are read below it."""
    if connection.vendor != "postgresql" or not _sorts_every_match(queryset[:limit]):
        return list(queryset[:limit])
    newest = window if below is None else window.filter(pk__lt=below)
    end = newest.order_by("-pk").values_list("pk", flat=True)[WINDOW_ROWS - 1 : WINDOW_ROWS].first()
    if end is None:  # fewer rows than the window below the cursor: nothing to bound
        return list(queryset[:limit])
    within = queryset.filter(pk__gte=end)
    if _sorts_every_match(within[:limit]):  # an index it prefers (a trigram's): no walk
        return list(queryset[:limit])
    rows = list(within[:limit])
    if len(rows) < limit:
        rows += list(queryset.filter(pk__lt=end)[: limit - len(rows)])
    return rows


@dataclass
class Page:
    rows: list[Any]
    next_cursor: str | None


def keyset_page(
    queryset: QuerySet,
    *,
    field: str = "pk",
    descending: bool = True,
    cursor: str | None,
    size: int,
    window: QuerySet | None = None,
) -> Page:
    """One page of ``queryset`` ordered by (field, pk). ``field`` must be a non-null column.
    With ``window`` (the rows ``queryset`` filters, unfiltered), a newest-first page is looked
    for among the newest of them first (``newest_window_rows``)."""
    direction = "-" if descending else ""
    queryset = queryset.order_by(f"{direction}{field}", f"{direction}pk")
    pk = None
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
    if window is not None and field == "pk" and descending:
        rows = newest_window_rows(queryset, size + 1, window, pk)
    else:
        rows = list(queryset[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, field), last.pk])
    return Page(rows=rows, next_cursor=next_cursor)
