"""A/B test statistics: the two-proportion z-test on known inputs, and the figures per variant
(human opens and clicks only, the rest apart from the test's samples)."""

import math

import pytest
from django.db import transaction
from django.utils import timezone

from campaigns import ab, pipeline
from campaigns.models import AbTest, EventType, Message, MessageEvent, MessageStatus
from campaigns.tests.ab_factories import ab_campaign, audience_list


def test_z_test_on_known_inputs():
    # 100 of 1,000 against 130 of 1,000: pooled 0.115, standard error 0.014267.
    result = ab.two_proportion_z(100, 1000, 130, 1000)
    assert result.z == pytest.approx(2.1027, abs=1e-4)
    assert result.p_value == pytest.approx(0.0355, abs=1e-4)
    assert result.significant
    # 45 of 100 against 60 of 100: pooled 0.525, z = 0.15 / 0.070622.
    textbook = ab.two_proportion_z(45, 100, 60, 100)
    assert textbook.z == pytest.approx(2.1240, abs=1e-4)
    assert textbook.p_value == pytest.approx(0.0337, abs=1e-4)
    # The sign says which way; the p-value does not.
    reverse = ab.two_proportion_z(130, 1000, 100, 1000)
    assert reverse.z == pytest.approx(-result.z) and reverse.p_value == result.p_value


def test_a_small_difference_is_not_significant():
    result = ab.two_proportion_z(50, 1000, 55, 1000)
    assert result.p_value > 0.05 and not result.significant
    assert result.as_dict() == {
        "z": round(result.z, 4),
        "p_value": round(result.p_value, 4),
        "significant": False,
    }


def test_no_sample_or_no_variation_tells_nothing():
    assert ab.two_proportion_z(0, 0, 5, 10) is None
    assert ab.two_proportion_z(3, 10, 0, 0) is None
    same = ab.two_proportion_z(0, 50, 0, 50)
    assert (same.z, same.p_value, same.significant) == (0.0, 1.0, False)
    everyone = ab.two_proportion_z(50, 50, 20, 20)
    assert everyone.p_value == 1.0


def test_the_p_value_is_two_sided_normal():
    result = ab.two_proportion_z(200, 1000, 250, 1000)
    assert result.p_value == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(result.z / 2**0.5))))


@pytest.mark.django_db
def test_figures_per_variant_count_people_only_and_keep_the_rest_apart(workspace):
    campaign = ab_campaign(workspace, audience_list(workspace, 60), share=50)
    with transaction.atomic():
        pipeline.snapshot(campaign)
        ab.assign(campaign)
    messages = Message.objects.filter(campaign=campaign)
    messages.filter(ab_variant__isnull=False).update(status=MessageStatus.SENT)
    a = list(messages.filter(ab_variant=0)[:4])
    b = list(messages.filter(ab_variant=1)[:2])
    now = timezone.now()

    def event(message, kind, machine=False):
        MessageEvent.objects.create(
            workspace=workspace,
            message=message,
            type=kind,
            occurred_at=now,
            is_machine=machine,
        )

    for message in a:
        event(message, EventType.OPENED)
        event(message, EventType.OPENED)  # a second open of the same message counts once
    event(a[0], EventType.CLICKED)
    for message in b:
        event(message, EventType.OPENED, machine=True)  # a privacy proxy
    event(b[0], EventType.OPENED)
    stats = ab.ab_stats(campaign)
    first, second = stats["variants"]
    sent_a = messages.filter(ab_variant=0).count()
    sent_b = messages.filter(ab_variant=1).count()
    assert (first["variant"], first["sent"], first["delivered"]) == ("A", sent_a, sent_a)
    assert (first["opened_human"], first["clicked_human"]) == (4, 1)
    assert first["open_rate"] == round(4 / sent_a, 4)
    assert (second["opened_human"], second["clicked_human"]) == (1, 0)
    assert first["tests"] == {"open": None, "click": None}  # A is the control
    expected = ab.two_proportion_z(4, sent_a, 1, sent_b).as_dict()
    assert second["tests"]["open"] == {"against": "A", **expected}
    rest = messages.filter(ab_variant__isnull=True).count()
    assert stats["ab"]["rest"] == {"recipients": rest, "held": rest, "sent": 0, "delivered": 0}
    # The leader by opens has the best human open rate: A's 4 opens against B's 1, over samples
    # whose sizes the hash of this run's campaign id decides (the rates decide, not the counts;
    # A on a tie).
    test = AbTest.objects.get(campaign=campaign)
    assert ab.leader(test)[0] == (0 if 4 / sent_a >= 1 / sent_b else 1)
