"""Warm-up caps on campaign sends into a real SMTP server: the day's cap holds across batches
(two campaigns from one domain share it), what passes it is deferred until the next UTC day
(never failed, sent once), the cap grows day by day until the campaign is done, and another
workspace's warm-up of a domain with the same name does not apply. Time is moved by passing
``now``."""

from datetime import UTC, datetime, timedelta

import pytest

from campaigns import pipeline, throttling
from campaigns.models import CampaignStatus, Message, MessageStatus
from campaigns.sending import send_batch
from campaigns.tests.test_throttling import run, sending_campaign
from deliverability.models import SendingDomain
from deliverability.warmup import domain_set_warmup
from tests.smtp import SmtpSink

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("verified_domains"),
]

DAY0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def smtp():
    with SmtpSink() as sink, sink.as_email_backend():
        yield sink


def readers(n):
    return [f"reader{i}@example{i % 3}.org" for i in range(n)]


def test_the_daily_cap_holds_across_batches_and_grows_each_day(
    workspace, smtp, monkeypatch, dashboard
):
    monkeypatch.setattr(pipeline, "SEND_CHUNK", 4)
    domain = SendingDomain.objects.get(workspace=workspace, domain="acme.io")
    domain_set_warmup(
        domain=domain, target=1000, daily_start=10, growth="1.5", started_on=DAY0.date()
    )
    everyone = readers(40)
    first = sending_campaign(workspace, everyone[:6], name="First")
    second = sending_campaign(workspace, everyone[6:], name="Second")

    assert send_batch(str(first.pk), now=DAY0) == 6
    assert send_batch(str(second.pk), now=DAY0) == 34  # 4 sent, 30 deferred
    assert len(smtp.received) == 10
    waiting = Message.objects.filter(campaign=second, status=MessageStatus.DEFERRED)
    assert waiting.count() == 30
    assert {m.next_attempt_at for m in waiting} == {datetime(2026, 3, 3, tzinfo=UTC)}
    assert set(waiting.values_list("attempts", flat=True)) == {0}
    shown = throttling.delivery_state(second, now=DAY0)
    assert shown["waiting"]["warmup"] == 30
    assert shown["warmup"]["cap_today"] == 10 and shown["warmup"]["day"] == 1
    page = dashboard.get(f"/campaigns/{second.pk}/progress/").content.decode()
    assert 'data-stat="waiting-warmup"' in page and "waiting for warm-up" in page

    run(second, DAY0 + timedelta(hours=5))  # later the same day: nothing more
    assert len(smtp.received) == 10

    run(second, DAY0 + timedelta(days=1))  # 15 on day 2
    assert len(smtp.received) == 25
    run(second, DAY0 + timedelta(days=2))  # 22 allowed on day 3: the last 15 go
    assert len(smtp.received) == 40
    assert sorted(r.recipients[0] for r in smtp.received) == sorted(everyone)
    second.refresh_from_db()
    assert second.status == CampaignStatus.SENT


def test_a_warm_domain_has_no_cap(workspace, smtp):
    domain = SendingDomain.objects.get(workspace=workspace, domain="acme.io")
    domain_set_warmup(domain=domain, target=20, daily_start=10, started_on=DAY0.date())
    campaign = sending_campaign(workspace, readers(30))
    run(campaign, DAY0 + timedelta(days=2))  # 10 × 1.5² = 22.5 ≥ 20: warm
    assert len(smtp.received) == 30


def test_another_workspaces_warmup_does_not_apply(workspace, outsider, smtp):
    theirs = SendingDomain.objects.create(workspace=outsider.workspace, domain="acme.io")
    domain_set_warmup(domain=theirs, target=1000, daily_start=1, started_on=DAY0.date())
    campaign = sending_campaign(workspace, readers(5))
    run(campaign, DAY0)
    assert len(smtp.received) == 5
