"""Circuit breakers against a real SMTP server: a campaign pauses itself when the server rejects
more than the workspace's bounce threshold (5xx → hard bounces), with the reason and a
``campaign.paused`` event, and resumes to only those not yet sent; complaints arriving later
through the inbound path (a feedback loop's report, stored and applied like an ESP's event)
pause it at the complaint threshold; another workspace's settings never apply."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns import breakers, pipeline, services
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.sending import send_batch
from campaigns.tests.test_throttling import sending_campaign
from deliverability.models import DeliverabilitySettings, ThrottleState
from mailcrm.models import Event
from tests.smtp import SmtpSink
from webhooks.inbound import apply_pending, store_parsed

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("verified_domains"),
]


@pytest.fixture
def smtp():
    with SmtpSink() as sink, sink.as_email_backend():
        yield sink


def good(n):
    return [f"reader{i}@good.example" for i in range(n)]


def bad(n):
    return [f"gone{i}@bad.example" for i in range(n)]


def drain(campaign) -> None:
    for _ in range(50):
        if not send_batch(str(campaign.pk)):
            return


def test_a_campaign_pauses_past_the_bounce_threshold_and_resumes_to_the_rest(
    workspace, smtp, monkeypatch
):
    monkeypatch.setattr(pipeline, "SEND_CHUNK", 10)
    smtp.refuse("@bad.example", "550 5.1.1 No such user")
    campaign = sending_campaign(workspace, good(40) + bad(20))
    drain(campaign)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert "bounce" in campaign.status_reason and "5" in campaign.status_reason
    event = Event.objects.get(workspace=workspace, type=breakers.CAMPAIGN_PAUSED)
    assert event.subject_id == campaign.pk and event.data["reason"] == breakers.BOUNCE_RATE
    assert event.data["count"] > event.data["threshold"] * breakers.MIN_SAMPLE / 100
    waiting = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
    assert waiting.exists()  # it stopped before the end
    before = {m.email for m in Message.objects.filter(campaign=campaign, status="sent")}

    smtp.accept_all()
    services.campaign_resume(campaign=campaign)
    drain(campaign)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    received = [r.recipients[0] for r in smtp.received]
    assert len(received) == len(set(received))  # nobody twice
    assert before <= set(received)
    assert not Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).exists()


def test_bounces_under_the_threshold_do_not_pause(workspace, smtp):
    smtp.refuse("@bad.example", "550 5.1.1 No such user")
    campaign = sending_campaign(workspace, good(30) + bad(5))  # 5 of at least 100: 5 %
    drain(campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    assert not Event.objects.filter(type=breakers.CAMPAIGN_PAUSED).exists()


def test_the_workspace_threshold_applies_and_not_another_workspaces(workspace, outsider, smtp):
    DeliverabilitySettings.objects.create(workspace=workspace, bounce_rate_threshold=0)  # off
    DeliverabilitySettings.objects.create(
        workspace=outsider.workspace, bounce_rate_threshold=Decimal("0.5")
    )
    smtp.refuse("@bad.example", "550 5.1.1 No such user")
    campaign = sending_campaign(workspace, good(10) + bad(10))
    drain(campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT


def _sent_and_still_sending(workspace, smtp) -> Campaign:
    ThrottleState.objects.create(
        backend="server",
        domain="held.example",
        rate_per_minute=1,
        ceiling=240,
        held_until=timezone.now() + timedelta(hours=1),
    )
    later = [f"later{i}@held.example" for i in range(10)]
    campaign = sending_campaign(workspace, good(10) + later)
    drain(campaign)  # good.example goes out, held.example waits
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING
    return campaign


def complain(message: Message, n: int = 0) -> None:
    """A feedback loop's complaint about ``message``, as the bounce mailbox stores it."""
    store_parsed(
        source="arf",
        event_id=f"fbl-{message.pk}-{n}",
        event_type="complained",
        workspace_id=message.workspace_id,
        recipient=message.email,
        provider_message_id=message.message_id,
        occurred_at=timezone.now(),
        description="abuse report from a mailbox provider",
    )
    apply_pending()


def test_a_complaint_through_the_inbound_path_pauses_past_the_threshold(workspace, smtp):
    campaign = _sent_and_still_sending(workspace, smtp)
    sent = Message.objects.filter(campaign=campaign, status=MessageStatus.SENT).first()
    complain(sent)  # 1 in at least 100 sends: 1 % > 0.3 %

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED and "complaint" in campaign.status_reason
    event = Event.objects.get(type=breakers.CAMPAIGN_PAUSED)
    assert event.data["reason"] == breakers.COMPLAINT_RATE and event.data["count"] == 1


def test_complaints_under_a_higher_threshold_do_not_pause(workspace, outsider, smtp):
    DeliverabilitySettings.objects.create(workspace=workspace, complaint_rate_threshold=2)
    DeliverabilitySettings.objects.create(
        workspace=outsider.workspace, complaint_rate_threshold=Decimal("0.1")
    )
    campaign = _sent_and_still_sending(workspace, smtp)
    sent = Message.objects.filter(campaign=campaign, status=MessageStatus.SENT).first()
    complain(sent)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING
    assert not Event.objects.filter(type=breakers.CAMPAIGN_PAUSED).exists()


def test_a_paused_campaign_is_not_paused_twice(workspace, smtp):
    campaign = _sent_and_still_sending(workspace, smtp)
    services.campaign_pause(campaign=campaign)
    sent = Message.objects.filter(campaign=campaign, status=MessageStatus.SENT).first()
    complain(sent)
    campaign.refresh_from_db()
    assert campaign.status_reason == "Paused by a user."
    assert not Event.objects.filter(type=breakers.CAMPAIGN_PAUSED).exists()
