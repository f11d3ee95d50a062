"""PostgreSQL's plan of a queryset, read without running it (EXPLAIN without ANALYZE)."""

from __future__ import annotations

import json

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet


def query_plan(queryset: QuerySet) -> dict | None:
    """The top node of the plan PostgreSQL makes for ``queryset`` (its ``Plan`` in EXPLAIN's
    JSON form), or None when Django proved the filters match nothing (e.g. ``id__in=[]``):
    there is no SQL to plan. PostgreSQL only."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return None
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        (document,) = cursor.fetchone()
    return (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
