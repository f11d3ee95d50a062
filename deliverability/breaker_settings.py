"""The workspace's circuit-breaker thresholds (campaigns.breakers), kept on its
DeliverabilitySettings: read and changed here by the API, the dashboard and the admin."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from deliverability.models import DeliverabilitySettings
from mailcrm import audit
from mailcrm.models import Workspace

FIELDS = ("bounce_rate_threshold", "complaint_rate_threshold")


@transaction.atomic
def breaker_thresholds_update(
    *,
    workspace: Workspace,
    bounce_rate_threshold: Decimal | None = None,
    complaint_rate_threshold: Decimal | None = None,
) -> DeliverabilitySettings:
    """Set either threshold (a percentage, 0 turns that breaker off; None keeps it); raises
    ValidationError naming the field for a value out of 0–100."""
    settings = DeliverabilitySettings.for_workspace(workspace)
    changes = {
        "bounce_rate_threshold": bounce_rate_threshold,
        "complaint_rate_threshold": complaint_rate_threshold,
    }
    changed = [name for name, value in changes.items() if value is not None]
    for name in changed:
        setattr(settings, name, Decimal(str(changes[name])))
    settings.full_clean(exclude=[f for f in _all_fields() if f not in changed])
    audited = audit.pending_changes(settings, changed)
    settings.save(update_fields=changed or None)
    audit.record(workspace, "deliverability_settings.updated", settings, audited)
    return settings


def _all_fields() -> list[str]:
    return [f.name for f in DeliverabilitySettings._meta.fields]
