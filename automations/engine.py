"""Running automations: enrolling contacts and advancing enrolments, set-based.

An enrolment at a step with ``due_at`` in the past is due: that step is performed for it, then
it arrives at the next step (a wait step sets a ``due_at`` in the future, every other step is
due at once). One call of ``advance_batch`` takes up to BATCH due enrolments at one step of one
automation, claims them (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one
writer), performs the step for all of them in a few statements, writes one history row per
enrolment (unique per enrolment and step, so a step is done once even when a task runs twice)
and moves them on — all in one transaction. Work that leaves the process (the mail, a webhook)
is queued after commit: the send step inserts queued ``Message`` rows of the step's campaign in
that transaction and the sending pipeline delivers them at most once."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from automations.flow import Flow, next_weekday_time, parse_time, wait_duration, zone
from automations.models import (
    OPEN_STATUSES,
    Automation,
    AutomationStatus,
    Enrollment,
    EnrollmentHistory,
    EnrollmentStatus,
    HistoryKind,
    Reentry,
    Step,
    StepType,
)
from contacts.models import Activity, ActivityKind, Contact

logger = logging.getLogger("mailcrm.automations")

BATCH = 1000
# A send held back (monthly sends used up, domain no longer verified) is tried again after this.
HOLD_RETRY = timedelta(hours=1)
MARKETING_STEPS = (StepType.SEND_EMAIL,)


def compile_condition(query: str, workspace_id: Any) -> Q:
    from contacts.query import compile_query

    return compile_query(query, workspace_id)


# --- enrolling ---------------------------------------------------------------------------------


def enroll(
    *,
    automation: Automation,
    contact_ids: Iterable[Any],
    now: datetime | None = None,
    source: str = "",
    wake: bool = True,
) -> int:
    """Enrol contacts (ids of the automation's workspace) at the first step, respecting the
    re-entry rule, skipping contacts already in, archived, or already at the goal. Returns how
    many were enrolled. Set-based: a few statements per call, whatever the number."""
    now = now or timezone.now()
    ids = list(dict.fromkeys(contact_ids))
    if not ids:
        return 0
    total = 0
    with transaction.atomic():
        flow = Flow.of(automation.pk)
        for start in range(0, len(ids), BATCH):
            total += _enroll_chunk(automation, flow, ids[start : start + BATCH], now, source)
    if total and wake:
        schedule_wake(automation.pk)
    return total


def _enroll_chunk(automation: Automation, flow: Flow, ids: list, now: datetime, source) -> int:
    previous = Enrollment.objects.filter(automation=automation, contact_id=OuterRef("pk"))
    if automation.reentry == Reentry.ONCE:
        blocking = previous
    else:
        since = now - _days(automation.reentry_days)
        blocking = previous.filter(Q(status__in=OPEN_STATUSES) | Q(entered_at__gt=since))
    candidates = Contact.objects.filter(
        workspace_id=automation.workspace_id, pk__in=ids, archived_at__isnull=True
    ).filter(~Exists(blocking))
    if automation.goal_query:
        candidates = candidates.exclude(
            compile_condition(automation.goal_query, automation.workspace_id)
        )
    contact_ids = list(candidates.values_list("pk", flat=True))
    if not contact_ids:
        return 0
    first = flow.first()
    rows = [
        Enrollment(
            workspace_id=automation.workspace_id,
            automation=automation,
            contact_id=pk,
            step=first,
            status=EnrollmentStatus.ACTIVE,
            due_at=now,
            entered_at=now,
            step_entered_at=now,
            source=source[:40],
        )
        for pk in contact_ids
    ]
    # A racing enrolment of the same contact loses on the partial unique index.
    Enrollment.objects.bulk_create(rows, ignore_conflicts=True)
    made = dict(
        Enrollment.objects.filter(pk__in=[row.pk for row in rows]).values_list("pk", "contact_id")
    )
    entered = [row for row in rows if row.pk in made]
    _history(entered, None, HistoryKind.ENTERED, now, outcome=source)
    _timeline(automation, [r.contact_id for r in entered], f"Entered {automation.name}", now)
    if first is None:
        _finish(automation, [r.pk for r in entered], EnrollmentStatus.COMPLETED, "", now)
    elif first.type == StepType.WAIT:
        _arrive(automation, first, [(r.pk, r.contact_id) for r in entered], now)
    return len(entered)


def _days(days: int | None) -> timedelta:
    return timedelta(days=days or 0)


def schedule_wake(automation_id: Any) -> None:
    """Advance the automation's due enrolments soon after this transaction commits."""
    from django_q.tasks import async_task

    key = str(automation_id)
    transaction.on_commit(lambda: async_task("automations.tasks.advance", key, group="automations"))


# --- the scheduler -----------------------------------------------------------------------------


def due_groups(now: datetime, automation_id: Any = None) -> list[tuple[Any, Any]]:
    """(automation, step) pairs with enrolments due now: one indexed query (the partial
    ``enrollment_due`` index holds open enrolments only)."""
    due = Enrollment.objects.due(now)
    if automation_id is not None:
        due = due.filter(automation_id=automation_id)
    # order_by(): the default ordering would put entered_at into the DISTINCT.
    return list(due.order_by().values_list("automation_id", "step_id").distinct()[:500])


def run_due(*, now: datetime | None = None, automation_id: Any = None) -> int:
    """Advance every due enrolment (of one automation, or all), batch after batch, until none
    is due (or every due one is held by another worker). Returns how many steps were done."""
    now = now or timezone.now()
    total = 0
    while True:
        groups = due_groups(now, automation_id)
        if not groups:
            return total
        done = 0
        for automation_pk, step_pk in groups:
            while True:
                count = advance_batch(automation_pk, step_pk, now=now)
                done += count
                if count < BATCH:
                    break
        if not done:
            return total  # everything due is claimed by someone else
        total += done


@dataclass
class _Outcome:
    """Where each enrolment of a batch goes after the step: onward (``next``), to a branch
    path, or out (``exits``: reason -> enrolments)."""

    moves: dict[str, list[tuple[Any, Any]]] = field(default_factory=lambda: defaultdict(list))
    exits: dict[str, list[tuple[Any, Any]]] = field(default_factory=lambda: defaultdict(list))
    messages: dict[Any, Any] = field(default_factory=dict)  # enrolment -> message id
    outcomes: dict[Any, str] = field(default_factory=dict)  # enrolment -> history outcome
    after_commit: list = field(default_factory=list)
    held: list[tuple[Any, Any]] = field(default_factory=list)  # stay at the step, retried
    held_reason: str = ""

    def hold(self, pairs: list[tuple[Any, Any]], reason: str) -> None:
        """Keep these enrolments at the step, not performed, due again after HOLD_RETRY."""
        self.held.extend(pairs)
        self.held_reason = reason


def advance_batch(automation_id: Any, step_id: Any, *, now: datetime | None = None) -> int:
    """Perform one step for up to BATCH of its due enrolments and move them on; returns how
    many were handled (0: nothing due, paused, or all claimed by another worker)."""
    now = now or timezone.now()
    with transaction.atomic():
        automation = (
            Automation.objects.select_related("workspace")
            .filter(pk=automation_id, status=AutomationStatus.ACTIVE)
            .first()
        )
        if automation is None:
            return 0
        due = Enrollment.objects.filter(
            automation_id=automation_id,
            step_id=step_id,
            status__in=OPEN_STATUSES,
            due_at__lte=now,
        ).order_by("due_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        batch = list(due.values_list("pk", "contact_id")[:BATCH])
        if not batch:
            return 0
        flow = Flow.of(automation_id)
        step = flow.steps.get(step_id)
        if step is None:
            # The step was removed while they were due: see services.step_delete, which moves
            # enrolments first; these are leftovers of a race, finished here.
            _finish(automation, [pk for pk, _ in batch], EnrollmentStatus.COMPLETED, "", now)
            return len(batch)
        outcome = _Outcome()
        remaining = _exit_at_goal(automation, batch, outcome)
        if remaining:
            perform(automation, flow, step, remaining, now, outcome)
        _hold(automation, step, outcome, now)
        held = set(outcome.held)
        _record(automation, flow, step, [p for p in batch if p not in held], outcome, now)
        for callback in outcome.after_commit:
            transaction.on_commit(callback)
    return len(batch)


def _hold(automation: Automation, step: Step, outcome: _Outcome, now: datetime) -> None:
    """Held enrolments stay where they are, due again later; the automation says why (and
    stops saying it once its mail goes out again)."""
    if outcome.held:
        Enrollment.objects.filter(pk__in=[e for e, _ in outcome.held]).update(
            due_at=now + HOLD_RETRY
        )
        if automation.status_reason != outcome.held_reason:
            Automation.objects.filter(pk=automation.pk).update(status_reason=outcome.held_reason)
            logger.warning("automation %s holds mail: %s", automation.pk, outcome.held_reason)
    elif automation.status_reason and step.type in MARKETING_STEPS and outcome.messages:
        Automation.objects.filter(pk=automation.pk).update(status_reason="")


def _exit_at_goal(automation: Automation, batch: list, outcome: _Outcome) -> list:
    if not automation.goal_query:
        return batch
    try:
        goal = compile_condition(automation.goal_query, automation.workspace_id)
    except Exception:  # noqa: BLE001 (a goal naming a deleted tag must not stop the flow)
        logger.warning("automation %s: goal query does not compile", automation.pk)
        return batch
    reached = set(
        Contact.objects.filter(pk__in=[c for _, c in batch])
        .filter(goal)
        .values_list("pk", flat=True)
    )
    outcome.exits["goal"] = [(e, c) for e, c in batch if c in reached]
    return [(e, c) for e, c in batch if c not in reached]


def perform(automation: Automation, flow: Flow, step: Step, batch: list, now, outcome) -> None:
    from automations import steps

    handler = steps.HANDLERS[step.type]
    handler(automation=automation, flow=flow, step=step, batch=batch, now=now, outcome=outcome)


def _record(automation, flow: Flow, step: Step, batch: list, outcome: _Outcome, now) -> None:
    exited = {e for pairs in outcome.exits.values() for e, _ in pairs}
    done = [(e, c) for e, c in batch if e not in exited or e in outcome.outcomes]
    EnrollmentHistory.objects.bulk_create(
        [
            EnrollmentHistory(
                enrollment_id=e,
                step=step,
                kind=HistoryKind.STEP,
                outcome=outcome.outcomes.get(e, "done"),
                message_id=outcome.messages.get(e),
                at=now,
            )
            for e, _ in batch
            if e not in exited or e in outcome.outcomes
        ],
        batch_size=BATCH,
    )
    if done:
        label = step.config.get("label") or step.get_type_display()
        _timeline(automation, [c for _, c in done], f"{automation.name}: {label}", now)
    for reason, pairs in outcome.exits.items():
        status = EnrollmentStatus.COMPLETED if reason == "end" else EnrollmentStatus.EXITED
        _finish(automation, [e for e, _ in pairs], status, "" if reason == "end" else reason, now)
        _timeline(
            automation,
            [c for _, c in pairs],
            f"{'Completed' if reason == 'end' else 'Left'} {automation.name}"
            + ("" if reason == "end" else f" ({reason})"),
            now,
        )
    for target, pairs in outcome.moves.items():
        next_step = flow.steps.get(target) if target else None
        if next_step is None:
            _finish(automation, [e for e, _ in pairs], EnrollmentStatus.COMPLETED, "", now)
            _timeline(automation, [c for _, c in pairs], f"Completed {automation.name}", now)
        else:
            _arrive(automation, next_step, pairs, now)


def _arrive(automation: Automation, step: Step, pairs: list, now: datetime) -> None:
    """Put enrolments at ``step``: due now, or — at a wait step — when the wait ends."""
    ids = [e for e, _ in pairs]
    if step.type != StepType.WAIT:
        Enrollment.objects.filter(pk__in=ids).update(
            step=step, status=EnrollmentStatus.ACTIVE, due_at=now, step_entered_at=now
        )
        return
    config = step.config or {}
    until = config.get("until")
    if not until:
        Enrollment.objects.filter(pk__in=ids).update(
            step=step,
            status=EnrollmentStatus.WAITING,
            due_at=now + wait_duration(config),
            step_entered_at=now,
        )
        return
    # Until a weekday and time in the contact's time zone (its ``timezone`` property), else
    # the step's: one UPDATE per distinct zone, not one per contact.
    fallback = until.get("timezone") or "UTC"
    zones: dict[Any, str] = {c: fallback for _, c in pairs}
    if until.get("contact_timezone", True):
        for pk, name in (
            Contact.objects.filter(pk__in=list(zones))
            .exclude(properties__timezone=None)
            .values_list("pk", "properties__timezone")
        ):
            if isinstance(name, str) and name:
                zones[pk] = name
    by_zone: dict[str, list] = defaultdict(list)
    for e, c in pairs:
        by_zone[zones[c]].append(e)
    at = parse_time(until.get("time"))
    for name, enrollment_ids in by_zone.items():
        wake_at = next_weekday_time(now, zone(name, fallback), until.get("weekdays") or [], at)
        Enrollment.objects.filter(pk__in=enrollment_ids).update(
            step=step, status=EnrollmentStatus.WAITING, due_at=wake_at, step_entered_at=now
        )


def _finish(automation, ids: list, status: str, reason: str, now: datetime) -> None:
    if not ids:
        return
    Enrollment.objects.filter(pk__in=ids, status__in=OPEN_STATUSES).update(
        status=status, due_at=None, finished_at=now, exit_reason=reason[:40]
    )
    kind = HistoryKind.COMPLETED if status == EnrollmentStatus.COMPLETED else HistoryKind.EXITED
    EnrollmentHistory.objects.bulk_create(
        [EnrollmentHistory(enrollment_id=pk, kind=kind, outcome=reason[:40], at=now) for pk in ids],
        batch_size=BATCH,
    )


def _history(rows: list[Enrollment], step, kind: str, now: datetime, outcome: str = "") -> None:
    EnrollmentHistory.objects.bulk_create(
        [
            EnrollmentHistory(
                enrollment_id=r.pk, step=step, kind=kind, outcome=outcome[:40], at=now
            )
            for r in rows
        ],
        batch_size=BATCH,
    )


def _timeline(automation: Automation, contact_ids: list, subject: str, now: datetime) -> None:
    """The enrolment's history on the contact's timeline (one bulk INSERT)."""
    if not contact_ids:
        return
    Activity.objects.bulk_create(
        [
            Activity(
                workspace_id=automation.workspace_id,
                contact_id=pk,
                kind=ActivityKind.AUTOMATION,
                subject=subject[:300],
                data={"automation_id": str(automation.pk)},
                occurred_at=now,
            )
            for pk in contact_ids
        ],
        batch_size=BATCH,
    )


def exit_enrollments(*, automation: Automation, contact_ids: Iterable[Any], reason: str) -> int:
    """Take contacts out of an automation (manual removal, a deleted step's last resort)."""
    now = timezone.now()
    ids = list(
        Enrollment.objects.filter(
            automation=automation, contact_id__in=list(contact_ids), status__in=OPEN_STATUSES
        ).values_list("pk", flat=True)
    )
    _finish(automation, ids, EnrollmentStatus.EXITED, reason, now)
    return len(ids)
