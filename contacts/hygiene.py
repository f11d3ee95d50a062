"""Engagement hygiene, run in bulk by a daily task: lead-score decay and sunsetting.

Score decay (off by default): a score halves every ``decay_half_life_days`` without
engagement. Each contact's boundaries fall at ``last engagement + k × half-life`` (its creation
when it never engaged); a run halves the scores of the contacts that crossed boundaries since
the previous run, once per boundary crossed, in one UPDATE — so running the task often or
rarely gives the same scores, and nothing per contact needs storing. Decay counts from the
moment it is turned on: turning it on does not halve a long-idle contact's score many times
at once. Recomputing scores from the timeline (``scores_recompute``) gives undecayed scores,
which then decay again from that moment.

Sunsetting: contacts with no human open or click in ``sunset_after_days`` after at least
``sunset_min_sends`` sends are flagged (``sunset_at``) and announced (``contact.sunset``, which
re-engagement automations trigger on); a human open or click clears the flag. Campaigns leave
flagged contacts out when the workspace says so (``sunset_exclude``), and with
``sunset_suppress_after_days`` the ones still unengaged that long after the flag are
suppressed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db import transaction
from django.db.models import (
    Case,
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Floor, Greatest, Least, Lower, Power
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from contacts.models import Contact, ContactStatus, ScoringSettings
from contacts.scoring import _tier_case, scoring_settings
from mailcrm import events
from mailcrm.models import Workspace

SUNSET_CHUNK = 5000
# Past 30 halvings any score we allow (|score| < 2**31) is 0.
MAX_HALVINGS = 30
SUNSET_REASON = "Sunset: no human open or click in {days} days after {sends} or more sends."


class HygieneResult(NamedTuple):
    decayed: int
    sunset: int
    unsunset: int
    suppressed: int


class EpochSeconds(Func):
    """Seconds since 1970 of a datetime column, as a float, on PostgreSQL and SQLite."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)")

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        )


