"""Adaptive throttling per way out and recipient domain, and the warm-up's daily cap: the gate
each chunk of a batch passes before it is built (ARCHITECTURE.md, "The sending pipeline").

- A throttling reply (any 4xx: ``421``, ``450``, ``451``, ``454 Throttling failure`` …, or an
  ESP's HTTP 429) from a recipient domain backs that domain off on that way out (a workspace's
  sending backend, or the server's): the rate halves (multiplicative decrease) and the domain
  is held for a while, longer after each backoff in a row. Each run of RECOVERY_RUN successes
  adds a step back (additive increase); at its ceiling the state is dropped.
- The state is a ``ThrottleState`` row per (way out, domain), read once per batch and changed
  with row-locked updates once per chunk, so every worker process sees the same rates.
- Messages a gate holds back are deferred with a due time (``next_attempt_at``), never failed
  and without using up an attempt: the minute's housekeeping queues them again when due,
  while the other domains of the batch keep flowing.
- A sending domain in warm-up (deliverability.warmup) allows that many campaign messages a day
  (UTC); those beyond today's cap wait for tomorrow.

Cost: one SELECT of the way out's states per batch; per chunk with backed-off domains in it,
one locked update of their minute's counters together and one of their states after delivery
(nothing when no domain is backed off), one locked counter for the warm-up when one runs, and
one UPDATE per group of messages deferred."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from campaigns.models import Message, MessageStatus, ThrottleWindow
from campaigns.transport import DeliveryError, TemporaryFailure
from deliverability import warmup
from deliverability.models import SendingDomain, ThrottleState

SERVER = "server"
# A way out backed off for the first time is assumed to have carried this many messages a
# minute to the domain (the real figure is unknown: a chunk leaves in well under a second).
FIRST_CEILING = 240
MIN_RATE = 1
RECOVERY_RUN = 20  # successes in a row that earn one step back up
RECOVERY_STEPS = 20  # steps from nothing back to the ceiling
HOLD = timedelta(minutes=1)  # doubled for each backoff in a row, up to MAX_HOLD
MAX_HOLD = timedelta(minutes=30)

THROTTLED = "throttled"
WARMUP = "warm-up"
# Deferrals made by the gate say so in the message's error, which is how the progress view
# counts them (no column on the message table, which every send writes).
THROTTLED_ERROR = "Throttled: {domain} is backed off; waiting for its rate to allow more."
WARMUP_ERROR = "Waiting for warm-up: {domain} has sent today's {cap} messages."

_MAILBOX_STATUS = re.compile(r"\s*4\.[12]\.\d")

# Mailbox providers that answer for many domains with one set of servers (and one rate).
_PROVIDERS = {
    "gmail.com": ("gmail.com", "googlemail.com"),
    "outlook.com": (
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "hotmail.de",
        "hotmail.it",
        "hotmail.es",
        "live.co.uk",
        "live.fr",
        "outlook.fr",
        "outlook.de",
    ),
    "yahoo.com": (
        "yahoo.com",
        "ymail.com",
        "rocketmail.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "yahoo.es",
        "yahoo.it",
        "aol.com",
        "aim.com",
    ),
    "icloud.com": ("icloud.com", "me.com", "mac.com"),
    "gmx.net": ("gmx.net", "gmx.de", "gmx.com", "gmx.at", "gmx.ch"),
    "mail.ru": ("mail.ru", "inbox.ru", "list.ru", "bk.ru"),
    "yandex.ru": ("yandex.ru", "yandex.com", "ya.ru"),
}
_GROUP_OF = {name: group for group, names in _PROVIDERS.items() for name in names}
# Second-level labels under a country code that are registries, not organisations.
_REGISTRY_LABELS = {"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "gob"}


def domain_group(email: str) -> str:
    """The recipient domain whose servers answer for ``email``: a big provider's family
    (googlemail.com → gmail.com) or the organisation's domain (mail.example.co.uk →
    example.co.uk), so one organisation's subdomains share one rate."""
    domain = email.rpartition("@")[2].strip().lower().rstrip(".")
    if domain in _GROUP_OF:
        return _GROUP_OF[domain]
    labels = domain.split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _REGISTRY_LABELS else 2
    return ".".join(labels[-keep:])


