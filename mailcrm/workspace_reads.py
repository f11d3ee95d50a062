"""Reading one workspace's rows out of tables every workspace shares, on PostgreSQL.

A workspace's contacts lie on the heap in id order (ids are time-ordered, rows appended), so
walking a ``(workspace, …)`` index reads that workspace's pages and no other's. The planner
cannot see it — its correlation figure is per column — and at the default ``random_page_cost``
of 4 it prices such a walk above a sequential scan of the whole table, every other workspace's
rows and the free space they left included. Statements that read a large share of one
workspace (a campaign's snapshot, a segment's preview count) run inside
``workspace_index_reads()``: random reads priced as on an SSD, PostgreSQL's usual advice for
such storage, for those statements only (docs/performance.md, "Sending" and "Segments")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

# Only ever lowered to this, never raised over what the server was configured with.
RANDOM_PAGE_COST = 1.1


def random_page_cost() -> float:
    """The random_page_cost the next statement on this connection is planned with."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('random_page_cost')::float8")
        return cursor.fetchone()[0]


def _set_random_page_cost(value: float) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('random_page_cost', %s, true)", [str(value)])


@contextmanager
def workspace_index_reads() -> Iterator[None]:
    """Plan the statements of the block with ``random_page_cost`` at most RANDOM_PAGE_COST.

    The block runs in a savepoint of its own: the setting is put back when it ends, and a
    failure takes the setting with the savepoint's rollback. Nothing on other databases."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        configured = random_page_cost()
        _set_random_page_cost(min(configured, RANDOM_PAGE_COST))
        yield
        _set_random_page_cost(configured)
