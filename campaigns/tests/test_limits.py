"""The monthly sends count (campaigns.limits): a campaign's sends come from its recipients and
started_at, direct sends (transactional, automation) from their rows; test sends and other
months do not count."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.limits import sends_this_month
from campaigns.models import Campaign, CampaignStatus, Message, MessageKind
from campaigns.tests.factories import list_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_domains")]


def _direct(workspace, kind: str, **fields) -> Message:
    return Message.objects.create(workspace=workspace, kind=kind, email="x@example.com", **fields)


def test_a_sent_campaign_counts_its_recipients_from_the_moment_of_its_snapshot(workspace):
    campaign, _ = list_campaign(workspace, 3)
    with mock.patch("campaigns.services.start_chains"):
        services.campaign_send(campaign=campaign)
    campaign.refresh_from_db()
    created = set(Message.objects.filter(campaign=campaign).values_list("created_at", flat=True))
    assert created == {campaign.started_at}  # one moment: the month cannot split them
    assert sends_this_month(workspace) == 3


def test_direct_sends_count_and_test_sends_do_not(workspace):
    _direct(workspace, MessageKind.TRANSACTIONAL)
    _direct(workspace, MessageKind.AUTOMATION)
    _direct(workspace, MessageKind.TEST)
    assert sends_this_month(workspace) == 2


def test_last_months_sends_do_not_count(workspace):
    last_month = timezone.now().replace(day=1) - timedelta(days=3)
    Campaign.objects.create(
        workspace=workspace,
        name="Old",
        status=CampaignStatus.SENT,
        recipients=50,
        started_at=last_month,
    )
    Campaign.objects.create(
        workspace=workspace,
        name="New",
        status=CampaignStatus.SENT,
        recipients=7,
        started_at=timezone.now(),
    )
    old = _direct(workspace, MessageKind.TRANSACTIONAL)
    Message.objects.filter(pk=old.pk).update(created_at=last_month)
    _direct(workspace, MessageKind.TRANSACTIONAL)
    assert sends_this_month(workspace) == 7 + 1


def test_another_workspaces_sends_do_not_count(workspace, outsider):
    _direct(outsider.workspace, MessageKind.TRANSACTIONAL)
    Campaign.objects.create(
        workspace=outsider.workspace,
        name="Theirs",
        status=CampaignStatus.SENT,
        recipients=5,
        started_at=timezone.now(),
    )
    assert sends_this_month(workspace) == 0


def test_a_campaign_past_the_limit_is_refused_and_its_snapshot_undone(workspace):
    from mailcrm.exceptions import LimitExceeded

    workspace.limit_monthly_sends = 4
    workspace.save(update_fields=["limit_monthly_sends"])
    _direct(workspace, MessageKind.TRANSACTIONAL)
    campaign, _ = list_campaign(workspace, 4)
    with mock.patch("campaigns.services.start_chains"), pytest.raises(LimitExceeded):
        services.campaign_send(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT and campaign.started_at is None
    assert not Message.objects.filter(campaign=campaign).exists()
    assert sends_this_month(workspace) == 1
