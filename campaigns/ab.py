"""A/B tests of campaigns: up to four variants of subject, from name, content or send time are
sent to a share of the audience; after a set time the winner (by human open or click rate, or
picked by a person) goes to the rest.

How a recipient finds its variant: at the snapshot one UPDATE hashes each message's campaign
and contact ids (md5) into a number h; ``h % 100 < share`` puts the recipient in the test, as
variant ``(h / 100) % variants``; the rest is ``held`` without a variant. The hash depends on
nothing else, so the assignment is the same whenever it is computed, and disjoint by
construction (one message per campaign and contact, one variant per message).

Then: a test message whose variant has a later send time is ``held`` until then; the minute's
housekeeping releases it (``tick``). When the test is decided, the rest — those still held, so
never a test recipient — is released to ``queued`` and rendered with the winner's content
(a message without a variant in an A/B campaign gets the winner). The send-time re-check of
suppressions and unsubscribes applies to them as to every message."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from campaigns.content import campaign_sender, campaign_source
from campaigns.models import (
    AbCriterion,
    AbTest,
    AbVariant,
    Campaign,
    CampaignStatus,
    EventType,
    Message,
    MessageEvent,
    MessageStatus,
)
from mailcrm import events
from mailcrm.exceptions import Conflict

MIN_VARIANTS, MAX_VARIANTS = 2, 4
MAX_WAIT_MINUTES = 30 * 24 * 60
VARIANT_FIELDS = ("subject", "from_name", "html", "text", "template_id", "send_at")
LABELS = "ABCD"
WINNER_SELECTED = events.CAMPAIGN_AB_WINNER_SELECTED
# Campaigns whose test has started: a winner can be chosen, held messages released.
STARTED = (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.SENT)
SIGNIFICANCE = 0.05
RELEASE_CHUNK = 50_000


# --- configuration -----------------------------------------------------------------------------


def _check_variant(campaign: Campaign, index: int, data: dict[str, Any]) -> dict[str, list[str]]:
    """Field errors of one variant, keyed like the API's (``variants[1].html``)."""
    prefix = f"variants[{index}]"
    problems = {
        f"{prefix}.{key}": ["Unknown field."] for key in sorted(set(data) - set(VARIANT_FIELDS))
    }
    if problems:
        return problems
    template_id = data.get("template_id")
    if template_id:
        from templates.models import EmailTemplate

        if not EmailTemplate.objects.filter(workspace=campaign.workspace, pk=template_id).exists():
            return {f"{prefix}.template_id": ["No such template in this workspace."]}
    variant = AbVariant(campaign=campaign, position=index, **data)
    try:
        variant.full_clean(exclude=["campaign"])
    except ValidationError as exc:
        return {f"{prefix}.{key}": msgs for key, msgs in exc.message_dict.items()}
    from templates.rendering import compile_template

    try:
        compile_template(*variant_source(campaign, variant))
    except ValidationError as exc:
        return {f"{prefix}.{key}": msgs for key, msgs in exc.message_dict.items()}
    return {}


@transaction.atomic
def ab_configure(
    *,
    campaign: Campaign,
    share: int,
    criterion: str,
    wait_minutes: int,
    variants: list[dict[str, Any]],
) -> AbTest:
    """Create or replace a draft's A/B test and its variants."""
    from campaigns.services import CampaignStateError

    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        raise CampaignStateError(f"The A/B test of a {campaign.status} campaign cannot change.")
    problems: dict[str, list[str]] = {}
    if not isinstance(share, int) or not 1 <= share <= 100:
        problems["share"] = ["Give a share of the audience between 1 and 100 percent."]
    if criterion not in AbCriterion.values:
        problems["criterion"] = [f"Choose one of: {', '.join(AbCriterion.values)}."]
    if not isinstance(wait_minutes, int) or not 1 <= wait_minutes <= MAX_WAIT_MINUTES:
        problems["wait_minutes"] = [f"Give between 1 and {MAX_WAIT_MINUTES} minutes."]
    if not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS:
        problems["variants"] = [f"Give between {MIN_VARIANTS} and {MAX_VARIANTS} variants."]
    else:
        for index, data in enumerate(variants):
            problems.update(_check_variant(campaign, index, data))
    if problems:
        raise ValidationError(problems)
    test, _ = AbTest.objects.update_or_create(
        campaign=campaign,
        defaults={"share": share, "criterion": criterion, "wait_minutes": wait_minutes},
    )
    AbVariant.objects.filter(campaign=campaign).delete()
    AbVariant.objects.bulk_create(
        [AbVariant(campaign=campaign, position=i, **data) for i, data in enumerate(variants)]
    )
    return test


