"""An inbound webhook flood (issue 12 §2): 2,000 SendGrid events in a burst
(``FLOOD_RECIPIENTS=1000`` for 10,000), posted by eight concurrent senders (one on SQLite) to
the real endpoint of a live server with the ESP's basic auth, some posted twice at once as ESPs
do when an answer is slow (the copy races its original). Every request is answered 2xx, every
event is stored once and applied, and the end state (message events per kind, suppressions,
unsubscribes, contact statuses) counts each event exactly once.

As in production, a request only stores its events and asks for a worker (a queued
``apply_inbound`` task, debounced); two workers then apply them concurrently — here two
threads running the task's function, on the test database."""

from __future__ import annotations

import os
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
# Per recipient, in SendGrid's words: one delivery, five opens, three clicks; then one more
# event for 30 % (a bounce), 20 % (a spam report), 20 % (an unsubscribe) and 30 % (a deferral),
# disjoint: ten events per recipient, 2,000 in all by default. That is 20 posts of 100 for
# eight senders (each posts two or three, side by side) and ten batches of 200 for the two
# workers (SKIP LOCKED shares them out): the races are those of 10,000 events
# (FLOOD_RECIPIENTS=1000, five times as long: each event costs about ten statements to apply).
RECIPIENTS = int(os.environ.get("FLOOD_RECIPIENTS", "200"))
OUTCOMES = (
    ("bounce", RECIPIENTS * 3 // 10),
    ("spamreport", RECIPIENTS // 5),
    ("unsubscribe", RECIPIENTS // 5),
    ("deferred", RECIPIENTS - RECIPIENTS * 3 // 10 - 2 * (RECIPIENTS // 5)),
)
EVENTS = 10 * RECIPIENTS
PER_POST = 100
# Concurrent senders and workers. SQLite's in-memory test database (shared cache) answers a
# concurrent writer "table is locked" at once, without the busy timeout a real SQLite file in
# WAL mode waits out: there, one sender and one worker.
CONCURRENCY = 8 if connection.vendor == "postgresql" else 1


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


def test_a_burst_of_esp_events_is_all_stored_and_applied(live_server, workspace, messages):
    events = flood(messages)
    assert len(events) == EVENTS
    batches = [events[n : n + PER_POST] for n in range(0, len(events), PER_POST)]
    # ESPs post again what they think was lost: every fifth batch twice, the copy right behind
    # it, so two senders post it at the same time. Nothing counts twice.
    posts = [post for n, batch in enumerate(batches) for post in [batch] * (1 + (n % 5 == 0))]
    url = f"{live_server.url}/webhooks/anymail/sendgrid/tracking/"
    connection.close()  # the live server's threads write; this one only reads afterwards

    def post(batch: list[dict]) -> int:
        return requests.post(url, json=batch, auth=SECRET, timeout=120).status_code

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as senders:
        answers = Counter(senders.map(post, posts))

    assert answers == {200: len(posts)}
    assert InboundEvent.objects.filter(status=InboundStatus.PENDING).count() == EVENTS
    workers = min(2, CONCURRENCY)  # two workers take the queued task
    with ThreadPoolExecutor(max_workers=workers) as pool:
        applied = sum(pool.map(lambda _: _apply_as_a_worker(), range(workers)))
    assert applied == EVENTS

    assert InboundEvent.objects.count() == EVENTS
    assert Counter(InboundEvent.objects.values_list("status", flat=True)) == {
        InboundStatus.APPLIED: EVENTS
    }
    outcome = dict(OUTCOMES)
    kinds = Counter(MessageEvent.objects.values_list("type", flat=True))
    assert kinds == {
        "delivered": RECIPIENTS,
        "opened": 5 * RECIPIENTS,
        "clicked": 3 * RECIPIENTS,
        "bounced": outcome["bounce"],
        "complained": outcome["spamreport"],
        "unsubscribed": outcome["unsubscribe"],
        "deferred": outcome["deferred"],
    }
    suppressed = Counter(Suppression.objects.values_list("type", flat=True))
    assert suppressed == {"hard_bounce": outcome["bounce"], "complaint": outcome["spamreport"]}
    assert Unsubscribe.objects.count() == outcome["unsubscribe"]
    statuses = Counter(Contact.objects.values_list("status", flat=True))
    assert statuses == {
        "active": outcome["deferred"],
        "bounced": outcome["bounce"],
        "complained": outcome["spamreport"],
        "unsubscribed": outcome["unsubscribe"],
    }
