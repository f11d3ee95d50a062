"""The verbs of campaigns: create and change drafts, then send, schedule, pause, resume, cancel
and test — every front door (API, dashboard, admin) calls these."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from campaigns import ab, pipeline, windows
from campaigns.audience import audience_contacts, clean_audience
from campaigns.content import campaign_sender, campaign_source
from campaigns.limits import check_monthly_sends
from campaigns.models import Campaign, CampaignStatus, Message, MessageKind, MessageStatus
from deliverability import domains, risk
from mailcrm import events
from mailcrm.exceptions import Conflict, DomainError
from mailcrm.models import Workspace
from mailcrm.planner_statistics import analyze_after_insert

EDITABLE_FIELDS = (
    "name",
    "subject",
    "html",
    "text",
    "from_name",
    "from_email",
    "reply_to",
    "template_id",
    "audience",
    "send_at",
    "rate_per_minute",
    "send_window",
    "local_time",
    "track_opens",
    "track_clicks",
    "tag",
    "metadata",
    "sending_domain",
)


class CampaignStateError(DomainError):
    status_code = 409
    code = "campaign_state"


class NothingToSend(DomainError):
    status_code = 422
    code = "no_recipients"


def _check_template(workspace: Workspace, template_id) -> None:
    if not template_id:
        return
    from templates.models import EmailTemplate

    if not EmailTemplate.objects.filter(workspace=workspace, pk=template_id).exists():
        raise ValidationError({"template_id": ["No such template in this workspace."]})


def _apply(campaign: Campaign, fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    if "audience" in fields:
        fields["audience"] = clean_audience(campaign.workspace, fields["audience"])
    if "send_window" in fields:
        fields["send_window"] = windows.clean_window(fields["send_window"])
    if "template_id" in fields:
        _check_template(campaign.workspace, fields["template_id"])
    domain = fields.get("sending_domain")
    if domain is not None and domain.workspace_id != campaign.workspace_id:
        raise ValidationError({"sending_domain": ["No such sending domain in this workspace."]})
    for name, value in fields.items():
        setattr(campaign, name, value)
    try:
        campaign.full_clean(exclude=["workspace"])
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None


@transaction.atomic
def campaign_create(*, workspace: Workspace, name: str, **fields: Any) -> Campaign:
    campaign = Campaign(workspace=workspace, name=name)
    _apply(campaign, fields)
    campaign.save()
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, **fields: Any) -> Campaign:
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        raise CampaignStateError(f"A {campaign.status} campaign cannot be changed.")
    _apply(campaign, fields)
    campaign.save()
    return campaign


@transaction.atomic
def campaign_delete(*, campaign: Campaign) -> None:
    if campaign.status in (CampaignStatus.SENDING, CampaignStatus.PAUSED):
        raise CampaignStateError("Cancel the campaign before deleting it.")
    campaign.delete()


def recipients_count(campaign: Campaign) -> int:
    """The audience size now, after suppressions and unsubscribes."""
    return audience_contacts(campaign).count()


def _check_ready(campaign: Campaign) -> None:
    subject, html, text = campaign_source(campaign)
    problems = {}
    if not subject:
        problems["subject"] = ["A campaign needs a subject (or a template with one)."]
    if not html and not text:
        problems["html"] = ["A campaign needs content (html or text, or a template)."]
    if not campaign_sender(campaign)[1]:
        problems["from_email"] = ["A campaign needs a from address (or a template with one)."]
    if problems:
        raise DomainError("The campaign is not ready to send.", fields=problems)
    from templates.rendering import compile_template

    try:
        compile_template(subject, html, text)
    except ValidationError as exc:
        raise DomainError(
            "The campaign's content does not compile.", fields=exc.message_dict
        ) from None


def campaign_send(*, campaign: Campaign, override_risk: bool = False, actor=None) -> Campaign:
    """Start sending now: snapshot the recipients, then hand batches to the workers. A send
    the risk assessment blocks is refused (422) unless an owner or admin (``actor``)
    overrides it."""
    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        # Assessed outside the send's transaction, so a refused send's assessment is kept.
        risk.check_send_risk(campaign=campaign, override=override_risk, actor=actor)
    return _send_now(campaign=campaign)


@transaction.atomic
def _send_now(*, campaign: Campaign, hold: str = "") -> Campaign:
    """Snapshot and start; with ``hold`` (a reason), snapshot and pause instead: nothing is
    sent until someone resumes the campaign."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        raise CampaignStateError(f"A {campaign.status} campaign cannot be sent.")
    _check_ready(campaign)
    # 422 from an unverified domain, or the warning when the workspace relaxed the rule.
    domain_warning = domains.check_sending_domain(
        workspace=campaign.workspace,
        sending_domain=campaign.sending_domain,
        from_email=campaign_sender(campaign)[1],
    )
    # One moment for the messages' created_at and started_at: the monthly count reads the
    # campaign's sends from started_at and recipients (campaigns.limits).
    now = timezone.now()
    recipients = pipeline.snapshot(campaign, now=now)
    # A large snapshot may leave the messages' statistics far behind (the event inserts'
    # foreign-key checks then read the wrong index): refreshed once it is committed.
    transaction.on_commit(lambda: analyze_after_insert(Message._meta.db_table, recipients))
    # The plan's limit against the snapshot's own count (a send past it is refused and the
    # snapshot rolled back with this transaction): counting the audience first ran its whole
    # SELECT twice, about a second of CPU per million contacts.
    check_monthly_sends(campaign.workspace, recipients)
    ab.assign(campaign)  # an A/B test's variants and held rest; nothing without a test
    windows.schedule(campaign)  # local-time delivery and send windows; nothing without them
    if recipients == 0:
        raise NothingToSend("The campaign has no recipients after suppressions.")
    campaign.status = CampaignStatus.PAUSED if hold else CampaignStatus.SENDING
    campaign.recipients = recipients
    campaign.started_at = now
    campaign.status_reason = hold or domain_warning
    campaign.save(update_fields=["status", "recipients", "started_at", "status_reason"])
    if hold:
        events.emit(
            campaign.workspace_id,
            events.CAMPAIGN_PAUSED,
            subject_id=campaign.pk,
            data={"campaign_id": campaign.pk, "reason": "missed_schedule", "message": hold},
        )
    else:
        start_chains(campaign)
    return campaign


