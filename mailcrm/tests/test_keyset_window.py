"""Newest-first pages looked for among the newest rows first (``mailcrm.keyset``'s window):
where PostgreSQL would collect and sort every match, the page is read from the newest
WINDOW_ROWS rows below the cursor, and the rest below them when the window holds fewer. The
pages are the plain filter's, whatever the window's size and the matches' places; the window is
the workspace's own rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.models import Contact
from contacts.tests.factories import ContactFactory
from mailcrm import keyset
from mailcrm.keyset import keyset_page

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the window answers PostgreSQL's plans"
)


@pytest.fixture
def people(workspace, outsider):
    """Newest last: matches (``@b.io``) in runs and gaps, so windows of a few rows hold a
    whole page, part of one, or none; the outsider's contacts match too."""
    domains = "aabbbaaaabbbbbbbaaaaab"
    for n, letter in enumerate(domains):
        ContactFactory(workspace=workspace, email=f"p{n}@{letter}.io")
    for n in range(3):
        ContactFactory(workspace=outsider.workspace, email=f"o{n}@b.io")
    return Contact.objects.filter(workspace=workspace)


def _planner_sorts_unless_bounded(queryset) -> bool:
    """What PostgreSQL does on a million contacts for a condition it cannot estimate: collect
    and sort every match, unless the page is bounded to the window (then it walks)."""
    return '" >= ' not in str(queryset.query)


def _walk(queryset, size: int, window) -> list:
    seen, cursor = [], None
    while True:
        page = keyset_page(queryset, cursor=cursor, size=size, window=window)
        seen += [row.pk for row in page.rows]
        if not page.next_cursor:
            return seen
        cursor = page.next_cursor


@on_postgresql
@pytest.mark.parametrize("window_rows", [1, 2, 3, 5, 8, 100])
@pytest.mark.parametrize("size", [1, 2, 3, 7])
@pytest.mark.parametrize("suffix", ["@b.io", "@a.io", "2@a.io", "@none.io"])
def test_every_page_is_the_plain_filters(people, monkeypatch, window_rows, size, suffix):
    monkeypatch.setattr(keyset, "WINDOW_ROWS", window_rows)
    monkeypatch.setattr(keyset, "_sorts_every_match", _planner_sorts_unless_bounded)
    matching = people.filter(email__endswith=suffix)
    plain = list(matching.order_by("-pk").values_list("pk", flat=True))
    assert _walk(matching, size, window=people) == plain


@on_postgresql
def test_the_page_is_read_within_the_window_when_it_holds_one(people, monkeypatch):
    monkeypatch.setattr(keyset, "WINDOW_ROWS", 6)
    monkeypatch.setattr(keyset, "_sorts_every_match", _planner_sorts_unless_bounded)
    with CaptureQueriesContext(connection) as captured:
        page = keyset_page(
            people.filter(email__endswith="@a.io"), cursor=None, size=2, window=people
        )
    reads = [q["sql"] for q in captured.captured_queries if "@a.io" in q["sql"]]
    assert len(reads) == 1 and '" >= ' in reads[0]  # the window's page, nothing below it
    newest = people.filter(email__endswith="@a.io").order_by("-pk")
    assert [row.pk for row in page.rows] == list(newest.values_list("pk", flat=True)[:2])


@on_postgresql
def test_a_plan_that_sorts_within_the_window_too_is_left_to_the_planner(people, monkeypatch):
    """An index the planner prefers even within the window (a trigram's): the plain page."""
    monkeypatch.setattr(keyset, "WINDOW_ROWS", 3)
    monkeypatch.setattr(keyset, "_sorts_every_match", lambda queryset: True)
    matching = people.filter(email__endswith="@b.io")
    with CaptureQueriesContext(connection) as captured:
        page = keyset_page(matching, cursor=None, size=4, window=people)
    reads = [q["sql"] for q in captured.captured_queries if "@b.io" in q["sql"]]
    assert len(reads) == 1 and '" >= ' not in reads[0]
    assert [row.pk for row in page.rows] == list(
        matching.order_by("-pk").values_list("pk", flat=True)[:4]
    )


@on_postgresql
def test_the_plan_check_reads_postgresqls_plan(people, monkeypatch):
    monkeypatch.setattr(keyset, "SORT_COST_ABOVE", -1)
    page = people.filter(email__endswith="@b.io").order_by("-pk")[:3]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        assert keyset._sorts_every_match(page)
        cursor.execute("SET LOCAL enable_indexscan = on")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        assert not keyset._sorts_every_match(page)
    assert not keyset._sorts_every_match(people.filter(pk__in=[])[:3])  # nothing to plan
    monkeypatch.setattr(keyset, "SORT_COST_ABOVE", 10**12)  # expected cheap: left alone
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        assert not keyset._sorts_every_match(page)


def test_without_a_window_or_off_postgresql_the_page_is_one_query(people):
    matching = people.filter(email__endswith="@b.io")
    for window in (None, people) if connection.vendor != "postgresql" else (None,):
        with CaptureQueriesContext(connection) as captured:
            keyset_page(matching, cursor=None, size=2, window=window)
        assert len(captured.captured_queries) == 1


def test_only_a_segment_language_list_is_windowed(api, people, monkeypatch):
    checked = []
    monkeypatch.setattr(keyset, "_sorts_every_match", lambda qs: checked.append(qs) or False)
    assert api.get("/api/v1/contacts", {"q": "b.io"}).status_code == 200
    assert checked == []
    assert api.get("/api/v1/contacts", {"query": 'email ENDS WITH "@b.io"'}).status_code == 200
    assert len(checked) == (1 if connection.vendor == "postgresql" else 0)


@pytest.mark.parametrize("path", ["/api/v1/contacts", "/api/v1/contacts/search"])
def test_the_api_lists_the_plain_filters_pages_and_never_another_workspaces(
    api, people, outsider, monkeypatch, path
):
    monkeypatch.setattr(keyset, "WINDOW_ROWS", 3)
    monkeypatch.setattr(keyset, "_sorts_every_match", _planner_sorts_unless_bounded)
    query = {"query": 'email ENDS WITH "@b.io"'}
    seen, url, params = [], path, {**query, "page_size": 2}
    while url:
        response = api.get(url, params)
        assert response.status_code == 200, response.json()
        seen += [row["email"] for row in response.json()["results"]]
        url, params = response.json()["next"], None
    plain = people.filter(email__endswith="@b.io").order_by("-pk")
    assert seen == list(plain.values_list("email", flat=True))
    assert not any(email.startswith("o") for email in seen)
    outsiders = outsider.api.get(path, query).json()["results"]
    assert sorted(row["email"] for row in outsiders) == ["o0@b.io", "o1@b.io", "o2@b.io"]


def test_the_dashboards_list_is_the_plain_filters(dashboard, people, monkeypatch):
    monkeypatch.setattr(keyset, "WINDOW_ROWS", 3)
    monkeypatch.setattr(keyset, "_sorts_every_match", _planner_sorts_unless_bounded)
    response = dashboard.get(
        reverse("dashboard:contacts:contacts"), {"query": 'email ENDS WITH "@a.io"'}
    )
    assert response.status_code == 200
    listed = [row.email for row in response.context["page"].rows]
    plain = people.filter(email__endswith="@a.io").order_by("-pk")
    assert listed == list(plain.values_list("email", flat=True)[: len(listed)])
    assert "o0@b.io" not in response.content.decode()
