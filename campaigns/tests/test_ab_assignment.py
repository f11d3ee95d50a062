"""A/B test assignment at the snapshot: every recipient in exactly one variant or in the held
rest, the shares right within tolerance, the same answer however often it is computed, and
variants sent later held until their time."""

from collections import Counter
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from campaigns import ab, pipeline
from campaigns.models import AbTest, Campaign, CampaignStatus, Message, MessageStatus
from campaigns.tests.ab_factories import ab_campaign, audience_list

pytestmark = pytest.mark.django_db

SIZE = 400


def snapshot_and_assign(campaign, **kwargs):
    with transaction.atomic():
        pipeline.snapshot(campaign)
        return ab.assign(campaign, **kwargs)


def groups(campaign) -> dict:
    """contact id → variant position, or "held" for the rest."""
    return {
        contact_id: ("held" if status == MessageStatus.HELD else variant)
        for contact_id, variant, status in Message.objects.filter(campaign=campaign).values_list(
            "contact_id", "ab_variant", "status"
        )
    }


@pytest.fixture
def big_list(workspace):
    return audience_list(workspace, SIZE)


def test_each_recipient_is_in_one_variant_or_the_held_rest(workspace, big_list):
    campaign = ab_campaign(
        workspace,
        big_list,
        share=50,
        variants=[{"subject": "A"}, {"subject": "B"}, {"subject": "C"}],
    )
    snapshot_and_assign(campaign)
    messages = Message.objects.filter(campaign=campaign)
    assert messages.count() == SIZE
    assert messages.values("contact_id").distinct().count() == SIZE
    # Test recipients are queued with a variant; the rest held without one; nothing else.
    assert not messages.filter(status=MessageStatus.QUEUED, ab_variant__isnull=True).exists()
    assert not messages.filter(status=MessageStatus.HELD, ab_variant__isnull=False).exists()
    assert set(messages.values_list("status", flat=True)) == {"queued", "held"}


def test_shares_are_right_within_tolerance(workspace, big_list):
    campaign = ab_campaign(
        workspace,
        big_list,
        share=50,
        variants=[{"subject": "A"}, {"subject": "B"}, {"subject": "C"}],
    )
    snapshot_and_assign(campaign)
    counts = Counter(groups(campaign).values())
    tested = SIZE - counts["held"]
    # Binomial: 200 expected, standard deviation 10 — four of them either way.
    assert 160 <= tested <= 240, counts
    for position in (0, 1, 2):
        # About 67 each, standard deviation about 6.7 (of the tested) — four either way.
        assert 40 <= counts[position] <= 94, counts


def test_a_small_share_puts_few_in_the_test(workspace, big_list):
    campaign = ab_campaign(workspace, big_list, share=10)
    snapshot_and_assign(campaign)
    counts = Counter(groups(campaign).values())
    assert 16 <= SIZE - counts["held"] <= 64, counts
    assert counts[0] and counts[1]


def test_a_full_share_holds_nobody(workspace, big_list):
    campaign = ab_campaign(workspace, big_list, share=100)
    snapshot_and_assign(campaign)
    assert "held" not in groups(campaign).values()


def test_assignment_is_stable_when_computed_again(workspace, big_list):
    campaign = ab_campaign(workspace, big_list, share=30)
    snapshot_and_assign(campaign)
    first = groups(campaign)
    # A repeated snapshot adds nobody and changes nobody's variant.
    snapshot_and_assign(campaign)
    assert groups(campaign) == first
    # Computed from scratch (the snapshot made again), the same recipients land the same way.
    Message.objects.filter(campaign=campaign).delete()
    snapshot_and_assign(campaign)
    assert groups(campaign) == first
    # The snapshot assigns as it inserts; the UPDATE of assign() (for messages another path
    # inserted unassigned) hashes the same way.
    Message.objects.filter(campaign=campaign).update(status=MessageStatus.QUEUED, ab_variant=None)
    with transaction.atomic():
        ab.assign(campaign)
    assert groups(campaign) == first


def test_another_campaign_splits_the_same_audience_differently(workspace, big_list):
    first = ab_campaign(workspace, big_list, share=50)
    second = ab_campaign(workspace, big_list, share=50, name="Other")
    snapshot_and_assign(first)
    snapshot_and_assign(second)
    one, other = groups(first), groups(second)
    assert one.keys() == other.keys()
    assert sum(one[c] != other[c] for c in one) > SIZE // 10  # the hash includes the campaign


def test_a_variant_sent_later_is_held_until_its_time(workspace, big_list):
    later = timezone.now() + timedelta(hours=3)
    campaign = ab_campaign(
        workspace,
        big_list,
        share=50,
        wait_minutes=60,
        variants=[{"subject": "Now"}, {"subject": "Later", "send_at": later}],
    )
    test = snapshot_and_assign(campaign)
    messages = Message.objects.filter(campaign=campaign)
    b = messages.filter(ab_variant=1)
    assert b.exists() and not b.exclude(status=MessageStatus.HELD).exists()
    assert set(b.values_list("next_attempt_at", flat=True)) == {later}
    assert not messages.filter(ab_variant=0).exclude(status=MessageStatus.QUEUED).exists()
    # The test is decided a wait after the last variant went out.
    assert AbTest.objects.get(pk=test.pk).decide_at == later + timedelta(minutes=60)
    # Released at its time, not before (paused: the release starts no sending here).
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.PAUSED)
    assert ab.release_due_variants(later - timedelta(minutes=1)) == 0
    assert ab.release_due_variants(later) == b.count() > 0
    assert not messages.filter(ab_variant=1, status=MessageStatus.HELD).exists()
