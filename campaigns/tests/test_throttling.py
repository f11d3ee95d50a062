"""Adaptive throttling per recipient domain against a real SMTP server scripted to refuse (and
a real HTTP server playing an ESP that answers 429): a throttling reply backs the domain off
while other domains keep flowing, the backed-off domain gets its rate and the rest waits
(deferred, never failed), successes bring the rate back up, nobody gets a message twice, and
the campaign completes once the server accepts again. Time is moved by passing ``now``."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import pipeline, services, throttling
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, SendingBackend
from campaigns.senders import sending_backend_save
from campaigns.sending import send_batch
from contacts.tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from deliverability.models import ThrottleState
from tests.http_receiver import Reply
from tests.smtp import SmtpSink

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("verified_domains"),
]


@pytest.fixture
def smtp():
    with SmtpSink() as sink, sink.as_email_backend():
        yield sink


def sending_campaign(workspace, addresses, name="Spring", **extra) -> Campaign:
    contact_list = ContactListFactory(workspace=workspace, name=name)
    for address in addresses:
        contact = ContactFactory(workspace=workspace, email=address)
        ListMembershipFactory(contact=contact, contact_list=contact_list)
    campaign = services.campaign_create(
        workspace=workspace,
        name=name,
        subject="Hello",
        html="<p>Hello {{ contact.first_name }}</p>",
        from_email="news@acme.io",
        audience={"lists": [str(contact_list.id)]},
        **extra,
    )
    pipeline.snapshot(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    return campaign


def run(campaign, now) -> None:
    """What the minute's housekeeping and the chains do, at ``now``."""
    pipeline.requeue_due_retries(now=now)
    for _ in range(20):
        if not send_batch(str(campaign.pk), now=now):
            return


def statuses(campaign, domain: str) -> list[str]:
    return sorted(
        Message.objects.filter(campaign=campaign, email__endswith=domain).values_list(
            "status", flat=True
        )
    )


def gmail(n):
    return [f"user{i}@gmail.com" for i in range(n)]


def others(n):
    return [f"reader{i}@example.org" for i in range(n)]


def test_a_throttling_reply_backs_off_the_domain_while_others_keep_flowing(
    workspace, smtp, dashboard
):
    smtp.refuse("@gmail.com", "454 4.7.0 Throttling failure", times=1)
    mixed = [a for pair in zip(gmail(30), others(30), strict=True) for a in pair]
    campaign = sending_campaign(workspace, mixed)
    now = timezone.now()
    run(campaign, now)

    assert all(len(smtp.handler.to(a)) == 1 for a in others(30))
    assert not any(smtp.handler.to(a) for a in gmail(30))
    assert statuses(campaign, "@gmail.com") == [MessageStatus.DEFERRED] * 30
    refused = Message.objects.get(campaign=campaign, email=smtp.handler.refused[0][0])
    assert refused.attempts == 1 and "454" in refused.error
    held = Message.objects.filter(campaign=campaign, error__startswith="Throttled:")
    assert held.count() == 29 and set(held.values_list("attempts", flat=True)) == {0}
    state = ThrottleState.objects.get(backend="server", domain="gmail.com")
    assert state.rate_per_minute == throttling.FIRST_CEILING // 2
    assert state.held_until > now and "454" in state.last_reply
    assert not ThrottleState.objects.filter(domain="example.org").exists()
    shown = throttling.delivery_state(campaign, now=now)
    assert shown["throttled_domains"][0]["domain"] == "gmail.com"
    assert shown["throttled_domains"][0]["rate_per_minute"] == state.rate_per_minute
    assert shown["waiting"]["throttled"] == 29
    page = dashboard.get(f"/campaigns/{campaign.pk}/progress/").content.decode()
    assert 'data-domain="gmail.com"' in page and 'data-stat="waiting-throttled"' in page

    run(campaign, now + timedelta(minutes=3))  # past the hold and the refused one's retry

    assert all(len(smtp.handler.to(a)) == 1 for a in gmail(30) + others(30))
    assert len(smtp.received) == 60
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    state.refresh_from_db()
    assert state.rate_per_minute > throttling.FIRST_CEILING // 2  # 30 successes: one step up