def is_throttling(error: DeliveryError) -> bool:
    """A deferral or throttling reply: an ESP's HTTP 429, or an SMTP 4xx — except those whose
    enhanced status is about one mailbox or address (``452 4.2.2 Mailbox full``, 4.1.x, 4.2.x),
    which say nothing of the domain's rate and are retried for that recipient alone."""
    if not isinstance(error, TemporaryFailure) or error.code is None:
        return False
    if error.code == 429:
        return True
    return 400 <= error.code < 500 and not _MAILBOX_STATUS.match(error.message)


def backend_key(backend) -> str:
    return str(backend.pk) if backend is not None else SERVER


# --- shared state ------------------------------------------------------------------------------


def take_window_slots(key: str, window: int, limit: int, wanted: int) -> int:
    """Take up to ``wanted`` from ``key``'s budget of ``limit`` in ``window`` (a minute or a
    day number), across every worker process; returns how many were granted."""
    if wanted <= 0 or limit <= 0:
        return 0
    ThrottleWindow.objects.bulk_create(
        [ThrottleWindow(key=key, window=window, used=0)], ignore_conflicts=True
    )
    with transaction.atomic():
        row = ThrottleWindow.objects.select_for_update().get(key=key, window=window)
        granted = max(0, min(wanted, limit - row.used))
        if granted:
            ThrottleWindow.objects.filter(pk=row.pk).update(used=F("used") + granted)
    return granted


def take_many_window_slots(wants: dict[str, tuple[int, int]], window: int) -> dict[str, int]:
    """``take_window_slots`` for several keys at once (``key → (limit, wanted)``): one INSERT,
    one locked read and one UPDATE whatever their number. Rows are locked in key order, so two
    workers never wait on each other crosswise."""
    keys = sorted(key for key, (limit, wanted) in wants.items() if limit > 0 and wanted > 0)
    granted = dict.fromkeys(wants, 0)
    if not keys:
        return granted
    ThrottleWindow.objects.bulk_create(
        [ThrottleWindow(key=key, window=window, used=0) for key in keys], ignore_conflicts=True
    )
    with transaction.atomic():
        rows = list(
            ThrottleWindow.objects.select_for_update()
            .filter(window=window, key__in=keys)
            .order_by("key")
        )
        for row in rows:
            limit, wanted = wants[row.key]
            granted[row.key] = max(0, min(wanted, limit - row.used))
            row.used += granted[row.key]
        changed = [row for row in rows if granted[row.key]]
        if changed:
            ThrottleWindow.objects.bulk_update(changed, ["used"])
    return granted


def give_back(key: str, window: int, count: int) -> None:
    if count > 0:
        ThrottleWindow.objects.filter(key=key, window=window, used__gte=count).update(
            used=F("used") - count
        )


def _budget_key(backend_key: str, domain: str) -> str:
    key = f"domain:{backend_key}:{domain}"
    if len(key) <= 100:  # ThrottleWindow.key
        return key
    return f"domain:{backend_key}:{hashlib.sha256(domain.encode()).hexdigest()[:40]}"


