"""Pre-send risk assessment: how likely a send is to hurt the workspace's reputation, from
who it goes to (invalid, risky, disposable, role and never-validated addresses, stale
contacts, earlier soft bounces), how the workspace's recent mail was received (complaint
rate), whether the sending domain is authenticated, and the content's score.

Each factor adds up to its weight in points, in proportion to how far its measure is towards
the point where it is at its worst; the sum (at most 100) is the risk score. The workspace's
thresholds (``DeliverabilitySettings.risk_warn_at`` / ``risk_block_at``) turn it into a
policy: allow, warn or block. Every assessment is saved, so a block and its override stay on
record. The audience is measured in a few set-based queries, whatever its size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from deliverability.models import (
    Bounce,
    BounceKind,
    DeliverabilitySettings,
    EmailValidation,
    RiskAssessment,
    RiskPolicy,
    SendingDomain,
    Suppression,
    SuppressionType,
    ValidationResult,
)
from mailcrm.exceptions import DomainError
from mailcrm.models import Membership, Role, Workspace

STALE_AFTER = timedelta(days=180)
COMPLAINT_WINDOW = timedelta(days=30)
SOFT_BOUNCE_WINDOW = timedelta(days=90)
MAX_RECIPIENTS = 10_000  # per assessment of a given list (a campaign's audience has no cap)
LEVELS = ((75, "critical"), (50, "high"), (25, "medium"), (0, "low"))


@dataclass(frozen=True)
class Rule:
    """A factor: ``weight`` points at most, reached when the measure gets to ``worst_at``."""

    code: str
    label: str
    weight: int
    worst_at: float
    advice: str


RULES = {
    rule.code: rule
    for rule in (
        Rule(
            "invalid",
            "Invalid addresses",
            30,
            0.05,
            "Remove the invalid addresses (run validation and drop those marked invalid).",
        ),
        Rule(
            "risky",
            "Risky addresses",
            10,
            0.20,
            "Review the risky addresses: fix suggested typos and drop doubtful ones.",
        ),
        Rule(
            "disposable",
            "Disposable addresses",
            10,
            0.05,
            "Drop disposable (throwaway) addresses; they rarely read and soon bounce.",
        ),
        Rule(
            "role",
            "Role accounts",
            5,
            0.20,
            "Mail role accounts (info@, sales@) only when they asked for it.",
        ),
        Rule(
            "never_validated",
            "Never validated",
            10,
            1.0,
            "Validate the audience before sending (Validation, or the bulk API).",
        ),
        Rule(
            "stale",
            "Stale contacts",
            15,
            0.50,
            "Leave out contacts with no open or click in 180 days, or re-engage them first.",
        ),
        Rule(
            "soft_bounces",
            "Recent soft bounces",
            10,
            0.05,
            "Hold back addresses that soft-bounced recently until they accept mail again.",
        ),
        Rule(
            "complaint_rate",
            "Complaint rate (30 days)",
            25,
            0.003,
            "Complaints are near or past 0.3%: send only to people who asked, and make "
            "unsubscribing easy.",
        ),
        Rule(
            "domain_auth",
            "Domain authentication",
            15,
            1.0,
            "Send from a verified domain: publish its SPF and DKIM records under Domains.",
        ),
        Rule(
            "content",
            "Content score",
            10,
            1.0,
            "Fix the content issues listed in the content score.",
        ),
    )
}


class RiskBlocked(DomainError):
    """The send's risk is at or above the workspace's block threshold (422, with the
    assessment)."""

    status_code = 422
    code = "risk_blocked"


class OverrideNotAllowed(DomainError):
    status_code = 403
    code = "forbidden"


# --- measuring ---------------------------------------------------------------------------------


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _measure(workspace: Workspace, contacts: QuerySet, emails: QuerySet | list[str]) -> dict:
    """Counts over the recipients: ``contacts`` (those that are contacts) and ``emails``
    (every recipient's lower-cased address, as a list or a one-column queryset)."""
    cutoff = timezone.now() - STALE_AFTER
    stale = (
        Q(created_at__lt=cutoff)
        & (Q(last_opened_at__isnull=True) | Q(last_opened_at__lt=cutoff))
        & (Q(last_clicked_at__isnull=True) | Q(last_clicked_at__lt=cutoff))
    )
    counts = contacts.aggregate(contacts=Count("pk"), stale=Count("pk", filter=stale))
    validations = EmailValidation.objects.filter(workspace=workspace, email__in=emails).aggregate(
        validated=Count("pk"),
        invalid=Count("pk", filter=Q(result=ValidationResult.INVALID)),
        risky=Count("pk", filter=Q(result=ValidationResult.RISKY)),
        disposable=Count("pk", filter=Q(checks__disposable=True)),
        role=Count("pk", filter=Q(checks__role=True)),
    )
    soft_bounced = (
        Bounce.objects.filter(
            workspace=workspace,
            kind=BounceKind.SOFT,
            occurred_at__gte=timezone.now() - SOFT_BOUNCE_WINDOW,
            email__in=emails,
        )
        .values("email")
        .distinct()
        .count()
    )
    return counts | validations | {"soft_bounced": soft_bounced}


def complaint_rate(workspace: Workspace) -> tuple[float, int, int]:
    """Complaints over messages sent in the last 30 days: (rate, complaints, sent)."""
    from campaigns.models import EventType, MessageEvent

    since = timezone.now() - COMPLAINT_WINDOW
    events = MessageEvent.objects.filter(workspace=workspace, occurred_at__gte=since).aggregate(
        sent=Count(
            "message", distinct=True, filter=Q(type__in=(EventType.SENT, EventType.BOUNCED))
        ),
        complained=Count("message", distinct=True, filter=Q(type=EventType.COMPLAINED)),
    )
    # Complaints reported without a message of ours (an ESP's feedback loop) are suppressions.
    suppressed = Suppression.objects.filter(
        workspace=workspace, type=SuppressionType.COMPLAINT, created_at__gte=since
    ).count()
    complaints = max(events["complained"], suppressed)
    sent = events["sent"]
    return (_share(complaints, sent) if sent else 0.0), complaints, sent


# --- scoring -----------------------------------------------------------------------------------


def _factor(code: str, value: float, detail: str) -> dict[str, Any]:
    rule = RULES[code]
    points = rule.weight * min(1.0, value / rule.worst_at) if rule.worst_at else 0
    return {
        "code": code,
        "label": rule.label,
        "value": value,
        "weight": round(points, 1),
        "detail": detail,
    }


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%".replace(".0%", "%")


def _audience_factors(counts: dict, total: int) -> list[dict[str, Any]]:
    never = max(total - counts["validated"], 0)
    of = f"of {total:,} recipients"
    return [
        _factor(
            "invalid",
            _share(counts["invalid"], total),
            f"{counts['invalid']:,} {of} were found invalid.",
        ),
        _factor("risky", _share(counts["risky"], total), f"{counts['risky']:,} {of} are risky."),
        _factor(
            "disposable",
            _share(counts["disposable"], total),
            f"{counts['disposable']:,} {of} are disposable addresses.",
        ),
        _factor(
            "role", _share(counts["role"], total), f"{counts['role']:,} {of} are role accounts."
        ),
        _factor("never_validated", _share(never, total), f"{never:,} {of} were never validated."),
        _factor(
            "stale",
            _share(counts["stale"], total),
            f"{counts['stale']:,} {of} have not opened or clicked in 180 days.",
        ),
        _factor(
            "soft_bounces",
            _share(counts["soft_bounced"], total),
            f"{counts['soft_bounced']:,} {of} soft-bounced in the last 90 days.",
        ),
    ]


def _workspace_factors(
    workspace: Workspace, domain: SendingDomain | None, domain_name: str, content
) -> list[dict[str, Any]]:
    rate, complaints, sent = complaint_rate(workspace)
    factors = [
        _factor(
            "complaint_rate",
            rate,
            f"{complaints:,} complaints for {sent:,} messages sent in 30 days ({_pct(rate)}).",
        )
    ]
    if domain is not None and domain.is_verified:
        factors.append(_factor("domain_auth", 0.0, f"{domain.domain} is verified."))
    elif domain is not None:
        factors.append(_factor("domain_auth", 1.0, f"{domain.domain} is not verified."))
    else:
        factors.append(
            _factor(
                "domain_auth",
                1.0,
                f"{domain_name or 'The from address'} is not a sending domain of this workspace.",
            )
        )
    if content is not None:
        factors.append(
            _factor(
                "content",
                round((100 - content.score) / 100, 2),
                f"Content scores {content.score}/100 ({content.rating}).",
            )
        )
    return factors


def level_for(score: int) -> str:
    return next(name for floor, name in LEVELS if score >= floor)


def policy_for(workspace: Workspace, score: int) -> str:
    settings = DeliverabilitySettings.for_workspace(workspace)
    if score >= settings.risk_block_at:
        return RiskPolicy.BLOCK
    if score >= settings.risk_warn_at:
        return RiskPolicy.WARN
    return RiskPolicy.ALLOW


def _save(workspace: Workspace, factors: list[dict], *, campaign_id=None) -> RiskAssessment:
    score = min(100, round(sum(f["weight"] for f in factors)))
    contributing = sorted((f for f in factors if f["weight"] >= 1), key=lambda f: -f["weight"])
    return RiskAssessment.objects.create(
        workspace=workspace,
        campaign_id=campaign_id,
        risk_score=score,
        level=level_for(score),
        policy=policy_for(workspace, score),
        factors=factors,
        recommendations=[RULES[f["code"]].advice for f in contributing],
    )


# --- the two ways in ---------------------------------------------------------------------------


def assess_campaign(*, campaign) -> RiskAssessment:
    """Assess a campaign's send to its audience as it stands now, and save the assessment."""
    from campaigns.audience import audience_contacts
    from campaigns.content import campaign_sender, campaign_source
    from deliverability.content import score_content
    from deliverability.domains import sending_domain_for

    workspace = campaign.workspace
    contacts = audience_contacts(campaign)
    emails = contacts.annotate(risk_email=Lower("email")).values("risk_email")
    counts = _measure(workspace, contacts, emails)
    subject, html, text = campaign_source(campaign)
    from_email = campaign_sender(campaign)[1]
    content = score_content(
        subject=subject, html=html, text=text, from_email=from_email, workspace=workspace
    )
    domain = sending_domain_for(
        workspace.pk, sending_domain=campaign.sending_domain, from_email=from_email
    )
    factors = _audience_factors(counts, counts["contacts"])
    factors += _workspace_factors(workspace, domain, from_email.rpartition("@")[2], content)
    return _save(workspace, factors, campaign_id=campaign.pk)


def assess_recipients(
    *, workspace: Workspace, recipients: list[str], from_email: str = ""
) -> RiskAssessment:
    """Assess a send to a list of addresses (contacts or not), and save the assessment."""
    from contacts.models import Contact
    from deliverability.domains import sending_domain_for

    emails = list(dict.fromkeys(e.strip().lower() for e in recipients if e and e.strip()))
    contacts = (
        Contact.objects.for_workspace(workspace)
        .annotate(risk_email=Lower("email"))
        .filter(risk_email__in=emails, archived_at__isnull=True)
    )
    counts = _measure(workspace, contacts, emails)
    domain = sending_domain_for(workspace.pk, sending_domain=None, from_email=from_email)
    factors = _audience_factors(counts, len(emails))
    if from_email:
        factors += _workspace_factors(workspace, domain, from_email.rpartition("@")[2], None)
    else:
        rate, complaints, sent = complaint_rate(workspace)
        factors.append(
            _factor(
                "complaint_rate",
                rate,
                f"{complaints:,} complaints for {sent:,} messages sent in 30 days ({_pct(rate)}).",
            )
        )
    return _save(workspace, factors)


# --- the gate before a send --------------------------------------------------------------------


def may_override(workspace: Workspace, user) -> bool:
    """Only the workspace's owners and admins may send despite a block."""
    if user is None or getattr(user, "pk", None) is None:
        return False
    return Membership.objects.filter(
        workspace=workspace, user=user, role__in=(Role.OWNER, Role.ADMIN)
    ).exists()


def assessment_body(assessment: RiskAssessment) -> dict[str, Any]:
    return {
        "id": str(assessment.pk),
        "risk_score": assessment.risk_score,
        "level": assessment.level,
        "policy": assessment.policy,
        "factors": assessment.factors,
        "recommendations": assessment.recommendations,
    }


def check_send_risk(*, campaign, override: bool = False, actor=None) -> RiskAssessment:
    """Assess the campaign before it is sent. A ``block`` raises ``RiskBlocked`` (422, the
    assessment attached) unless ``override`` is asked by an owner or admin of the workspace,
    which is recorded on the assessment; anyone else asking to override gets 403."""
    with transaction.atomic():
        assessment = assess_campaign(campaign=campaign)
    if assessment.policy != RiskPolicy.BLOCK:
        return assessment
    if not override:
        raise RiskBlocked(
            f"The send's risk score is {assessment.risk_score}/100 ({assessment.level}), at "
            "or above the workspace's block threshold. Fix the listed factors, or have an "
            "owner or admin override.",
            assessment=assessment_body(assessment),
        )
    if not may_override(campaign.workspace, actor):
        raise OverrideNotAllowed("Only an owner or admin of the workspace can override a block.")
    RiskAssessment.objects.filter(pk=assessment.pk).update(overridden_by=actor)
    assessment.overridden_by = actor
    return assessment


def latest_assessment(workspace: Workspace, campaign_id) -> RiskAssessment | None:
    return (
        RiskAssessment.objects.for_workspace(workspace)
        .filter(campaign_id=campaign_id)
        .select_related("overridden_by")
        .order_by("-created_at")
        .first()
    )
