"""Opens and clicks recorded at the cost of one append, and written later in batches.

A hit (pixel or click) is answered after checking its token's signature and appending the
hit to a queue: a Redis stream when REDIS_URL is set, else one INSERT into ``PendingHit``. A
drain (debounced with ``request_soon``; also run every minute by the housekeeping task) turns
queued hits into ``MessageEvent`` rows with device analytics and machine flags, announces the
people's hits in the outbox and counts them on the contacts (``record_engagement_many``), a few
statements per batch.

Nothing is lost and nothing is counted twice. Each hit carries the id its event will have, and
events are inserted with ``ON CONFLICT DO NOTHING RETURNING id``: only the rows this drain
inserted are announced and counted, so a batch written twice (a drain that crashed after its
commit, or a slow one whose hits another drain reclaimed) changes nothing the second time.
Redis: hits are claimed by a consumer group, written, then acknowledged and deleted; hits a
crashed drain claimed are reclaimed after ``RECLAIM_AFTER``. Database: hits are claimed with
SKIP LOCKED and deleted in the transaction that writes their events."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import EventType, Link, Message, MessageEvent, PendingHit
from campaigns.tracking import describe_agent, is_machine
from mailcrm.ids import uuid7
from mailcrm.tasks import request_soon

logger = logging.getLogger(__name__)

DRAIN_BATCH = 500
DRAIN_DEBOUNCE_SECONDS = 2
# A hit claimed from the Redis stream and not acknowledged this long after is taken over by the
# next drain: its drain crashed (or is very slow; the event ids make a second write harmless).
RECLAIM_AFTER = timedelta(minutes=2)
_DRAIN_REQUESTED = "campaigns:hits-drain"
_ENGAGEMENT = {EventType.OPENED: "opened", EventType.CLICKED: "clicked"}


@dataclass(frozen=True)
class Hit:
    id: uuid.UUID  # the id of the MessageEvent it becomes
    kind: str
    message_id: uuid.UUID
    link_id: int | None
    method: str
    user_agent: str
    at: datetime

    def dumps(self) -> str:
        return json.dumps(
            [
                self.id.hex,
                self.kind,
                self.message_id.hex,
                self.link_id,
                self.method,
                self.user_agent,
                self.at.isoformat(),
            ]
        )

    @classmethod
    def loads(cls, raw: bytes | str) -> Hit:
        hit_id, kind, message_id, link_id, method, agent, at = json.loads(raw)
        return cls(
            uuid.UUID(hit_id),
            kind,
            uuid.UUID(message_id),
            link_id,
            method,
            agent,
            datetime.fromisoformat(at),
        )


def record(
    *, kind: str, message_id: uuid.UUID, link_id: int | None, method: str, user_agent: str
) -> None:
    """Queue one hit and ask for a drain. The caller has checked the token's signature."""
    hit = Hit(uuid7(), kind, message_id, link_id, method[:8], user_agent[:500], timezone.now())
    if _uses_redis():
        _stream().append(hit)
    else:
        PendingHit.objects.create(
            id=hit.id,
            kind=hit.kind,
            message_id=hit.message_id,
            link_id=hit.link_id,
            method=hit.method,
            user_agent=hit.user_agent,
            occurred_at=hit.at,
        )
    request_drain()


_last_request = 0.0


def request_drain() -> None:
    """Ask a worker to drain soon; bursts of hits share one request every couple of seconds.
    With synchronous tasks (tests, development without a worker) the drain runs now."""
    global _last_request
    if not settings.Q_CLUSTER.get("sync"):
        # A process that asked within the debounce time need not ask the cache again: it
        # would find the request already waiting (one round trip per hit saved).
        now = time.monotonic()
        if now - _last_request < DRAIN_DEBOUNCE_SECONDS:
            return
        _last_request = now
    request_soon(
        "campaigns.tasks.apply_hits",
        key=_DRAIN_REQUESTED,
        seconds=DRAIN_DEBOUNCE_SECONDS,
        run_now=drain,
        group="engagement",
    )


