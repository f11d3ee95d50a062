"""An inbound webhook flood (issue 12 §2): 10,000 SendGrid events in a burst, posted by eight
concurrent senders to the real endpoint of a live server with the ESP's basic auth, some
posted twice as ESPs do when an answer is slow. Every request is answered 2xx, every event is
stored once and applied, and the end state (message events per kind, suppressions,
unsubscribes, contact statuses) counts each event exactly once.

As in production, a request only stores its events and asks for a worker (a queued
``apply_inbound`` task, debounced); two workers then apply them concurrently — here two
threads running the task's function, on the test database."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageEvent, MessageKind, MessageStatus
from contacts.models import Contact
from deliverability.models import Suppression, Unsubscribe
from webhooks.models import InboundEvent, InboundStatus
from webhooks.tasks import apply_inbound

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailWarning"),
]

SECRET = ("mailcrm", "flood-secret-1")
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
RECIPIENTS = 1_000
# Per recipient, in SendGrid's words: one delivery, five opens, three clicks; then one more
# event for each of four disjoint groups. 10,000 events in all.
OUTCOMES = (("bounce", 300), ("spamreport", 200), ("unsubscribe", 200), ("deferred", 300))
PER_POST = 100
SENDERS = 8


@pytest.fixture(autouse=True)
def production_like(settings, monkeypatch):
    """The ESP's secret, and tasks queued to the broker (not run in the request, as this test
    process otherwise does); the queue is emptied afterwards."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    settings.ANYMAIL = {"WEBHOOK_SECRET": [":".join(SECRET)]}
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    monkeypatch.setattr(Conf, "SYNC", False)
    yield
    get_broker().purge_queue()


@pytest.fixture
def messages(workspace) -> list[Message]:
    campaign = Campaign.objects.create(workspace=workspace, name="Flood", status="sent")
    contacts = Contact.objects.bulk_create(
        [Contact(workspace=workspace, email=f"reader{n}@example.org") for n in range(RECIPIENTS)]
    )
    return Message.objects.bulk_create(
        [
            Message(
                workspace=workspace,
                campaign=campaign,
                contact=contact,
                kind=MessageKind.CAMPAIGN,
                email=contact.email,
                status=MessageStatus.SENT,
                sent_at=timezone.now(),
                provider_message_id=str(uuid.uuid4()),
            )
            for contact in contacts
        ]
    )


def sendgrid(message: Message, event: str, **extra) -> dict:
    return {
        "email": message.email,
        "timestamp": int(time.time()),
        "event": event,
        "sg_event_id": uuid.uuid4().hex,
        "sg_message_id": f"{message.provider_message_id}.filterdrecv-0",
        "anymail_id": message.provider_message_id,
        **extra,
    }


def flood(messages: list[Message]) -> list[dict]:
    events = []
    for message in messages:
        events.append(sendgrid(message, "delivered", response="250 OK"))
        events += [sendgrid(message, "open", useragent=CHROME) for _ in range(5)]
        events += [
            sendgrid(message, "click", url=f"https://acme.example/{n}", useragent=CHROME)
            for n in range(3)
        ]
    start = 0
    for event, count in OUTCOMES:
        for message in messages[start : start + count]:
            extra = {
                "bounce": {"type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 No user"},
                "deferred": {"response": "451 4.3.0 Try again later", "attempt": "1"},
            }.get(event, {})
            events.append(sendgrid(message, event, **extra))
        start += count
    return events


def _apply_as_a_worker() -> int:
    try:
        return apply_inbound()
    finally:
        connection.close()


def test_ten_thousand_esp_events_in_a_burst_are_all_stored_and_applied(
    live_server, workspace, messages
):
    events = flood(messages)
    assert len(events) == 10_000
    posts = [events[n : n + PER_POST] for n in range(0, len(events), PER_POST)]
    posts += posts[::10]  # ESPs post again what they think was lost: nothing counts twice
    url = f"{live_server.url}/webhooks/anymail/sendgrid/tracking/"
    connection.close()  # the live server's threads write; this one only reads afterwards

    def post(batch: list[dict]) -> int:
        return requests.post(url, json=batch, auth=SECRET, timeout=120).status_code

    with ThreadPoolExecutor(max_workers=SENDERS) as senders:
        answers = Counter(senders.map(post, posts))

    assert answers == {200: len(posts)}
    assert InboundEvent.objects.filter(status=InboundStatus.PENDING).count() == 10_000
    with ThreadPoolExecutor(max_workers=2) as workers:  # two workers take the queued task
        applied = sum(workers.map(lambda _: _apply_as_a_worker(), range(2)))
    assert applied == 10_000

    assert InboundEvent.objects.count() == 10_000
    assert Counter(InboundEvent.objects.values_list("status", flat=True)) == {
        InboundStatus.APPLIED: 10_000
    }
    kinds = Counter(MessageEvent.objects.values_list("type", flat=True))
    assert kinds == {
        "delivered": RECIPIENTS,
        "opened": 5 * RECIPIENTS,
        "clicked": 3 * RECIPIENTS,
        "bounced": 300,
        "complained": 200,
        "unsubscribed": 200,
        "deferred": 300,
    }
    suppressed = Counter(Suppression.objects.values_list("type", flat=True))
    assert suppressed == {"hard_bounce": 300, "complaint": 200}
    assert Unsubscribe.objects.count() == 200
    statuses = Counter(Contact.objects.values_list("status", flat=True))
    assert statuses == {
        "active": RECIPIENTS - 700,
        "bounced": 300,
        "complained": 200,
        "unsubscribed": 200,
    }
