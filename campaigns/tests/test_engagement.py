"""Opens and clicks reported by providers reach the contact through the batched engagement
drain: the contact's counters, score and timeline updated later with the hit's own time,
exactly once. (Our own tracking hits: test_hits.py.)"""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from campaigns import engagement
from campaigns.models import EventType, Message, PendingEngagement
from contacts.models import Activity, Contact
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def _message(contact) -> Message:
    return Message.objects.create(
        workspace=contact.workspace,
        contact_id=contact.pk,
        kind="transactional",
        email=contact.email,
        status="sent",
        sent_at=timezone.now() - timedelta(hours=1),
    )


@pytest.fixture
def deferred():
    """Tasks as a real worker runs them: hits wait for the drain."""
    with override_settings(Q_CLUSTER={**settings.Q_CLUSTER, "sync": False}):
        yield


class _Reported:
    def __init__(self, occurred_at):
        self.occurred_at = occurred_at


def _hit(message, kind=EventType.OPENED):
    """What ``webhooks.inbound`` leaves for an open or click a provider reported."""
    occurred_at = timezone.now()
    engagement.engagement_pending(
        workspace_id=message.workspace_id,
        contact_id=message.contact_id,
        event="opened" if kind == EventType.OPENED else "clicked",
        campaign_id=message.campaign_id,
        occurred_at=occurred_at,
    )
    engagement.request_drain()
    return _Reported(occurred_at)


def test_hits_wait_for_the_drain_which_applies_each_once_with_its_time(
    workspace, deferred, monkeypatch
):
    monkeypatch.setattr(engagement, "request_drain", lambda: None)
    contact = ContactFactory(workspace=workspace)
    message = _message(contact)
    opened = _hit(message)
    _hit(message)
    _hit(message, kind=EventType.CLICKED)
    assert Contact.objects.get(pk=contact.pk).opens == 0
    assert PendingEngagement.objects.count() == 3

    assert engagement.drain(limit=2) == 3  # two batches
    assert engagement.drain() == 0  # a second drain finds nothing
    contact.refresh_from_db()
    assert (contact.opens, contact.clicks) == (2, 1)
    assert contact.last_opened_at >= opened.occurred_at
    assert contact.score == 1 + 1 + 5  # the default rules
    assert Activity.objects.filter(contact=contact).count() == 3


def test_a_contact_deleted_before_the_drain_is_skipped(workspace, deferred, monkeypatch):
    monkeypatch.setattr(engagement, "request_drain", lambda: None)
    contact = ContactFactory(workspace=workspace)
    _hit(_message(contact))
    Contact.objects.filter(pk=contact.pk).delete()
    assert engagement.drain() == 1
    assert not PendingEngagement.objects.exists()


def test_bursts_share_one_drain_request(workspace, deferred, monkeypatch):
    from django.core.cache import cache

    cache.delete("campaigns:engagement-drain")
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda name, **kwargs: queued.append(name))
    contact = ContactFactory(workspace=workspace)
    message = _message(contact)
    for _ in range(5):
        _hit(message)
    assert queued == ["campaigns.tasks.apply_engagement"]
    cache.delete("campaigns:engagement-drain")


def _drain_counting_queries() -> tuple[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        applied = engagement.drain()
    return applied, len(queries)


def test_a_drain_counts_many_contacts_set_based(workspace, deferred, monkeypatch):
    monkeypatch.setattr(engagement, "request_drain", lambda: None)
    _hit(_message(ContactFactory(workspace=workspace)))
    _hit(_message(ContactFactory(workspace=workspace)), kind=EventType.CLICKED)
    assert _drain_counting_queries()[0] == 2  # settings created; the next drain is steady
    people = [ContactFactory(workspace=workspace) for _ in range(2)]
    for contact in people:
        message = _message(contact)
        _hit(message)
        _hit(message, kind=EventType.CLICKED)
    few = _drain_counting_queries()

    people = [ContactFactory(workspace=workspace) for _ in range(6)]
    latest = {}
    for n, contact in enumerate(people):
        message = _message(contact)
        for _ in range(n % 3 + 1):  # one, two or three opens each
            latest[contact.pk] = _hit(message).occurred_at
        _hit(message, kind=EventType.CLICKED)
    many = _drain_counting_queries()
    assert many[0] == 12 + 6
    for n, contact in enumerate(people):
        contact.refresh_from_db()
        assert (contact.opens, contact.clicks) == (n % 3 + 1, 1)
        assert contact.last_opened_at == latest[contact.pk]
        assert contact.score == (n % 3 + 1) * 1 + 5
        assert Activity.objects.filter(contact=contact).count() == n % 3 + 2
    # Statements per kind of event, not per hit or contact.
    assert many[1] == few[1]
