"""The monthly sends of a workspace's plan: every message queued this calendar month counts."""

from __future__ import annotations

from django.utils import timezone

from campaigns.models import Message, MessageKind
from mailcrm.exceptions import LimitExceeded
from mailcrm.models import Workspace


def sends_this_month(workspace: Workspace) -> int:
    start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (
        Message.objects.for_workspace(workspace)
        .filter(created_at__gte=start)
        .exclude(kind=MessageKind.TEST)
        .count()
    )


def check_monthly_sends(workspace: Workspace, adding: int) -> None:
    """Refuse (422 naming the limit) a send that would pass the plan's monthly sends."""
    limit = workspace.limit_monthly_sends
    if limit is not None and sends_this_month(workspace) + adding > limit:
        raise LimitExceeded("monthly_sends", limit)


def monthly_sends_left(workspace: Workspace) -> int | None:
    """How many more messages the plan allows this month (None: no limit). For senders that
    hold mail back at the limit instead of refusing it (automations)."""
    limit = workspace.limit_monthly_sends
    if limit is None:
        return None
    return max(0, limit - sends_this_month(workspace))
