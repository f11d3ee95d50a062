"""The sending pipeline (ARCHITECTURE.md, "The sending pipeline").

1. Snapshot: one INSERT … SELECT makes a queued Message per eligible contact.
2. Chains: a few ``send_batch`` tasks run per campaign; each claims up to BATCH_SIZE queued
   messages, sends them and enqueues its successor, so the queue never holds a whole campaign
   and transactional mail is never stuck behind one.
3. At most once: a claimed message is marked ``sending`` (committed) before its hand-off and
   ``sent`` after; a crash leaves it ``sending``, which the sweeper reports as ``interrupted``.
   A batch works in chunks of SEND_CHUNK: one UPDATE marks a chunk ``sending``, the chunk goes
   out over one connection, and its outcomes are written set-based (one UPDATE for the sent,
   one bulk_update for the rest, bulk inserts of events, contact counters per chunk) — a few
   statements per chunk instead of about ten per message. A crash mid-chunk leaves at most one
   chunk ``interrupted``.
4. 4xx → deferred and retried with backoff; 5xx → bounced (and suppressed when permanent).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import CharField, Exists, Expression, F, OuterRef, Q
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
from mailcrm.copyrows import insert_rows
from mailcrm.ids import uuid7
from mailcrm.models import Workspace
from mailcrm.workspace_reads import workspace_index_reads

logger = logging.getLogger("mailcrm.sending")

BATCH_SIZE = 500
# Messages marked ``sending`` together: the statements per message shrink with it, the number
# of messages a crash leaves ``interrupted`` grows with it.
SEND_CHUNK = 100
CHAINS = 2
CLAIM_SECONDS = 600
STALE_SENDING = timedelta(minutes=15)
MAX_ATTEMPTS = 5
# Worker deaths a queued message survives: a batch whose worker dies before handing it off
# (SIGKILL, out of memory, timeout) leaves its claim to run out unreleased, and the next claim
# counts it; at this many the message is failed instead of claimed again, so a message that
# kills every worker taking it ends as a reported failure, not a campaign "sending" for ever.
# django-q2's own max_attempts cannot do this: the Redis broker has no acknowledgement, so a
# task whose worker dies is simply gone (and the ORM broker redelivers it without counting).
MAX_ABANDONED_CLAIMS = 3
ERROR_BURST = 20
STATUS_CHECK_EVERY = 50


# --- snapshot ----------------------------------------------------------------------------------


def _new_id_sql() -> tuple[str, list]:
    """SQL making a new UUID per row of an INSERT … SELECT, and its parameters.

    On PostgreSQL: one UUIDv7 drawn here for the whole statement, its low 64 bits (variant
    bits included, so a negative bigint) counted up per row with ``row_number()``. Unique within
    the statement by construction and across statements by the millisecond and 42 random bits
    (a clash would fail the INSERT, never merge two messages); time-ordered like
    every other id. gen_random_uuid() or md5(random()) cost about a microsecond per row each —
    two of the five seconds a million-recipient snapshot may take."""
    if connection.vendor == "postgresql":
        first = uuid7().int
        high, low = first >> 64, first & (2**64 - 1)
        low = (low & ~(2**32 - 1)) - 2**64  # room to count 2**32 rows; as a signed bigint
        return "(%s || to_hex(%s + row_number() OVER ()))::uuid", [f"{high:016x}", low]
    return "lower(hex(randomblob(16)))", []


def _db(value):
    return Message._meta.get_field("workspace").target_field.get_db_prep_value(value, connection)


def snapshot(campaign: Campaign, *, now: datetime | None = None) -> int:
    """Insert one queued Message per eligible contact in one statement; returns how many
    recipients the campaign has (a repeated snapshot adds nobody twice). ``now`` is the
    messages' created_at (the caller's started_at, so the monthly count agrees with it)."""
    from campaigns.ab import snapshot_columns
    from campaigns.audience import audience_contacts

    # In contact order: the ids are counted up in the same order, so every index the INSERT
    # writes (id; campaign + contact; campaign + status + id) grows at its right edge instead
    # of taking a million random leaf pages (a third of the statement's CPU at 1,000,000).
    contacts = audience_contacts(campaign).order_by("id").values("id", "email")
    select_sql, params = contacts.query.sql_with_params()
    # An A/B test's variants and held rest, assigned as the rows go in (campaigns.ab).
    ab = snapshot_columns(campaign, select_sql)
    id_sql, id_params = _new_id_sql()
    table = Message._meta.db_table
    now = now or timezone.now()
    # A campaign being sent has no messages yet (an index probe says so): then what the
    # INSERT adds is the count, without counting a million fresh rows (a heap visit each).
    first = not Message.objects.filter(campaign=campaign).exists()
    sql = (
        f"INSERT INTO {table} (id, workspace_id, campaign_id, contact_id, kind, email, "  # nosec B608 - identifiers are ours, values are bound parameters
        "status, attempts, payload, tag, metadata, message_id, provider_message_id, error, "
        "created_at, updated_at, ab_variant) "
        f"SELECT {id_sql}, %s, %s, audience.id, 'campaign', audience.email, "
        f"{ab.status}, 0, '{{}}', %s, '{{}}', '', '', '', %s, %s, {ab.variant} "
        # WHERE true: SQLite cannot tell a bare ON CONFLICT from a join constraint.
        f"FROM ({ab.source}) AS audience WHERE true"
    )
    sql_params = [
        *id_params,
        _db(campaign.workspace_id),
        _db(campaign.pk),
        *ab.status_params,
        campaign.tag,
        now,
        now,
        *ab.variant_params,
        *ab.source_params,
        *params,
    ]
    # One workspace's audience, read through its index (mailcrm.workspace_reads).
    with workspace_index_reads(), connection.cursor() as cursor:
        if first:
            # A first snapshot meets no existing row: a plain INSERT, whose unique index still
            # refuses a duplicate. ON CONFLICT would probe that index before each row and
            # write a second WAL record per row (2 of 8 s of CPU at a million).
            try:
                with transaction.atomic():
                    cursor.execute(sql, sql_params)
                    return cursor.rowcount
            except IntegrityError:
                pass  # another snapshot of the campaign got there first: skip whom it added
        cursor.execute(f"{sql} ON CONFLICT DO NOTHING", sql_params)
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
        rows = list(candidates.values_list("id", "claimed_until")[:limit])
        if not rows:
            return []
        ids = [pk for pk, _ in rows]
        # A claim run out, not released (``release`` clears it): its worker died holding it.
        abandoned = [pk for pk, claimed_until in rows if claimed_until is not None]
        if abandoned:
            ids = _count_abandoned(campaign_id, abandoned, ids)
        until = now + timedelta(seconds=CLAIM_SECONDS)
        Message.objects.filter(free, id__in=ids, status=MessageStatus.QUEUED).update(
            claimed_until=until
        )
        return list(
            Message.objects.filter(id__in=ids, claimed_until=until).values_list("id", flat=True)
        )


def _count_abandoned(campaign_id, abandoned: list, ids: list) -> list:
    """Count one more worker death on each abandoned message; fail those past
    MAX_ABANDONED_CLAIMS (reported on the campaign) and return the ids still to claim."""
    Message.objects.filter(id__in=abandoned).update(abandoned_claims=F("abandoned_claims") + 1)
    doomed = Message.objects.filter(id__in=abandoned, abandoned_claims__gte=MAX_ABANDONED_CLAIMS)
    failed = set(doomed.values_list("id", flat=True))
    if not failed:
        return ids
    doomed.update(
        status=MessageStatus.FAILED,
        claimed_until=None,
        error=f"Not sent: the worker sending it died {MAX_ABANDONED_CLAIMS} times before "
        "handing it off.",
    )
    reason = (
        f"{len(failed)} messages failed: the worker sending them died "
        f"{MAX_ABANDONED_CLAIMS} times before handing them off (see the workers' logs)."
    )
    Campaign.objects.filter(pk=campaign_id).update(status_reason=reason)
    logger.error("campaign %s: %s", campaign_id, reason)
    return [pk for pk in ids if pk not in failed]


def mark_sending(message_id) -> bool:
    """The last step before the hand-off: only one worker ever wins it for a message."""
    return bool(
        Message.objects.filter(id=message_id, status=MessageStatus.QUEUED).update(
            status=MessageStatus.SENDING, sending_at=timezone.now(), attempts=F("attempts") + 1
        )
    )


def mark_sending_many(message_ids: dict[uuid.UUID, str]) -> set[uuid.UUID]:
    """Mark a chunk ``sending`` in one UPDATE, writing each message's Message-ID, and return
    the ids this worker won (those still queued). In autocommit the UPDATE is committed before
    the caller hands anything off. A message won by another worker carries that worker's
    Message-ID, which is how the follow-up SELECT tells them apart.

    Only while the campaign is ``sending``, in the same statement: a pause or cancel committed
    before it stops the chunk, with no window between a check and the claim."""
    if not message_ids:
        return set()
    ids = list(message_ids)
    sending = Campaign.objects.filter(pk=OuterRef("campaign_id"), status=CampaignStatus.SENDING)
    updated = Message.objects.filter(
        Exists(sending), id__in=ids, status=MessageStatus.QUEUED
    ).update(
        status=MessageStatus.SENDING,
        sending_at=timezone.now(),
        attempts=F("attempts") + 1,
        message_id=_per_row(message_ids),
    )
    if updated == len(ids):
        return set(ids)  # every one was still queued: all won, nothing to tell apart
    return {
        pk
        for pk, value in Message.objects.filter(
            id__in=ids, status=MessageStatus.SENDING
        ).values_list("id", "message_id")
        if value == message_ids[pk]
    }


def unmark_sending(message_ids: Iterable[uuid.UUID]) -> None:
    """Back to the queue: messages marked ``sending`` that were never handed off (the batch
    stopped early — a pause for errors, say)."""
    ids = list(message_ids)
    if ids:
        Message.objects.filter(id__in=ids, status=MessageStatus.SENDING).update(
            status=MessageStatus.QUEUED, sending_at=None, attempts=F("attempts") - 1
        )


def has_unclaimed(campaign_id) -> bool:
    """Whether queued messages of the campaign wait that no worker holds."""
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=timezone.now())
    return Message.objects.filter(
        free, campaign_id=campaign_id, status=MessageStatus.QUEUED
    ).exists()


def _per_row(values: dict[Any, str]) -> Any:
    """``values[id]`` as an SQL expression over the primary key."""
    return _CaseOnMessage(values)


class _CaseOnMessage(Expression):
    """``CASE message.id WHEN … THEN … END`` written out: the ORM's ``When(pk=…)`` resolves a
    filter per message, which cost a chunk of 100 more CPU than building its 100 emails'
    headers (about 0.15 ms per message)."""

    def __init__(self, values: dict[Any, str]):
        super().__init__(output_field=CharField())
        self.values = values

    def as_sql(self, compiler, connection):
        pk = Message._meta.pk
        quote = connection.ops.quote_name
        params: list[Any] = []
        for key, value in self.values.items():
            params += [pk.get_db_prep_value(key, connection), value]
        whens = " WHEN %s THEN %s" * len(self.values)
        return f"CASE {quote(Message._meta.db_table)}.{quote(pk.column)}{whens} END", params


def release(message_ids) -> None:
    Message.objects.filter(id__in=list(message_ids), status=MessageStatus.QUEUED).update(
        claimed_until=None
    )


# --- outcomes ---


def message_event(message: Message, kind: str, *, occurred_at=None, **data) -> MessageEvent:
    """Record what happened to a message, and announce it (``email.<kind>``) in the outbox."""
    occurred_at = occurred_at or timezone.now()
    # No savepoint inside a caller's transaction (a tracking hit's): its two round trips
    # would be a quarter of the hit's, and nobody recovers from a failure half-way.
    with transaction.atomic(savepoint=False):
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
    record_outcomes(workspace=message.workspace, sent=[(message, provider_id)], engagement=False)


def record_failure(message: Message, error: DeliveryError) -> str:
    """Deferred with backoff on a temporary failure, bounced on a permanent one (a hard bounce
    suppresses the address). Returns the new status."""
    record_outcomes(workspace=message.workspace, failed=[(message, error)])
    return message.status


def record_outcomes(
    *,
    workspace: Workspace,
    sent: Sequence[tuple[Message, str]] = (),
    failed: Sequence[tuple[Message, DeliveryError]] = (),
    engagement: bool = True,
) -> None:
    """Write what became of messages handed off, set-based: one UPDATE for the sent, one
    bulk_update for the failed, one INSERT of MessageEvents, one of outbox events per kind, and
    (with ``engagement``) the contacts' ``sent`` counters and timeline in one batch.

    A failure is classified here: temporary → deferred with backoff (failed after
    MAX_ATTEMPTS, then one soft bounce); permanent → bounced, and the address suppressed as a
    hard bounce; a lost
    connection → interrupted (whether it left is unknown: never resent silently). The
    in-memory messages get their new ``status`` and ``error``."""
    now = timezone.now()
    records: list[tuple[Message, str, dict]] = []  # (message, event type, data)
    changed: list[Message] = []
    bounced: list[Message] = []
    given_up: list[Message] = []  # temporary failures past MAX_ATTEMPTS
    for message, error in failed:
        data = _classify_failure(message, error, now)
        changed.append(message)
        if message.status == MessageStatus.BOUNCED:
            bounced.append(message)
        elif message.status == MessageStatus.FAILED:
            given_up.append(message)
        if data is not None:
            records.append((message, message.status, data))
    with transaction.atomic():
        if sent:
            provider_ids = {m.id: (pid or m.message_id)[:255] for m, pid in sent}
            same = all(provider_ids[m.id] == m.message_id for m, _ in sent)
            Message.objects.filter(id__in=list(provider_ids)).update(
                status=MessageStatus.SENT,
                sent_at=now,
                error="",
                provider_message_id=F("message_id") if same else _per_row(provider_ids),
            )
            for message, _ in sent:
                message.status, message.sent_at, message.error = MessageStatus.SENT, now, ""
                records.append((message, EventType.SENT, {}))
        if changed:
            Message.objects.bulk_update(
                changed, ["status", "error", "next_attempt_at", "claimed_until"]
            )
        _record_events(workspace, records, now)
        if engagement and sent:
            _count_sent(workspace, [m for m, _ in sent], now)
    for message in bounced:
        _record_bounce(message, "hard")
    for message in given_up:
        # One soft bounce per message given up on, not one per 4xx reply: the workspace's
        # threshold (default 3 in 7 days) counts messages that never got through.
        _record_bounce(message, "soft")


def _classify_failure(message: Message, error: DeliveryError, now: datetime) -> dict | None:
    """Set the message's new status and error; return the data of its event (None: none)."""
    message.error = f"{error.code or ''} {error.message}".strip()[:2000]
    if isinstance(error, PermanentFailure):
        message.status = MessageStatus.BOUNCED
        return {"code": error.code, "reason": error.message[:500], "hard": True}
    if isinstance(error, ConnectionLost):
        message.status = MessageStatus.INTERRUPTED
        return None
    attempts = message.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        message.status = MessageStatus.FAILED
        return None
    retry_at = now + timedelta(minutes=2**attempts)
    message.status, message.next_attempt_at, message.claimed_until = (
        MessageStatus.DEFERRED,
        retry_at,
        None,
    )
    return {"code": error.code, "reason": error.message[:500], "retry_at": retry_at.isoformat()}


