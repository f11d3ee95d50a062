"""django-q2 entry points of automations: thin, idempotent, ids only."""

from __future__ import annotations

import logging

from automations import engine, triggers

logger = logging.getLogger("mailcrm.automations")


def advance(automation_id: str) -> int:
    """Advance one automation's due enrolments (queued after an enrolment or activation)."""
    return engine.run_due(automation_id=automation_id)


def tick() -> dict:
    """Every minute: enrol contacts whose date trigger came, then advance everything due.
    When nothing is due this is two indexed queries."""
    enrolled = triggers.scan_date_triggers()
    advanced = engine.run_due()
    return {"enrolled": enrolled, "advanced": advanced}


def post_webhook(url: str, body: str) -> int:
    """POST a webhook step's batch, through the webhooks app's guard against private
    addresses; returns the status (0: refused or unreachable). At most once: not retried."""
    from webhooks.targets import UnsafeTarget, check_url, post

    try:
        response = post(check_url(url), body.encode(), {"Content-Type": "application/json"})
    except (UnsafeTarget, OSError, ValueError, Exception) as exc:  # noqa: BLE001 (logged, not retried)
        logger.warning("automation webhook to %s failed: %s", url, exc)
        return 0
    return response.status_code
