"""``?count=true`` (exact) and ``?count=estimate`` (the planner's estimate for big lists) of
the API's keyset pagination."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact
from contacts.tests.factories import ContactFactory
from mailcrm.api import pagination

pytestmark = pytest.mark.django_db


@pytest.fixture
def contacts(workspace):
    return [ContactFactory(workspace=workspace) for _ in range(3)]


def test_count_true_is_exact_and_says_nothing_more(api, contacts):
    body = api.get("/api/v1/contacts?count=true").json()
    assert body["count"] == 3 and "count_estimated" not in body


def test_a_small_list_is_counted_exactly_even_when_an_estimate_is_asked(api, contacts):
    body = api.get("/api/v1/contacts?count=estimate").json()
    assert (body["count"], body["count_estimated"]) == (3, False)


def test_without_count_there_is_none(api, contacts):
    assert "count" not in api.get("/api/v1/contacts").json()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the estimate is PostgreSQL's")
def test_a_big_list_gets_the_planners_estimate_without_counting(api, contacts, monkeypatch):
    monkeypatch.setattr(pagination, "ESTIMATE_ABOVE", 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact")
    with CaptureQueriesContext(connection) as captured:
        body = api.get("/api/v1/contacts?count=estimate&status=active").json()
    assert body["count_estimated"] is True
    assert isinstance(body["count"], int) and body["count"] >= 1
    sqls = [q["sql"] for q in captured.captured_queries]
    explained = [sql for sql in sqls if sql.startswith("EXPLAIN (FORMAT JSON)")]
    # The estimate is of the filtered list, and nothing counts the rows.
    assert len(explained) == 1 and '"status" = ' in explained[0]
    assert not any("COUNT(" in sql.upper() for sql in sqls)


def test_off_postgresql_the_estimate_is_an_exact_count(contacts, workspace):
    from contacts.models import Contact

    queryset = Contact.objects.filter(workspace=workspace)
    if connection.vendor == "postgresql":
        assert pagination.planner_rows(queryset) is not None
    else:
        assert pagination.planner_rows(queryset) is None
        assert pagination.count_rows(queryset, estimate=True) == (3, False)


def test_filters_that_match_nothing_count_zero_when_an_estimate_is_asked(api, contacts, workspace):
    # Django proves some filters empty without SQL (id__in=[]); the planner had nothing to plan
    # and the list was a 500 (found by the API fuzzing: an early created_before).
    nothing = Contact.objects.filter(workspace=workspace, pk__in=[])
    assert pagination.count_rows(nothing, estimate=True) == (0, False)
    response = api.get(
        "/api/v1/contacts", {"count": "estimate", "created_before": "1427-03-17T15:20:24Z"}
    )
    assert response.status_code == 200, response.content
    assert (response.json()["count"], response.json()["results"]) == (0, [])
