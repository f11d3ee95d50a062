"""django-q2 tasks of the webhooks queue (a cluster started with Q_CLUSTER_NAME=webhooks), so a
burst of events or a hanging receiver never holds up sending."""

from __future__ import annotations

from webhooks import dispatch


def deliver(delivery_id: str) -> str | None:
    return dispatch.deliver(delivery_id)


def retry_due() -> int:
    return dispatch.retry_due()


def apply_inbound() -> int:
    """Apply stored inbound ESP events (also every minute by schedule)."""
    from webhooks import inbound

    return inbound.apply_pending()