def _record_events(workspace: Workspace, records: list[tuple[Message, str, dict]], now) -> None:
    if not records:
        return
    _insert_message_events(records, now)
    by_kind: dict[str, list] = defaultdict(list)
    for message, kind, data in records:
        by_kind[kind].append((message.id, {**_outbox_data(message), "url": "", **data}))
    for kind, items in by_kind.items():
        events.emit_many(workspace, f"email.{kind}", items)


def _insert_message_events(records: list[tuple[Message, str, dict]], now: datetime) -> None:
    """One MessageEvent per record, in one COPY on PostgreSQL (mailcrm.copyrows): bulk_create
    built and prepared a model instance per row, about a tenth of a millisecond of CPU per
    message sent."""
    fields = ("id", "workspace_id", "message_id", "type", "occurred_at", "url", "is_machine")
    fields += ("device_type", "client", "os", "data", "created_at")
    insert_rows(
        MessageEvent,
        fields,
        (
            (uuid7(), m.workspace_id, m.id, kind, now, "", False, "", "", "", data, now)
            for m, kind, data in records
        ),
    )


def _outbox_data(message: Message) -> dict:
    return {
        "email_id": message.id,
        "email": message.email,
        "campaign_id": message.campaign_id,
        "tag": message.tag,
        "metadata": message.metadata,
    }


