"""The sending pipeline (ARCHITECTURE.md, "The sending pipeline").

1. Snapshot: one INSERT … SELECT makes a queued Message per eligible contact.
2. Chains: a few ``send_batch`` tasks run per campaign; each claims up to BATCH_SIZE queued
   messages, sends them and enqueues its successor, so the queue never holds a whole campaign
   and transactional mail is never stuck behind one.
3. At most once: a claimed message is marked ``sending`` just before its hand-off and ``sent``
   after; a crash leaves it ``sending``, which the sweeper reports as ``interrupted``.
4. 4xx → deferred and retried with backoff; 5xx → bounced (and suppressed when permanent).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignStatus,
    EventType,
    Message,
    MessageEvent,
    MessageKind,
    MessageStatus,
    ThrottleWindow,
)
from campaigns.transport import ConnectionLost, DeliveryError, PermanentFailure
from mailcrm import events

logger = logging.getLogger("mailcrm.sending")

BATCH_SIZE = 500
CHAINS = 2
CLAIM_SECONDS = 600
STALE_SENDING = timedelta(minutes=15)
MAX_ATTEMPTS = 5
ERROR_BURST = 20
STATUS_CHECK_EVERY = 50


# --- snapshot ----------------------------------------------------------------------------------


def _new_id_sql() -> str:
    """A UUID made by the database, for INSERT … SELECT (time-ordered on PostgreSQL)."""
    if connection.vendor == "postgresql":
        return (
            "(lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') "
            "|| '7' || substr(md5(random()::text), 1, 3) || '8' "
            "|| substr(md5(random()::text), 1, 15))::uuid"
        )
    return "lower(hex(randomblob(16)))"


def _db(value):
    return Message._meta.get_field("workspace").target_field.get_db_prep_value(value, connection)


def snapshot(campaign: Campaign) -> int:
    """Insert one queued Message per eligible contact in one statement; returns how many
    recipients the campaign has (a repeated snapshot adds nobody twice)."""
    from campaigns.audience import audience_contacts

    contacts = audience_contacts(campaign).values("id", "email")
    select_sql, params = contacts.query.sql_with_params()
    table = Message._meta.db_table
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, workspace_id, campaign_id, contact_id, kind, email, "
            "status, attempts, payload, tag, metadata, message_id, provider_message_id, error, "
            "created_at, updated_at) "
            f"SELECT {_new_id_sql()}, %s, %s, audience.id, 'campaign', audience.email, "
            "'queued', 0, '{}', %s, '{}', '', '', '', %s, %s "
            # WHERE true: SQLite cannot tell a bare ON CONFLICT from a join constraint.
            f"FROM ({select_sql}) AS audience WHERE true "
            "ON CONFLICT DO NOTHING",
            [
                _db(campaign.workspace_id),
                _db(campaign.pk),
                campaign.tag,
                now,
                now,
                *params,
            ],
        )
    return Message.objects.filter(campaign=campaign).count()


# --- claiming ----------------------------------------------------------------------------------


def claim(campaign_id, *, limit: int = BATCH_SIZE) -> list[uuid.UUID]:
    """Take up to ``limit`` queued messages of a campaign for this worker. On PostgreSQL the
    rows are locked with SKIP LOCKED so concurrent workers take disjoint sets; on SQLite the
    IMMEDIATE transaction serialises writers and the conditional UPDATE does the rest."""
    now = timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    with transaction.atomic():
        candidates = Message.objects.filter(
            free, campaign_id=campaign_id, status=MessageStatus.QUEUED
        ).order_by("id")
        if connection.vendor == "postgresql":
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        until = now + timedelta(seconds=CLAIM_SECONDS)
        Message.objects.filter(free, id__in=ids, status=MessageStatus.QUEUED).update(
            claimed_until=until
        )
        return list(
            Message.objects.filter(id__in=ids, claimed_until=until).values_list("id", flat=True)
        )


def mark_sending(message_id) -> bool:
    """The last step before the hand-off: only one worker ever wins it for a message."""
    return bool(
        Message.objects.filter(id=message_id, status=MessageStatus.QUEUED).update(
            status=MessageStatus.SENDING, sending_at=timezone.now(), attempts=F("attempts") + 1
        )
    )


def release(message_ids) -> None:
    Message.objects.filter(id__in=list(message_ids), status=MessageStatus.QUEUED).update(
        claimed_until=None
    )


# --- outcomes ---


def message_event(message: Message, kind: str, *, occurred_at=None, **data) -> MessageEvent:
    """Record what happened to a message, and announce it (``email.<kind>``) in the outbox."""
    occurred_at = occurred_at or timezone.now()
    with transaction.atomic():
        event = MessageEvent.objects.create(
            workspace_id=message.workspace_id,
            message=message,
            type=kind,
            occurred_at=occurred_at,
            url=data.pop("url", ""),
            is_machine=data.pop("is_machine", False),
            device_type=data.pop("device_type", ""),
            client=data.pop("client", ""),
            os=data.pop("os", ""),
            data=data,
        )
        if not event.is_machine:
            events.emit(
                message.workspace_id,
                f"email.{kind}",
                subject_id=message.id,
                data={
                    "email_id": message.id,
                    "email": message.email,
                    "campaign_id": message.campaign_id,
                    "tag": message.tag,
                    "metadata": message.metadata,
                    "url": event.url,
                    **data,
                },
            )
    return event


def record_sent(message: Message, provider_id: str) -> None:
    now = timezone.now()
    Message.objects.filter(id=message.id).update(
        status=MessageStatus.SENT, sent_at=now, provider_message_id=provider_id[:255], error=""
    )
    message_event(message, EventType.SENT, occurred_at=now)


def record_failure(message: Message, error: DeliveryError) -> str:
    """Deferred with backoff on a temporary failure, bounced on a permanent one (a hard bounce
    suppresses the address). Returns the new status."""
    now = timezone.now()
    detail = f"{error.code or ''} {error.message}".strip()[:2000]
    if isinstance(error, PermanentFailure):
        Message.objects.filter(id=message.id).update(status=MessageStatus.BOUNCED, error=detail)
        message_event(
            message, EventType.BOUNCED, code=error.code, reason=error.message[:500], hard=True
        )
        _suppress_hard_bounce(message, detail)
        return MessageStatus.BOUNCED
    if isinstance(error, ConnectionLost):
        # Unknown whether the server took it: never resend silently.
        Message.objects.filter(id=message.id).update(status=MessageStatus.INTERRUPTED, error=detail)
        return MessageStatus.INTERRUPTED
    attempts = message.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        Message.objects.filter(id=message.id).update(status=MessageStatus.FAILED, error=detail)
        return MessageStatus.FAILED
    retry_at = now + timedelta(minutes=2**attempts)
    Message.objects.filter(id=message.id).update(
        status=MessageStatus.DEFERRED, error=detail, next_attempt_at=retry_at, claimed_until=None
    )
    message_event(
        message,
        EventType.DEFERRED,
        code=error.code,
        reason=error.message[:500],
        retry_at=retry_at.isoformat(),
    )
    return MessageStatus.DEFERRED


def _suppress_hard_bounce(message: Message, reason: str) -> None:
    from deliverability.services import suppression_add

    suppression_add(
        workspace=message.workspace, email=message.email, type="hard_bounce", reason=reason
    )


def record_suppressed(message_ids) -> None:
    Message.objects.filter(id__in=list(message_ids), status=MessageStatus.QUEUED).update(
        status=MessageStatus.SUPPRESSED, claimed_until=None
    )


# --- throttling --------------------------------------------------------------------------------


def take_slot(key: str, per_minute: int) -> bool:
    """Take one send from ``key``'s budget for this minute, across every worker process."""
    window = int(time.time() // 60)
    for _ in range(2):
        taken = ThrottleWindow.objects.filter(key=key, window=window, used__lt=per_minute).update(
            used=F("used") + 1
        )
        if taken:
            return True
        if ThrottleWindow.objects.filter(key=key, window=window).exists():
            return False
        ThrottleWindow.objects.bulk_create(
            [ThrottleWindow(key=key, window=window, used=0)], ignore_conflicts=True
        )
    return False


# --- campaign completion and housekeeping ------------------------------------------------------

UNFINISHED = (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.DEFERRED)


def finish_if_done(campaign_id) -> bool:
    """Mark a sending campaign sent once no recipient is left to send to."""
    if Message.objects.filter(campaign_id=campaign_id, status__in=UNFINISHED).exists():
        return False
    return bool(
        Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).update(
            status=CampaignStatus.SENT, finished_at=timezone.now()
        )
    )


