"""Lead scoring: points per engagement event, tiers from the workspace's thresholds.

``record_engagement`` is the one door through which sending, tracking, webhooks and
deliverability report what a contact did; it moves the counters, the score, the tier and the
timeline with one UPDATE of ``F()`` expressions, so concurrent hits never lose a point."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import (
    Case,
    DateTimeField,
    Exists,
    Expression,
    F,
    Field,
    IntegerField,
    Max,
    OuterRef,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Greatest
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from contacts.models import Activity, ActivityKind, Contact, ScoreTier, ScoringSettings
from contacts.segmentation import segments_contacts_changed
from mailcrm import audit
from mailcrm.copyrows import insert_rows
from mailcrm.ids import uuid7
from mailcrm.models import Workspace

# Event -> the timeline entry it writes.
EVENT_ACTIVITY = {
    "sent": ActivityKind.EMAIL_SENT,
    "opened": ActivityKind.EMAIL_OPENED,
    "clicked": ActivityKind.EMAIL_CLICKED,
    "replied": ActivityKind.REPLIED,
    "visited_page": ActivityKind.PAGE_VISITED,
    "bounced": ActivityKind.EMAIL_BOUNCED,
    "complained": ActivityKind.EMAIL_COMPLAINED,
    "unsubscribed": ActivityKind.UNSUBSCRIBED,
}
# Timeline entries of tracked events (record_tracked_events): the snippet's page views have a
# kind of their own, every other name is an ``event``; the subject is the name either way.
TRACKED_KINDS = (ActivityKind.EVENT, ActivityKind.PAGE_VIEW)
# Events that may carry points; an unsubscribe always resets the score to 0 instead.
SCORED_EVENTS = tuple(event for event in EVENT_ACTIVITY if event != "unsubscribed")
# Event -> (counter, last-time column) it moves.
EVENT_COUNTERS = {
    "sent": ("sends", "last_sent_at"),
    "opened": ("opens", "last_opened_at"),
    "clicked": ("clicks", "last_clicked_at"),
}
# Engagement that moves ``last_engaged_at`` (what score decay counts from); a human open or
# click also lifts the sunset flag (sunsetting is about mail nobody reads).
ENGAGED_EVENTS = ("opened", "clicked", "replied", "visited_page")
UNSUNSET_EVENTS = ("opened", "clicked")
# Any other rule name gives points per tracked event of that name (POST /track, the snippet):
# e.g. {"visited_pricing_page": 20}.
TRACKED_EVENT_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_POINTS = 1000
MAX_THRESHOLD = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def scoring_settings(workspace: Workspace | Any) -> ScoringSettings:
    """The workspace's (or workspace id's) scoring settings, created with the defaults on
    first use."""
    settings, _ = ScoringSettings.objects.get_or_create(
        workspace_id=getattr(workspace, "pk", workspace)
    )
    return settings


def tier_for(score: int, settings: ScoringSettings) -> str:
    if score >= settings.hot_threshold:
        return ScoreTier.HOT
    if score >= settings.warm_threshold:
        return ScoreTier.WARM
    return ScoreTier.COLD


def _tier_case(score, settings: ScoringSettings) -> Case:
    """The tier of the SQL expression ``score``."""
    return Case(
        When(GreaterThanOrEqual(score, settings.hot_threshold), then=Value(ScoreTier.HOT)),
        When(GreaterThanOrEqual(score, settings.warm_threshold), then=Value(ScoreTier.WARM)),
        default=Value(ScoreTier.COLD),
    )


@transaction.atomic
def record_engagement(
    *,
    contact: Contact,
    event: str,
    campaign_id: Any = None,
    at: datetime | None = None,
    details: Mapping[str, Any] | None = None,
) -> Contact:
    """Count one engagement of ``contact``: counters and last-engaged time, points per the
    workspace's rules (an unsubscribe resets the score to 0), the tier, one timeline entry.
    The in-memory ``contact`` is refreshed with the new values and returned."""
    if event not in EVENT_ACTIVITY:
        raise ValidationError({"event": [f"Unknown engagement event '{event}'."]})
    at = at or timezone.now()
    settings = scoring_settings(contact.workspace_id)
    points = 0 if event == "unsubscribed" else _points(settings.rules, event)
    updates: dict[str, Any] = {}
    if event in EVENT_COUNTERS:
        counter, last_at = EVENT_COUNTERS[event]
        updates[counter] = F(counter) + 1
        # Greatest() is NULL on SQLite when an argument is: coalesce first.
        updates[last_at] = Greatest(Coalesce(F(last_at), Value(at)), Value(at))
    updates.update(_engaged_updates(event, Value(at)))
    if event == "unsubscribed":
        updates["score"] = Value(0)
        updates["score_tier"] = Value(tier_for(0, settings))
    elif points:
        new_score = F("score") + points
        updates["score"] = new_score
        updates["score_tier"] = _tier_case(new_score, settings)
    if updates:
        updates["updated_at"] = timezone.now()
        if not Contact.objects.filter(pk=contact.pk).update(**updates):
            return contact  # deleted meanwhile: nothing to count
        contact.refresh_from_db(fields=["score", "score_tier", *_counter_fields(event)])
    data: dict[str, Any] = {"event": event, "points": points, "score": contact.score}
    if campaign_id is not None:
        data["campaign_id"] = str(campaign_id)
    if details:
        data.update(details)
    Activity.objects.create(
        workspace_id=contact.workspace_id,
        contact=contact,
        kind=EVENT_ACTIVITY[event],
        subject=str((details or {}).get("subject", ""))[:300],
        data=data,
        occurred_at=at,
    )
    if updates:
        segments_contacts_changed(contact.workspace_id, [contact.pk])
    return contact


class Engagement(NamedTuple):
    """One engagement of a contact, for ``record_engagement_many``."""

    contact_id: Any
    at: datetime
    campaign_id: Any = None


@transaction.atomic
def record_engagement_many(
    *, workspace_id: Any, event: str, engagements: Sequence[Engagement]
) -> int:
    """The batch form of ``record_engagement`` for the sending pipeline and the tracking
    drain: the same counters, last-engaged times, points, tiers and timeline entries, written
    with one UPDATE (per-contact amounts as CASE expressions), one SELECT of the new scores and
    one bulk INSERT of activities, whatever the number of contacts. A contact named several
    times is counted several times. Deleted contacts are skipped. Returns how many
    engagements were counted."""
    if event not in EVENT_ACTIVITY:
        raise ValidationError({"event": [f"Unknown engagement event '{event}'."]})
    if not engagements:
        return 0
    settings = scoring_settings(workspace_id)
    points = 0 if event == "unsubscribed" else _points(settings.rules, event)
    counts: dict[Any, int] = {}
    latest: dict[Any, datetime] = {}
    for item in engagements:
        counts[item.contact_id] = counts.get(item.contact_id, 0) + 1
        if item.contact_id not in latest or item.at > latest[item.contact_id]:
            latest[item.contact_id] = item.at
    updates: dict[str, Any] = {}
    if event in EVENT_COUNTERS:
        counter, last_at = EVENT_COUNTERS[event]
        at = _per_contact(latest, DateTimeField())
        updates[counter] = F(counter) + _per_contact(counts, IntegerField())
        updates[last_at] = Greatest(Coalesce(F(last_at), at), at)
    if event in ENGAGED_EVENTS:
        updates.update(_engaged_updates(event, _per_contact(latest, DateTimeField())))
    if event == "unsubscribed":
        updates["score"] = Value(0)
        updates["score_tier"] = Value(tier_for(0, settings))
    elif points:
        new_score = F("score") + _per_contact(
            {pk: n * points for pk, n in counts.items()}, IntegerField()
        )
        updates["score"] = new_score
        updates["score_tier"] = _tier_case(new_score, settings)
    contacts = Contact.objects.filter(workspace_id=workspace_id, pk__in=list(counts))
    if updates:
        updates["updated_at"] = timezone.now()
        contacts.update(**updates)
    scores = dict(contacts.values_list("pk", "score"))
    kind, now = EVENT_ACTIVITY[event], timezone.now()
    activities = []
    for item in engagements:
        if item.contact_id not in scores:
            continue  # deleted meanwhile: nothing to count
        data: dict[str, Any] = {"event": event, "points": points, "score": scores[item.contact_id]}
        if item.campaign_id is not None:
            data["campaign_id"] = str(item.campaign_id)
        row = (uuid7(), workspace_id, item.contact_id, kind, "", "", data, item.at, now)
        activities.append(row)
    # A COPY on PostgreSQL: no model instance per row (a campaign chunk writes one per message).
    fields = ("id", "workspace_id", "contact_id", "kind", "subject", "body", "data")
    insert_rows(Activity, (*fields, "occurred_at", "created_at"), activities)
    if updates and scores:
        segments_contacts_changed(workspace_id, list(scores))
    return len(activities)


class TrackedEvent(NamedTuple):
    """One behavioural event of a contact, for ``record_tracked_events``."""

    contact_id: Any
    name: str
    at: datetime
    properties: Mapping[str, Any]


@transaction.atomic
def record_tracked_events(*, workspace_id: Any, items: Sequence[TrackedEvent]) -> int:
    """Timeline entries (kind ``event``, subject = the name) and points per the workspace's
    rule for each name, for a batch: one UPDATE, one SELECT, one bulk INSERT."""
    if not items:
        return 0
    settings = scoring_settings(workspace_id)
    added: dict[Any, int] = {}
    latest: dict[Any, datetime] = {}
    for item in items:
        added[item.contact_id] = added.get(item.contact_id, 0) + _points(settings.rules, item.name)
        if item.contact_id not in latest or item.at > latest[item.contact_id]:
            latest[item.contact_id] = item.at
    contacts = Contact.objects.filter(workspace_id=workspace_id, pk__in=list(added))
    contacts.update(**_engaged_updates("event", _per_contact(latest, DateTimeField())))
    scored = {pk: points for pk, points in added.items() if points}
    if scored:
        new_score = F("score") + _per_contact(scored, IntegerField())
        Contact.objects.filter(workspace_id=workspace_id, pk__in=list(scored)).update(
            score=new_score, score_tier=_tier_case(new_score, settings), updated_at=timezone.now()
        )
    scores = dict(contacts.values_list("pk", "score"))
    Activity.objects.bulk_create(
        [
            Activity(
                workspace_id=workspace_id,
                contact_id=item.contact_id,
                kind=ActivityKind.PAGE_VIEW if item.name == "page_view" else ActivityKind.EVENT,
                subject=item.name[:300],
                data={
                    "event": item.name,
                    "properties": dict(item.properties),
                    "points": _points(settings.rules, item.name),
                    "score": scores[item.contact_id],
                },
                occurred_at=item.at,
            )
            for item in items
            if item.contact_id in scores
        ],
        batch_size=1000,
    )
    if scored:
        segments_contacts_changed(workspace_id, list(scored))
    return sum(1 for item in items if item.contact_id in scores)


@transaction.atomic
def scores_adjust(
    *, workspace_id: Any, contact_ids: Sequence[Any], points: int, reason: str = ""
) -> int:
    """Add ``points`` (negative: take) to many contacts' scores, with their tiers and a
    timeline entry each; one UPDATE and one bulk INSERT. Returns how many changed."""
    if not points or not contact_ids:
        return 0
    settings = scoring_settings(workspace_id)
    contacts = Contact.objects.filter(workspace_id=workspace_id, pk__in=list(contact_ids))
    new_score = F("score") + points
    changed = contacts.update(
        score=new_score, score_tier=_tier_case(new_score, settings), updated_at=timezone.now()
    )
    Activity.objects.bulk_create(
        [
            Activity(
                workspace_id=workspace_id,
                contact_id=pk,
                kind=ActivityKind.SCORE_CHANGED,
                subject=reason[:300],
                data={"points": points, "score": score},
                occurred_at=timezone.now(),
            )
            for pk, score in contacts.values_list("pk", "score")
        ],
        batch_size=1000,
    )
    segments_contacts_changed(workspace_id, list(contact_ids))
    return changed


def _per_contact(values: Mapping[Any, Any], output_field: Field) -> Any:
    """``values[contact]`` as an SQL expression: a plain value when every contact has the
    same one, else a CASE over the primary key."""
    distinct = set(values.values())
    if len(distinct) == 1:
        return Value(distinct.pop(), output_field=output_field)
    return _CaseOnContact(values, output_field)


class _CaseOnContact(Expression):
    """``CASE contact.id WHEN … THEN … END`` written out: the ORM's ``When(pk=…)`` resolves a
    filter per contact, which cost a batch of 500 hits more than its UPDATE did."""

    def __init__(self, values: Mapping[Any, Any], output_field: Field):
        super().__init__(output_field=output_field)
        self.values = values

    def as_sql(self, compiler, connection):
        pk = Contact._meta.pk
        quote = connection.ops.quote_name
        params: list[Any] = []
        for key, value in self.values.items():
            params.append(pk.get_db_prep_value(key, connection))
            params.append(self.output_field.get_db_prep_value(value, connection))
        whens = " WHEN %s THEN %s" * len(self.values)
        return f"CASE {quote(Contact._meta.db_table)}.{quote(pk.column)}{whens} END", params


def _engaged_updates(event: str, at: Any) -> dict[str, Any]:
    """``last_engaged_at`` moved to ``at`` (an SQL expression) unless already later; a human
    open or click also clears the sunset flag. Tracked events (``event``) count as engagement."""
    if event not in ENGAGED_EVENTS and event != "event":
        return {}
    updates: dict[str, Any] = {"last_engaged_at": Greatest(Coalesce(F("last_engaged_at"), at), at)}
    if event in UNSUNSET_EVENTS:
        updates["sunset_at"] = Value(None, output_field=DateTimeField())
    return updates


def _counter_fields(event: str) -> tuple[str, ...]:
    return EVENT_COUNTERS.get(event, ())


def _points(rules: Mapping[str, Any], event: str) -> int:
    value = rules.get(event, 0) if isinstance(rules, Mapping) else 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# --- settings ----------------------------------------------------------------------------------


def _clean_rules(rules: Any) -> dict[str, int]:
    if not isinstance(rules, Mapping):
        raise ValidationError({"rules": ["Must be an object of event names to points."]})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, int] = {}
    for event, points in rules.items():
        if (
            event in EVENT_ACTIVITY
            and event not in SCORED_EVENTS
            or not (event in SCORED_EVENTS or TRACKED_EVENT_NAME.match(str(event)))
        ):
            known = ", ".join(SCORED_EVENTS)
            errors[f"rules.{event}"] = [
                f"Use one of: {known}, or a tracked event's name (letters, digits, _.:-)."
            ]
        elif not isinstance(points, int) or isinstance(points, bool):
            errors[f"rules.{event}"] = ["Points must be a whole number."]
        elif abs(points) > MAX_POINTS:
            errors[f"rules.{event}"] = [f"Points must be between -{MAX_POINTS} and {MAX_POINTS}."]
        else:
            cleaned[event] = points
    if errors:
        raise ValidationError(errors)
    return cleaned


def _clean_thresholds(hot: Any, warm: Any) -> None:
    errors: dict[str, list[str]] = {}
    for name, value in (("hot_threshold", hot), ("warm_threshold", warm)):
        if not isinstance(value, int) or isinstance(value, bool):
            errors[name] = ["Must be a whole number."]
        elif not 0 <= value <= MAX_THRESHOLD:
            errors[name] = [f"Must be between 0 and {MAX_THRESHOLD}."]
    if not errors and hot <= warm:
        errors["hot_threshold"] = ["Must be greater than the warm threshold."]
    if errors:
        raise ValidationError(errors)


# Decay and sunsetting settings (contacts.hygiene): name -> (smallest, largest, may be empty).
HYGIENE_FIELDS: dict[str, tuple[int, int, bool]] = {
    "decay_half_life_days": (1, 3650, True),
    "sunset_after_days": (1, 3650, False),
    "sunset_min_sends": (1, 10_000, False),
    "sunset_suppress_after_days": (0, 3650, True),
}


def _clean_hygiene(values: Mapping[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        if name == "sunset_exclude":
            if not isinstance(value, bool):
                errors[name] = ["Must be true or false."]
            continue
        if name not in HYGIENE_FIELDS:
            errors[name] = ["Unknown setting."]
            continue
        low, high, optional = HYGIENE_FIELDS[name]
        if value is None and optional:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            errors[name] = ["Must be a whole number" + (" or empty." if optional else ".")]
        elif not low <= value <= high:
            errors[name] = [f"Must be between {low} and {high}."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def scoring_update(
    *,
    workspace: Workspace,
    rules: Mapping[str, Any],
    hot_threshold: int,
    warm_threshold: int,
    recompute: bool = True,
    **hygiene: Any,
) -> ScoringSettings:
    """Replace the rules and thresholds, and the decay and sunsetting settings given in
    ``hygiene`` (``HYGIENE_FIELDS``; those left out keep their values). With ``recompute``,
    scores and tiers are recomputed in the background after commit (see ``scores_recompute``)."""
    cleaned = _clean_rules(rules)
    _clean_thresholds(hot_threshold, warm_threshold)
    _clean_hygiene(hygiene)
    settings = scoring_settings(workspace)
    settings = ScoringSettings.objects.select_for_update().get(pk=settings.pk)
    settings.rules = cleaned
    settings.hot_threshold = hot_threshold
    settings.warm_threshold = warm_threshold
    for name, value in hygiene.items():
        setattr(settings, name, value)
    changes = audit.pending_changes(settings)
    settings.save()
    audit.record(workspace, "scoring_settings.updated", settings, changes)
    if recompute:
        workspace_id = str(workspace.pk)
        transaction.on_commit(lambda: _enqueue_recompute(workspace_id))
    return settings


def _enqueue_recompute(workspace_id: str) -> None:
    from django_q.tasks import async_task

    async_task("contacts.tasks.recompute_scores", workspace_id, group="scoring")


# --- recompute ---------------------------------------------------------------------------------


def _engagement_points(settings: ScoringSettings) -> Case:
    """Points of one timeline entry under the current rules (a tracked event's by its name); an
    adjustment (``scores_adjust``: an automation's change_score step, say) counts the points it
    recorded, whatever the rules."""
    tracked = [name for name in settings.rules if name not in EVENT_ACTIVITY]
    adjusted = Coalesce(Cast(KeyTextTransform("points", "data"), IntegerField()), Value(0))
    return Case(
        When(kind=ActivityKind.SCORE_CHANGED, then=adjusted),
        *(
            When(kind=EVENT_ACTIVITY[event], then=Value(_points(settings.rules, event)))
            for event in SCORED_EVENTS
        ),
        *(
            When(kind__in=TRACKED_KINDS, subject=name, then=Value(_points(settings.rules, name)))
            for name in tracked
        ),
        default=Value(0),
        output_field=IntegerField(),
    )


@transaction.atomic
def scores_recompute(workspace: Workspace) -> int:
    """Recompute scores from the timeline under the current rules, then every tier.

    A contact's score is the sum of the points of its engagement entries and score
    adjustments since its last unsubscribe. Contacts with no engagement on their timeline keep
    their score (it may have been imported; it holds their adjustments already), so only their
    tier follows the thresholds. Two UPDATEs, no loop."""
    settings = scoring_settings(workspace)
    engagement_kinds = [*(EVENT_ACTIVITY[event] for event in SCORED_EVENTS), *TRACKED_KINDS]
    scored_kinds = [*engagement_kinds, ActivityKind.SCORE_CHANGED]
    last_unsubscribe = (
        Activity.objects.filter(contact_id=OuterRef("contact_id"), kind=ActivityKind.UNSUBSCRIBED)
        .values("contact_id")
        .annotate(last=Max("occurred_at"))
        .values("last")
    )
    since = Activity.objects.filter(
        contact_id=OuterRef("pk"),
        kind__in=scored_kinds,
        occurred_at__gt=Coalesce(Subquery(last_unsubscribe), Value(EPOCH)),
    )
    total = (
        since.values("contact_id").annotate(total=Sum(_engagement_points(settings))).values("total")
    )
    engaged = Activity.objects.filter(
        contact_id=OuterRef("pk"), kind__in=[*engagement_kinds, ActivityKind.UNSUBSCRIBED]
    )
    contacts = Contact.objects.for_workspace(workspace)
    changed = contacts.filter(Exists(engaged)).update(
        score=Coalesce(Subquery(total, output_field=IntegerField()), Value(0))
    )
    contacts.update(score_tier=_tier_case(F("score"), settings))
    return changed
