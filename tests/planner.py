"""What PostgreSQL's planner was told when a statement ran (tests of planner settings)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from mailcrm.workspace_reads import random_page_cost


@contextmanager
def random_page_cost_seen(statement_prefix: str) -> Iterator[list[float]]:
    """The random_page_cost each statement starting with ``statement_prefix`` ran with,
    collected while the block runs."""
    seen: list[float] = []

    def wrapper(execute, sql, params, many, context):
        if sql.startswith(statement_prefix):
            seen.append(random_page_cost())
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen
