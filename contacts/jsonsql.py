"""SQL for JSON property values that Django's ORM does not express on both databases.
Each feature is chosen per vendor here, in one place (ARCHITECTURE.md, "Embedded mode")."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import BooleanField, CharField, Expression, F


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _OnProperties(Expression):
    """An expression over one key of the contacts' ``properties`` column."""

    def __init__(self, key: str, field: str = "properties"):
        super().__init__()
        self.key = key
        self.source = F(field)

    def resolve_expression(self, *args, **kwargs):
        clone = self.copy()
        clone.source = self.source.resolve_expression(*args, **kwargs)
        return clone

    def get_source_expressions(self):
        return [self.source]

    def set_source_expressions(self, exprs):
        (self.source,) = exprs


class JsonKeyType(_OnProperties):
    """The JSON type of ``properties -> key`` as one of number, string, boolean, array,
    object, null — or ``missing``, never SQL NULL, so conditions built on it stay two-valued."""

    output_field = CharField()

    def as_postgresql(self, compiler, connection):
        column, params = compiler.compile(self.source)
        return f"COALESCE(jsonb_typeof({column} -> %s), 'missing')", [*params, self.key]

    def as_sqlite(self, compiler, connection):
        column, params = compiler.compile(self.source)
        sql = (
            f"COALESCE(CASE json_type({column}, %s) "
            "WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' WHEN 'text' THEN 'string' "
            "WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' "
            f"ELSE json_type({column}, %s) END, 'missing')"
        )
        path = _json_path(self.key)
        return sql, [*params, path, *params, path]


class JsonArrayContains(_OnProperties):
    """True when ``properties -> key`` is an array holding ``value``.

    On PostgreSQL this is containment of the whole column (``properties @> '{"key":
    [value]}'``), which the GIN ``jsonb_path_ops`` index on properties serves and whose share
    of rows the planner can estimate; ``(properties -> key) @> …`` could use neither, and the
    planner's guess (0.1 %) made it sort the whole table for a first page."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, key: str, value: Any, field: str = "properties"):
        super().__init__(key, field)
        self.value = value

    def as_postgresql(self, compiler, connection):
        column, params = compiler.compile(self.source)
        return f"({column} @> %s::jsonb)", [*params, json.dumps({self.key: [self.value]})]

    def as_sqlite(self, compiler, connection):
        column, params = compiler.compile(self.source)
        sql = f"EXISTS (SELECT 1 FROM json_each({column}, %s) AS je WHERE je.value = %s)"  # nosec B608 - identifiers are ours, values are bound parameters
        return sql, [*params, _json_path(self.key), self.value]


class JsonKeyEquals(_OnProperties):
    """True when ``properties -> key`` is exactly the JSON scalar ``value`` (same type).

    On PostgreSQL this is containment (``properties @> '{"key": value}'``), which the GIN
    ``jsonb_path_ops`` index on properties serves; on SQLite a typed comparison."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, key: str, value: str | int | float | bool, field: str = "properties"):
        super().__init__(key, field)
        self.value = value

    def as_postgresql(self, compiler, connection):
        column, params = compiler.compile(self.source)
        return f"({column} @> %s::jsonb)", [*params, json.dumps({self.key: self.value})]

    def as_sqlite(self, compiler, connection):
        column, params = compiler.compile(self.source)
        path = _json_path(self.key)
        if isinstance(self.value, bool):
            kind = "'true'" if self.value else "'false'"
            return f"COALESCE(json_type({column}, %s) = {kind}, 0)", [*params, path]
        kinds = "('integer', 'real')" if isinstance(self.value, int | float) else "('text')"
        # COALESCE: a missing key gives NULLs, and the condition must stay true or false.
        sql = f"COALESCE(json_type({column}, %s) IN {kinds} AND json_extract({column}, %s) = %s, 0)"
        return sql, [*params, path, *params, path, self.value]
