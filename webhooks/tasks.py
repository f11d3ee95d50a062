"""django-q2 tasks of the webhooks queue (a cluster started with Q_CLUSTER_NAME=webhooks), so a
burst of events or a hanging receiver never holds up sending."""

from __future__ import annotations

from django.core.cache import cache

from webhooks import dispatch

_WAKE_KEY = "webhooks:dispatch-requested"
WAKE_DEBOUNCE_SECONDS = 1


def dispatch_events() -> int:
    """Fan undispatched outbox events out to their endpoints (also every minute by schedule)."""
    cache.delete(_WAKE_KEY)
    return dispatch.dispatch_pending()


def deliver(delivery_id: str) -> str | None:
    return dispatch.deliver(delivery_id)


def retry_due() -> int:
    return dispatch.retry_due()


def wake_dispatcher() -> None:
    """Ask for a dispatch soon; calls within a second of each other ask once."""
    if cache.add(_WAKE_KEY, 1, timeout=WAKE_DEBOUNCE_SECONDS):
        from django_q.tasks import async_task

        async_task("webhooks.tasks.dispatch_events", cluster=dispatch.QUEUE)


def apply_inbound() -> int:
    """Apply stored inbound ESP events (also every minute by schedule)."""
    from webhooks import inbound

    return inbound.apply_pending()
