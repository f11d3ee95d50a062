"""The monthly sends of a workspace's plan: every message queued this calendar month counts
(test sends do not)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageKind
from mailcrm.exceptions import LimitExceeded
from mailcrm.ids import uuid7_floor
from mailcrm.models import Workspace

# A message's id (uuid7) is drawn when the instance is made, before created_at is set on
# saving: never a day earlier. Bounding the id lets the count read only this month's rows
# of the index instead of every direct send the workspace ever made.
_ID_MARGIN = timedelta(days=1)


def sends_this_month(workspace: Workspace) -> int:
    """A campaign's messages are all made by its snapshot, at its ``started_at``, and are
    its ``recipients``: counted from the campaigns, not from a million message rows (which
    would need an index every snapshot row writes). Transactional and automation messages
    are counted through the ``message_ws_direct`` index."""
    start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    campaigns = (
        Campaign.objects.for_workspace(workspace)
        .filter(started_at__gte=start)
        .aggregate(n=Sum("recipients"))["n"]
    )
    direct = (
        Message.objects.for_workspace(workspace)
        .filter(
            kind__in=(MessageKind.TRANSACTIONAL, MessageKind.AUTOMATION),
            id__gte=uuid7_floor(start - _ID_MARGIN),
            created_at__gte=start,
        )
        .count()
    )
    return (campaigns or 0) + direct


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