def start_chains(campaign: Campaign) -> None:
    from django_q.tasks import async_task

    def enqueue():
        for _ in range(pipeline.CHAINS):
            async_task("campaigns.tasks.send_batch", str(campaign.pk), group="campaigns")

    transaction.on_commit(enqueue)


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, send_at: datetime) -> Campaign:
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        raise CampaignStateError(f"A {campaign.status} campaign cannot be scheduled.")
    if send_at <= timezone.now():
        raise ValidationError({"send_at": ["Choose a time in the future, or send now."]})
    _check_ready(campaign)
    campaign.status, campaign.send_at = CampaignStatus.SCHEDULED, send_at
    campaign.save(update_fields=["status", "send_at"])
    return campaign


@transaction.atomic
def campaign_pause(*, campaign: Campaign, reason: str = "Paused by a user.") -> Campaign:
    changed = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENDING).update(
        status=CampaignStatus.PAUSED, status_reason=reason
    )
    if not changed:
        raise CampaignStateError("Only a sending campaign can be paused.")
    campaign.refresh_from_db()
    return campaign


@transaction.atomic
def campaign_resume(*, campaign: Campaign) -> Campaign:
    """Carry on sending to those not yet sent (interrupted messages are not retried)."""
    changed = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.PAUSED).update(
        status=CampaignStatus.SENDING, status_reason=""
    )
    if not changed:
        raise CampaignStateError("Only a paused campaign can be resumed.")
    campaign.refresh_from_db()
    start_chains(campaign)
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Stop for good: queued, deferred and held messages are dropped, nothing more goes out."""
    open_states = (
        CampaignStatus.DRAFT,
        CampaignStatus.SCHEDULED,
        CampaignStatus.SENDING,
        CampaignStatus.PAUSED,
    )
    changed = Campaign.objects.filter(pk=campaign.pk, status__in=open_states).update(
        status=CampaignStatus.CANCELLED, finished_at=timezone.now()
    )
    if not changed:
        raise CampaignStateError(f"A {campaign.status} campaign cannot be cancelled.")
    Message.objects.filter(
        campaign=campaign,
        status__in=(
            MessageStatus.QUEUED,
            MessageStatus.DEFERRED,
            MessageStatus.HELD,
            MessageStatus.WAITING,
        ),
    ).delete()
    campaign.refresh_from_db()
    return campaign


def campaign_test_send(*, campaign: Campaign, emails: list[str]) -> int:
    """Send the campaign as it stands to a few addresses (not to the audience)."""
    from campaigns.sending import send_transactional

    if not emails or len(emails) > 10:
        raise ValidationError({"emails": ["Give between 1 and 10 addresses."]})
    for email in emails:
        try:
            validate_email(email)
        except ValidationError:
            raise ValidationError({"emails": [f"{email} is not an email address."]}) from None
    _check_ready(campaign)
    subject, html, text = campaign_source(campaign)
    from_name, from_email = campaign_sender(campaign)
    sent = 0
    for email in emails:
        message = Message.objects.create(
            workspace=campaign.workspace,
            kind=MessageKind.TEST,
            email=email,
            payload={
                "from_email": from_email,
                "from_name": from_name,
                "reply_to": campaign.reply_to,
                "subject": f"[Test] {subject}",
                "html": html,
                "text": text,
            },
        )
        sent += send_transactional(message.pk) == MessageStatus.SENT
    return sent


def start_due_campaigns(now: datetime | None = None) -> list:
    """Scheduled campaigns whose time has come start. One found more than
    ``CAMPAIGN_SCHEDULE_GRACE`` seconds late (a database restored from a backup, workers down
    for hours) is snapshotted but paused, with the reason and a ``campaign.paused`` event:
    mail its audience no longer expects leaves only when someone resumes it."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.CAMPAIGN_SCHEDULE_GRACE)
    started = []
    for campaign in Campaign.objects.filter(status=CampaignStatus.SCHEDULED, send_at__lte=now):
        late = now - campaign.send_at
        try:
            if late > grace:
                _hold_missed(campaign, late)
                continue
            campaign_send(campaign=campaign)
            started.append(campaign.pk)
        except (DomainError, ValidationError, Conflict) as exc:
            Campaign.objects.filter(pk=campaign.pk).update(
                status=CampaignStatus.DRAFT, status_reason=f"Could not start: {exc}"
            )
    return started


def _hold_missed(campaign: Campaign, late: timedelta) -> None:
    hours = late.total_seconds() / 3600
    ago = f"{hours:.0f} hours" if hours >= 2 else f"{late.total_seconds() / 60:.0f} minutes"
    reason = (
        f"Its send time ({campaign.send_at:%Y-%m-%d %H:%M} UTC) passed {ago} ago; resume to send."
    )
    risk.check_send_risk(campaign=campaign, override=False, actor=None)
    _send_now(campaign=campaign, hold=reason)