def _count_sent(workspace: Workspace, messages: list[Message], now: datetime) -> None:
    """The contacts' ``sends``, ``last_sent_at``, score and timeline, for the whole chunk."""
    from contacts.scoring import Engagement, record_engagement_many

    engagements = [Engagement(m.contact_id, now, m.campaign_id) for m in messages if m.contact_id]
    record_engagement_many(workspace_id=workspace.pk, event="sent", engagements=engagements)


def _record_bounce(message: Message, kind: str) -> None:
    """A 5xx reply (hard: suppressed at once) or retries exhausted on 4xx replies (soft: counts
    toward the workspace's soft-bounce threshold)."""
    from deliverability.services import bounce_record

    bounce_record(
        message.workspace,
        message.email,
        kind,
        domain=message.campaign.sending_domain if message.campaign_id else None,
        message_id=message.id,
        diagnostic=message.error,
    )


def record_suppressed(message_ids) -> None:
    Message.objects.filter(id__in=list(message_ids), status=MessageStatus.QUEUED).update(
        status=MessageStatus.SUPPRESSED, claimed_until=None
    )


# --- throttling --------------------------------------------------------------------------------


def take_slot(key: str, per_minute: int) -> bool:
    """Take one send from ``key``'s budget for this minute, across every worker process."""
    return take_slots(key, per_minute, 1) == 1