def _minute(now: datetime) -> int:
    return int(now.timestamp() // 60)


def backoff(
    *, backend_key: str, domain: str, reply: str, now: datetime, workspace_id=None
) -> ThrottleState:
    """A throttling reply from ``domain`` on this way out: halve its rate, hold it."""
    key = backend_key
    ThrottleState.objects.bulk_create(
        [
            ThrottleState(
                workspace_id=workspace_id,
                backend=key,
                domain=domain,
                rate_per_minute=FIRST_CEILING,
                ceiling=FIRST_CEILING,
            )
        ],
        ignore_conflicts=True,
    )
    with transaction.atomic():
        state = ThrottleState.objects.select_for_update().get(backend=key, domain=domain)
        state.backoffs += 1
        state.rate_per_minute = max(MIN_RATE, state.rate_per_minute // 2)
        state.successes = 0
        hold = min(MAX_HOLD, HOLD * 2 ** min(state.backoffs - 1, 10))
        state.held_until = max(state.held_until or now, now + hold)
        state.last_reply = reply[:500]
        state.save()
    return state


def recover(*, backend_key: str, successes: dict[str, int]) -> dict[str, ThrottleState | None]:
    """Messages went through to backed-off domains (``domain → successes``): each run of
    RECOVERY_RUN adds one step; at the ceiling a state goes (None for it then). One locked
    read, one UPDATE and one DELETE for all the domains."""
    now = timezone.now()
    result: dict[str, ThrottleState | None] = dict.fromkeys(successes)
    with transaction.atomic():
        states = list(
            ThrottleState.objects.select_for_update()
            .filter(backend=backend_key, domain__in=sorted(successes))
            .order_by("domain")
        )
        recovered, changed = [], []
        for state in states:
            steps, state.successes = divmod(state.successes + successes[state.domain], RECOVERY_RUN)
            if steps:
                step = max(1, state.ceiling // RECOVERY_STEPS)
                state.rate_per_minute = min(state.ceiling, state.rate_per_minute + steps * step)
                state.backoffs = 0
            state.updated_at = now
            if state.rate_per_minute >= state.ceiling:
                recovered.append(state.pk)
            else:
                changed.append(state)
                result[state.domain] = state
        if changed:
            ThrottleState.objects.bulk_update(
                changed, ["successes", "rate_per_minute", "backoffs", "updated_at"]
            )
        if recovered:
            ThrottleState.objects.filter(pk__in=recovered).delete()
    return result


# --- the gate of one batch ---------------------------------------------------------------------


@dataclass
class _Hold:
    until: datetime
    error: str
    ids: list = field(default_factory=list)


class DeliveryGate:
    """One batch's throttling and warm-up decisions. ``admit`` (main thread) keeps back what may
    not leave yet; ``holds``/``observe`` (delivery thread, no database) stop a domain for the
    rest of the batch at its first throttling reply; ``record`` (main thread, after each
    chunk) writes backoffs and recoveries."""

    def __init__(self, *, backend, sending_domain: SendingDomain | None, now: datetime):
        self.now = now
        self.backend_key = backend_key(backend)
        self.workspace_id = backend.workspace_id if backend is not None else None
        self.states = {s.domain: s for s in ThrottleState.objects.filter(backend=self.backend_key)}
        self.sending_domain = sending_domain
        today = now.astimezone(UTC).date()
        self.warmup_cap = (
            warmup.daily_cap(sending_domain, today) if sending_domain is not None else None
        )
        self.warmup_window = today.toordinal()
        self.tripped: dict[str, str] = {}  # domain → the reply, from the delivery thread
        self.backed_off: set[str] = set()
        self.deferred = 0

    @property
    def warmup_key(self) -> str:
        return f"warmup:{self.sending_domain.pk}"

    def admit(self, chunk: list) -> list:
        """The part of ``chunk`` (``(message, contact)`` pairs, in order) that may leave now;
        the rest is deferred with its due time."""
        if not self.states and self.warmup_cap is None:
            return chunk
        holds: dict[tuple, _Hold] = {}
        by_domain: dict[str, list] = defaultdict(list)
        for item in chunk:
            by_domain[domain_group(item[0].email)].append(item)
        admitted_ids: set = set()
        allowances = self._domain_allowances({d: len(items) for d, items in by_domain.items()})
        for domain, items in by_domain.items():
            allowed = allowances[domain]
            admitted_ids.update(item[0].id for item in items[:allowed])
            if allowed < len(items):
                state = self.states[domain]
                until = self._domain_due(state)
                hold = holds.setdefault(
                    (until, domain), _Hold(until, THROTTLED_ERROR.format(domain=domain))
                )
                hold.ids.extend(item[0].id for item in items[allowed:])
        admitted = [item for item in chunk if item[0].id in admitted_ids]
        if self.warmup_cap is not None and admitted:
            granted = take_window_slots(
                self.warmup_key, self.warmup_window, self.warmup_cap, len(admitted)
            )
            if granted < len(admitted):
                tomorrow = datetime.combine(
                    self.now.astimezone(UTC).date() + timedelta(days=1), time(), tzinfo=UTC
                )
                error = WARMUP_ERROR.format(domain=self.sending_domain.domain, cap=self.warmup_cap)
                holds[(tomorrow, WARMUP)] = _Hold(
                    tomorrow, error, [item[0].id for item in admitted[granted:]]
                )
                admitted = admitted[:granted]
        for hold in holds.values():
            self._defer(hold)
        return admitted

    def give_back(self, items: list) -> None:
        """Admitted messages that stay queued after all (the campaign's or backend's minute was
        spent): their warm-up allowance goes back."""
        if self.warmup_cap is not None:
            give_back(self.warmup_key, self.warmup_window, len(items))

    def _domain_allowances(self, wanted: dict[str, int]) -> dict[str, int]:
        """How many messages each domain of a chunk may send now: all for a domain not backed
        off, none for one held, else what its minute's budget still has (one locked counter
        update for them all)."""
        allowed, budgets, domain_of = {}, {}, {}
        for domain, count in wanted.items():
            state = self.states.get(domain)
            if state is None:
                allowed[domain] = count
            elif state.held_until and state.held_until > self.now:
                allowed[domain] = 0
            else:
                key = _budget_key(self.backend_key, domain)
                budgets[key], domain_of[key] = (state.rate_per_minute, count), domain
        granted = take_many_window_slots(budgets, _minute(self.now))
        for key, count in granted.items():
            allowed[domain_of[key]] = count
        return allowed

    def _domain_due(self, state: ThrottleState) -> datetime:
        if state.held_until and state.held_until > self.now:
            return state.held_until
        return datetime.fromtimestamp((_minute(self.now) + 1) * 60, tz=UTC)

    def _defer(self, hold: _Hold) -> None:
        # Still queued and claimed by this batch: no attempt was made, none is counted.
        changed = Message.objects.filter(id__in=hold.ids, status=MessageStatus.QUEUED).update(
            status=MessageStatus.DEFERRED,
            next_attempt_at=hold.until,
            claimed_until=None,
            error=hold.error,
        )
        self.deferred += changed

    # In the delivery thread: no database.

    def holds(self, message: Message) -> bool:
        return bool(self.tripped) and domain_group(message.email) in self.tripped

    def observe(self, message: Message, error: DeliveryError) -> None:
        if is_throttling(error):
            self.tripped.setdefault(domain_group(message.email), f"{error.code} {error.message}")

    # Back in the main thread.

    def defer_held(self, messages: list[Message]) -> None:
        """Messages marked ``sending`` but kept back in the delivery thread (their domain
        answered a throttling reply earlier in the batch): deferred, the attempt undone."""
        by_domain: dict[str, list] = defaultdict(list)
        for message in messages:
            by_domain[domain_group(message.email)].append(message.id)
        for domain, ids in by_domain.items():
            state = self.states.get(domain)
            until = self._domain_due(state) if state else self.now + HOLD
            self.deferred += Message.objects.filter(
                id__in=ids, status=MessageStatus.SENDING
            ).update(
                status=MessageStatus.DEFERRED,
                sending_at=None,
                attempts=F("attempts") - 1,
                next_attempt_at=until,
                claimed_until=None,
                error=THROTTLED_ERROR.format(domain=domain),
            )

    def record(self, sent: Iterable[Message]) -> None:
        """After a chunk: back off the domains that answered a throttling reply (once per
        batch), count successes toward the recovery of those backed off."""
        for domain, reply in list(self.tripped.items()):
            if domain in self.backed_off:
                continue
            self.backed_off.add(domain)
            self.states[domain] = backoff(
                backend_key=self.backend_key,
                domain=domain,
                reply=reply,
                now=self.now,
                workspace_id=self.workspace_id,
            )
        successes = Counter(
            domain
            for domain in (domain_group(m.email) for m in sent)
            if domain in self.states and domain not in self.tripped
        )
        if successes:
            for domain, state in recover(backend_key=self.backend_key, successes=successes).items():
                if state is None:
                    self.states.pop(domain, None)
                else:
                    self.states[domain] = state


# --- what the progress view shows --------------------------------------------------------------


def waiting_counts(campaign_id: uuid.UUID) -> dict[str, int]:
    """The campaign's deferred messages waiting for a backed-off domain or for the warm-up."""
    counts = Message.objects.filter(
        campaign_id=campaign_id, status=MessageStatus.DEFERRED
    ).aggregate(
        throttled=Count("id", filter=Q(error__startswith="Throttled:")),
        warmup=Count("id", filter=Q(error__startswith="Waiting for warm-up:")),
    )
    return {"throttled": counts["throttled"], "warmup": counts["warmup"]}


def delivery_state(
    campaign, *, now: datetime | None = None, waiting: dict[str, int] | None = None
) -> dict:
    """What holds a campaign's mail back: the backed-off domains of its way out (with their
    current rates), how many messages wait for them and for the warm-up, and the warm-up's
    cap today."""
    from campaigns.content import campaign_sender
    from campaigns.senders import Senders

    now = now or timezone.now()
    senders = Senders(campaign.workspace_id)
    address = campaign_sender(campaign)[1]
    backend = senders.backend_for(address)
    states = ThrottleState.objects.filter(backend=backend_key(backend)).order_by("domain")
    domain = (
        SendingDomain.objects.for_workspace(campaign.workspace_id)
        .filter(domain=address.rpartition("@")[2].lower())
        .first()
    )
    today: date = now.astimezone(UTC).date()
    return {
        "throttled_domains": [
            {
                "domain": s.domain,
                "rate_per_minute": s.rate_per_minute,
                "ceiling": s.ceiling,
                "held_until": s.held_until if s.held_until and s.held_until > now else None,
                "last_reply": s.last_reply,
            }
            for s in states[:50]
        ],
        "waiting": waiting if waiting is not None else waiting_counts(campaign.pk),
        "warmup": warmup.warmup_status(domain, today) if domain is not None else None,
    }


def delivery_on_page(campaign) -> dict | None:
    """``delivery_state`` for the dashboard's pages: only while the campaign may still send,
    and only when some of its messages wait (one query otherwise)."""
    if campaign.status not in ("sending", "paused"):
        return None
    waiting = waiting_counts(campaign.pk)
    if not any(waiting.values()):
        return None
    return delivery_state(campaign, waiting=waiting)


def forget_old(now: datetime | None = None) -> int:
    """Housekeeping: drop the per-minute budgets of backed-off domains older than an hour,
    warm-up day counters older than two days, and throttle states nobody touched for a day
    (their domain was not mailed since: it starts again at full rate). Returns rows dropped."""
    now = now or timezone.now()
    old_minute, old_day = _minute(now) - 60, now.astimezone(UTC).date().toordinal() - 2
    dropped = ThrottleWindow.objects.filter(
        key__startswith="domain:", window__lt=old_minute
    ).delete()[0]
    dropped += ThrottleWindow.objects.filter(
        key__startswith="warmup:", window__lt=old_day
    ).delete()[0]
    dropped += ThrottleState.objects.filter(updated_at__lt=now - timedelta(days=1)).delete()[0]
    return dropped
