"""Tracking hits (open pixel, click redirect) are answered after a signature check and one
append, and written by the drain: every hit once, with device analytics and machine flags,
counted on its contact, whatever crashes or runs twice. Run on the database queue and, when
REDIS_URL is set, on the Redis stream too."""

import hashlib
import hmac
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import hits, tracking
from campaigns.models import Campaign, EventType, Link, Message, MessageEvent, PendingHit
from campaigns.tokens import make_token
from contacts.models import Activity, Contact
from contacts.tests.factories import ContactFactory
from mailcrm.models import Event
from mailcrm.tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
QUEUES = ["database", "redis"] if settings.REDIS_URL else ["database"]


@pytest.fixture(params=QUEUES)
def queue(request):
    """The hits' queue under test; its Redis stream emptied before and after."""
    with override_settings(TRACKING_HITS_QUEUE=request.param):
        if request.param == "redis":
            hits._stream().client.delete(hits._stream().key)
        from django.core.cache import cache

        cache.clear()
        tracking.forget_links()
        yield request.param
        if request.param == "redis":
            hits._stream().client.delete(hits._stream().key)


@pytest.fixture
def deferred(queue, monkeypatch):
    """Hits wait for the drain, as with a real worker."""
    monkeypatch.setattr(hits, "request_drain", lambda: None)
    return queue


def _message(contact, campaign=None, sent_ago=timedelta(hours=1)) -> Message:
    return Message.objects.create(
        workspace=contact.workspace,
        campaign=campaign,
        contact_id=contact.pk,
        kind="campaign" if campaign else "transactional",
        email=contact.email,
        status="sent",
        sent_at=timezone.now() - sent_ago,
    )


def _campaign_link(campaign, url="https://acme.example/spring") -> Link:
    return Link.objects.create(
        workspace_id=campaign.workspace_id,
        campaign=campaign,
        url=url,
        url_hash=hashlib.sha256(url.encode()).hexdigest(),
    )


def _open(client, message, agent=IPHONE, method="get"):
    return getattr(client, method)(f"/t/o/{make_token('open', message.id)}", HTTP_USER_AGENT=agent)


def _click(client, message, link, agent=IPHONE, query=""):
    token = make_token("click", message.id, link.id)
    return client.get(f"/t/c/{token}{query}", HTTP_USER_AGENT=agent)


def test_hits_wait_and_the_drain_writes_counts_and_announces_them(client, workspace, deferred):
    contact = ContactFactory(workspace=workspace)
    campaign = Campaign.objects.create(workspace=workspace, name="Spring")
    message = _message(contact, campaign)
    link = _campaign_link(campaign)
    assert _open(client, message).status_code == 200
    assert _open(client, message).status_code == 200
    assert _click(client, message, link).status_code == 302
    assert not MessageEvent.objects.exists()
    assert hits.pending() == 3

    assert hits.drain() == 3
    assert hits.pending() == 0
    opened = MessageEvent.objects.filter(message=message, type=EventType.OPENED)
    assert opened.count() == 2
    event = opened.first()
    assert (event.workspace_id, event.is_machine) == (workspace.pk, False)
    assert (event.device_type, event.client, event.os) == ("mobile", "Apple Mail", "iOS")
    assert event.data == {"user_agent": IPHONE}
    clicked = MessageEvent.objects.get(message=message, type=EventType.CLICKED)
    assert clicked.url == link.url
    contact.refresh_from_db()
    assert (contact.opens, contact.clicks) == (2, 1)
    assert contact.last_opened_at == max(opened.values_list("occurred_at", flat=True))
    assert Activity.objects.filter(contact=contact).count() == 3
    announced = Event.objects.filter(
        workspace=workspace, type__in=["email.opened", "email.clicked"]
    )
    assert announced.count() == 3
    assert hits.drain() == 0