@transaction.atomic
def ab_remove(*, campaign: Campaign) -> None:
    from campaigns.services import CampaignStateError

    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        raise CampaignStateError(f"The A/B test of a {campaign.status} campaign cannot change.")
    AbTest.objects.filter(campaign=campaign).delete()
    AbVariant.objects.filter(campaign=campaign).delete()


def ab_test_of(campaign: Campaign) -> AbTest | None:
    return AbTest.objects.filter(campaign=campaign).first()


# --- content -----------------------------------------------------------------------------------


def variant_source(campaign: Campaign, variant: AbVariant | None) -> tuple[str, str, str]:
    """Subject, HTML and text of a variant: its own where given, else its template's, else
    the campaign's."""
    subject, html, text = campaign_source(campaign)
    if variant is None:
        return subject, html, text
    if variant.html or variant.text:
        html, text = variant.html, variant.text
    elif variant.template_id:
        from templates.models import EmailTemplate

        template = EmailTemplate.objects.filter(
            pk=variant.template_id, workspace_id=campaign.workspace_id
        ).first()
        if template is not None:
            html, text = template.html, template.text
            subject = campaign.subject or template.subject or subject
    return variant.subject or subject, html, text


class VariantContents:
    """What a batch renders per message: the compiled content and from name of the message's
    variant, of the winner for the rest of an A/B campaign, or the campaign's own — each
    compiled once per batch."""

    def __init__(self, campaign: Campaign):
        self.campaign = campaign
        test = ab_test_of(campaign)
        self.winner = test.winner if test else None
        self.variants = (
            {v.position: v for v in AbVariant.objects.filter(campaign=campaign)} if test else {}
        )
        self.from_name = campaign_sender(campaign)[0]
        self._compiled: dict[int | None, tuple[Any, str]] = {}

    def for_message(self, message: Message) -> tuple[Any, str]:
        from templates.rendering import compile_template

        position = message.ab_variant if message.ab_variant is not None else self.winner
        if position not in self.variants:
            position = None
        if position not in self._compiled:
            variant = self.variants.get(position)
            compiled = compile_template(*variant_source(self.campaign, variant))
            from_name = (variant.from_name if variant else "") or self.from_name
            self._compiled[position] = (compiled, from_name)
        return self._compiled[position]


# --- assignment at the snapshot ----------------------------------------------------------------


def _hash_number_sql() -> str:
    """SQL turning ``hx`` (an md5 in hex) into a number in [0, 2**24). SQLite has Django's
    md5() but no hex parser, so the six hex digits are read one by one there."""
    if connection.vendor == "postgresql":
        return "('x' || substr(hx, 1, 6))::bit(24)::int"
    return " + ".join(
        f"(instr('0123456789abcdef', substr(hx, {i + 1}, 1)) - 1) * {16 ** (5 - i)}"
        for i in range(6)
    )


@dataclass(frozen=True)
class SnapshotColumns:
    """What ``pipeline.snapshot`` inserts for an A/B campaign: the audience's SELECT wrapped to
    carry each contact's hash ``h``, and the ``status`` and ``ab_variant`` columns over it —
    so the test is assigned by the INSERT itself, without writing every row a second time."""

    source: str
    source_params: list
    status: str
    status_params: list
    variant: str
    variant_params: list


def snapshot_columns(campaign: Campaign, select_sql: str) -> SnapshotColumns:
    """For a campaign without a test: the audience as it is, queued, no variant."""
    test = ab_test_of(campaign)
    if test is None or test.winner is not None:
        return SnapshotColumns(select_sql, [], "'queued'", [], "NULL", [])
    variants = AbVariant.objects.filter(campaign=campaign).count()
    # The same text as the UPDATE of assign() hashes: the two agree on every contact.
    if connection.vendor == "postgresql":
        key, campaign_key = "%s || a.id::text", str(campaign.pk)
    else:
        key, campaign_key = "%s || a.id", campaign.pk.hex
    source = (
        f"SELECT b.id, b.email, {_hash_number_sql()} AS h FROM "  # nosec B608 - identifiers are ours, values are bound parameters
        f"(SELECT a.id, a.email, md5({key}) AS hx FROM ({select_sql}) AS a) AS b"
    )
    in_test = "audience.h %% 100 < %s"
    return SnapshotColumns(
        source=source,
        source_params=[campaign_key],
        status=f"CASE WHEN {in_test} THEN 'queued' ELSE 'held' END",
        status_params=[test.share],
        variant=f"CASE WHEN {in_test} THEN (audience.h / 100) %% %s END",
        variant_params=[test.share, variants],
    )


