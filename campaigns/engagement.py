"""Opens and clicks flow back into contacts in batches: a tracking hit leaves a
PendingEngagement row beside its MessageEvent, and a drain applies those rows through
``contacts.scoring.record_engagement`` (counters, last-engaged times, score, timeline) with the
time of the hit. Draining twice or concurrently is safe: rows are claimed with SKIP LOCKED and
deleted in the transaction that applied them."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from campaigns.models import PendingEngagement

DRAIN_BATCH = 500
DRAIN_DEBOUNCE_SECONDS = 2
_DRAIN_REQUESTED = "campaigns:engagement-drain"


def engagement_pending(
    *, workspace_id, contact_id, event: str, campaign_id, occurred_at: datetime
) -> None:
    PendingEngagement.objects.create(
        workspace_id=workspace_id,
        contact_id=contact_id,
        event=event,
        campaign_id=campaign_id,
        occurred_at=occurred_at,
    )


def request_drain() -> None:
    """Ask a worker to drain soon; bursts of hits share one request every couple of seconds.
    With synchronous tasks (tests, development without a worker) the drain runs now."""
    from django_q.tasks import async_task

    if settings.Q_CLUSTER.get("sync"):
        drain()
    elif cache.add(_DRAIN_REQUESTED, 1, timeout=DRAIN_DEBOUNCE_SECONDS):
        async_task("campaigns.tasks.apply_engagement", group="engagement")


def drain(*, limit: int = DRAIN_BATCH, batches: int = 100) -> int:
    """Apply up to ``batches`` batches of pending engagement; returns how many were applied."""
    applied = 0
    for _ in range(batches):
        done = _drain_batch(limit)
        applied += done
        if done < limit:
            break
    return applied


def _drain_batch(limit: int) -> int:
    from contacts.models import Contact
    from contacts.scoring import record_engagement

    with transaction.atomic():
        rows = list(
            PendingEngagement.objects.select_for_update(skip_locked=True).order_by("id")[:limit]
        )
        if not rows:
            return 0
        contacts = Contact.objects.in_bulk({row.contact_id for row in rows})
        for row in rows:
            contact = contacts.get(row.contact_id)
            if contact is not None:
                record_engagement(
                    contact=contact,
                    event=row.event,
                    campaign_id=row.campaign_id,
                    at=row.occurred_at,
                )
        PendingEngagement.objects.filter(id__in=[row.id for row in rows]).delete()
    return len(rows)
