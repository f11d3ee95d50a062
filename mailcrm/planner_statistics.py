"""Keeping PostgreSQL's statistics up with bulk writes.

A table bulk-loaded since its last ANALYZE looks empty (or as small as it was) to the planner
until autovacuum gets to it — a minute at best, much longer while its workers are busy with
large tables. Meanwhile every plan made from those statistics may be wrong, including the
foreign-key checks PostgreSQL runs per inserted or deleted row: seen here, a check of each new
message event reading the whole ``message_campaign_status`` index instead of the primary key
(10 ms per event), and a 100,000-row insert of events held for over 17 minutes. A bulk write
that may have moved a table past its statistics calls ``analyze_stale`` or
``analyze_after_insert`` after committing."""

from __future__ import annotations

from django.db import connection

# Autovacuum's analyze threshold: 50 rows plus 10 % of those the statistics know of.
_THRESHOLD_ROWS = 50
_THRESHOLD_SHARE = 0.1


def _analyze(cursor, table: str) -> None:
    cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def analyze_stale(tables: list[str]) -> list[str]:
    """ANALYZE those of ``tables`` whose statistics PostgreSQL itself would call stale (more
    rows changed since the last ANALYZE than autovacuum's 10 % + 50 threshold, or never
    analysed); returns the tables analysed. Nothing on other databases."""
    if connection.vendor != "postgresql" or not tables:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.relname = ANY(%s) AND (c.reltuples < 0 "
            "OR s.n_mod_since_analyze > %s + %s * greatest(c.reltuples, 0))",
            [tables, _THRESHOLD_ROWS, _THRESHOLD_SHARE],
        )
        stale = sorted(row[0] for row in cursor.fetchall())
        for table in stale:
            _analyze(cursor, table)
    return stale


def analyze_after_insert(table: str, rows: int) -> bool:
    """ANALYZE ``table`` after ``rows`` were inserted and committed, when they are more than
    autovacuum's threshold (50 + 10 % of the rows the statistics know of) — decided from the
    count the caller knows, since the activity counters this backend just wrote may not be
    visible yet (PostgreSQL flushes them up to a second later). Returns whether it ran."""
    if connection.vendor != "postgresql" or rows <= _THRESHOLD_ROWS:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
        found = cursor.fetchone()
        if found is None or rows <= _THRESHOLD_ROWS + _THRESHOLD_SHARE * max(found[0], 0):
            return False
        _analyze(cursor, table)
    return True