def _message_hash_sql() -> str:
    """A message row's h in [0, 2**24): the md5 of its campaign and contact ids, as the
    snapshot computes it."""
    if connection.vendor == "postgresql":
        key = "campaign_id::text || coalesce(contact_id, id)::text"
    else:
        key = "campaign_id || coalesce(contact_id, id)"
    return "(" + _hash_number_sql().replace("hx", f"md5({key})") + ")"


def assign(campaign: Campaign, *, now: datetime | None = None) -> AbTest | None:
    """Hold the variants sent later and set when the test is decided; called in the
    transaction of the snapshot, a no-op for a campaign without a test. The snapshot assigns
    its rows as it inserts them (``snapshot_columns``); the UPDATE here assigns, the same way,
    any queued message without a variant that another path inserted (none, normally: it then
    reads the test share's rows through the (campaign, status) index and writes nothing)."""
    test = ab_test_of(campaign)
    if test is None or test.winner is not None:
        return test
    now = now or timezone.now()
    variants = list(AbVariant.objects.filter(campaign=campaign).order_by("position"))
    table = Message._meta.db_table
    campaign_id = Message._meta.get_field("campaign").target_field.get_db_prep_value(
        campaign.pk, connection
    )
    unassigned = Message.objects.filter(
        campaign=campaign, status=MessageStatus.QUEUED, ab_variant__isnull=True
    )
    if unassigned.exists():
        # One table, no join: right after the snapshot the statistics know none of its rows,
        # and a self-join was planned as a nested loop over the whole table (minutes).
        h = _message_hash_sql()
        in_test = f"{h} %% 100 < %s"  # %% is the modulo operator beside parameters
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET "  # nosec B608 - identifiers are ours, values are bound parameters
                f"ab_variant = CASE WHEN {in_test} THEN ({h} / 100) %% %s END, "
                f"status = CASE WHEN {in_test} THEN 'queued' ELSE 'held' END "
                "WHERE campaign_id = %s AND status = 'queued' AND ab_variant IS NULL",
                [test.share, len(variants), test.share, campaign_id],
            )
    last_start = now
    for variant in variants:
        if variant.send_at and variant.send_at > now:
            Message.objects.filter(
                campaign=campaign, status=MessageStatus.QUEUED, ab_variant=variant.position
            ).update(status=MessageStatus.HELD, next_attempt_at=variant.send_at)
            last_start = max(last_start, variant.send_at)
    test.decide_at = last_start + timedelta(minutes=test.wait_minutes)
    test.save(update_fields=["decide_at", "updated_at"])
    return test


# --- the minute's work: send times and decisions ---------------------------------------------


def release_due_variants(now: datetime) -> int:
    """Held test messages whose variant's send time has come go to the queue, and a sending
    campaign's chains start on them."""
    from campaigns.services import start_chains

    released = 0
    running = Campaign.objects.filter(
        ab_test__isnull=False, status__in=(CampaignStatus.SENDING, CampaignStatus.PAUSED)
    ).select_related("ab_test")
    for campaign in running:
        # The campaign's (campaign, status, id) index finds its held messages.
        count = Message.objects.filter(
            campaign=campaign,
            status=MessageStatus.HELD,
            ab_variant__isnull=False,
            next_attempt_at__lte=now,
        ).update(status=MessageStatus.QUEUED, next_attempt_at=None)
        if count and campaign.status == CampaignStatus.SENDING:
            start_chains(campaign)
        released += count
        if campaign.ab_test.winner is not None and _held_rest(campaign.pk).exists():
            released += release_rest(campaign.pk)  # its task was lost
    return released


def decide_due(now: datetime) -> list:
    """Tests whose time is up, decided by their criterion; returns their campaigns' ids."""
    due = AbTest.objects.filter(
        winner__isnull=True, decide_at__lte=now, campaign__status__in=STARTED
    ).exclude(criterion=AbCriterion.MANUAL)
    decided = []
    for test in due.select_related("campaign"):
        position, reason = leader(test)
        if select_winner(test=test, position=position, decided_by=reason, now=now):
            decided.append(test.campaign_id)
    return decided


def tick(now: datetime | None = None) -> dict[str, int]:
    """Run by the sending housekeeping every minute (after its drains of tracking hits, so a
    decision counts the latest opens and clicks)."""
    now = now or timezone.now()
    return {"released": release_due_variants(now), "decided": len(decide_due(now))}