def test_a_backed_off_domain_gets_its_rate_per_minute_and_the_rest_waits(workspace, smtp):
    ThrottleState.objects.create(
        backend="server", domain="gmail.com", rate_per_minute=5, ceiling=240
    )
    campaign = sending_campaign(workspace, gmail(12) + others(3))
    now = timezone.now().replace(second=0, microsecond=0)
    sent_per_minute = []
    for minute in range(4):
        before = len(smtp.received)
        run(campaign, now + timedelta(minutes=minute))
        sent_per_minute.append(len(smtp.received) - before)
    assert sent_per_minute == [5 + 3, 5, 2, 0]
    assert all(len(smtp.handler.to(a)) == 1 for a in gmail(12) + others(3))
    assert not Message.objects.filter(campaign=campaign, attempts__gt=1).exists()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    state = ThrottleState.objects.get(domain="gmail.com")
    assert (state.rate_per_minute, state.successes) == (5, 12)  # 20 earn a step


def test_successes_bring_the_rate_back_to_its_ceiling_and_the_state_goes(workspace, smtp):
    ThrottleState.objects.create(
        backend="server", domain="gmail.com", rate_per_minute=230, ceiling=240
    )
    campaign = sending_campaign(workspace, gmail(25))
    run(campaign, timezone.now())
    assert len(smtp.received) == 25
    assert not ThrottleState.objects.filter(domain="gmail.com").exists()


@pytest.mark.parametrize(
    "reply",
    [
        "421 4.7.0 Too many connections, slow down",
        "450 4.7.1 Too many messages from your host, slow down",
        "451 4.7.1 Temporarily deferred",
        "454 4.7.0 Throttling failure: Maximum sending rate exceeded",
    ],
)
def test_4xx_deferrals_and_throttling_replies_back_off(workspace, smtp, reply):
    smtp.refuse("@outlook.com", reply)
    smtp.refuse("@hotmail.com", reply)
    addresses = ["a@outlook.com", "b@hotmail.com", "c@outlook.com", "d@example.org"]
    campaign = sending_campaign(workspace, addresses)
    run(campaign, timezone.now())
    state = ThrottleState.objects.get(domain="outlook.com")  # hotmail.com is the same servers
    assert state.last_reply.startswith(reply[:3])
    assert statuses(campaign, "@example.org") == [MessageStatus.SENT]
    assert len(smtp.received) == 1
    assert len(smtp.handler.refused) == 1  # the rest of the domain was not tried
    assert statuses(campaign, "@outlook.com") == [MessageStatus.DEFERRED] * 2


def test_a_full_mailbox_is_retried_alone_without_backing_off_its_domain(workspace, smtp):
    smtp.refuse("full@example.org", "452 4.2.2 Mailbox full")
    campaign = sending_campaign(workspace, ["full@example.org", *others(4)])
    run(campaign, timezone.now())
    assert not ThrottleState.objects.exists()
    assert statuses(campaign, "@example.org").count(MessageStatus.SENT) == 4


def test_an_esp_answering_429_backs_off_the_domain(workspace, receiver):
    ok = json.dumps({"ErrorCode": 0, "Message": "OK", "MessageID": "pm-1"}).encode()
    headers = {"Content-Type": "application/json"}
    limited = json.dumps({"ErrorCode": 429, "Message": "Rate limit exceeded"}).encode()
    receiver.answers = [Reply(429, limited, headers)] + [Reply(200, ok, headers)] * 10
    backend = SendingBackend(workspace=workspace, name="pm", kind="esp", esp="postmark")
    sending_backend_save(
        backend,
        esp_settings={"server_token": "t", "api_url": f"http://127.0.0.1:{receiver.port}/"},
    )
    SendingBackend.objects.filter(pk=backend.pk).update(is_default=True)
    campaign = sending_campaign(workspace, gmail(4))
    now = timezone.now()
    run(campaign, now)
    state = ThrottleState.objects.get(backend=str(backend.pk), domain="gmail.com")
    assert state.workspace_id == workspace.pk and "429" in state.last_reply
    assert statuses(campaign, "@gmail.com") == [MessageStatus.DEFERRED] * 4
    assert len(receiver.requests) == 1

    run(campaign, now + timedelta(minutes=3))
    recipients = [json.loads(r.body)["To"] for r in receiver.requests[1:]]
    assert sorted(recipients) == sorted(gmail(4))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT


def test_another_workspaces_backend_has_its_own_states(workspace, outsider, smtp):
    backend = SendingBackend.objects.create(
        workspace=outsider.workspace, name="theirs", host="127.0.0.1", is_default=True
    )
    ThrottleState.objects.create(
        workspace=outsider.workspace,
        backend=str(backend.pk),
        domain="gmail.com",
        rate_per_minute=1,
        ceiling=240,
        held_until=timezone.now() + timedelta(hours=1),
    )
    campaign = sending_campaign(workspace, gmail(3))
    run(campaign, timezone.now())
    assert len(smtp.received) == 3
    assert throttling.delivery_state(campaign)["throttled_domains"] == []


@pytest.mark.parametrize(
    ("email", "group"),
    [
        ("a@GoogleMail.com", "gmail.com"),
        ("a@live.com", "outlook.com"),
        ("a@aol.com", "yahoo.com"),
        ("a@mail.acme.example", "acme.example"),
        ("a@shop.example.co.uk", "example.co.uk"),
        ("a@example.org", "example.org"),
    ],
)
def test_recipient_domains_are_grouped_by_the_servers_that_answer(email, group):
    assert throttling.domain_group(email) == group


def _statements_of_one_batch(campaign, now) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        send_batch(str(campaign.pk), now=now)
    assert not Message.objects.filter(campaign=campaign).exclude(status="sent").exists()
    return len(queries)


def test_a_backed_off_and_warming_batch_costs_statements_per_chunk_not_per_message(
    workspace, smtp, monkeypatch
):
    from deliverability.models import SendingDomain
    from deliverability.warmup import domain_set_warmup

    monkeypatch.setattr(pipeline, "SEND_CHUNK", 60)  # one chunk per batch here
    ThrottleState.objects.create(
        backend="server", domain="gmail.com", rate_per_minute=1000, ceiling=2000
    )
    domain = SendingDomain.objects.get(workspace=workspace, domain="acme.io")
    domain_set_warmup(domain=domain, target=100_000, daily_start=50_000)
    now = timezone.now()

    def campaign(name, n):
        addresses = [f"{name}{i}@gmail.com" for i in range(n)]
        addresses += [f"{name}{i}@example.org" for i in range(n)]
        return sending_campaign(workspace, addresses, name=name)

    _statements_of_one_batch(campaign("warm", 2), now)  # scoring settings …
    few = _statements_of_one_batch(campaign("few", 3), now)
    many = _statements_of_one_batch(campaign("many", 25), now)
    assert len(smtp.received) == 4 + 6 + 50
    assert many == few


def test_a_backed_off_domain_with_a_long_name_keeps_its_budget(workspace, smtp):
    long_domain = f"{'sub' * 20}.example.org"  # grouped as example.org: not backed off
    group = "x" * 80 + ".example"  # too long for a budget key as it is: hashed
    ThrottleState.objects.create(backend="server", domain=group, rate_per_minute=2, ceiling=240)
    campaign = sending_campaign(
        workspace, [f"r{i}@{group}" for i in range(3)] + [f"a@{long_domain}"]
    )
    now = timezone.now()
    run(campaign, now)
    assert len(smtp.received) == 3  # 2 of the long-named domain, and the other one
    run(campaign, now + timedelta(minutes=1))
    assert len(smtp.received) == 4


def test_housekeeping_forgets_old_budgets_and_untouched_states(workspace):
    from campaigns.models import ThrottleWindow

    now = timezone.now()
    minute, day = int(now.timestamp() // 60), now.date().toordinal()
    ThrottleWindow.objects.bulk_create(
        [
            ThrottleWindow(key="domain:server:gmail.com", window=minute - 61, used=5),
            ThrottleWindow(key="domain:server:gmail.com", window=minute, used=5),
            ThrottleWindow(key="warmup:x", window=day - 3, used=5),
            ThrottleWindow(key="warmup:x", window=day, used=5),
            ThrottleWindow(key="campaign:x", window=minute - 600, used=5),  # not ours: kept
        ]
    )
    old = ThrottleState.objects.create(
        backend="server", domain="a.example", rate_per_minute=1, ceiling=9
    )
    ThrottleState.objects.filter(pk=old.pk).update(updated_at=now - timedelta(days=2))
    ThrottleState.objects.create(backend="server", domain="b.example", rate_per_minute=1, ceiling=9)
    assert throttling.forget_old(now) == 3
    assert set(ThrottleWindow.objects.values_list("key", "window")) == {
        ("domain:server:gmail.com", minute),
        ("warmup:x", day),
        ("campaign:x", minute - 600),
    }
    assert list(ThrottleState.objects.values_list("domain", flat=True)) == ["b.example"]