def take_slots(key: str, per_minute: int, wanted: int) -> int:
    """Take up to ``wanted`` sends from ``key``'s budget for this minute, across every worker
    process; returns how many were granted. The window's row is locked while it is read and
    bumped (FOR UPDATE on PostgreSQL, the IMMEDIATE transaction on SQLite)."""
    window = int(time.time() // 60)
    if wanted <= 0:
        return 0
    ThrottleWindow.objects.bulk_create(
        [ThrottleWindow(key=key, window=window, used=0)], ignore_conflicts=True
    )
    with transaction.atomic():
        row = ThrottleWindow.objects.select_for_update().get(key=key, window=window)
        granted = max(0, min(wanted, per_minute - row.used))
        if granted:
            ThrottleWindow.objects.filter(pk=row.pk).update(used=F("used") + granted)
    return granted


# --- campaign completion and housekeeping ------------------------------------------------------

# Held: an A/B test's message waiting for its send time or the winner (campaigns.ab).
UNFINISHED = (
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.DEFERRED,
    MessageStatus.HELD,
    MessageStatus.WAITING,
)


def finish_if_done(campaign_id) -> bool:
    """Mark a sending campaign sent once no recipient is left to send to.

    Never an automation's campaign (``metadata.automation_id``): it stays ``sending`` while the
    automation lives, because the engine adds messages to it at any moment. Finishing it
    would race the engine: this check can run before the engine's transaction commits its new
    queued messages and the UPDATE after, leaving them queued under a "sent" campaign that no
    chain or housekeeping ever looks at again. The exclusion is in the UPDATE itself, so no
    interleaving can finish one."""
    if Message.objects.filter(campaign_id=campaign_id, status__in=UNFINISHED).exists():
        return False
    return bool(
        Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING)
        .exclude(metadata__has_key="automation_id")
        .update(status=CampaignStatus.SENT, finished_at=timezone.now())
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
