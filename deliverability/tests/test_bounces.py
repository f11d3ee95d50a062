"""Bounces: a hard bounce suppresses at once; soft bounces suppress once the workspace's
threshold is reached within its window."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.tests.factories import ContactFactory
from deliverability import services
from deliverability.models import Bounce, DeliverabilitySettings, Suppression
from deliverability.tests.factories import BounceFactory, SendingDomainFactory

pytestmark = pytest.mark.django_db


def _soft(workspace, email, *, days_ago: float = 0, **kwargs):
    at = timezone.now() - timedelta(days=days_ago)
    return services.bounce_record(workspace, email, "soft", at=at, **kwargs)


def test_a_hard_bounce_suppresses_at_once_with_source_bounce(workspace):
    contact = ContactFactory(workspace=workspace, email="Gone@Example.com")
    domain = SendingDomainFactory(workspace=workspace)
    bounce = services.bounce_record(
        workspace,
        " GONE@example.com",
        "hard",
        domain=domain,
        diagnostic="550 5.1.1 No such user",
    )
    assert bounce.email == "gone@example.com" and bounce.domain == domain
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.type, suppression.source) == (
        "gone@example.com",
        "hard_bounce",
        "bounce",
    )
    assert suppression.domain is None, "a missing mailbox is missing for every sender"
    assert "550 5.1.1" in suppression.reason
    assert services.is_suppressed(workspace, "gone@example.com", marketing=False)
    contact.refresh_from_db()
    assert contact.status == "bounced"


def test_three_soft_bounces_within_seven_days_suppress(workspace):
    _soft(workspace, "full@example.com", days_ago=6)
    _soft(workspace, "full@example.com", days_ago=3)
    assert not Suppression.objects.exists()
    _soft(workspace, "full@example.com", diagnostic="452 4.2.2 Mailbox full")
    suppression = Suppression.objects.get()
    assert (suppression.type, suppression.source) == ("soft_bounce", "bounce")
    assert "3 soft bounces within 7 days" in suppression.reason
    assert "Mailbox full" in suppression.reason
    assert Bounce.objects.count() == 3


def test_three_soft_bounces_spread_over_twenty_days_do_not(workspace):
    _soft(workspace, "slow@example.com", days_ago=20)
    _soft(workspace, "slow@example.com", days_ago=10)
    _soft(workspace, "slow@example.com")
    assert not Suppression.objects.exists()
    assert services.soft_bounces_within_window(workspace, "slow@example.com") == 1


def test_soft_bounces_of_other_addresses_and_workspaces_do_not_count(workspace, outsider):
    _soft(workspace, "a@example.com")
    _soft(workspace, "b@example.com")
    _soft(outsider.workspace, "a@example.com")
    _soft(outsider.workspace, "a@example.com")
    services.bounce_record(workspace, "a@example.com", "hard")  # hard ones are not "soft"
    Suppression.objects.filter(type="hard_bounce").delete()
    _soft(workspace, "a@example.com")
    assert not Suppression.objects.filter(type="soft_bounce").exists()


def test_the_threshold_and_window_are_per_workspace(workspace, outsider):
    settings = DeliverabilitySettings.for_workspace(workspace)
    settings.soft_bounce_threshold, settings.soft_bounce_window_days = 2, 30
    settings.save()
    _soft(workspace, "x@example.com", days_ago=25)
    _soft(workspace, "x@example.com")
    assert Suppression.objects.filter(workspace=workspace, type="soft_bounce").exists()

    _soft(outsider.workspace, "x@example.com", days_ago=25)
    _soft(outsider.workspace, "x@example.com")
    assert not Suppression.objects.filter(workspace=outsider.workspace).exists()


def test_a_soft_bounce_never_weakens_a_hard_bounce(workspace):
    services.bounce_record(workspace, "x@example.com", "hard")
    for days in (2, 1, 0):
        _soft(workspace, "x@example.com", days_ago=days)
    assert Suppression.objects.get().type == "hard_bounce"


def test_bounces_recorded_earlier_count_towards_the_threshold(workspace):
    BounceFactory.create_batch(
        2, workspace=workspace, email="old@example.com", occurred_at=timezone.now()
    )
    _soft(workspace, "old@example.com")
    assert Suppression.objects.get().type == "soft_bounce"


def test_an_unknown_kind_is_refused(workspace):
    with pytest.raises(ValueError):
        services.bounce_record(workspace, "x@example.com", "medium")
    assert not Bounce.objects.exists()


def test_a_whitelisted_address_is_recorded_and_suppressed_but_still_mailed(workspace):
    services.whitelist_add(workspace=workspace, email="boss@example.com")
    services.bounce_record(workspace, "boss@example.com", "hard")
    assert Suppression.objects.filter(email="boss@example.com").exists()
    assert not services.is_suppressed(workspace, "boss@example.com")
