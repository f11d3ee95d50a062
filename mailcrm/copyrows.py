"""Inserting many rows of one model without a model instance per row.

``bulk_create`` builds, validates and prepares an instance per row: for the rows a campaign
chunk writes (an event and a timeline entry per message) that cost more CPU than rendering
the message's subject. On PostgreSQL one COPY takes the values as they are; elsewhere
bulk_create does the work (SQLite serves development and tests, not volume)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection, models


def _converter(field: models.Field) -> Callable[[Any], Any] | None:
    if isinstance(field, models.JSONField):
        encoder = field.encoder
        return lambda value: json.dumps(value, cls=encoder)  # what JSONField writes
    return None


def insert_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Insert ``rows``, each the values of ``fields`` (attribute names: ``contact_id``, not
    ``contact``; JSON fields as Python values). No defaults are applied and no instances are
    returned: name every column that needs a value, the primary key and timestamps included.
    Returns how many rows were inserted."""
    rows = list(rows)
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            [model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=1000
        )
        return len(rows)
    meta_fields = [model._meta.get_field(name) for name in fields]
    converters = [(n, c) for n, c in enumerate(map(_converter, meta_fields)) if c is not None]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in meta_fields)
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                if converters:
                    row = list(row)  # noqa: PLW2901
                    for n, convert in converters:
                        row[n] = convert(row[n])
                copy.write_row(row)
    return len(rows)
