"""The verbs of automations: create and change them and their steps, activate, pause, enrol.

Editing a live automation: step ids never change, so enrolled contacts stay on the step they
are at. A new step is met by whoever has not passed its place yet; a changed step applies to
whoever reaches it next (a waiting contact keeps the due time it was given); a removed step's
enrolments move on to the step that followed it (they are not sent anything twice or
skipped backwards); removing a branch removes its paths, and their enrolments move on to the
step after the branch."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from automations import engine
from automations.flow import Flow, parse_time, wait_duration, zone
from automations.models import (
    OPEN_STATUSES,
    Automation,
    AutomationStatus,
    Enrollment,
    Reentry,
    Step,
    StepPath,
    StepType,
    TriggerType,
)
from mailcrm.exceptions import DomainError
from mailcrm.models import Workspace

AUTOMATION_FIELDS = (
    "name",
    "description",
    "trigger_type",
    "trigger_config",
    "goal_query",
    "reentry",
    "reentry_days",
)
MAX_MANUAL_ENROLL = 100_000


class AutomationStateError(DomainError):
    status_code = 409
    code = "automation_state"


# --- validation --------------------------------------------------------------------------------


def _check_query(workspace: Workspace, query: str, field: str) -> None:
    from contacts.query import QueryError, validate_query

    try:
        validate_query(query, workspace)
    except (QueryError, ValidationError) as exc:
        reason = getattr(exc, "reason", None) or "; ".join(getattr(exc, "messages", [str(exc)]))
        raise ValidationError({field: [reason]}) from None


def _clean_trigger(workspace: Workspace, trigger_type: str, config: Any) -> dict:
    if trigger_type not in TriggerType.values:
        raise ValidationError({"trigger_type": [f"One of: {', '.join(TriggerType.values)}."]})
    if not isinstance(config, dict):
        raise ValidationError({"trigger_config": ["Must be an object."]})
    required = {
        TriggerType.SEGMENT_JOINED: "segment_id",
        TriggerType.SEGMENT_LEFT: "segment_id",
        TriggerType.LIST_ADDED: "list_id",
        TriggerType.TAG_ADDED: "tag",
        TriggerType.PROPERTY_CHANGED: "property",
        TriggerType.EVENT_TRACKED: "event",
        TriggerType.DATE_REACHED: "property",
    }.get(trigger_type)
    if required and not config.get(required):
        raise ValidationError({"trigger_config": [f"'{required}' is required for this trigger."]})
    if trigger_type == TriggerType.DATE_REACHED:
        try:
            int(config.get("offset_days") or 0)
        except (TypeError, ValueError):
            raise ValidationError({"trigger_config": ["'offset_days' must be a number."]}) from None
    return config


def _clean(automation: Automation) -> None:
    automation.name = (automation.name or "").strip()
    if not automation.name:
        raise ValidationError({"name": ["This field may not be blank."]})
    automation.trigger_config = _clean_trigger(
        automation.workspace, automation.trigger_type, automation.trigger_config or {}
    )
    if automation.goal_query:
        _check_query(automation.workspace, automation.goal_query, "goal_query")
    if automation.reentry not in Reentry.values:
        raise ValidationError({"reentry": [f"One of: {', '.join(Reentry.values)}."]})
    if automation.reentry == Reentry.AFTER_DAYS and not automation.reentry_days:
        raise ValidationError({"reentry_days": ["Say after how many days a contact may re-enter."]})


def clean_step_config(workspace: Workspace, step_type: str, config: Any) -> dict:
    """Raise ValidationError (on ``config``) unless the config suits the step type."""
    if step_type not in StepType.values:
        raise ValidationError({"type": [f"One of: {', '.join(StepType.values)}."]})
    if not isinstance(config, dict):
        raise ValidationError({"config": ["Must be an object."]})

    def need(key: str) -> Any:
        if config.get(key) in (None, "", []):
            raise ValidationError({"config": [f"'{key}' is required for a {step_type} step."]})
        return config[key]

    if step_type == StepType.SEND_EMAIL:
        from templates.models import EmailTemplate

        template_id = need("template_id")
        if not EmailTemplate.objects.for_workspace(workspace).filter(pk=template_id).exists():
            raise ValidationError({"config": ["No such template in this workspace."]})
    elif step_type == StepType.WAIT:
        _clean_wait(config)
    elif step_type == StepType.BRANCH:
        if not config.get("query") and not (config.get("engaged") or {}).get("step_id"):
            raise ValidationError({"config": ["A branch needs a 'query' or an 'engaged' test."]})
        if config.get("query"):
            _check_query(workspace, config["query"], "config")
    elif step_type in (StepType.ADD_TAG, StepType.REMOVE_TAG):
        need("tag")
    elif step_type in (StepType.ADD_TO_LIST, StepType.REMOVE_FROM_LIST):
        from contacts.models import ContactList

        if not ContactList.objects.for_workspace(workspace).filter(pk=need("list_id")).exists():
            raise ValidationError({"config": ["No such list in this workspace."]})
    elif step_type == StepType.SET_PROPERTY:
        from contacts.properties import validate_properties

        validate_properties(workspace, {need("property"): config.get("value")})
    elif step_type == StepType.SET_LIFECYCLE_STAGE:
        from contacts.models import LifecycleStage

        if need("stage") not in LifecycleStage.values:
            raise ValidationError({"config": ["Unknown lifecycle stage."]})
    elif step_type == StepType.CHANGE_SCORE:
        if not isinstance(config.get("points"), int) or isinstance(config.get("points"), bool):
            raise ValidationError({"config": ["'points' must be a whole number."]})
    elif step_type == StepType.WEBHOOK:
        from webhooks.targets import UnsafeTarget, check_url

        try:
            check_url(need("url"))
        except UnsafeTarget as exc:
            raise ValidationError({"config": [str(exc)]}) from None
    return config


def _clean_wait(config: dict) -> None:
    until = config.get("until")
    if until:
        if not isinstance(until, dict):
            raise ValidationError({"config": ["'until' must be an object."]})
        weekdays = until.get("weekdays") or []
        if not isinstance(weekdays, list) or any(
            not isinstance(d, int) or not 0 <= d <= 6 for d in weekdays
        ):
            raise ValidationError({"config": ["'weekdays' are numbers 0 (Monday) to 6."]})
        try:
            parse_time(until.get("time"))
        except (TypeError, ValueError):
            raise ValidationError({"config": ["'time' is HH:MM."]}) from None
        if until.get("timezone") and zone(until["timezone"], "").key != until["timezone"]:
            raise ValidationError({"config": ["Unknown time zone."]})
        return
    try:
        total = wait_duration(config)
    except (TypeError, ValueError):
        raise ValidationError({"config": ["days, hours and minutes are numbers."]}) from None
    if total.total_seconds() <= 0:
        raise ValidationError({"config": ["A wait needs days, hours or minutes, or 'until'."]})


def _check_send_domain(automation: Automation, config: dict) -> None:
    """Refuse (422, ``domain_not_verified``) a send step whose template's from domain is not a
    verified sending domain of the workspace, unless the workspace relaxed that rule — the
    rule a campaign send meets, checked when the mail is decided (activation, or a change to
    a live automation) rather than when the first contact reaches the step, hours later."""
    from deliverability.domains import check_sending_domain
    from templates.models import EmailTemplate

    template = EmailTemplate.objects.filter(
        workspace_id=automation.workspace_id, pk=config.get("template_id")
    ).first()
    if template is None or not template.from_email:
        raise ValidationError({"config": ["The template needs a from address to be sent."]})
    check_sending_domain(
        workspace=automation.workspace, sending_domain=None, from_email=template.from_email
    )


# --- automations -------------------------------------------------------------------------------


@transaction.atomic
def automation_create(*, workspace: Workspace, name: str, **fields: Any) -> Automation:
    unknown = set(fields) - set(AUTOMATION_FIELDS)
    if unknown:
        raise ValidationError({n: ["Unknown field."] for n in sorted(unknown)})
    automation = Automation(workspace=workspace, name=name, **fields)
    _clean(automation)
    automation.save()
    return automation


@transaction.atomic
def automation_update(*, automation: Automation, **fields: Any) -> Automation:
    unknown = set(fields) - set(AUTOMATION_FIELDS)
    if unknown:
        raise ValidationError({n: ["Unknown field."] for n in sorted(unknown)})
    for name, value in fields.items():
        setattr(automation, name, value)
    _clean(automation)
    automation.save()
    return automation


@transaction.atomic
def automation_delete(*, automation: Automation) -> None:
    automation.delete()


@transaction.atomic
def automation_activate(*, automation: Automation) -> Automation:
    """Start (or resume): triggers enrol, due enrolments advance — paused ones at once."""
    if not Step.objects.filter(automation=automation).exists():
        raise AutomationStateError("Add at least one step before activating.")
    for step in Step.objects.filter(automation=automation, type=StepType.SEND_EMAIL):
        _check_send_domain(automation, step.config)
    automation.status = AutomationStatus.ACTIVE
    automation.activated_at = automation.activated_at or timezone.now()
    if automation.trigger_type == TriggerType.DATE_REACHED and automation.scanned_until is None:
        automation.scanned_until = timezone.now()
    automation.save(update_fields=["status", "activated_at", "scanned_until", "updated_at"])
    engine.schedule_wake(automation.pk)
    return automation


@transaction.atomic
def automation_pause(*, automation: Automation) -> Automation:
    """Hold everyone where they are: nothing enrols, nothing advances, until activated."""
    if automation.status != AutomationStatus.ACTIVE:
        raise AutomationStateError("Only an active automation can be paused.")
    automation.status = AutomationStatus.PAUSED
    automation.save(update_fields=["status", "updated_at"])
    return automation


def enroll_contacts(
    *, automation: Automation, contact_ids: list | None = None, query: str | None = None
) -> int:
    """Manual enrolment by ids (of the workspace) or by a segment query."""
    from contacts.models import Contact

    if automation.status == AutomationStatus.DRAFT:
        raise AutomationStateError("Activate the automation before enrolling contacts.")
    contacts = Contact.objects.for_workspace(automation.workspace).visible()
    if query:
        _check_query(automation.workspace, query, "query")
        contacts = contacts.filter(engine.compile_condition(query, automation.workspace_id))
    elif contact_ids is not None:
        contacts = contacts.filter(pk__in=list(contact_ids))
    else:
        raise ValidationError({"ids": ["Give contact ids or a query."]})
    ids = list(contacts.values_list("pk", flat=True)[:MAX_MANUAL_ENROLL])
    return engine.enroll(automation=automation, contact_ids=ids, source="manual")


# --- steps -------------------------------------------------------------------------------------


def _check_parent(automation: Automation, parent: Step | None, path: str) -> None:
    if parent is None:
        if path:
            raise ValidationError({"path": ["Only steps inside a branch have a path."]})
        return
    if parent.automation_id != automation.pk or parent.type != StepType.BRANCH:
        raise ValidationError({"parent_id": ["The parent must be a branch of this automation."]})
    if path not in (StepPath.YES, StepPath.NO):
        raise ValidationError({"path": ["Inside a branch, path is 'yes' or 'no'."]})


@transaction.atomic
def step_add(
    *,
    automation: Automation,
    type: str,
    config: dict | None = None,
    parent: Step | None = None,
    path: str = "",
    position: int | None = None,
) -> Step:
    """Add a step to a path (the main one, or a branch's yes/no), at ``position`` (shifting
    the later ones down) or at the end."""
    Automation.objects.select_for_update().filter(pk=automation.pk).first()
    path = path or ""
    _check_parent(automation, parent, path)
    config = clean_step_config(automation.workspace, type, config or {})
    if type == StepType.SEND_EMAIL and automation.status != AutomationStatus.DRAFT:
        _check_send_domain(automation, config)
    siblings = Step.objects.filter(automation=automation, parent=parent, path=path)
    end = (siblings.aggregate(m=Max("position"))["m"] or 0) + 1 if siblings.exists() else 0
    if position is None or position >= end:
        position = end
    else:
        position = max(position, 0)
        for sibling in siblings.filter(position__gte=position).order_by("-position"):
            Step.objects.filter(pk=sibling.pk).update(position=sibling.position + 1)
    step = Step.objects.create(
        automation=automation, parent=parent, path=path, position=position, type=type, config=config
    )
    if type == StepType.SEND_EMAIL:
        step_campaign_sync(automation=automation, step=step)
    return step


@transaction.atomic
def step_update(*, step: Step, config: dict) -> Step:
    """Change a step's settings; its type and place stay (remove and add to change those)."""
    step.config = clean_step_config(step.automation.workspace, step.type, config)
    if step.type == StepType.SEND_EMAIL and step.automation.status != AutomationStatus.DRAFT:
        _check_send_domain(step.automation, step.config)
    step.save(update_fields=["config"])
    if step.type == StepType.SEND_EMAIL:
        step_campaign_sync(automation=step.automation, step=step)
    return step