def test_hits_are_written_at_once_when_tasks_run_synchronously(client, workspace, queue):
    contact = ContactFactory(workspace=workspace)
    message = _message(contact)
    assert _open(client, message).status_code == 200
    assert MessageEvent.objects.filter(message=message, type=EventType.OPENED).count() == 1
    assert Contact.objects.get(pk=contact.pk).opens == 1
    assert hits.pending() == 0


def test_an_open_costs_no_query_with_redis_and_one_insert_without(client, workspace, deferred):
    message = _message(ContactFactory(workspace=workspace))
    with CaptureQueriesContext(connection) as queries:
        assert _open(client, message).status_code == 200
    expected = 0 if deferred == "redis" else 1
    assert len(queries) == expected, [q["sql"] for q in queries]


def test_forged_altered_or_misused_tokens_are_not_found(client, workspace, deferred):
    message = _message(ContactFactory(workspace=workspace))
    token = make_token("open", message.id)
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    other_id = make_token("open", _message(ContactFactory(workspace=workspace)).id)
    spliced = other_id[:23] + token[23:]  # another message's id with this token's signature
    campaign = Campaign.objects.create(workspace=workspace, name="C")
    click_token = make_token("click", message.id, _campaign_link(campaign).id)
    for bad in (altered, spliced, "not-a-token", "", click_token):
        assert client.get(f"/t/o/{bad}").status_code == 404
    assert client.get(f"/t/c/{token}").status_code == 404  # an open token is not a click
    assert hits.pending() == 0


def test_a_token_with_a_short_or_unsigned_mac_is_refused(client, workspace, deferred):
    import base64

    message = _message(ContactFactory(workspace=workspace))
    payload = bytes([1]) + message.id.bytes
    unsigned = base64.urlsafe_b64encode(payload + bytes(16)).decode().rstrip("=")
    wrong_key = hmac.new(b"guess", payload, "sha256").digest()[:16]
    guessed = base64.urlsafe_b64encode(payload + wrong_key).decode().rstrip("=")
    for bad in (unsigned, guessed):
        assert client.get(f"/t/o/{bad}").status_code == 404
    assert hits.pending() == 0


def test_a_click_goes_only_to_a_link_stored_for_its_message(client, workspace, deferred):
    contact = ContactFactory(workspace=workspace)
    campaign = Campaign.objects.create(workspace=workspace, name="Spring")
    message = _message(contact, campaign)
    link = _campaign_link(campaign, "https://acme.example/spring?ref=mail")
    response = _click(client, message, link, query="?url=https://evil.example/&next=//evil")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "acme.example", "/spring")
    query = parse_qs(target.query)
    assert query["ref"] == ["mail"] and set(query) == {"ref", tracking.VISITOR_PARAM}
    assert tracking.read_visitor_token(query[tracking.VISITOR_PARAM][0]) == str(contact.pk)

    # A link of another campaign, signed for this message by mistake, still leads nowhere.
    other = Campaign.objects.create(workspace=workspace, name="Other")
    elsewhere = _campaign_link(other, "https://elsewhere.example/")
    assert _click(client, message, elsewhere).status_code == 404
    missing = Link(id=link.id + 10_000)
    assert _click(client, message, missing).status_code == 404
    assert hits.pending() == 1


def test_a_transactional_click_uses_the_messages_own_link(client, workspace, deferred):
    contact = ContactFactory(workspace=workspace)
    message = _message(contact)
    own = Link.objects.create(
        workspace=workspace, message=message, url="https://acme.example/reset", url_hash="r"
    )
    other = Link.objects.create(
        workspace=workspace,
        message=_message(contact),
        url="https://acme.example/other",
        url_hash="o",
    )
    assert _click(client, message, own)["Location"].startswith("https://acme.example/reset?")
    assert _click(client, message, other).status_code == 404
    assert hits.drain() == 1
    assert MessageEvent.objects.get(type=EventType.CLICKED).url == "https://acme.example/reset"


