"""The A/B test journey in a real browser (chromium over playwright, against a live server),
mail through a real SMTP server on loopback: open a draft → set up an A/B test of two subjects
(manual pick) → send → the test share receives its variants, the rest nothing → the report
shows the variants → pick B → the rest receives B, and nobody a second message."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.utils import timezone

from campaigns import services
from campaigns.models import AbTest, Message, MessageStatus
from campaigns.tests.ab_factories import HTML, audience_list
from deliverability.models import SendingDomain
from tests.smtp import SmtpSink

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

SIZE = 20


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


@pytest.fixture
def sink(live_server) -> Iterator[SmtpSink]:
    cache.clear()
    with SmtpSink() as smtp, smtp.as_email_backend(public_base_url=live_server.url):
        yield smtp


def test_set_up_send_and_pick_the_winner_of_an_ab_test(sign_in, owner, workspace, sink):
    SendingDomain.objects.create(
        workspace=workspace, domain="acme.example", is_verified=True, verified_at=timezone.now()
    )
    campaign = services.campaign_create(
        workspace=workspace,
        name="Spring sale",
        subject="Base subject",
        html=HTML,
        from_email="news@acme.example",
        audience={"lists": [str(audience_list(workspace, SIZE).id)]},
    )
    page = sign_in(owner, workspace)

    # Set up the test from the campaign's page.
    page.goto(f"/campaigns/{campaign.pk}/")
    page.get_by_role("button", name="A/B test").click()
    expect()(page.get_by_role("heading", name="A/B test: Spring sale")).to_be_visible()
    page.get_by_label("Test share (%)").fill("50")
    page.get_by_label("Winner by").select_option("manual")
    page.get_by_label("A: subject").fill("Spring sale: 20% off")
    page.get_by_label("B: subject").fill("Your spring discount inside")
    page.get_by_role("button", name="Save A/B test").click()
    expect()(page.get_by_text("Saved the A/B test of Spring sale.")).to_be_visible()
    assert AbTest.objects.get(campaign=campaign).share == 50

    # Send: only the test share receives mail, each its variant.
    page.locator("#send-now").click()
    expect()(page.locator("#campaign-status")).to_have_text("Sending")
    tested = Message.objects.filter(campaign=campaign, ab_variant__isnull=False)
    rest = Message.objects.filter(campaign=campaign, status=MessageStatus.HELD)
    assert tested.count() + rest.count() == SIZE and rest.count()
    assert len(sink.received) == tested.count()
    subjects = {m.recipients[0]: m.message["Subject"] for m in sink.received}
    for message in tested:
        expected = (
            "Spring sale: 20% off" if message.ab_variant == 0 else "Your spring discount inside"
        )
        assert subjects[message.email] == expected

    # The report shows the variants; pick B.
    page.goto(f"/campaigns/{campaign.pk}/report/")
    report = page.locator("#ab-report")
    expect()(report).to_contain_text("waiting for your pick")
    expect()(report.locator("tr[data-variant=B]")).to_contain_text("Your spring discount inside")
    report.get_by_role("button", name="Send B to the rest").click()
    expect()(page.get_by_text("Variant B won: it goes to the rest now.")).to_be_visible()
    expect()(page.locator("#ab-report")).to_contain_text("variant B won")

    # The rest received B; nobody got two messages.
    recipients = [m.recipients[0] for m in sink.received]
    assert len(recipients) == len(set(recipients)) == SIZE
    for message in rest:
        assert subjects.get(message.email) is None
    late = {m.recipients[0]: m.message["Subject"] for m in sink.received[tested.count() :]}
    assert set(late.values()) == {"Your spring discount inside"}
