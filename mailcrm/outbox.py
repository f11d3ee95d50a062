"""Reading the event outbox: every event is handed, once, to each registered consumer (outbound
webhooks, automation triggers), in batches, in the order it was written.

A batch is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` (on PostgreSQL; SQLite has one
writer), given to every consumer inside the same transaction and marked ``dispatched_at``, so
a consumer's writes and the mark commit together: an event is never handed out twice, and an
event whose transaction commits late is still picked up (the queue is "not yet dispatched",
not "after the last id seen")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from mailcrm.models import Event

Consumer = Callable[[list[Event], datetime], None]
_consumers: dict[str, Consumer] = {}
BATCH = 1000
_WAKE_KEY = "outbox:dispatch-requested"
WAKE_DEBOUNCE_SECONDS = 1
QUEUE = "webhooks"  # the dispatcher runs on the webhooks cluster, away from sending


def register_consumer(name: str, consumer: Consumer) -> None:
    """``consumer(events, now)`` is called with each batch, inside its transaction."""
    _consumers[name] = consumer


def dispatch_pending(*, batch: int = BATCH) -> int:
    """Hand every undispatched event to the consumers; returns how many events were handed."""
    cache.delete(_WAKE_KEY)
    total = 0
    while True:
        handed = _dispatch_batch(batch)
        total += handed
        if handed < batch:
            return total


def _dispatch_batch(batch: int) -> int:
    now = timezone.now()
    with transaction.atomic():
        pending = Event.objects.filter(dispatched_at__isnull=True).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            pending = pending.select_for_update(skip_locked=True)
        events = list(pending[:batch])
        if not events:
            return 0
        for consumer in _consumers.values():
            consumer(events, now)
        Event.objects.filter(pk__in=[event.pk for event in events]).update(dispatched_at=now)
    return len(events)


def request_dispatch() -> None:
    """Ask for a dispatch soon (after a commit that wrote events); calls within a second of
    each other ask once."""
    if cache.add(_WAKE_KEY, 1, timeout=WAKE_DEBOUNCE_SECONDS):
        from django_q.tasks import async_task

        async_task("mailcrm.tasks.dispatch_outbox", cluster=QUEUE)
