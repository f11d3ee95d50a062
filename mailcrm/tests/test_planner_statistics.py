"""Statistics refreshed after bulk writes (mailcrm.planner_statistics): a table is analysed
once more rows were inserted than autovacuum's threshold, not for fewer, and never off
PostgreSQL (campaign_send's call: campaigns/tests/test_snapshot.py)."""

from __future__ import annotations

import pytest
from django.db import connection

from contacts.tests.factories import ContactFactory
from mailcrm.planner_statistics import analyze_after_insert

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's statistics"
)


def _known_rows(table: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
        return cursor.fetchone()[0]


@on_postgresql
def test_a_table_grown_past_the_threshold_is_analysed(workspace):
    ContactFactory.create_batch(3, workspace=workspace)
    # ANALYZE's figures outlive rolled-back tests, so the threshold is read, not assumed.
    threshold = 50 + 0.1 * max(_known_rows("contacts_contact"), 0)

    assert analyze_after_insert("contacts_contact", int(threshold)) is False
    assert analyze_after_insert("contacts_contact", int(threshold) + 1) is True
    assert _known_rows("contacts_contact") >= 3  # the sample saw this transaction's rows


@on_postgresql
def test_a_few_rows_never_cost_an_analyze(workspace):
    assert analyze_after_insert("contacts_contact", 50) is False


def test_nothing_is_analysed_off_postgresql():
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL analyses")
    assert analyze_after_insert("contacts_contact", 10**9) is False