def leader(test: AbTest) -> tuple[int, str]:
    """The variant with the best human rate by the test's criterion (the first on a tie)."""
    metric = "click_rate" if test.criterion == AbCriterion.CLICK else "open_rate"
    rows = [row for row in variant_rows(test.campaign) if row["position"] is not None]
    if not rows:
        return 0, "no test recipients: the first variant"
    best = max(rows, key=lambda row: (row[metric], -row["position"]))
    name = "click" if metric == "click_rate" else "open"
    return best["position"], f"highest human {name} rate ({best[metric]:.2%})"


# --- choosing the winner -----------------------------------------------------------------------


def _position(test: AbTest, variant: Any) -> int:
    count = AbVariant.objects.filter(campaign_id=test.campaign_id).count()
    labels = LABELS[:count]
    if isinstance(variant, str) and variant.upper() in labels and len(variant) == 1:
        return labels.index(variant.upper())
    if isinstance(variant, int) and not isinstance(variant, bool) and 0 <= variant < count:
        return variant
    raise ValidationError({"variant": [f"Choose one of the variants: {', '.join(labels)}."]})


def ab_pick_winner(*, campaign: Campaign, variant: str | int, actor: str = "") -> AbTest:
    """A person's pick: the rest gets this variant now (any criterion, before the decision)."""
    from campaigns.services import CampaignStateError

    test = ab_test_of(campaign)
    if test is None:
        raise CampaignStateError("This campaign has no A/B test.")
    position = _position(test, variant)
    status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
    if status not in STARTED:
        raise CampaignStateError("The A/B test has not started: send the campaign first.")
    reason = f"picked by {actor}" if actor else "picked"
    if not select_winner(test=test, position=position, decided_by=reason):
        raise Conflict(f"The winner is already variant {LABELS[ab_test_of(campaign).winner]}.")
    test.refresh_from_db()
    return test


@transaction.atomic
def select_winner(
    *, test: AbTest, position: int, decided_by: str, now: datetime | None = None
) -> bool:
    """Record the winner (once: a conditional UPDATE, so a pick racing the clock is harmless)
    and announce it; after the commit a task releases the held rest to the queue
    (``release_rest``). Returns whether this call decided."""
    now = now or timezone.now()
    won = AbTest.objects.filter(pk=test.pk, winner__isnull=True).update(
        winner=position, decided_at=now, decided_by=decided_by[:200], updated_at=now
    )
    if not won:
        return False
    campaign = Campaign.objects.get(pk=test.campaign_id)
    released = _held_rest(campaign.pk).count()
    events.emit(
        campaign.workspace_id,
        WINNER_SELECTED,
        subject_id=campaign.pk,
        data={
            "campaign_id": campaign.pk,
            "winner": LABELS[position],
            "criterion": test.criterion,
            "decided_by": decided_by,
            "released": released,
            "variants": [_event_row(row) for row in variant_rows(campaign)],
        },
    )
    if released:
        from django_q.tasks import async_task

        transaction.on_commit(
            lambda: async_task("campaigns.ab.release_rest", str(campaign.pk), group="campaigns")
        )
    return True


def _held_rest(campaign_id):
    return Message.objects.filter(
        campaign_id=campaign_id, status=MessageStatus.HELD, ab_variant__isnull=True
    )


def release_rest(campaign_id) -> int:
    """The task after a decision: the held rest of a decided test goes to the queue, in chunks
    of RELEASE_CHUNK (each a short transaction of its own: one UPDATE of a million rows would
    hold its locks and the API's pick for minutes), and the sending chains start after the
    first chunk and after the last. Safe to run twice; housekeeping runs it again for a test
    whose rest is still held (a lost task)."""
    from campaigns.services import start_chains

    campaign = Campaign.objects.filter(pk=campaign_id).first()
    test = ab_test_of(campaign) if campaign else None
    if test is None or test.winner is None:
        return 0
    held = _held_rest(campaign.pk)
    released = chunks = 0
    while count := Message.objects.filter(
        pk__in=held.values("pk")[:RELEASE_CHUNK], status=MessageStatus.HELD
    ).update(status=MessageStatus.QUEUED):
        released, chunks = released + count, chunks + 1
        if chunks == 1:
            _start_if_sending(campaign, start_chains)
    if chunks > 1:
        _start_if_sending(campaign, start_chains)
    return released


def _start_if_sending(campaign: Campaign, start_chains) -> None:
    if Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENDING).exists():
        start_chains(campaign)


def _event_row(row: dict) -> dict:
    keys = ("variant", "sent", "delivered", "opened_human", "clicked_human")
    return {key: row[key] for key in keys}


