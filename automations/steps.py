"""What each step type does to a batch of enrolments (``[(enrolment id, contact id), …]``):
a few set-based statements through the other apps' services, and where each enrolment goes
next (``outcome.moves``: step id -> enrolments; ``outcome.exits``: reason -> enrolments)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone

from automations.flow import Flow
from automations.models import Automation, EnrollmentHistory, HistoryKind, Step, StepPath, StepType
from contacts.models import Contact

logger = logging.getLogger("mailcrm.automations")


def _onward(flow: Flow, step: Step, batch: list, outcome) -> None:
    following = flow.after(step)
    outcome.moves[following.pk if following else ""].extend(batch)


def _ids(batch: list) -> list:
    return [c for _, c in batch]


# --- marketing ---------------------------------------------------------------------------------


def send_email(*, automation: Automation, flow: Flow, step: Step, batch, now, outcome) -> None:
    """Queue one Message of the step's campaign per mailable contact, in this transaction;
    contacts who may not be mailed (unsubscribed, suppressed, bounced, archived) leave."""
    from campaigns.models import Campaign, CampaignStatus, Message, MessageKind
    from deliverability.services import blocked_addresses

    campaign = Campaign.objects.filter(pk=step.campaign_id).first()
    if campaign is None:
        campaign = _campaign_for(automation, step)
    contacts = {
        pk: (email, status, archived)
        for pk, email, status, archived in Contact.objects.filter(pk__in=_ids(batch)).values_list(
            "pk", "email", "status", "archived_at"
        )
    }
    blocked = blocked_addresses(
        automation.workspace_id,
        [email for email, _, _ in contacts.values()],
        domain_id=campaign.sending_domain_id,
        marketing=True,
    )
    mailable = []
    for enrollment_id, contact_id in batch:
        email, status, archived = contacts.get(contact_id, ("", "deleted", None))
        reason = None
        if status != "active" or archived is not None:
            reason = status if status != "active" else "archived"
        elif email.lower() in blocked:
            reason = "suppressed"
        if reason:
            outcome.exits[reason].append((enrollment_id, contact_id))
            outcome.outcomes[enrollment_id] = f"skipped: {reason}"
        else:
            mailable.append((enrollment_id, contact_id))
    allowed, held_reason = _sendable(automation, campaign, len(mailable))
    if held_reason:
        outcome.hold(mailable[allowed:], held_reason)
        mailable = mailable[:allowed]
    messages, mailed = [], []
    for enrollment_id, contact_id in mailable:
        email = contacts[contact_id][0]
        message = Message(
            workspace_id=automation.workspace_id,
            campaign=campaign,
            contact_id=contact_id,
            kind=MessageKind.AUTOMATION,
            email=email,
            tag=campaign.tag,
            metadata={
                "automation_id": str(automation.pk),
                "step_id": str(step.pk),
                "enrollment_id": str(enrollment_id),
            },
        )
        messages.append(message)
        outcome.messages[enrollment_id] = message.pk
        outcome.outcomes[enrollment_id] = "queued"
        mailed.append((enrollment_id, contact_id))
    if messages:
        Message.objects.bulk_create(messages, batch_size=1000)
        # The step's campaign stays "sending" while the automation lives: the pipeline never
        # finishes a campaign with metadata.automation_id (pipeline.finish_if_done; it would
        # race this transaction), its housekeeping restarts the chain if a worker dies, and
        # an operator's pause holds it. Draft (first mail) or sent (finished before that
        # rule) is reopened here.
        Campaign.objects.filter(
            pk=campaign.pk, status__in=[CampaignStatus.DRAFT, CampaignStatus.SENT]
        ).update(status=CampaignStatus.SENDING, started_at=timezone.now(), finished_at=None)
        outcome.after_commit.append(lambda: kick_sending(campaign.pk))
    _onward(flow, step, mailed, outcome)


def _sendable(automation: Automation, campaign, wanted: int) -> tuple[int, str]:
    """How many of ``wanted`` mails may be queued now, and why the others are held ("" when
    none is). The rules a campaign send meets, applied at each send step since mail of an
    automation goes out for as long as it lives: the from domain must be verified (unless the
    workspace relaxed the rule; activation refused an unverified one, but a domain can lose its
    verification later) and the plan's monthly sends must not be passed — held, not dropped:
    the enrolments stay at the step and are tried again, so nobody misses a mail of the flow."""
    from campaigns.content import campaign_sender
    from campaigns.limits import monthly_sends_left
    from deliverability.domains import DomainNotVerified, check_sending_domain
    from mailcrm.models import Workspace

    if not wanted:
        return 0, ""
    try:
        check_sending_domain(
            workspace=automation.workspace,
            sending_domain=campaign.sending_domain,
            from_email=campaign_sender(campaign)[1],
        )
    except DomainNotVerified as exc:
        return 0, str(exc)
    if automation.workspace.limit_monthly_sends is None:
        return wanted, ""
    # Concurrent automation batches of one workspace count and queue one after the other (the
    # lock is held until this batch's messages are committed), so together they cannot pass
    # the limit. Campaign and transactional sends check without this lock: a send of theirs
    # racing this batch can still pass it by what the two add at once.
    Workspace.objects.select_for_update().filter(pk=automation.workspace_id).first()
    left = monthly_sends_left(automation.workspace) or 0
    if left >= wanted:
        return wanted, ""
    limit = automation.workspace.limit_monthly_sends
    return left, (
        f"The workspace has used the {limit} monthly sends of its plan: mail waits for next "
        "month or a larger plan."
    )


def kick_sending(campaign_id: Any) -> None:
    from django_q.tasks import async_task

    async_task("campaigns.tasks.send_batch", str(campaign_id), group="campaigns")


def _campaign_for(automation: Automation, step: Step):
    from automations.services import step_campaign_sync

    return step_campaign_sync(automation=automation, step=step)


# --- flow --------------------------------------------------------------------------------------


def wait(*, automation, flow: Flow, step: Step, batch, now, outcome) -> None:
    _onward(flow, step, batch, outcome)  # the wait is over: due_at was its end


def branch(*, automation: Automation, flow: Flow, step: Step, batch, now, outcome) -> None:
    """Yes for contacts matching the condition: a segment query, and/or having opened or
    clicked the email of an earlier send step of this enrolment."""
    from automations.engine import compile_condition
    from campaigns.models import MessageEvent

    config = step.config or {}
    yes = set(_ids(batch))
    if config.get("query"):
        yes &= set(
            Contact.objects.filter(pk__in=list(yes))
            .filter(compile_condition(config["query"], automation.workspace_id))
            .values_list("pk", flat=True)
        )
    engaged = config.get("engaged")  # {"step_id": …, "event": "opened" | "clicked"}
    if engaged and engaged.get("step_id"):
        events = MessageEvent.objects.filter(
            message_id=OuterRef("message_id"),
            type=engaged.get("event") or "clicked",
            is_machine=False,
        )
        enrollments = {e for e, _ in batch}
        hit = set(
            EnrollmentHistory.objects.filter(
                enrollment_id__in=list(enrollments),
                step_id=engaged["step_id"],
                kind=HistoryKind.STEP,
            )
            .filter(Exists(events))
            .values_list("enrollment_id", flat=True)
        )
        yes &= {c for e, c in batch if e in hit}
    for enrollment_id, contact_id in batch:
        path = StepPath.YES if contact_id in yes else StepPath.NO
        target = flow.start_of(step, path)
        outcome.moves[target.pk if target else ""].append((enrollment_id, contact_id))
        outcome.outcomes[enrollment_id] = path


def exit_step(*, automation, flow, step, batch, now, outcome) -> None:
    for pair in batch:
        outcome.outcomes[pair[0]] = "exit"
    outcome.exits["exit_step"].extend(batch)


# --- audience ----------------------------------------------------------------------------------


def _bulk(automation: Automation, action: str, value: Any, batch) -> None:
    from contacts import bulk

    # The bulk actions' set-based appliers (one statement per kind of change, events emitted).
    bulk._apply(automation.workspace, action, value, _ids(batch), None)


def add_tag(*, automation, flow, step, batch, now, outcome) -> None:
    _bulk(automation, "tag", [step.config["tag"]], batch)
    _onward(flow, step, batch, outcome)


def remove_tag(*, automation, flow, step, batch, now, outcome) -> None:
    _bulk(automation, "untag", [step.config["tag"]], batch)
    _onward(flow, step, batch, outcome)


def add_to_list(*, automation, flow, step, batch, now, outcome) -> None:
    _bulk(automation, "add_to_list", step.config["list_id"], batch)
    _onward(flow, step, batch, outcome)


def remove_from_list(*, automation, flow, step, batch, now, outcome) -> None:
    _bulk(automation, "remove_from_list", step.config["list_id"], batch)
    _onward(flow, step, batch, outcome)


def set_lifecycle_stage(*, automation, flow, step, batch, now, outcome) -> None:
    _bulk(automation, "set_lifecycle_stage", step.config["stage"], batch)
    _onward(flow, step, batch, outcome)


def set_property(*, automation, flow, step, batch, now, outcome) -> None:
    from contacts.services import contacts_set_property

    contacts_set_property(
        workspace=automation.workspace,
        contact_ids=_ids(batch),
        key=step.config["property"],
        value=step.config.get("value"),
    )
    _onward(flow, step, batch, outcome)


def change_score(*, automation, flow, step, batch, now, outcome) -> None:
    from contacts.scoring import scores_adjust

    scores_adjust(
        workspace_id=automation.workspace_id,
        contact_ids=_ids(batch),
        points=int(step.config.get("points") or 0),
        reason=f"Automation {automation.name}",
    )
    _onward(flow, step, batch, outcome)


def webhook(*, automation, flow, step, batch, now, outcome) -> None:
    """One POST per batch, after commit, to the step's URL (the webhooks app's SSRF guard)."""
    url = step.config.get("url", "")
    body = {
        "type": "automation.webhook",
        "automation_id": str(automation.pk),
        "step_id": str(step.pk),
        "contacts": [
            {"id": str(pk), "email": email}
            for pk, email in Contact.objects.filter(pk__in=_ids(batch)).values_list("pk", "email")
        ],
    }
    outcome.after_commit.append(lambda: _post_later(url, body))
    _onward(flow, step, batch, outcome)


def _post_later(url: str, body: dict) -> None:
    from django_q.tasks import async_task

    async_task("automations.tasks.post_webhook", url, json.dumps(body), group="automations")


HANDLERS: dict[str, Callable[..., None]] = {
    StepType.SEND_EMAIL: send_email,
    StepType.WAIT: wait,
    StepType.BRANCH: branch,
    StepType.ADD_TAG: add_tag,
    StepType.REMOVE_TAG: remove_tag,
    StepType.ADD_TO_LIST: add_to_list,
    StepType.REMOVE_FROM_LIST: remove_from_list,
    StepType.SET_PROPERTY: set_property,
    StepType.SET_LIFECYCLE_STAGE: set_lifecycle_stage,
    StepType.CHANGE_SCORE: change_score,
    StepType.WEBHOOK: webhook,
    StepType.EXIT: exit_step,
}
