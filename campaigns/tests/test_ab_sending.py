"""A/B tests sent end to end into a real SMTP server (aiosmtpd on loopback), with the real batch
and housekeeping code (tasks run synchronously): each variant's recipients get that variant, the
rest gets the winner — by human opens followed through the tracking pixel, or picked by a
person — and nobody gets a second message; whoever opted out meanwhile gets nothing."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import ab, services
from campaigns.models import AbTest, CampaignStatus, Message, MessageEvent, MessageStatus
from campaigns.tasks import housekeeping
from campaigns.tests.ab_factories import ab_campaign, audience_list
from deliverability.services import suppression_add, unsubscribe_record
from mailcrm.models import Event
from tests.smtp import SmtpSink

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("verified_domains"),
]

SIZE = 40
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


@pytest.fixture
def smtp():
    sink = SmtpSink()
    with sink, sink.as_email_backend():
        yield sink


@pytest.fixture
def people(workspace):
    return audience_list(workspace, SIZE)


def received_subjects(smtp) -> dict[str, list[str]]:
    """recipient → subjects received, in order."""
    out: dict[str, list[str]] = {}
    for mail in smtp.received:
        out.setdefault(mail.recipients[0].lower(), []).append(mail.message["Subject"])
    return out


def emails(campaign, **filters) -> set[str]:
    return set(Message.objects.filter(campaign=campaign, **filters).values_list("email", flat=True))


def open_as_a_person(client, smtp, address: str) -> None:
    """Follow the open pixel of the mail ``address`` received, as a desktop browser would,
    a few minutes after it was sent (an instant open is a machine's)."""
    html = smtp.handler.to(address)[0].part("text/html")
    pixel = re.search(r'src="http://testserver(/t/o/[^"]+)"', html).group(1)
    Message.objects.filter(email=address).update(sent_at=timezone.now() - timedelta(minutes=5))
    assert client.get(pixel, HTTP_USER_AGENT=BROWSER).status_code == 200


def time_is_up(campaign) -> None:
    """Move the test's clock: its decision time has passed."""
    AbTest.objects.filter(campaign=campaign).update(decide_at=timezone.now() - timedelta(minutes=1))


def test_each_variant_recipient_gets_its_variant_and_the_rest_waits(workspace, people, smtp):
    campaign = ab_campaign(workspace, people, share=50)
    services.campaign_send(campaign=campaign)
    a, b = emails(campaign, ab_variant=0), emails(campaign, ab_variant=1)
    rest = emails(campaign, status=MessageStatus.HELD)
    assert a and b and rest
    got = received_subjects(smtp)
    assert set(got) == a | b  # the rest received nothing yet
    assert all(got[address] == ["Subject A"] for address in a)
    assert all(got[address] == ["Subject B"] for address in b)
    from_b = smtp.handler.to(next(iter(b)))[0].message["From"]
    assert from_b == "Acme B <news@acme.io>"
    assert smtp.handler.to(next(iter(a)))[0].message["From"] == "Acme <news@acme.io>"
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING  # the rest is still to go
    housekeeping()  # before its time, nothing is decided
    assert AbTest.objects.get(campaign=campaign).winner is None
    assert len(smtp.received) == len(a | b)


def test_the_winner_by_human_opens_goes_to_the_rest_and_only_to_them(
    client, workspace, people, smtp
):
    campaign = ab_campaign(workspace, people, share=50, criterion="open")
    services.campaign_send(campaign=campaign)
    a, b = emails(campaign, ab_variant=0), emails(campaign, ab_variant=1)
    rest = emails(campaign, status=MessageStatus.HELD)
    # Every B recipient opens as a person. The test's split comes from hashes of random ids, so
    # its group sizes vary from run to run: any rate short of 100 % for B could lose to A's.
    for address in sorted(b):
        open_as_a_person(client, smtp, address)
    # A privacy proxy opens every A: counted, A would tie with B and win as the first variant.
    for message in Message.objects.filter(campaign=campaign, ab_variant=0):
        MessageEvent.objects.create(
            workspace=workspace,
            message=message,
            type="opened",
            occurred_at=timezone.now(),
            is_machine=True,
        )
    time_is_up(campaign)
    housekeeping()
    test = AbTest.objects.get(campaign=campaign)
    assert test.winner == 1 and "open" in test.decided_by
    got = received_subjects(smtp)
    assert all(got[address] == ["Subject B"] for address in rest)
    # Test recipients got nothing more: one message each, their own variant.
    assert all(got[address] == ["Subject A"] for address in a)
    assert all(got[address] == ["Subject B"] for address in b)
    assert len(smtp.received) == SIZE
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    event = Event.objects.get(type=ab.WINNER_SELECTED)
    assert event.subject_id == campaign.pk and event.data["winner"] == "B"
    assert event.data["released"] == len(rest)
    # Deciding again changes nothing and sends nothing.
    housekeeping()
    assert len(smtp.received) == SIZE
    assert Event.objects.filter(type=ab.WINNER_SELECTED).count() == 1


def test_the_winner_by_human_clicks(client, workspace, people, smtp):
    campaign = ab_campaign(workspace, people, share=50, criterion="click")
    services.campaign_send(campaign=campaign)
    a = sorted(emails(campaign, ab_variant=0))
    html = smtp.handler.to(a[0])[0].part("text/html")
    click = re.search(r'href="http://testserver(/t/c/[^"]+)"', html).group(1)
    Message.objects.filter(email=a[0]).update(sent_at=timezone.now() - timedelta(minutes=5))
    assert client.get(click, HTTP_USER_AGENT=BROWSER).status_code == 302
    time_is_up(campaign)
    housekeeping()
    assert AbTest.objects.get(campaign=campaign).winner == 0
    rest = emails(campaign, ab_variant__isnull=True)
    got = received_subjects(smtp)
    assert rest and all(got[address] == ["Subject A"] for address in rest)


def test_a_manual_test_waits_for_a_pick(api, workspace, people, smtp):
    campaign = ab_campaign(workspace, people, share=50, criterion="manual")
    services.campaign_send(campaign=campaign)
    tested = len(smtp.received)
    time_is_up(campaign)
    housekeeping()  # a manual test is never decided by the clock
    assert AbTest.objects.get(campaign=campaign).winner is None
    assert len(smtp.received) == tested
    response = api.post(f"/api/v1/campaigns/{campaign.pk}/ab/winner", {"variant": "A"})
    assert response.status_code == 200, response.json()
    assert response.json()["winner"] == "A"
    assert "picked" in response.json()["decided_by"]
    rest = emails(campaign, ab_variant__isnull=True)
    got = received_subjects(smtp)
    assert all(got[address] == ["Subject A"] for address in rest)
    assert len(smtp.received) == SIZE
    # A second pick is refused: the rest has its winner.
    again = api.post(f"/api/v1/campaigns/{campaign.pk}/ab/winner", {"variant": "B"})
    assert again.status_code == 409


def test_who_opted_out_meanwhile_gets_nothing_from_the_winner_send(workspace, people, smtp):
    campaign = ab_campaign(workspace, people, share=50, criterion="manual")
    services.campaign_send(campaign=campaign)
    rest = sorted(emails(campaign, status=MessageStatus.HELD))
    unsubscribe_record(workspace=workspace, email=rest[0], source="api")
    suppression_add(workspace=workspace, email=rest[1], type="hard_bounce")
    ab.ab_pick_winner(campaign=campaign, variant="B", actor="a test")
    got = received_subjects(smtp)
    assert rest[0] not in got and rest[1] not in got
    assert all(got[address] == ["Subject B"] for address in rest[2:])
    suppressed = Message.objects.filter(campaign=campaign, email__in=rest[:2])
    assert set(suppressed.values_list("status", flat=True)) == {MessageStatus.SUPPRESSED}


def test_a_variant_with_its_own_send_time_goes_out_then(workspace, people, smtp):
    later = timezone.now() + timedelta(hours=2)
    campaign = ab_campaign(
        workspace,
        people,
        share=100,
        variants=[{"subject": "Morning"}, {"subject": "Afternoon", "send_at": later}],
    )
    services.campaign_send(campaign=campaign)
    morning, afternoon = emails(campaign, ab_variant=0), emails(campaign, ab_variant=1)
    assert set(received_subjects(smtp)) == morning
    housekeeping()  # not yet its time
    assert set(received_subjects(smtp)) == morning
    # Time moves: the afternoon variant is due.
    Message.objects.filter(campaign=campaign, status=MessageStatus.HELD).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    housekeeping()
    got = received_subjects(smtp)
    assert set(got) == morning | afternoon
    assert all(got[address] == ["Afternoon"] for address in afternoon)


def test_cancelling_drops_the_held_rest(workspace, people, smtp):
    campaign = ab_campaign(workspace, people, share=50)
    services.campaign_send(campaign=campaign)
    sent = len(smtp.received)
    services.campaign_cancel(campaign=campaign)
    assert not Message.objects.filter(campaign=campaign, status=MessageStatus.HELD).exists()
    with pytest.raises(services.CampaignStateError):
        ab.ab_pick_winner(campaign=campaign, variant="A")
    assert len(smtp.received) == sent


def test_a_decided_rest_whose_release_was_lost_goes_out_with_housekeeping(
    workspace, people, smtp, monkeypatch
):
    monkeypatch.setattr(ab, "RELEASE_CHUNK", 3)  # several chunks
    campaign = ab_campaign(workspace, people, share=50, criterion="manual")
    services.campaign_send(campaign=campaign)
    rest = emails(campaign, status=MessageStatus.HELD)
    # Decided, but the task that releases the rest never ran (a worker lost it).
    AbTest.objects.filter(campaign=campaign).update(winner=1, decided_by="picked")
    housekeeping()
    got = received_subjects(smtp)
    assert all(got[address] == ["Subject B"] for address in rest)
    assert len(smtp.received) == SIZE
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