def drain(
    *, limit: int = DRAIN_BATCH, batches: int = 100, reclaim_after: timedelta = RECLAIM_AFTER
) -> int:
    """Write up to ``batches`` batches of queued hits from each queue (the database's, and
    Redis's when configured); returns how many hits were taken off the queues."""
    taken = 0
    for _ in range(batches):
        done = _drain_database_batch(limit)
        taken += done
        if done < limit:
            break
    if _uses_redis():
        stream = _stream()
        for _ in range(batches):
            done = stream.drain_batch(limit, reclaim_after)
            taken += done
            if done < limit:
                break
    return taken


def _drain_database_batch(limit: int) -> int:
    with transaction.atomic():
        rows = list(PendingHit.objects.select_for_update(skip_locked=True).order_by("id")[:limit])
        if not rows:
            return 0
        write(
            [
                Hit(r.id, r.kind, r.message_id, r.link_id, r.method, r.user_agent, r.occurred_at)
                for r in rows
            ]
        )
        PendingHit.objects.filter(id__in=[row.id for row in rows]).delete()
    return len(rows)


# --- Writing ------------------------------------------------------------------------------------


@transaction.atomic
def write(hits: Sequence[Hit]) -> int:
    """Turn hits into events, announce and count the people's; returns how many events were
    new. Hits of deleted messages, of contacts who opted out of tracking, and clicks naming a
    link that was not in their message are dropped."""
    from contacts.scoring import Engagement, record_engagement_many
    from mailcrm import events as outbox

    messages = _messages({hit.message_id for hit in hits})
    link_ids = {hit.link_id for hit in hits if hit.link_id is not None}
    links = {
        pk: (campaign_id, message_id, url)
        for pk, campaign_id, message_id, url in Link.objects.filter(pk__in=link_ids).values_list(
            "pk", "campaign_id", "message_id", "url"
        )
    }
    rows = []
    for hit in hits:
        message = messages.get(hit.message_id)
        if message is None or message["opted_out"]:
            continue
        url = ""
        if hit.kind == EventType.CLICKED:
            link = links.get(hit.link_id)
            if link is None or not _in_message(link, message, hit.message_id):
                continue
            url = link[2]
        machine = is_machine(
            user_agent=hit.user_agent,
            method=hit.method,
            kind=hit.kind,
            sent_at=message["sent_at"],
            at=hit.at,
        )
        rows.append((hit, message, url, machine))
    inserted = _insert_events(rows)
    announce: dict[tuple, list] = defaultdict(list)
    engaged: dict[tuple, list] = defaultdict(list)
    for hit, message, url, machine in rows:
        if machine or hit.id not in inserted:
            continue
        announce[message["workspace_id"], hit.kind].append(
            (
                hit.message_id,
                {
                    "email_id": hit.message_id,
                    "email": message["email"],
                    "campaign_id": message["campaign_id"],
                    "tag": message["tag"],
                    "metadata": message["metadata"],
                    "url": url,
                    "user_agent": hit.user_agent,
                },
            )
        )
        if message["contact_id"] is not None:
            engaged[message["workspace_id"], _ENGAGEMENT[hit.kind]].append(
                Engagement(message["contact_id"], hit.at, message["campaign_id"])
            )
    for (workspace_id, kind), items in announce.items():
        outbox.emit_many(workspace_id, f"email.{kind}", items)
    for (workspace_id, event), engagements in engaged.items():
        record_engagement_many(workspace_id=workspace_id, event=event, engagements=engagements)
    return len(inserted)


def _messages(ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict]:
    found = Message.objects.filter(pk__in=list(ids)).values(
        "id",
        "workspace_id",
        "campaign_id",
        "contact_id",
        "sent_at",
        "email",
        "tag",
        "metadata",
        opted_out=Coalesce("contact__tracking_opt_out", Value(False)),
    )
    return {row["id"]: row for row in found}


def _in_message(link: tuple, message: dict, message_id: uuid.UUID) -> bool:
    """The token's signature binds the link to the message; this checks it again against the
    stored rows, so even a token signed by mistake cannot redirect elsewhere."""
    campaign_id, link_message_id, _ = link
    if message["campaign_id"] is not None:
        return campaign_id == message["campaign_id"]
    return link_message_id == message_id


_EVENT_COLUMNS = (
    "id",
    "workspace",
    "message",
    "type",
    "occurred_at",
    "url",
    "is_machine",
    "device_type",
    "client",
    "os",
    "data",
    "created_at",
)