def halvings(
    *, engaged_at: datetime, since: datetime, until: datetime, half_life: timedelta
) -> int:
    """How many decay boundaries (``engaged_at + k × half_life``, k ≥ 1) fall in
    (``since``, ``until``]: the Python statement of what ``decay_scores`` does in SQL."""
    if until - engaged_at < half_life:
        return 0
    crossed = (until - engaged_at) // half_life
    before = max((since - engaged_at) // half_life, 0)
    return int(crossed - before)


@transaction.atomic
def decay_scores(workspace: Workspace | Any, now: datetime | None = None) -> int:
    """Apply the score decay up to ``now``; returns how many scores changed."""
    now = now or timezone.now()
    settings = ScoringSettings.objects.select_for_update().get(pk=scoring_settings(workspace).pk)
    if not settings.decay_half_life_days:
        if settings.decayed_until is not None:
            settings.decayed_until = None  # turned off: a later turn-on counts from then
            settings.save(update_fields=["decayed_until"])
        return 0
    since = settings.decayed_until
    settings.decayed_until = now
    settings.save(update_fields=["decayed_until"])
    if since is None or since >= now:
        return 0
    period = float(timedelta(days=settings.decay_half_life_days).total_seconds())
    engaged = EpochSeconds(Coalesce(F("last_engaged_at"), F("created_at")))
    until_s, since_s = Value(now.timestamp()), Value(since.timestamp())
    crossed = Floor((until_s - engaged) / Value(period))
    before = Greatest(Floor((since_s - engaged) / Value(period)), Value(0.0))
    count = Cast(Least(crossed - before, Value(float(MAX_HALVINGS))), IntegerField())
    divisor = Cast(Power(Value(2), count), IntegerField())
    new_score = Case(
        When(GreaterThanOrEqual(count, MAX_HALVINGS), then=Value(0)),
        default=F("score") / divisor,
        output_field=IntegerField(),
    )
    return (
        Contact.objects.filter(workspace_id=settings.workspace_id)
        .exclude(score=0)
        .filter(GreaterThanOrEqual(count, 1))
        .update(score=new_score, score_tier=_tier_case(new_score, settings))
    )


def _unengaged(settings: ScoringSettings, now: datetime) -> Q:
    cutoff = now - timedelta(days=settings.sunset_after_days)
    return (
        Q(sends__gte=max(settings.sunset_min_sends, 1), created_at__lt=cutoff)
        & (Q(last_opened_at__isnull=True) | Q(last_opened_at__lt=cutoff))
        & (Q(last_clicked_at__isnull=True) | Q(last_clicked_at__lt=cutoff))
    )


def sunset_contacts(workspace: Workspace | Any, now: datetime | None = None) -> tuple[int, int]:
    """Flag newly unengaged contacts (each announced as ``contact.sunset``) and clear the flag
    of those who opened or clicked since; returns (flagged, cleared)."""
    now = now or timezone.now()
    settings = scoring_settings(workspace)
    contacts = Contact.objects.filter(workspace_id=settings.workspace_id)
    engaged_since_flag = Q(last_opened_at__gte=F("sunset_at")) | Q(
        last_clicked_at__gte=F("sunset_at")
    )
    cleared = (
        contacts.filter(sunset_at__isnull=False).filter(engaged_since_flag).update(sunset_at=None)
    )
    candidates = contacts.filter(
        _unengaged(settings, now),
        sunset_at__isnull=True,
        archived_at__isnull=True,
        status=ContactStatus.ACTIVE,
    )
    flagged = 0
    while True:
        with transaction.atomic():
            ids = list(candidates.values_list("pk", flat=True)[:SUNSET_CHUNK])
            if not ids:
                break
            flagged += Contact.objects.filter(pk__in=ids).update(sunset_at=now)
            data = {
                "sunset_after_days": settings.sunset_after_days,
                "min_sends": settings.sunset_min_sends,
            }
            events.emit_many(
                settings.workspace_id,
                events.CONTACT_SUNSET,
                [(pk, {"contact_id": str(pk), **data}) for pk in ids],
            )
        if len(ids) < SUNSET_CHUNK:
            break
    return flagged, cleared


def suppress_sunset(workspace: Workspace | Any, now: datetime | None = None) -> int:
    """Suppress the contacts flagged at least ``sunset_suppress_after_days`` ago that are
    still flagged (they did not engage, not even with a re-engagement campaign)."""
    from deliverability.models import Suppression, SuppressionSource, SuppressionType

    now = now or timezone.now()
    settings = scoring_settings(workspace)
    if settings.sunset_suppress_after_days is None:
        return 0
    reason = SUNSET_REASON.format(days=settings.sunset_after_days, sends=settings.sunset_min_sends)
    due = (
        Contact.objects.filter(workspace_id=settings.workspace_id)
        .filter(sunset_at__lte=now - timedelta(days=settings.sunset_suppress_after_days))
        .annotate(email_key=Lower("email"))
        .exclude(
            email_key__in=Suppression.objects.filter(
                workspace_id=settings.workspace_id, domain__isnull=True
            ).values("email")
        )
        .values_list("email_key", flat=True)
    )
    suppressed = 0
    while True:
        with transaction.atomic():
            emails = list(due[:SUNSET_CHUNK])
            created = Suppression.objects.bulk_create(
                [
                    Suppression(
                        workspace_id=settings.workspace_id,
                        email=email,
                        type=SuppressionType.MANUAL,
                        source=SuppressionSource.MANUAL,
                        reason=reason,
                    )
                    for email in emails
                ],
                ignore_conflicts=True,
            )
            suppressed += len(created)
        if len(emails) < SUNSET_CHUNK:
            return suppressed


def engagement_hygiene(workspace: Workspace, now: datetime | None = None) -> HygieneResult:
    """One run of the daily task for one workspace."""
    now = now or timezone.now()
    decayed = decay_scores(workspace, now)
    flagged, cleared = sunset_contacts(workspace, now)
    suppressed = suppress_sunset(workspace, now)
    if decayed or flagged or cleared:
        from contacts.segmentation import refresh_workspace_segments

        refresh_workspace_segments(workspace)
    return HygieneResult(decayed, flagged, cleared, suppressed)


def sunset_excluded(campaign) -> QuerySet:
    """A subquery that has a row when the campaign's workspace leaves sunset contacts out: the
    audience's SQL asks it (once, it is not correlated) instead of a query of its own."""
    return ScoringSettings.objects.filter(
        workspace_id=campaign.workspace_id, sunset_exclude=True
    ).values("pk")
