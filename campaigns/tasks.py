"""django-q2 entry points for sending: thin, idempotent, ids only."""

from __future__ import annotations

from django_q.tasks import async_task

from campaigns import ab, engagement, hits, pipeline, sending, services, throttling, windows
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus


def send_batch(campaign_id: str) -> int:
    """Send one batch; the chain goes on with the next while queued messages remain (handed
    on from inside the batch, as soon as it has settled something)."""
    return sending.send_batch(campaign_id, hand_on=_next_batch)


def _next_batch(campaign_id: str) -> None:
    async_task("campaigns.tasks.send_batch", campaign_id, group="campaigns")


def send_transactional(message_id: str) -> str:
    return sending.send_transactional(message_id)


def apply_engagement() -> int:
    return engagement.drain()


def apply_hits() -> int:
    return hits.drain()


def housekeeping() -> dict:
    """Every minute: start due campaigns, requeue due retries, report interrupted sends, and
    restart the chains of campaigns that have queued messages but no worker on them, and write
    any tracking hits and count any engagement a lost drain request left pending."""
    started = services.start_due_campaigns()
    interrupted = pipeline.sweep_interrupted()
    requeued = pipeline.requeue_due_retries()
    windows.release_due()  # their chains restart below, with any other queued messages
    for item in requeued:
        if isinstance(item, tuple):
            async_task("campaigns.tasks.send_transactional", str(item[1]), group="transactional")
    for campaign in Campaign.objects.filter(status=CampaignStatus.SENDING):
        if Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).exists():
            async_task("campaigns.tasks.send_batch", str(campaign.pk), group="campaigns")
        else:
            pipeline.finish_if_done(campaign.pk)
    written = hits.drain()
    applied = engagement.drain()
    ab_tests = ab.tick()  # after the drains: a decision counts the latest opens and clicks
    throttling.forget_old()
    return {
        "started": len(started),
        "interrupted": interrupted,
        "requeued": len(requeued),
        "ab_released": ab_tests["released"],
        "ab_decided": ab_tests["decided"],
        "engagement": applied,
        "hits": written,
    }
