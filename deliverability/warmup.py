"""Warm-up schedules of sending domains: a new domain earns its reputation by sending little
at first. Its daily cap starts at ``warmup_daily_start`` and grows ``warmup_growth`` times a
day from ``warmup_started_on`` (UTC days); on the first day the cap would reach
``warmup_target`` the warm-up is over and no cap applies any more. Campaign messages beyond
today's cap wait for tomorrow (campaigns.throttling); transactional mail is never held back."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from deliverability.models import SendingDomain
from mailcrm import audit

MAX_DAYS = 400  # past this the growth is certain to have reached any target
MAX_DAILY = 2_147_483_647  # the columns' limit


def daily_cap(domain: SendingDomain, day: date) -> int | None:
    """Campaign messages ``domain`` may send on ``day`` (None: no cap, warm or no warm-up)."""
    if not domain.warmup_target or domain.warmup_started_on is None:
        return None
    days = max(0, (day - domain.warmup_started_on).days)
    if days > MAX_DAYS:
        return None
    try:
        cap = domain.warmup_daily_start * float(domain.warmup_growth) ** days
    except OverflowError:
        return None
    return None if cap >= domain.warmup_target else int(cap)


def warmup_status(domain: SendingDomain, today: date | None = None) -> dict | None:
    """The warm-up of ``domain`` as shown in the dashboard and the API (None: none set)."""
    if not domain.warmup_target:
        return None
    today = today or timezone.now().date()
    cap = daily_cap(domain, today)
    started = domain.warmup_started_on
    return {
        "target": domain.warmup_target,
        "daily_start": domain.warmup_daily_start,
        "growth": float(domain.warmup_growth),
        "started_on": started,
        "day": (today - started).days + 1 if started else None,
        "cap_today": cap,
        "done": cap is None,
    }


def _decimal(value, name: str, errors: dict) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        errors[name] = ["Enter a number."]
        return None


@transaction.atomic
def domain_set_warmup(
    *,
    domain: SendingDomain,
    target: int | None,
    daily_start: int | None = None,
    growth: Decimal | float | str | None = None,
    started_on: date | None = None,
) -> SendingDomain:
    """Start, change or stop (``target=None``) the warm-up of ``domain``. Starting one without
    a first day starts it today; changing the figures of a running one keeps its first day."""
    errors: dict[str, list[str]] = {}
    if target is not None and (isinstance(target, bool) or not 1 <= int(target) <= MAX_DAILY):
        errors["warmup_target"] = ["Enter a whole number of at least 1, or nothing."]
    if daily_start is not None:
        if isinstance(daily_start, bool) or not 1 <= int(daily_start) <= MAX_DAILY:
            errors["warmup_daily_start"] = ["Enter a whole number of at least 1."]
        else:
            domain.warmup_daily_start = int(daily_start)
    if growth is not None:
        value = _decimal(growth, "warmup_growth", errors)
        if value is not None and not (Decimal(1) <= value <= Decimal(10)):
            errors["warmup_growth"] = ["Enter a factor between 1 and 10."]
        elif value is not None:
            domain.warmup_growth = value.quantize(Decimal("0.01"))
    if target is not None and not errors and domain.warmup_daily_start > int(target):
        errors["warmup_daily_start"] = ["The first day's cap cannot pass the target."]
    if errors:
        raise ValidationError(errors)
    if target is None:
        domain.warmup_target, domain.warmup_started_on = None, None
    else:
        domain.warmup_target = int(target)
        domain.warmup_started_on = started_on or domain.warmup_started_on or timezone.now().date()
    fields = ["warmup_target", "warmup_daily_start", "warmup_growth", "warmup_started_on"]
    changes = audit.pending_changes(domain, fields)
    domain.save(update_fields=fields)
    audit.record(domain.workspace_id, "sending_domain.warmup_updated", domain, changes)
    return domain
