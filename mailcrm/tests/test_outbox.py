"""The outbox dispatcher: every consumer gets each event once, in order, in batches; an event
written with an older id but committed later is still handed out."""

import pytest
from django.db import transaction

from mailcrm import events, outbox
from mailcrm.models import Event


@pytest.fixture
def seen(monkeypatch):
    received = []
    monkeypatch.setattr(outbox, "_consumers", {})
    outbox.register_consumer("test", lambda batch, now: received.extend(e.pk for e in batch))
    return received


def emit(workspace, n=1):
    with transaction.atomic():
        return [events.emit(workspace, events.CONTACT_CREATED, data={"n": i}) for i in range(n)]


def test_each_event_goes_to_each_consumer_once_in_order(workspace, seen):
    written = emit(workspace, 25)

    assert outbox.dispatch_pending(batch=10) == 25
    assert outbox.dispatch_pending() == 0
    assert seen == [event.pk for event in written]
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()


def test_an_event_with_an_older_id_dispatched_later_is_not_lost(workspace, seen):
    older, newer = emit(workspace, 2)
    Event.objects.filter(pk=older.pk).update(dispatched_at=None)
    Event.objects.filter(pk=newer.pk).update(dispatched_at=None)
    # As if the older one's transaction were still open when the newer one was dispatched:
    Event.objects.filter(pk=older.pk).update(dispatched_at=newer.created_at)
    outbox.dispatch_pending()
    Event.objects.filter(pk=older.pk).update(dispatched_at=None)  # …and it commits now

    outbox.dispatch_pending()

    assert seen == [newer.pk, older.pk]


def test_a_commit_with_events_asks_for_one_dispatch(
    workspace, monkeypatch, django_capture_on_commit_callbacks
):
    asked = []
    monkeypatch.setattr(outbox, "request_dispatch", lambda: asked.append(1))
    with django_capture_on_commit_callbacks(execute=True):
        emit(workspace, 3)
        with transaction.atomic():
            events.emit_many(workspace, events.CONTACT_UPDATED, [(None, {})])
    assert asked == [1]
