"""The workspace's deliverability health: a 0–100 score and a grade over the last 30 days,
the metrics behind it, and insights that say what to fix. Every figure is one SQL aggregate
(three queries in all), whatever the number of messages or contacts.

How the score is made (README, "Health score"): each metric earns up to its weight in points,
full marks at its aim and none at its floor, linearly in between:

    metric                 weight  full at        none at
    bounce rate              25    ≤ 2%           ≥ 10%
    complaint rate           25    ≤ 0.1%         ≥ 0.3%
    unsubscribe rate         10    ≤ 0.5%         ≥ 2%
    human open rate          10    ≥ 15%          ≤ 2%
    human click rate          5    ≥ 2%           0%
    domain authentication    15    every domain verified with SPF, DKIM and DMARC valid
    list hygiene             10    ≤ 20% unengaged ≥ 70% unengaged (active contacts older
                                   than 180 days with no open or click in 180 days)

Rates without mail in the window (nothing sent) and hygiene without active contacts are left
out and the score is scaled over the rest. A complaint rate at or above 0.3% caps the score
at 40 and a bounce rate at or above 10% at 50: mailbox providers block on those alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from campaigns.models import EventType, MessageEvent, MessageKind
from contacts.models import Contact
from deliverability.models import HealthSnapshot, SendingDomain
from mailcrm.models import Workspace

logger = logging.getLogger("mailcrm.deliverability")

WINDOW_DAYS = 30
UNENGAGED_DAYS = 180
COMPLAINT_LIMIT = 0.003
COMPLAINT_CAP = 40
BOUNCE_LIMIT = 0.10
BOUNCE_CAP = 50
GRADES = [(95, "A+"), (90, "A"), (80, "B"), (70, "C"), (60, "D"), (0, "F")]
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Rule:
    """How one metric turns into points: full at ``best``, none at ``worst``; ``good`` and
    ``bad`` bound the statuses good / warning / critical."""

    weight: int
    best: float
    worst: float
    good: float
    bad: float

    @property
    def higher_is_better(self) -> bool:
        return self.best > self.worst

    def points(self, value: float) -> float:
        share = (value - self.worst) / (self.best - self.worst)
        return round(self.weight * min(max(share, 0.0), 1.0), 2)

    def status(self, value: float) -> str:
        if self.higher_is_better:
            return "good" if value >= self.good else "warning" if value > self.bad else "critical"
        return "good" if value <= self.good else "warning" if value < self.bad else "critical"


RULES = {
    "bounce_rate": Rule(weight=25, best=0.02, worst=BOUNCE_LIMIT, good=0.02, bad=0.05),
    "complaint_rate": Rule(weight=25, best=0.001, worst=COMPLAINT_LIMIT, good=0.001, bad=0.003),
    "unsubscribe_rate": Rule(weight=10, best=0.005, worst=0.02, good=0.005, bad=0.01),
    "open_rate": Rule(weight=10, best=0.15, worst=0.02, good=0.15, bad=0.05),
    "click_rate": Rule(weight=5, best=0.02, worst=0.0, good=0.02, bad=0.005),
    "domain_authentication": Rule(weight=15, best=1.0, worst=0.0, good=1.0, bad=0.5),
    "list_hygiene": Rule(weight=10, best=0.20, worst=0.70, good=0.20, bad=0.40),
}


def grade_for(score: int) -> str:
    return next(grade for floor, grade in GRADES if score >= floor)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 5) if whole else None


def percent(value: float) -> str:
    """0.0045 → "0.45%", 0.2 → "20%": enough digits for the small rates that matter."""
    percent = value * 100
    text = f"{percent:.2f}" if percent < 1 else f"{percent:.1f}"
    return text.rstrip("0").rstrip(".") + "%"


# --- the figures ---------------------------------------------------------------------------------


def sending_volume(workspace: Workspace, *, since: datetime) -> dict[str, int]:
    """Messages (campaign and transactional, never test sends) with each kind of event since
    ``since``, counted once per message; opens and clicks by people only (privacy proxies and
    scanners are flagged ``is_machine``). Without delivery reports a message the server took
    counts as delivered, so delivered = sent − bounced."""
    human = Q(is_machine=False)
    counts = MessageEvent.objects.filter(
        workspace=workspace,
        occurred_at__gte=since,
        message__kind__in=(MessageKind.CAMPAIGN, MessageKind.TRANSACTIONAL),
    ).aggregate(
        sent=Count(
            "message", distinct=True, filter=Q(type__in=(EventType.SENT, EventType.BOUNCED))
        ),
        bounced=Count("message", distinct=True, filter=Q(type=EventType.BOUNCED)),
        complained=Count("message", distinct=True, filter=Q(type=EventType.COMPLAINED)),
        unsubscribed=Count("message", distinct=True, filter=Q(type=EventType.UNSUBSCRIBED)),
        opened=Count("message", distinct=True, filter=Q(type=EventType.OPENED) & human),
        clicked=Count("message", distinct=True, filter=Q(type=EventType.CLICKED) & human),
    )
    counts["delivered"] = max(counts["sent"] - counts["bounced"], 0)
    return counts


def domain_authentication(workspace: Workspace) -> dict[str, Any]:
    """How many sending domains are verified, and on how many SPF, DKIM and DMARC last
    checked valid; ``value`` is the mean of those four shares (0 without a domain)."""
    valid = "valid"
    counts = SendingDomain.objects.for_workspace(workspace).aggregate(
        domains=Count("id"),
        verified=Count("id", filter=Q(is_verified=True)),
        spf=Count("id", filter=Q(dns_checks__spf__status=valid)),
        dkim=Count("id", filter=Q(dns_checks__dkim__status=valid)),
        dmarc=Count("id", filter=Q(dns_checks__dmarc__status=valid)),
    )
    total = counts["domains"]
    parts = ("verified", "spf", "dkim", "dmarc")
    counts["value"] = round(sum(counts[p] for p in parts) / (4 * total), 4) if total else 0.0
    return counts


def list_hygiene(workspace: Workspace, *, now: datetime) -> dict[str, Any]:
    """Active contacts, and those of them with no open or click in 180 days. Contacts added
    within those 180 days are not counted unengaged: they have not had the time."""
    cutoff = now - timedelta(days=UNENGAGED_DAYS)
    quiet = (
        Q(created_at__lt=cutoff)
        & (Q(last_opened_at__isnull=True) | Q(last_opened_at__lt=cutoff))
        & (Q(last_clicked_at__isnull=True) | Q(last_clicked_at__lt=cutoff))
    )
    counts = (
        Contact.objects.for_workspace(workspace)
        .filter(archived_at__isnull=True, status="active")
        .aggregate(active=Count("id"), unengaged=Count("id", filter=quiet))
    )
    counts["value"] = _rate(counts["unengaged"], counts["active"])
    return counts


# --- the score -----------------------------------------------------------------------------------


def health_score(workspace: Workspace, *, now: datetime | None = None) -> dict[str, Any]:
    """``{"score", "grade", "metrics", "insights"}`` for the last 30 days up to ``now``."""
    now = now or timezone.now()
    volume = sending_volume(workspace, since=now - timedelta(days=WINDOW_DAYS))
    auth = domain_authentication(workspace)
    hygiene = list_hygiene(workspace, now=now)
    values = {
        "bounce_rate": (_rate(volume["bounced"], volume["sent"]), volume["bounced"], "sent"),
        "complaint_rate": (
            _rate(volume["complained"], volume["delivered"]),
            volume["complained"],
            "delivered",
        ),
        "unsubscribe_rate": (
            _rate(volume["unsubscribed"], volume["delivered"]),
            volume["unsubscribed"],
            "delivered",
        ),
        "open_rate": (_rate(volume["opened"], volume["delivered"]), volume["opened"], "delivered"),
        "click_rate": (
            _rate(volume["clicked"], volume["delivered"]),
            volume["clicked"],
            "delivered",
        ),
    }
    metrics: dict[str, Any] = {"window_days": WINDOW_DAYS, "volume": volume}
    for name, (value, count, base) in values.items():
        metrics[name] = _metric(name, value, count=count, of=volume[base], of_what=base)
    metrics["domain_authentication"] = {
        **_metric("domain_authentication", auth.pop("value")),
        **auth,
    }
    metrics["list_hygiene"] = {
        **_metric("list_hygiene", hygiene.pop("value")),
        "unengaged_days": UNENGAGED_DAYS,
        **hygiene,
    }
    score = _score(metrics)
    return {
        "score": score,
        "grade": grade_for(score),
        "metrics": metrics,
        "insights": insights(metrics),
    }


def _metric(name: str, value: float | None, **counts: Any) -> dict[str, Any]:
    rule = RULES[name]
    if value is None:
        return {
            "value": None,
            "status": "no_data",
            "points": 0,
            "max_points": rule.weight,
            **counts,
        }
    return {
        "value": value,
        "status": rule.status(value),
        "points": rule.points(value),
        "max_points": rule.weight,
        **counts,
    }


def _score(metrics: dict[str, Any]) -> int:
    scored = [metrics[name] for name in RULES if metrics[name]["status"] != "no_data"]
    available = sum(m["max_points"] for m in scored)
    score = round(100 * sum(m["points"] for m in scored) / available) if available else 0
    complaint, bounce = metrics["complaint_rate"]["value"], metrics["bounce_rate"]["value"]
    if complaint is not None and complaint >= COMPLAINT_LIMIT:
        score = min(score, COMPLAINT_CAP)
    if bounce is not None and bounce >= BOUNCE_LIMIT:
        score = min(score, BOUNCE_CAP)
    return score


# --- what to fix ---------------------------------------------------------------------------------


def insights(metrics: dict[str, Any]) -> list[dict[str, str]]:
    """One insight per metric that is not good, worst first, with its numbers and the fix."""
    found = []
    for name in RULES:
        metric = metrics[name]
        if metric["status"] in ("warning", "critical"):
            found.append(
                {
                    "metric": name,
                    "severity": metric["status"],
                    "message": _MESSAGES[name](metric),
                }
            )
    if metrics["volume"]["sent"] == 0:
        found.append(
            {
                "metric": "volume",
                "severity": "info",
                "message": f"Nothing was sent in the last {WINDOW_DAYS} days: bounce, "
                "complaint, unsubscribe, open and click rates appear once mail goes out.",
            }
        )
    found.sort(
        key=lambda i: (_SEVERITY_ORDER[i["severity"]], -RULES.get(i["metric"], _NONE).weight)
    )
    return found


_NONE = Rule(weight=0, best=1, worst=0, good=1, bad=0)


def _of(metric: dict[str, Any]) -> str:
    return f"{metric['count']:,} of {metric['of']:,} {metric['of_what']}"


def _bounce(m: dict[str, Any]) -> str:
    return (
        f"Bounce rate is {percent(m['value'])} ({_of(m)}); keep it under 2%"
        + (", at 10% or more mailbox providers block. " if m["status"] == "critical" else ". ")
        + "Remove or re-validate old addresses and confirm new sign-ups (double opt-in)."
    )


def _complaint(m: dict[str, Any]) -> str:
    if m["status"] == "critical":
        head = f"Complaint rate is {percent(m['value'])} ({_of(m)}): at or above 0.3% Gmail and "
        head += "Yahoo start rejecting your mail. "
    else:
        head = f"Complaint rate is {percent(m['value'])} ({_of(m)}); aim under 0.1%. "
    return (
        head + "Mail only people who asked for it, make the unsubscribe link easy to find and "
        "stop mailing contacts who no longer engage."
    )


def _unsubscribe(m: dict[str, Any]) -> str:
    return (
        f"Unsubscribe rate is {percent(m['value'])} ({_of(m)}); aim under 0.5%. Send less often, "
        "or segment by interest so each mail is relevant to who gets it."
    )


def _open(m: dict[str, Any]) -> str:
    return (
        f"Human open rate is {percent(m['value'])} ({_of(m)}; opens by privacy proxies and "
        "scanners not counted); aim for 15% or more. Test subject lines and the sender name, "
        "and check that mail is not landing in spam."
    )


def _click(m: dict[str, Any]) -> str:
    return (
        f"Click rate is {percent(m['value'])} ({_of(m)}); aim for 2% or more. Give each mail one "
        "clear call to action, near the top."
    )


def _auth(m: dict[str, Any]) -> str:
    if not m["domains"]:
        return (
            "No sending domain yet: add the domain you send from and publish its SPF, DKIM and "
            "DMARC records, so mailbox providers can tell your mail is really yours."
        )
    n = m["domains"]
    missing = [
        f"{label} on {n - m[key]} of {n}"
        for key, label in (("spf", "SPF"), ("dkim", "DKIM"), ("dmarc", "DMARC"))
        if m[key] < n
    ]
    return (
        f"Domain authentication is incomplete: {m['verified']} of {n} sending domains verified"
        + (f"; not valid: {', '.join(missing)}" if missing else "")
        + ". Publish the missing DNS records shown on the Domains page, then verify."
    )


def _hygiene(m: dict[str, Any]) -> str:
    return (
        f"{percent(m['value'])} of active contacts ({m['unengaged']:,} of {m['active']:,}) have "
        f"not opened or clicked in {UNENGAGED_DAYS} days; keep it under 20%. Send them a "
        "re-engagement campaign, then suppress or archive those who still do not respond."
    )


_MESSAGES = {
    "bounce_rate": _bounce,
    "complaint_rate": _complaint,
    "unsubscribe_rate": _unsubscribe,
    "open_rate": _open,
    "click_rate": _click,
    "domain_authentication": _auth,
    "list_hygiene": _hygiene,
}


# --- snapshots -----------------------------------------------------------------------------------


@transaction.atomic
def health_snapshot(
    workspace: Workspace, *, day: date | None = None, now: datetime | None = None
) -> HealthSnapshot:
    """Record the workspace's score for ``day`` (today, UTC); a second run that day updates the
    same row."""
    now = now or timezone.now()
    result = health_score(workspace, now=now)
    snapshot, _ = HealthSnapshot.objects.update_or_create(
        workspace=workspace,
        day=day or now.date(),
        defaults={
            "score": result["score"],
            "grade": result["grade"],
            "metrics": result["metrics"],
        },
    )
    return snapshot


def snapshot_all() -> int:
    """The daily schedule (migration 0004): one snapshot per workspace; safe to run twice a
    day. One workspace failing is logged and does not stop the others."""
    done = 0
    for workspace in Workspace.objects.order_by("pk").iterator():
        try:
            health_snapshot(workspace)
        except Exception:
            logger.exception("health snapshot of workspace %s failed", workspace.pk)
            continue
        done += 1
    return done


def health_trend(workspace: Workspace, *, days: int = 90) -> list[HealthSnapshot]:
    """The workspace's snapshots of the last ``days`` days, oldest first."""
    since = timezone.now().date() - timedelta(days=days)
    return list(
        HealthSnapshot.objects.for_workspace(workspace).filter(day__gt=since).order_by("day")
    )