def test_nothing_is_recorded_for_a_contact_who_opted_out(client, workspace, deferred):
    shy = ContactFactory(workspace=workspace, tracking_opt_out=True)
    campaign = Campaign.objects.create(workspace=workspace, name="Spring")
    message = _message(shy, campaign)
    link = _campaign_link(campaign)
    assert _open(client, message).status_code == 200
    response = _click(client, message, link)
    assert response["Location"] == link.url  # no visitor id either
    assert hits.drain() == 2
    assert not MessageEvent.objects.exists()
    assert Contact.objects.get(pk=shy.pk).opens == 0


def test_machine_hits_are_flagged_not_counted_not_announced(client, workspace, deferred):
    contact = ContactFactory(workspace=workspace)
    campaign = Campaign.objects.create(workspace=workspace, name="Spring")
    fresh = _message(contact, campaign, sent_ago=timedelta(seconds=0))
    link = _campaign_link(campaign)
    _open(client, fresh, method="head")
    _open(client, fresh, agent=PROXY)
    _click(client, fresh, link)  # a scanner following links right after delivery
    later = _message(ContactFactory(workspace=workspace), campaign, sent_ago=timedelta(hours=1))
    _click(client, later, link)  # a person, an hour later
    assert hits.drain() == 4

    flags = sorted(MessageEvent.objects.values_list("type", "is_machine", "message_id"))
    assert flags == sorted(
        [
            (EventType.OPENED, True, fresh.id),
            (EventType.OPENED, True, fresh.id),
            (EventType.CLICKED, True, fresh.id),
            (EventType.CLICKED, False, later.id),
        ]
    )
    contact.refresh_from_db()
    assert (contact.opens, contact.clicks) == (0, 0)
    assert list(Event.objects.filter(type__startswith="email.").values_list("type", flat=True)) == [
        "email.clicked"
    ]


def test_another_workspaces_token_only_ever_touches_its_own_message(client, workspace, deferred):
    ours = ContactFactory(workspace=workspace)
    outsider = WorkspaceFactory(name="Outsider")
    theirs = ContactFactory(workspace=outsider, email=ours.email)
    their_message = _message(theirs)
    _message(ours)
    assert _open(client, their_message).status_code == 200
    assert hits.drain() == 1
    event = MessageEvent.objects.get()
    assert (event.workspace_id, event.message_id) == (outsider.pk, their_message.id)
    assert Contact.objects.get(pk=ours.pk).opens == 0
    assert Contact.objects.get(pk=theirs.pk).opens == 1
    assert not Event.objects.filter(workspace=workspace, type__startswith="email.").exists()


def test_a_hit_of_a_deleted_message_is_dropped(client, workspace, deferred):
    message = _message(ContactFactory(workspace=workspace))
    _open(client, message)
    Message.objects.filter(pk=message.pk).delete()
    assert hits.drain() == 1
    assert hits.pending() == 0 and not MessageEvent.objects.exists()


def _queued_hits(client, workspace, count: int) -> list[Contact]:
    people = [ContactFactory(workspace=workspace) for _ in range(count)]
    for contact in people:
        _open(client, _message(contact))
    return people


def test_writing_the_same_hits_twice_records_and_counts_them_once(client, workspace, deferred):
    people = _queued_hits(client, workspace, 3)
    if deferred == "redis":
        claimed = [hits.Hit.loads(f[b"h"]) for _, f in hits._stream().claim(10, timedelta(0))]
    else:
        claimed = [
            hits.Hit(r.id, r.kind, r.message_id, r.link_id, r.method, r.user_agent, r.occurred_at)
            for r in PendingHit.objects.all()
        ]
    assert hits.write(claimed) == 3
    assert hits.write(claimed) == 0  # a second drain of the same hits (redelivery)
    assert hits.drain(reclaim_after=timedelta(0)) == 3  # the queue's own copy: once more
    assert MessageEvent.objects.count() == 3
    assert [Contact.objects.get(pk=c.pk).opens for c in people] == [1, 1, 1]
    assert Event.objects.filter(type="email.opened").count() == 3


