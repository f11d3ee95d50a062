"""Campaigns end to end against a real SMTP server (aiosmtpd on loopback): who receives what,
exactly once; headers, personalisation and the text part; tracking links that work when
followed; one-click unsubscribe; faults (4xx, 5xx, a dropped connection, a dead worker)."""

import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from campaigns import pipeline, services
from campaigns.models import CampaignStatus, Message, MessageEvent, MessageStatus
from campaigns.tasks import housekeeping, send_batch
from contacts.models import Contact
from contacts.tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from deliverability.models import Bounce, Suppression
from deliverability.services import suppression_add, unsubscribe_record
from tests.smtp import SinkHandler, SmtpSink, free_port

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("verified_domains"),
]

HTML = """<html><body><h1>Hello {{ contact.first_name|default('friend') }}</h1>
<p>Read <a href="https://example.org/news?a=1&amp;b=2">the news</a>.</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""


@dataclass
class DroppingHandler(SinkHandler):
    """Takes the whole message, then hangs up instead of answering: whether it went out is
    unknown to the sender."""

    attempts: list[str] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        self.attempts.extend(envelope.rcpt_tos)
        server.transport.close()
        return "421 closing"


@pytest.fixture
def smtp(request):
    sink = SmtpSink()
    if getattr(request, "param", None) == "dropping":
        sink.handler = sink.controller.handler = DroppingHandler()
    with (
        sink,
        sink.as_email_backend(),
    ):
        yield sink


@pytest.fixture
def audience(workspace):
    newsletter = ContactListFactory(workspace=workspace, name="Newsletter")
    people = {
        name: ContactFactory(
            workspace=workspace, email=f"{name}@example.com", first_name=name.title()
        )
        for name in ["ann", "bob", "cy", "dee", "eve", "fay"]
    }
    for contact in people.values():
        ListMembershipFactory(contact=contact, contact_list=newsletter)
    unsubscribe_record(workspace=workspace, email="cy@example.com", source="api")
    suppression_add(workspace=workspace, email="DEE@example.com", type="hard_bounce")
    Contact.objects.filter(pk=people["eve"].pk).update(archived_at=timezone.now())
    return newsletter, people


def make_campaign(workspace, newsletter, **extra):
    fields = {
        "name": "June news",
        "subject": "News for {{ contact.first_name }}",
        "html": HTML,
        "from_email": "news@acme.io",
        "from_name": "Acme",
        "audience": {"lists": [str(newsletter.id)]},
    }
    return services.campaign_create(workspace=workspace, **(fields | extra))


def header(message, name: str) -> str:
    """A received header unfolded (a long List-Unsubscribe is folded onto the next line)."""
    return re.sub(r"\r?\n[ \t]+", " ", message[name]).strip()


def test_each_eligible_recipient_gets_exactly_one_message(workspace, audience, smtp):
    newsletter, people = audience
    campaign = make_campaign(workspace, newsletter)
    assert services.recipients_count(campaign) == 3
    services.campaign_send(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    received = sorted(r.recipients[0] for r in smtp.received)
    assert received == ["ann@example.com", "bob@example.com", "fay@example.com"]
    assert Message.objects.filter(campaign=campaign, status=MessageStatus.SENT).count() == 3
    send_batch(str(campaign.pk))  # a redelivered task changes nothing
    assert len(smtp.received) == 3


def test_messages_are_personalised_with_headers_and_a_text_part(workspace, audience, smtp):
    newsletter, _ = audience
    services.campaign_send(campaign=make_campaign(workspace, newsletter))
    mail = smtp.handler.to("ann@example.com")[0]
    message = mail.message
    assert message["Subject"] == "News for Ann"
    assert message["From"] == "Acme <news@acme.io>"
    assert message["Message-ID"].endswith("@acme.io>")
    assert header(message, "List-Unsubscribe").startswith("<http://testserver/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Hello Ann" in mail.part("text/html")
    text = mail.part("text/plain")
    assert "Hello Ann" in text and "<h1>" not in text


def test_tracking_links_work_when_followed(client, workspace, audience, smtp):
    newsletter, people = audience
    campaign = make_campaign(workspace, newsletter)
    services.campaign_send(campaign=campaign)
    html = smtp.handler.to("ann@example.com")[0].part("text/html")
    click_url = re.search(r'href="(http://testserver/t/c/[^"]+)"', html).group(1)
    pixel_url = re.search(r'src="(http://testserver/t/o/[^"]+)"', html).group(1)
    Message.objects.filter(email="ann@example.com").update(
        sent_at=timezone.now() - timedelta(minutes=5)
    )
    browser = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36"
    )
    response = client.get(click_url.replace("http://testserver", ""), HTTP_USER_AGENT=browser)
    assert response.status_code == 302
    # The first-party visitor id for the site snippet rides along (campaigns.tracking).
    assert response["Location"].startswith("https://example.org/news?a=1&b=2&mc_id=")
    pixel = client.get(pixel_url.replace("http://testserver", ""), HTTP_USER_AGENT=browser)
    assert pixel.status_code == 200 and pixel["Content-Type"] == "image/gif"
    events = MessageEvent.objects.filter(message__email="ann@example.com")
    assert set(events.values_list("type", flat=True)) >= {"sent", "clicked", "opened"}
    click = events.get(type="clicked")
    assert not click.is_machine and click.device_type == "desktop" and click.client == "Chrome"


def test_a_forged_or_altered_token_is_not_found(client, workspace, audience, smtp):
    newsletter, _ = audience
    services.campaign_send(campaign=make_campaign(workspace, newsletter))
    html = smtp.handler.to("ann@example.com")[0].part("text/html")
    token = re.search(r"/t/c/([^\"]+)", html).group(1)
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert client.get(f"/t/c/{altered}").status_code == 404
    assert client.get("/t/c/not-a-token").status_code == 404
    assert client.get(f"/t/o/{token}").status_code == 404  # a click token is no open token
    assert client.get("/t/c/x?url=https://evil.example").status_code == 404


def test_one_click_unsubscribe_from_the_received_header(client, workspace, audience, smtp):
    newsletter, _ = audience
    services.campaign_send(campaign=make_campaign(workspace, newsletter))
    received = smtp.handler.to("bob@example.com")[0].message
    path = header(received, "List-Unsubscribe").strip("<>").replace("http://testserver", "")
    assert client.get(path).status_code == 200  # a GET shows the page and changes nothing
    assert Contact.objects.get(email="bob@example.com").status == "active"
    response = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert client.post(path, {"List-Unsubscribe": "One-Click"}).status_code == 200  # replay
    assert Contact.objects.get(email="bob@example.com").status == "unsubscribed"
    smtp.received.clear()
    services.campaign_send(campaign=make_campaign(workspace, newsletter, name="July"))
    assert sorted(r.recipients[0] for r in smtp.received) == ["ann@example.com", "fay@example.com"]


def test_temporary_failures_are_retried_and_permanent_ones_bounce(workspace, audience, smtp):
    newsletter, _ = audience
    # A mailbox's own 4xx: retried for ann alone. (A throttling reply would hold the rest of
    # example.com too: test_throttling.py.)
    smtp.handler.fail_once["ann@example.com"] = "450 4.2.1 Mailbox busy, try later"
    smtp.handler.replies["bob@example.com"] = "550 5.1.1 No such user"
    campaign = make_campaign(workspace, newsletter)
    services.campaign_send(campaign=campaign)
    ann = Message.objects.get(campaign=campaign, email="ann@example.com")
    assert ann.status == MessageStatus.DEFERRED and "450" in ann.error
    bob = Message.objects.get(campaign=campaign, email="bob@example.com")
    assert bob.status == MessageStatus.BOUNCED
    assert Suppression.objects.filter(email="bob@example.com", type="hard_bounce").exists()
    assert Contact.objects.get(email="bob@example.com").status == "bounced"
    bounce = Bounce.objects.get(email="bob@example.com")
    assert (bounce.kind, bounce.message_id) == ("hard", bob.pk) and "550" in bounce.diagnostic
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING  # ann is still to be sent
    Message.objects.filter(pk=ann.pk).update(next_attempt_at=timezone.now())
    housekeeping()
    assert Message.objects.get(pk=ann.pk).status == MessageStatus.SENT
    assert len(smtp.handler.to("ann@example.com")) == 1
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT


def test_a_recipient_refused_with_4xx_until_the_last_try_is_one_soft_bounce(
    workspace, audience, smtp
):
    newsletter, _ = audience
    smtp.handler.replies["ann@example.com"] = "452 4.2.2 Mailbox full"
    campaign = make_campaign(workspace, newsletter)
    services.campaign_send(campaign=campaign)
    ann = Message.objects.get(campaign=campaign, email="ann@example.com")
    for _ in range(pipeline.MAX_ATTEMPTS):
        if Message.objects.get(pk=ann.pk).status != MessageStatus.DEFERRED:
            break
        Message.objects.filter(pk=ann.pk).update(next_attempt_at=timezone.now())
        housekeeping()

    assert Message.objects.get(pk=ann.pk).status == MessageStatus.FAILED
    bounce = Bounce.objects.get(email="ann@example.com")
    assert bounce.kind == "soft" and "452" in bounce.diagnostic
    assert not Suppression.objects.filter(email="ann@example.com").exists()  # 1 of 3


def test_a_dead_worker_leaves_interrupted_messages_and_no_duplicates(workspace, audience, smtp):
    newsletter, _ = audience
    campaign = make_campaign(workspace, newsletter)
    pipeline.snapshot(campaign)
    campaign.status = CampaignStatus.SENDING
    campaign.save()
    stuck = Message.objects.filter(campaign=campaign).order_by("id").first()
    assert pipeline.mark_sending(stuck.id)  # the worker died right after this
    Message.objects.filter(pk=stuck.pk).update(sending_at=timezone.now() - timedelta(hours=1))
    send_batch(str(campaign.pk))
    assert pipeline.sweep_interrupted() == 1
    assert Message.objects.get(pk=stuck.pk).status == MessageStatus.INTERRUPTED
    assert not smtp.handler.to(stuck.email)
    assert len(smtp.received) == 2
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT


def test_a_server_that_is_gone_sends_nothing_then_each_message_once(workspace, audience, smtp):
    newsletter, _ = audience
    campaign = make_campaign(workspace, newsletter)
    with override_settings(EMAIL_PORT=free_port()):  # nothing listens there any more
        services.campaign_send(campaign=campaign)
    # Nothing could have left: the messages wait in the queue, none interrupted or failed.
    statuses = set(Message.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses == {MessageStatus.QUEUED}
    housekeeping()  # the server answers again
    received = sorted(r.recipients[0] for r in smtp.received)
    assert received == ["ann@example.com", "bob@example.com", "fay@example.com"]


@pytest.mark.parametrize("smtp", ["dropping"], indirect=True)
def test_a_dropped_connection_does_not_resend(workspace, audience, smtp):
    newsletter, _ = audience
    campaign = make_campaign(workspace, newsletter)
    services.campaign_send(campaign=campaign)
    statuses = set(Message.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert MessageStatus.SENT not in statuses
    assert statuses <= {MessageStatus.INTERRUPTED, MessageStatus.QUEUED, MessageStatus.DEFERRED}
    housekeeping()
    send_batch(str(campaign.pk))
    attempts = smtp.handler.attempts
    assert attempts and len(attempts) == len(set(attempts))  # nobody got it twice
    interrupted = Message.objects.filter(campaign=campaign, status=MessageStatus.INTERRUPTED)
    assert set(interrupted.values_list("email", flat=True)) >= set(attempts)


def test_pause_resume_and_cancel(workspace, audience, smtp):
    newsletter, _ = audience
    campaign = make_campaign(workspace, newsletter)
    pipeline.snapshot(campaign)
    campaign.status = CampaignStatus.SENDING
    campaign.save()
    services.campaign_pause(campaign=campaign)
    assert send_batch(str(campaign.pk)) == 0
    assert not smtp.received
    services.campaign_resume(campaign=campaign)
    send_batch(str(campaign.pk))
    assert len(smtp.received) == 3
    with pytest.raises(services.CampaignStateError):
        services.campaign_pause(campaign=campaign)


def test_a_scheduled_campaign_starts_and_a_long_missed_one_waits(workspace, audience, smtp):
    newsletter, _ = audience
    due = make_campaign(workspace, newsletter, name="Due")
    missed = make_campaign(workspace, newsletter, name="Missed")
    from campaigns.models import Campaign

    Campaign.objects.filter(pk=due.pk).update(status="scheduled", send_at=timezone.now())
    Campaign.objects.filter(pk=missed.pk).update(
        status="scheduled", send_at=timezone.now() - timedelta(days=3)
    )
    housekeeping()
    assert Campaign.objects.get(pk=due.pk).status == CampaignStatus.SENT
    missed = Campaign.objects.get(pk=missed.pk)
    # Snapshotted but paused: resuming it is the confirmation (tests/test_faults_workers.py).
    assert missed.status == CampaignStatus.PAUSED
    assert missed.status_reason.endswith("passed 72 hours ago; resume to send.")


def _sending_campaign(workspace, size: int, name: str):
    """A campaign in ``sending`` with ``size`` snapshotted recipients, none sent yet."""
    contact_list = ContactListFactory(workspace=workspace, name=name)
    for n in range(size):
        contact = ContactFactory(workspace=workspace, email=f"{name}{n}@example.com")
        ListMembershipFactory(contact=contact, contact_list=contact_list)
    campaign = make_campaign(workspace, contact_list, name=name)
    pipeline.snapshot(campaign)
    campaign.status = CampaignStatus.SENDING
    campaign.save()
    return campaign


def _queries_of_one_batch(campaign) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        send_batch(str(campaign.pk))
    statuses = Message.objects.filter(campaign=campaign).values_list("status", flat=True)
    assert set(statuses) == {MessageStatus.SENT}
    return len(queries)


def test_the_statements_of_a_batch_do_not_grow_with_its_size(workspace, smtp, monkeypatch):
    monkeypatch.setattr(pipeline, "SEND_CHUNK", 50)  # one chunk per batch here
    _queries_of_one_batch(_sending_campaign(workspace, 2, "warm"))  # scoring settings …
    few = _queries_of_one_batch(_sending_campaign(workspace, 3, "few"))
    many = _queries_of_one_batch(_sending_campaign(workspace, 30, "many"))
    assert len(smtp.received) == 2 + 3 + 30
    assert many == few
    contact = Contact.objects.get(email="many7@example.com")
    assert contact.sends == 1 and contact.last_sent_at is not None
    assert MessageEvent.objects.filter(type="sent", message__campaign__name="many").count() == 30


def test_chunks_add_a_fixed_number_of_statements(workspace, smtp, monkeypatch):
    monkeypatch.setattr(pipeline, "SEND_CHUNK", 5)
    _queries_of_one_batch(_sending_campaign(workspace, 2, "warm"))
    two = _queries_of_one_batch(_sending_campaign(workspace, 10, "two"))
    four = _queries_of_one_batch(_sending_campaign(workspace, 20, "four"))
    six = _queries_of_one_batch(_sending_campaign(workspace, 30, "six"))
    assert six - four == four - two


def test_a_campaign_budget_sends_what_it_allows_and_keeps_the_rest(workspace, audience, smtp):
    newsletter, _ = audience
    campaign = make_campaign(workspace, newsletter, rate_per_minute=2)
    services.campaign_send(campaign=campaign)
    statuses = sorted(Message.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses == [MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.SENT]
    assert len(smtp.received) == 2
    assert send_batch(str(campaign.pk)) == 0  # the minute's budget is spent
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING


def test_an_unexpected_error_mid_chunk_keeps_what_is_known(workspace, audience, smtp, monkeypatch):
    from campaigns.transport import SmtpTransport

    newsletter, _ = audience
    campaign = make_campaign(workspace, newsletter)
    pipeline.snapshot(campaign)
    campaign.status = CampaignStatus.SENDING
    campaign.save()
    real_deliver, calls = SmtpTransport.deliver, []

    def deliver(self, outgoing):
        calls.append(outgoing.message.to[0])
        if len(calls) == 2:
            raise UnicodeError("something nobody expected")
        return real_deliver(self, outgoing)

    monkeypatch.setattr(SmtpTransport, "deliver", deliver)
    with pytest.raises(UnicodeError):
        send_batch(str(campaign.pk))
    status = dict(Message.objects.filter(campaign=campaign).values_list("email", "status"))
    assert status[calls[0]] == MessageStatus.SENT  # recorded although the chunk broke off
    assert status[calls[1]] == MessageStatus.SENDING  # unknown: the sweeper reports it
    untouched = set(status) - set(calls)
    assert {status[email] for email in untouched} == {MessageStatus.QUEUED}  # never handed off
    monkeypatch.setattr(SmtpTransport, "deliver", real_deliver)
    send_batch(str(campaign.pk))
    assert sorted(r.recipients[0] for r in smtp.received) == sorted([calls[0], *untouched])


def test_snapshots_make_distinct_time_ordered_ids(workspace, smtp):
    from django.db import connection

    first = _sending_campaign(workspace, 5, "first")
    second = _sending_campaign(workspace, 5, "second")
    ids = list(Message.objects.filter(campaign__in=[first, second]).values_list("id", flat=True))
    assert len(set(ids)) == 10
    if connection.vendor == "postgresql":
        assert {pk.version for pk in ids} == {7}
        assert max(m.id for m in first.messages.all()) < min(m.id for m in second.messages.all())