@transaction.atomic
def step_delete(*, step: Step) -> None:
    """Remove a step (a branch with its paths); its enrolments move on to what followed it."""
    automation = step.automation
    Automation.objects.select_for_update().filter(pk=automation.pk).first()
    flow = Flow.of(automation.pk)
    following = flow.after(step)
    doomed = [step.pk] + [s.pk for s, _, _ in flow.walk(step.pk, StepPath.YES)]
    doomed += [s.pk for s, _, _ in flow.walk(step.pk, StepPath.NO)]
    waiting = Enrollment.objects.filter(step_id__in=doomed, status__in=OPEN_STATUSES)
    now = timezone.now()
    if following is None:
        ids = list(waiting.values_list("pk", flat=True))
        engine._finish(automation, ids, "completed", "", now)
    else:
        pairs = list(waiting.values_list("pk", "contact_id"))
        engine._arrive(automation, following, pairs, now)
    Step.objects.filter(pk__in=doomed).delete()
    # Close the gap so positions stay 0..n-1.
    for index, sibling in enumerate(
        Step.objects.filter(automation=automation, parent_id=step.parent_id, path=step.path)
    ):
        Step.objects.filter(pk=sibling.pk).update(position=index)


def step_campaign_sync(*, automation: Automation, step: Step):
    """The campaign a send step's messages belong to (made on first need): its template,
    tracking on, named after the automation."""
    from campaigns.models import Campaign, CampaignStatus
    from templates.models import EmailTemplate

    template = EmailTemplate.objects.filter(
        workspace_id=automation.workspace_id, pk=step.config.get("template_id")
    ).first()
    name = f"Automation: {automation.name} – {template.name if template else 'email'}"[:200]
    campaign = Campaign.objects.filter(pk=step.campaign_id).first()
    if campaign is None:
        campaign = Campaign.objects.create(
            workspace_id=automation.workspace_id,
            name=name,
            template_id=template.pk if template else None,
            status=CampaignStatus.DRAFT,
            track_opens=step.config.get("track_opens", True),
            track_clicks=step.config.get("track_clicks", True),
            metadata={"automation_id": str(automation.pk), "step_id": str(step.pk)},
        )
        Step.objects.filter(pk=step.pk).update(campaign=campaign)
        step.campaign = campaign
    elif template is not None and campaign.template_id != template.pk:
        Campaign.objects.filter(pk=campaign.pk).update(template_id=template.pk, name=name)
    return campaign
