"""created_before: on PostgreSQL the walk starts at the newest matching id (looked up first
when few contacts match); created_after: it stops at the oldest matching id (looked up when the
walk from the page's cursor finds few matches). The rows listed are the plain filter's whatever
the ids, including contacts whose created_at was written in the past after newer contacts were
made."""

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from contacts import filtersets
from contacts.models import Contact
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def people(workspace, outsider):
    made = [
        ContactFactory(workspace=workspace, email=f"p{n}@example.com", archived_at=None)
        for n in range(12)
    ]
    for n, contact in enumerate(made):
        # ids in creation order, created_at mostly following them...
        contact.created_at = NOW - datetime.timedelta(days=100 - n)
    # ...except two made last but dated in the past (an import keeping its dates, demo data).
    made[-1].created_at = NOW - datetime.timedelta(days=400)
    made[-2].created_at = NOW - datetime.timedelta(days=95, hours=12)
    Contact.objects.bulk_update(made, ["created_at"])
    return made


def _walk(api, query: str) -> list[str]:
    seen, url = [], f"/api/v1/contacts?{query}&page_size=3"
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.json()
        seen += [row["id"] for row in response.json()["results"]]
        url = response.json()["next"]
    return seen


def _plain(workspace, moment=None, after=None) -> list[str]:
    rows = Contact.objects.for_workspace(workspace)
    if moment is not None:
        rows = rows.filter(created_at__lt=moment)
    if after is not None:
        rows = rows.filter(created_at__gte=after)
    return [str(pk) for pk in rows.order_by("-pk").values_list("pk", flat=True)]