# --- statistics --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZTest:
    """A two-proportion z-test of x2/n2 against x1/n1 (pooled, two-sided)."""

    z: float
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < SIGNIFICANCE

    def as_dict(self) -> dict:
        return {
            "z": round(self.z, 4),
            "p_value": round(self.p_value, 4),
            "significant": self.significant,
        }


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> ZTest | None:
    """None without a sample on either side."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    error = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if error == 0:
        return ZTest(0.0, 1.0)
    z = (x2 / n2 - x1 / n1) / error
    return ZTest(z, math.erfc(abs(z) / math.sqrt(2)))


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def variant_rows(campaign: Campaign) -> list[dict]:
    """Per variant (and for the rest, ``position`` None) from two grouped queries: recipients,
    sent, bounced, held, delivered, human opens and clicks and their rates."""
    statuses = (
        Message.objects.filter(campaign=campaign)
        .values("ab_variant")
        .annotate(
            recipients=Count("id"),
            sent=Count("id", filter=Q(status=MessageStatus.SENT)),
            bounced=Count("id", filter=Q(status=MessageStatus.BOUNCED)),
            held=Count("id", filter=Q(status=MessageStatus.HELD)),
        )
        .order_by()
    )
    engagement = {
        row["message__ab_variant"]: row
        for row in MessageEvent.objects.filter(message__campaign=campaign)
        .values("message__ab_variant")
        .annotate(
            delivered=Count("message", filter=Q(type=EventType.DELIVERED), distinct=True),
            opened=Count(
                "message", filter=Q(type=EventType.OPENED, is_machine=False), distinct=True
            ),
            clicked=Count(
                "message", filter=Q(type=EventType.CLICKED, is_machine=False), distinct=True
            ),
        )
        .order_by()
    }
    rows = []
    for row in statuses:
        position = row["ab_variant"]
        seen = engagement.get(position, {})
        # As in the campaign's stats: without delivery reports, accepted counts as delivered.
        delivered = seen.get("delivered") or row["sent"]
        opened, clicked = seen.get("opened", 0), seen.get("clicked", 0)
        rows.append(
            {
                "position": position,
                "variant": LABELS[position] if position is not None else None,
                "recipients": row["recipients"],
                "held": row["held"],
                "sent": row["sent"],
                "bounced": row["bounced"],
                "delivered": delivered,
                "opened_human": opened,
                "clicked_human": clicked,
                "open_rate": _rate(opened, delivered),
                "click_rate": _rate(clicked, delivered),
            }
        )
    return sorted(rows, key=lambda row: (row["position"] is None, row["position"] or 0))


def ab_stats(campaign: Campaign) -> dict:
    """The ``variants`` block of a campaign's stats (empty without a test) and the ``ab``
    summary (None without a test). Each variant after A is compared with A, on opens and on
    clicks, by a two-proportion z-test over delivered messages."""
    test = ab_test_of(campaign)
    if test is None:
        return {"variants": [], "ab": None}
    variants = {v.position: v for v in AbVariant.objects.filter(campaign=campaign)}
    rows = {row["position"]: row for row in variant_rows(campaign)}
    empty = dict.fromkeys(
        ("recipients", "held", "sent", "bounced", "delivered", "opened_human", "clicked_human"), 0
    ) | {"open_rate": 0.0, "click_rate": 0.0}
    control = rows.get(0, empty)
    block = []
    for position, variant in sorted(variants.items()):
        row = {**empty, **rows.get(position, {})}
        tests = {}
        for metric in ("opened_human", "clicked_human"):
            result = (
                two_proportion_z(
                    control[metric], control["delivered"], row[metric], row["delivered"]
                )
                if position
                else None
            )
            tests["open" if metric == "opened_human" else "click"] = (
                {"against": "A", **result.as_dict()} if result else None
            )
        block.append(
            {
                "variant": LABELS[position],
                **{key: row[key] for key in empty},
                "subject": variant_source(campaign, variant)[0],
                "from_name": variant.from_name,
                "send_at": variant.send_at,
                "is_winner": test.winner == position,
                "tests": tests,
            }
        )
    rest = rows.get(None, empty)
    summary = {
        "share": test.share,
        "criterion": test.criterion,
        "wait_minutes": test.wait_minutes,
        "decide_at": test.decide_at,
        "winner": LABELS[test.winner] if test.winner is not None else None,
        "decided_at": test.decided_at,
        "decided_by": test.decided_by,
        "rest": {key: rest[key] for key in ("recipients", "held", "sent", "delivered")},
    }
    return {"variants": block, "ab": summary}
