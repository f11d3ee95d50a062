"""Plan limits of a workspace beside what it uses now.

Each resource's count comes from the app that owns it; resources whose app does not exist yet
report zero until that app registers a counter here."""

from __future__ import annotations

from collections.abc import Callable

from mailcrm.models import Workspace

UsageCounter = Callable[[Workspace], int]
_counters: dict[str, UsageCounter] = {}

LIMIT_FIELDS = {
    "contacts": "limit_contacts",
    "monthly_sends": "limit_monthly_sends",
    "sending_domains": "limit_sending_domains",
    "webhook_endpoints": "limit_webhook_endpoints",
    "api_requests_per_minute": "limit_api_requests_per_minute",
}


def register_counter(resource: str, counter: UsageCounter) -> None:
    if resource not in LIMIT_FIELDS:
        raise ValueError(f"unknown resource {resource!r}")
    _counters[resource] = counter


def limits(workspace: Workspace) -> dict[str, int | None]:
    return {name: getattr(workspace, field) for name, field in LIMIT_FIELDS.items()}


def usage(workspace: Workspace) -> dict[str, int]:
    from mailcrm.api.throttling import requests_this_minute

    current = {
        name: _counters[name](workspace) if name in _counters else 0 for name in LIMIT_FIELDS
    }
    current["api_requests_per_minute"] = requests_this_minute(workspace.id)
    return current