def _insert_events(rows: list[tuple]) -> set[uuid.UUID]:
    """One ``INSERT … ON CONFLICT (id) DO NOTHING RETURNING id`` per 500 events: the ids of the
    events this call inserted (PostgreSQL and SQLite ≥ 3.35 both)."""
    if not rows:
        return set()
    fields = [MessageEvent._meta.get_field(name) for name in _EVENT_COLUMNS]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    now = timezone.now()
    inserted: set[uuid.UUID] = set()
    id_field = fields[0]
    for start in range(0, len(rows), 500):
        values, params = [], []
        for hit, message, url, machine in rows[start : start + 500]:
            described = describe_agent(hit.user_agent)
            row = (
                hit.id,
                message["workspace_id"],
                hit.message_id,
                hit.kind,
                hit.at,
                url,
                machine,
                described["device_type"],
                described["client"],
                described["os"],
                {"user_agent": hit.user_agent},
                now,
            )
            params.extend(
                field.get_db_prep_save(value, connection)
                for field, value in zip(fields, row, strict=True)
            )
            values.append("(" + ", ".join(["%s"] * len(fields)) + ")")
        sql = (
            f"INSERT INTO {MessageEvent._meta.db_table} ({columns}) VALUES {', '.join(values)} "  # nosec B608 - identifiers are ours, values are bound parameters
            f"ON CONFLICT ({connection.ops.quote_name(id_field.column)}) DO NOTHING "
            f"RETURNING {connection.ops.quote_name(id_field.column)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            inserted.update(id_field.to_python(value) for (value,) in cursor.fetchall())
    return inserted


# --- The Redis stream ---------------------------------------------------------------------------


def _uses_redis() -> bool:
    return bool(settings.REDIS_URL) and getattr(settings, "TRACKING_HITS_QUEUE", "") != "database"


_clients: dict[str, object] = {}


class _Stream:
    """Hits in a Redis stream read by one consumer group: claimed, written, acknowledged."""

    group = "drain"

    def __init__(self) -> None:
        import redis

        url = settings.REDIS_URL
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url)
        self.client = _clients[url]
        prefix = settings.CACHES["default"].get("KEY_PREFIX") or "mailcrm"
        self.key = f"{prefix}:campaigns:hits"
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"

    def append(self, hit: Hit) -> None:
        self.client.xadd(self.key, {"h": hit.dumps()})

    def _group(self) -> None:
        import redis

        try:
            # From the stream's start: hits appended before the group existed are drained too.
            self.client.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def claim(self, limit: int, reclaim_after: timedelta) -> list[tuple[bytes, bytes]]:
        """Entries a crashed drain left claimed (idle past ``reclaim_after``) first, then new
        ones: each goes to one consumer until acknowledged."""
        self._group()
        reclaimed = self.client.xautoclaim(
            self.key,
            self.group,
            self.consumer,
            min_idle_time=int(reclaim_after.total_seconds() * 1000),
            start_id="0-0",
            count=limit,
        )
        entries = [(entry_id, fields) for entry_id, fields in reclaimed[1] if fields]
        if len(entries) < limit:
            fresh = self.client.xreadgroup(
                self.group, self.consumer, {self.key: ">"}, count=limit - len(entries)
            )
            entries += list(fresh[0][1]) if fresh else []
        return entries

    def acknowledge(self, entry_ids: list[bytes]) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.xack(self.key, self.group, *entry_ids)
        pipe.xdel(self.key, *entry_ids)
        pipe.execute()

    def drain_batch(self, limit: int, reclaim_after: timedelta) -> int:
        entries = self.claim(limit, reclaim_after)
        if not entries:
            return 0
        hits = []
        for _, fields in entries:
            try:
                hits.append(Hit.loads(fields[b"h"]))
            except (KeyError, ValueError, TypeError):
                logger.error("Dropping an unreadable tracking hit: %r", fields)
        write(hits)
        self.acknowledge([entry_id for entry_id, _ in entries])
        return len(entries)

    def pending(self) -> int:
        """Hits appended and not yet acknowledged."""
        return self.client.xlen(self.key)


def _stream() -> _Stream:
    return _Stream()


def pending() -> int:
    """How many hits wait to be written, in every queue."""
    waiting = PendingHit.objects.count()
    if _uses_redis():
        waiting += _stream().pending()
    return waiting