def pause_for_errors(campaign_id, reason: str) -> None:
    Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).update(
        status=CampaignStatus.PAUSED, status_reason=reason
    )
    logger.warning("campaign %s paused: %s", campaign_id, reason)


def sweep_interrupted(now=None) -> int:
    """Messages stuck in ``sending`` (their worker died mid-hand-off) become ``interrupted``
    and are reported; they are never resent silently."""
    now = now or timezone.now()
    stale = Message.objects.filter(status=MessageStatus.SENDING, sending_at__lt=now - STALE_SENDING)
    ids = list(stale.values_list("id", flat=True)[:10_000])
    if not ids:
        return 0
    Message.objects.filter(id__in=ids, status=MessageStatus.SENDING).update(
        status=MessageStatus.INTERRUPTED,
        error="The worker stopped during the hand-off; this message may or may not have left.",
    )
    logger.warning("%d messages interrupted during sending", len(ids))
    for campaign_id in set(
        Message.objects.filter(id__in=ids, campaign__isnull=False).values_list(
            "campaign_id", flat=True
        )
    ):
        finish_if_done(campaign_id)
    return len(ids)


def requeue_due_retries(now=None) -> list:
    """Deferred messages whose time has come go back to the queue; returns their campaigns."""
    now = now or timezone.now()
    due = Message.objects.filter(status=MessageStatus.DEFERRED, next_attempt_at__lte=now)
    campaigns = set(due.exclude(campaign=None).values_list("campaign_id", flat=True))
    transactional = list(
        due.filter(kind=MessageKind.TRANSACTIONAL).values_list("id", flat=True)[:10_000]
    )
    due.update(status=MessageStatus.QUEUED, next_attempt_at=None, claimed_until=None)
    return [*campaigns, *[("message", pk) for pk in transactional]]
