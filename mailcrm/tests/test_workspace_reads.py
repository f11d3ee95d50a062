"""workspace_index_reads: random_page_cost lowered for a block of statements, put back after
it, taken back with its savepoint on failure, never raised over the server's setting."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mailcrm.workspace_reads import RANDOM_PAGE_COST, random_page_cost, workspace_index_reads

pytestmark = pytest.mark.django_db


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a PostgreSQL planner setting"
)


@postgresql_only
def test_the_block_is_planned_with_ssd_random_reads_and_the_setting_is_put_back():
    assert random_page_cost() == 4
    with workspace_index_reads():
        assert random_page_cost() == RANDOM_PAGE_COST == 1.1
    assert random_page_cost() == 4


@postgresql_only
def test_a_failing_block_takes_the_setting_with_it():
    with pytest.raises(RuntimeError), workspace_index_reads():
        assert random_page_cost() == 1.1
        raise RuntimeError("the statement failed")
    assert random_page_cost() == 4


@postgresql_only
def test_a_lower_configured_cost_is_never_raised():
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL random_page_cost = 1.0")
    with workspace_index_reads():
        assert random_page_cost() == 1.0
    assert random_page_cost() == 1.0


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the other databases")
def test_other_databases_run_the_block_without_a_statement_of_its_own():
    ran = False
    with CaptureQueriesContext(connection) as queries, workspace_index_reads():
        ran = True
    assert ran and len(queries) == 0