@pytest.mark.parametrize("newest_rows", [0, 100])
@pytest.mark.parametrize("probe_rows", [1, 3, 20_000])
@pytest.mark.parametrize("days_ago", [500, 399, 96, 95, 90, 80, 1])
def test_created_before_lists_what_the_plain_filter_does(
    api, workspace, people, monkeypatch, newest_rows, probe_rows, days_ago
):
    """Few matches (the bound counted), many (the bound walked: more than the probe counts),
    none; the newest contacts matching (no bound) or not looked at."""
    monkeypatch.setattr(filtersets, "CREATED_BEFORE_NEWEST_ROWS", newest_rows)
    monkeypatch.setattr(filtersets, "CREATED_BEFORE_PROBE_ROWS", probe_rows)
    moment = NOW - datetime.timedelta(days=days_ago)
    stamp = moment.isoformat().replace("+00:00", "Z")
    assert _walk(api, f"created_before={stamp}") == _plain(workspace, moment)
    oldest_first = _walk(api, f"created_before={stamp}&ordering=created_at")
    assert sorted(oldest_first) == sorted(_plain(workspace, moment))
    after = (moment - datetime.timedelta(days=6)).isoformat().replace("+00:00", "Z")
    assert _walk(api, f"created_after={after}&created_before={stamp}") == _plain(
        workspace, moment, moment - datetime.timedelta(days=6)
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bound is PostgreSQL's")
def test_the_newest_matching_id_is_the_bound(workspace, people, monkeypatch):
    moment = NOW - datetime.timedelta(days=95)
    # the newest contact matches: the plain walk is cheap, no bound
    assert filtersets.newest_id_created_before(workspace, moment) == (False, None)
    monkeypatch.setattr(filtersets, "CREATED_BEFORE_NEWEST_ROWS", 0)
    bounded, newest = filtersets.newest_id_created_before(workspace, moment)
    # the contact made last but dated 400 days ago is the newest id before that moment
    assert bounded and newest == str(people[-1].pk)
    assert filtersets.newest_id_created_before(workspace, NOW - datetime.timedelta(days=999)) == (
        True,
        None,
    )
    # 98 to 95 days ago: people[2..4] and people[-2] (dated 95.5 days ago), the newest id
    window = (moment, moment - datetime.timedelta(days=3))
    assert filtersets.newest_id_created_before(workspace, *window) == (True, str(people[-2].pk))
    # more matches than the count reads: the newest-first walk finds the same ids
    monkeypatch.setattr(filtersets, "CREATED_BEFORE_PROBE_ROWS", 2)
    assert filtersets.newest_id_created_before(workspace, *window) == (True, str(people[-2].pk))
    assert filtersets.newest_id_created_before(workspace, moment) == (True, str(people[-1].pk))


def _stamp(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("filled_rows", [1, 501])
@pytest.mark.parametrize("window_rows", [2, 20_000])
@pytest.mark.parametrize("read_matches_below", [0, 1000])
@pytest.mark.parametrize("days_ago", [500, 399, 96, 95, 90, 80, 1])
def test_created_after_lists_what_the_plain_filter_does(
    api, workspace, people, monkeypatch, filled_rows, window_rows, read_matches_below, days_ago
):
    """A page filled within the window (no bound) or not; the bound read from the matches or
    walked; none."""
    monkeypatch.setattr(filtersets, "CREATED_AFTER_FILLED_ROWS", filled_rows)
    monkeypatch.setattr(filtersets, "CREATED_AFTER_WINDOW_ROWS", window_rows)
    monkeypatch.setattr(filtersets, "CREATED_AFTER_READ_MATCHES_BELOW", read_matches_below)
    moment = NOW - datetime.timedelta(days=days_ago)
    assert _walk(api, f"created_after={_stamp(moment)}") == _plain(workspace, after=moment)
    oldest_first = _walk(api, f"created_after={_stamp(moment)}&ordering=created_at")
    assert sorted(oldest_first) == sorted(_plain(workspace, after=moment))
    before = moment + datetime.timedelta(days=6)
    assert _walk(api, f"created_after={_stamp(moment)}&created_before={_stamp(before)}") == (
        _plain(workspace, before, moment)
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bound is PostgreSQL's")
def test_the_oldest_matching_id_is_the_bound(workspace, people, monkeypatch):
    moment = NOW - datetime.timedelta(days=95)  # people[5..9] (people[-2] is 95.5 days ago)
    # the newest contacts hold a page's worth of matches within the window: no bound
    monkeypatch.setattr(filtersets, "CREATED_AFTER_FILLED_ROWS", 3)
    assert filtersets.oldest_id_created_after(workspace, moment) == (False, None)
    # from below people[6], the window holds people[5] alone: bounded by it
    below = str(people[6].pk)
    assert filtersets.oldest_id_created_after(workspace, moment, below=below) == (
        True,
        str(people[5].pk),
    )
    monkeypatch.setattr(filtersets, "CREATED_AFTER_WINDOW_ROWS", 2)
    assert filtersets.oldest_id_created_after(workspace, moment) == (True, str(people[5].pk))
    # the contact made last but dated 400 days ago is the oldest date, not the oldest id
    long_ago = NOW - datetime.timedelta(days=450)
    assert filtersets.oldest_id_created_after(workspace, long_ago) == (True, str(people[0].pk))
    assert filtersets.oldest_id_created_after(workspace, NOW) == (True, None)
    # 401 to 398 days ago: people[-1] alone
    window = (NOW - datetime.timedelta(days=401), NOW - datetime.timedelta(days=398))
    assert filtersets.oldest_id_created_after(workspace, *window) == (True, str(people[-1].pk))
    # read from the matches or walked, the same ids
    monkeypatch.setattr(filtersets, "CREATED_AFTER_READ_MATCHES_BELOW", 1000)
    assert filtersets.oldest_id_created_after(workspace, moment) == (True, str(people[5].pk))
    assert filtersets.oldest_id_created_after(workspace, long_ago) == (True, str(people[0].pk))
    monkeypatch.setattr(filtersets, "CREATED_AFTER_READ_MATCHES_BELOW", 0)
    assert filtersets.oldest_id_created_after(workspace, moment) == (True, str(people[5].pk))
    assert filtersets.oldest_id_created_after(workspace, long_ago) == (True, str(people[0].pk))
