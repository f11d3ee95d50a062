"""Opens and clicks reported by email providers (``webhooks.inbound``) flow back into contacts
in batches: each leaves a PendingEngagement row beside its MessageEvent, and a drain applies
those rows with ``contacts.scoring.record_engagement_many`` (counters, last-engaged times,
score, timeline) with the time of each hit: a few statements per batch, not a few per hit.
Draining twice or concurrently is safe: rows are claimed with SKIP LOCKED and deleted in the
transaction that applied them. Our own tracking hits take a shorter road (``campaigns.hits``):
their drain counts them in the transaction that writes their events."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db import transaction

from campaigns.models import PendingEngagement
from mailcrm.tasks import request_soon

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
    request_soon(
        "campaigns.tasks.apply_engagement",
        key=_DRAIN_REQUESTED,
        seconds=DRAIN_DEBOUNCE_SECONDS,
        run_now=drain,
        group="engagement",
    )


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
    """One batch, set-based: per workspace and event, one ``record_engagement_many``."""
    from contacts.scoring import Engagement, record_engagement_many

    with transaction.atomic():
        rows = list(
            PendingEngagement.objects.select_for_update(skip_locked=True).order_by("id")[:limit]
        )
        if not rows:
            return 0
        groups: dict[tuple, list[Engagement]] = defaultdict(list)
        for row in rows:
            groups[row.workspace_id, row.event].append(
                Engagement(row.contact_id, row.occurred_at, row.campaign_id)
            )
        for (workspace_id, event), engagements in groups.items():
            record_engagement_many(workspace_id=workspace_id, event=event, engagements=engagements)
        PendingEngagement.objects.filter(id__in=[row.id for row in rows]).delete()
    return len(rows)
