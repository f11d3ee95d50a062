"""Soft-bounce suppressions expire after the workspace's period and are lifted by the hourly
task, each lift recorded as a suppression.lifted event; stronger suppressions never expire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.audience import audience_contacts
from campaigns.models import Campaign
from contacts.tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from deliverability import services
from deliverability.models import DeliverabilitySettings, Suppression
from mailcrm.models import Event

pytestmark = pytest.mark.django_db


def _soft(workspace, email="jane@example.com") -> Suppression:
    return services.suppression_add(
        workspace=workspace, email=email, type="soft_bounce", reason="3 soft bounces"
    )


def _expire(suppression: Suppression) -> None:
    """Move the expiry into the past (the period is over), as the clock would."""
    Suppression.objects.filter(pk=suppression.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_soft_bounce_suppression_expires_after_the_workspaces_period(workspace):
    settings = DeliverabilitySettings.for_workspace(workspace)
    settings.soft_bounce_suppression_days = 10
    settings.save()
    before = timezone.now()
    suppression = _soft(workspace)
    assert before + timedelta(days=10) <= suppression.expires_at
    assert suppression.expires_at <= timezone.now() + timedelta(days=10)
    assert services.is_suppressed(workspace, "jane@example.com")


def test_an_expired_soft_bounce_no_longer_blocks_even_before_it_is_lifted(workspace):
    contact_list = ContactListFactory(workspace=workspace)
    ListMembershipFactory(
        contact=ContactFactory(workspace=workspace, email="jane@example.com"),
        contact_list=contact_list,
    )
    campaign = Campaign.objects.create(
        workspace=workspace, name="c", audience={"lists": [str(contact_list.id)]}
    )
    suppression = _soft(workspace)
    assert not audience_contacts(campaign).exists()
    _expire(suppression)
    assert not services.is_suppressed(workspace, "jane@example.com")
    assert audience_contacts(campaign).count() == 1


def test_the_task_lifts_expired_ones_and_records_each(workspace, outsider):
    expired = _soft(workspace, "old@example.com")
    _expire(expired)
    theirs = _soft(outsider.workspace, "old@example.com")
    _expire(theirs)
    current = _soft(workspace, "recent@example.com")
    assert services.suppressions_lift_expired() == 2
    assert list(Suppression.objects.values_list("pk", flat=True)) == [current.pk]
    lifted = Event.objects.filter(type="suppression.lifted").order_by("workspace__name")
    assert [(e.workspace_id, e.subject_id) for e in lifted] == [
        (workspace.id, expired.pk),
        (outsider.workspace.id, theirs.pk),
    ]
    assert lifted[0].data["email"] == "old@example.com"
    assert lifted[0].data["type"] == "soft_bounce"
    assert services.suppressions_lift_expired() == 0  # a second run finds nothing


def test_a_hard_bounce_replaces_a_soft_one_and_never_expires(workspace):
    _soft(workspace)
    hard = services.suppression_add(
        workspace=workspace, email="jane@example.com", type="hard_bounce"
    )
    assert hard.type == "hard_bounce" and hard.expires_at is None


def test_a_period_of_zero_keeps_soft_bounces(workspace):
    settings = DeliverabilitySettings.for_workspace(workspace)
    settings.soft_bounce_suppression_days = 0
    settings.save()
    assert _soft(workspace).expires_at is None


def test_imported_soft_bounces_expire_too(workspace):
    result = services.suppressions_import_csv(
        workspace=workspace, data=b"a@example.com,soft_bounce\nb@example.com,manual\n"
    )
    assert result.created == 2
    rows = dict(Suppression.objects.values_list("email", "expires_at"))
    assert rows["a@example.com"] is not None and rows["b@example.com"] is None


def test_soft_bounces_past_the_threshold_suppress_with_an_expiry(workspace):
    for _ in range(3):
        services.bounce_record(workspace, "jane@example.com", "soft", diagnostic="452 mailbox full")
    suppression = Suppression.objects.get(email="jane@example.com")
    assert suppression.type == "soft_bounce" and suppression.expires_at is not None