def test_a_drain_that_crashes_mid_way_loses_nothing(client, workspace, deferred, monkeypatch):
    people = _queued_hits(client, workspace, 3)
    real_write = hits.write

    def crash(batch):
        real_write(batch)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(hits, "write", crash)
    with pytest.raises(RuntimeError):
        hits.drain()
    monkeypatch.setattr(hits, "write", real_write)
    if deferred == "database":  # rolled back with the claim
        assert MessageEvent.objects.count() == 0 and hits.pending() == 3
    assert hits.drain(reclaim_after=timedelta(0)) == 3
    assert hits.pending() == 0
    assert MessageEvent.objects.count() == 3
    assert [Contact.objects.get(pk=c.pk).opens for c in people] == [1, 1, 1]


@pytest.mark.skipif(not settings.REDIS_URL, reason="the Redis stream needs REDIS_URL")
def test_redis_hits_committed_but_not_acknowledged_are_written_once(client, workspace, monkeypatch):
    with override_settings(TRACKING_HITS_QUEUE="redis"):
        stream = hits._stream()
        stream.client.delete(stream.key)
        monkeypatch.setattr(hits, "request_drain", lambda: None)
        people = _queued_hits(client, workspace, 4)

        def lost(self, entry_ids):
            raise ConnectionError("Redis went away after the commit")

        monkeypatch.setattr(hits._Stream, "acknowledge", lost)
        with pytest.raises(ConnectionError):
            hits.drain()
        monkeypatch.undo()
        monkeypatch.setattr(hits, "request_drain", lambda: None)
        assert MessageEvent.objects.count() == 4 and hits.pending() == 4
        # Not yet idle long enough: a live drain's claims are left alone.
        assert hits.drain(reclaim_after=timedelta(minutes=5)) == 0
        people += _queued_hits(client, workspace, 2)  # new hits behind the stale claims
        assert hits.drain(reclaim_after=timedelta(0)) == 6
        assert hits.pending() == 0
        assert MessageEvent.objects.count() == 6
        assert [Contact.objects.get(pk=c.pk).opens for c in people] == [1] * 6
        stream.client.delete(stream.key)


def _drain_queries() -> int:
    with CaptureQueriesContext(connection) as queries:
        hits.drain()
    return len(queries)


def test_the_drain_is_set_based(client, workspace, deferred):
    _queued_hits(client, workspace, 2)
    hits.drain()  # scoring settings created; the next drains are steady
    _queued_hits(client, workspace, 2)
    few = _drain_queries()
    _queued_hits(client, workspace, 12)
    assert _drain_queries() == few
    assert MessageEvent.objects.count() == 16


@pytest.mark.django_db(transaction=True)
def test_drains_running_at_once_write_and_count_each_hit_once(client, queue, monkeypatch):
    import threading

    from django.db import connections

    monkeypatch.setattr(hits, "request_drain", lambda: None)
    workspace = WorkspaceFactory(name="Busy")
    people = _queued_hits(client, workspace, 30)
    failures = []

    def drain():
        try:
            # Small batches, and each drain takes over the other's claims at once: the
            # harshest overlap (a lost race may fail a batch; its hits stay queued).
            hits.drain(limit=4, reclaim_after=timedelta(0))
        except Exception as error:  # noqa: BLE001
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    hits.drain(reclaim_after=timedelta(0))  # whatever a failed batch left
    assert hits.pending() == 0
    assert MessageEvent.objects.filter(workspace=workspace).count() == 30
    assert sorted(Contact.objects.filter(workspace=workspace).values_list("opens", flat=True)) == (
        [1] * 30
    )
    assert Event.objects.filter(workspace=workspace, type="email.opened").count() == 30
    assert {c.pk for c in people} == set(
        MessageEvent.objects.values_list("message__contact_id", flat=True)
    )
