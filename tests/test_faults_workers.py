"""Faults with real worker processes (issue 12 §2): real ``manage.py qcluster`` processes on a
Redis broker send campaigns into a real SMTP sink, and get SIGKILLed.

What must hold, whatever the moment of the crash:

- nobody receives a message twice (counted at the sink, by recipient and by Message-ID);
- after a restart and the housekeeping (the product's sweeper, every minute in production),
  every recipient either received the message once or is reported ``interrupted``;
- the campaign is never ``sent`` while recipients remain unsent.

Time is moved rather than waited for: once the cluster is dead, nothing runs, so setting the
dead claims' and hand-offs' timestamps back by the sweeper's thresholds is the same as waiting
for them to pass. The housekeeping is queued to the restarted cluster as its scheduler would
(django-q2's scheduler runs schedules every ~30 s; the test does not wait for it).

Also here: a batch that kills its worker every time is retried a bounded number of times, then
failed and reported (django-q2 cannot: Redis has no acknowledgement, a dead worker's task is
gone); and a database restored with a schedule long past sends nothing until someone resumes
the campaign (django-q2's scheduler, in this process).

The kill moments are drawn from a seeded random generator; the seed is printed (run with
``FAULT_SEED=<seed>`` to replay one). The process tests need PostgreSQL and Redis."""

from __future__ import annotations

import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db.models import F
from django.test import override_settings
from django.utils import timezone

from campaigns import pipeline, services
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from contacts.tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from deliverability.models import SendingDomain
from mailcrm.models import Event
from tests.smtp import SmtpSink
from tests.workers import (
    CRASHING_QCLUSTER,
    QCluster,
    StallingSink,
    enqueue,
    needs_shared_state,
    no_schedules,
    purge_queue,
    sending_campaign,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.django_db(transaction=True)

# Six batches of 500 in chunks of 100 over two chains: a random kill lands in a first batch,
# a later one or a hand-off between them, mid-chunk or between chunks, as in a longer send.
KILL_RECIPIENTS = 3_000


@pytest.fixture
def rng() -> random.Random:
    seed = int(os.environ.get("FAULT_SEED") or random.randrange(2**32))
    print(f"FAULT_SEED={seed}")
    return random.Random(seed)


@pytest.fixture
def empty_queue():
    purge_queue()
    no_schedules()
    yield
    purge_queue()


def start_chains(campaign: Campaign) -> None:
    """What ``services.start_chains`` queues after the snapshot commits."""
    for _ in range(pipeline.CHAINS):
        enqueue("campaigns.tasks.send_batch", str(campaign.pk))


def let_time_pass(campaign: Campaign) -> None:
    """Move the dead workers' traces back past the sweeper's thresholds: claims expire and
    hand-offs become stale, as if the restart had come 20 minutes later."""
    later = max(pipeline.STALE_SENDING, timedelta(seconds=pipeline.CLAIM_SECONDS)) + timedelta(
        minutes=5
    )
    messages = Message.objects.filter(campaign=campaign)
    messages.filter(claimed_until__isnull=False).update(claimed_until=F("claimed_until") - later)
    messages.filter(sending_at__isnull=False).update(sending_at=F("sending_at") - later)


def only_the_dead_hold_messages(campaign: Campaign, killed_at) -> bool:
    """Whether every message still to send is held by a worker killed at ``killed_at``: none
    is free to claim, none claimed or handed off by a living worker since."""
    messages = Message.objects.filter(campaign=campaign)
    live_claim = killed_at + timedelta(seconds=pipeline.CLAIM_SECONDS)
    return not (
        pipeline.has_unclaimed(campaign.pk)
        or messages.filter(status=MessageStatus.QUEUED, claimed_until__gt=live_claim).exists()
        or messages.filter(status=MessageStatus.SENDING, sending_at__gt=killed_at).exists()
    )


class QuietSink:
    """Whether nothing reached the sink for a while: with the database's view, how the test
    tells a surviving cluster that is done from one between two chunks of a batch it claimed
    before the other died (claims look alike in the database)."""

    def __init__(self, sink: SmtpSink):
        self.sink, self.count, self.since = sink, -1, time.monotonic()

    def for_seconds(self, seconds: float) -> bool:
        if len(self.sink.received) != self.count:
            self.count, self.since = len(self.sink.received), time.monotonic()
        return time.monotonic() - self.since >= seconds


def statuses(campaign: Campaign) -> Counter:
    return Counter(Message.objects.filter(campaign=campaign).values_list("status", flat=True))


def never_sent_with_unsent(campaign: Campaign) -> bool:
    """True unless the campaign is ``sent`` while some recipient is still to send."""
    campaign.refresh_from_db()
    if campaign.status != CampaignStatus.SENT:
        return True
    unsent = Message.objects.filter(campaign=campaign, status__in=pipeline.UNFINISHED)
    return not unsent.exists()


def with_housekeeping(campaign: Campaign, done, *, what: str, timeout: float = 300) -> None:
    """Wait for ``done()``, queueing the housekeeping (sweeper, chain restarts) every second
    as the clusters' schedulers would every minute, and checking all along that the campaign
    never finishes early. (The timeout bounds a hang on a loaded machine; it measures
    nothing.)"""
    last = [0.0]

    def check() -> bool:
        assert never_sent_with_unsent(campaign), statuses(campaign)
        if done():
            return True
        if time.monotonic() - last[0] > 1:
            # The minute's housekeeping, sooner (idempotent: extra runs change nothing).
            enqueue("campaigns.tasks.housekeeping")
            last[0] = time.monotonic()
        return False

    wait_until(check, timeout=timeout, what=what)


def settle(campaign: Campaign, sink: SmtpSink) -> None:
    """Run the housekeeping until the campaign is finished."""
    with_housekeeping(
        campaign,
        lambda: campaign.status == CampaignStatus.SENT,
        what=f"the campaign to finish: {statuses(campaign)}",
    )


def assert_once_or_interrupted(campaign: Campaign, sink: SmtpSink) -> Counter:
    """Each recipient received the message once, or is reported ``interrupted`` (it may have
    arrived: a crash after the final dot); nobody got it twice."""
    received = Counter(r.recipients[0].lower() for r in sink.received)
    message_ids = Counter(r.message["Message-ID"] for r in sink.received)
    assert [a for a, n in received.items() if n > 1] == []
    assert [m for m, n in message_ids.items() if n > 1] == []
    by_status = statuses(campaign)
    assert set(by_status) <= {MessageStatus.SENT, MessageStatus.INTERRUPTED}, by_status
    rows = Message.objects.filter(campaign=campaign).values_list("email", "status", "message_id")
    for email, status, message_id in rows:
        if status == MessageStatus.SENT:
            assert received[email] == 1, email
            assert message_ids[message_id] == 1, email
    assert sum(received.values()) >= by_status[MessageStatus.SENT]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    return by_status


def reach(sink: SmtpSink, count: int) -> None:
    """Wait for ``count`` messages at the sink."""
    wait_until(lambda: len(sink.received) >= count, timeout=300, what=f"{count} messages")


def crash_and_recover(
    campaign: Campaign, sink: SmtpSink, tmp_path, *, crash_when: Callable[[], None]
) -> tuple[Counter, Counter]:
    """A cluster starts the campaign's chains and is SIGKILLed as soon as ``crash_when()``
    returns; then, time moved past the sweeper's thresholds, a second cluster and the
    housekeeping finish the campaign. Checks each recipient got the message once or is
    ``interrupted``; returns the messages' statuses at the kill and in the end."""
    env = worker_env(sink=sink)
    with QCluster(env, tmp_path / "first.log") as cluster:
        start_chains(campaign)
        crash_when()
        cluster.kill()
    if isinstance(sink, StallingSink):
        sink.release_data()  # the server answers again: the second cluster is not held
    at_kill = statuses(campaign)
    assert never_sent_with_unsent(campaign), at_kill
    let_time_pass(campaign)
    with QCluster(env, tmp_path / "second.log"):
        settle(campaign, sink)
    return at_kill, assert_once_or_interrupted(campaign, sink)


@needs_shared_state
@pytest.mark.usefixtures("empty_queue")
def test_a_cluster_killed_at_a_random_moment_sends_nobody_twice(workspace, rng, tmp_path):
    total = KILL_RECIPIENTS
    campaign = sending_campaign(workspace, total)
    kill_after = rng.randrange(1, total - 500)
    print(f"SIGKILL after {kill_after} messages at the sink")

    with SmtpSink() as sink:
        at_kill, by_status = crash_and_recover(
            campaign, sink, tmp_path, crash_when=lambda: reach(sink, kill_after)
        )

    # At most the chunks in hand-off when the cluster died (one per worker) are interrupted.
    assert by_status[MessageStatus.INTERRUPTED] <= 2 * pipeline.SEND_CHUNK
    assert by_status[MessageStatus.INTERRUPTED] == at_kill[MessageStatus.SENDING]
    print(f"at the kill: {dict(at_kill)}; in the end: {dict(by_status)}")


@needs_shared_state
@pytest.mark.usefixtures("empty_queue")
def test_a_cluster_killed_while_the_server_holds_data_open_sends_nobody_twice(
    workspace, rng, tmp_path
):
    total = 2_000
    campaign = sending_campaign(workspace, total)
    stall_after = rng.randrange(1, total - 200)
    print(f"DATA held open after {stall_after} messages, then SIGKILL")

    with StallingSink() as sink:

        def once_a_sender_waits_for_its_reply() -> None:
            reach(sink, stall_after)
            sink.stall_data()
            sink.wait_stalled()

        _, by_status = crash_and_recover(
            campaign, sink, tmp_path, crash_when=once_a_sender_waits_for_its_reply
        )

    # The message whose DATA was held reached the server, but its sender never heard "250":
    # reported interrupted, not resent.
    received = {r.recipients[0].lower() for r in sink.received}
    interrupted = Message.objects.filter(campaign=campaign, status=MessageStatus.INTERRUPTED)
    assert any(email in received for email in interrupted.values_list("email", flat=True))
    print(dict(by_status))


@needs_shared_state
@pytest.mark.usefixtures("empty_queue")
def test_two_clusters_on_one_database_send_nobody_twice_even_when_one_dies(
    workspace, rng, tmp_path
):
    total = 3_000
    campaign = sending_campaign(workspace, total)
    kill_after = rng.randrange(1, total - 500)
    print(f"SIGKILL of one cluster after {kill_after} messages at the sink")

    with SmtpSink() as sink:
        env = worker_env(sink=sink)
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        with QCluster(env, logs[0]).launch() as doomed, QCluster(env, logs[1]).launch() as other:
            doomed.wait_running(), other.wait_running()
            for _ in range(2 * pipeline.CHAINS):  # work for both clusters
                enqueue("campaigns.tasks.send_batch", str(campaign.pk))
            reach(sink, kill_after)
            doomed.kill()
            killed_at = timezone.now()
            # The other carries on until only the dead one's claims and hand-offs are left;
            # they wait for the sweeper's thresholds (time moves for them alone).
            quiet = QuietSink(sink)
            with_housekeeping(  # it restarts chains the dead cluster held, if any
                campaign,
                lambda: quiet.for_seconds(3) and only_the_dead_hold_messages(campaign, killed_at),
                what="the surviving cluster to send what it can",
            )
            let_time_pass(campaign)
            settle(campaign, sink)
        by_status = assert_once_or_interrupted(campaign, sink)

    assert by_status[MessageStatus.INTERRUPTED] <= pipeline.SEND_CHUNK * 2
    for log in logs:  # both clusters took batches of it
        assert re.search(r"processing .* 'campaigns\.tasks\.send_batch'", log.read_text())
    print(dict(by_status))


@needs_shared_state
@pytest.mark.usefixtures("empty_queue")
def test_a_batch_whose_worker_dies_every_time_is_retried_then_failed(workspace, tmp_path):
    """django-q2 neither retries nor records a task whose worker died (Redis has no
    acknowledgement; ``max_attempts`` counts only failures a worker lived to report): the
    pipeline counts the deaths on the messages the dead batch had claimed."""
    campaign = sending_campaign(workspace, 300)

    with SmtpSink() as sink:
        env = worker_env(sink=sink, workers=1)
        log = tmp_path / "crashing.log"
        with QCluster(env, log, command=CRASHING_QCLUSTER) as cluster:
            enqueue("campaigns.tasks.send_batch", str(campaign.pk))
            for death in range(1, pipeline.MAX_ABANDONED_CLAIMS + 1):
                wait_until(
                    lambda death=death: cluster.log().count("after death") >= death,
                    timeout=120,
                    what=f"worker death {death}",
                )
                let_time_pass(campaign)  # the dead batch's claims run out
                enqueue("campaigns.tasks.housekeeping")  # restarts the chain
            settle(campaign, sink)
            deaths = cluster.log().count("after death")

    assert deaths == pipeline.MAX_ABANDONED_CLAIMS
    assert sink.received == []
    assert statuses(campaign) == {MessageStatus.FAILED: 300}
    assert set(
        Message.objects.filter(campaign=campaign).values_list("abandoned_claims", flat=True)
    ) == {pipeline.MAX_ABANDONED_CLAIMS}
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    assert campaign.status_reason.startswith("300 messages failed: the worker sending them died")


def test_only_claims_run_out_unreleased_count_as_worker_deaths(workspace):
    """The rule behind the test above, in one process (and on SQLite too)."""
    campaign = sending_campaign(workspace, 5)
    messages = Message.objects.filter(campaign=campaign)

    pipeline.release(pipeline.claim(campaign.pk))  # a batch that ended normally
    assert set(messages.values_list("abandoned_claims", flat=True)) == {0}

    for deaths in range(pipeline.MAX_ABANDONED_CLAIMS):
        assert len(pipeline.claim(campaign.pk)) == 5  # ... and its worker dies holding them
        assert set(messages.values_list("abandoned_claims", flat=True)) == {deaths}
        let_time_pass(campaign)

    assert pipeline.claim(campaign.pk) == []
    assert statuses(campaign) == {MessageStatus.FAILED: 5}
    assert pipeline.finish_if_done(campaign.pk)


# --- a restored database -----------------------------------------------------------------------


def scheduled_campaign(workspace, *, late: timedelta) -> Campaign:
    """A campaign scheduled for three recipients whose send time passed ``late`` ago, as a
    database restored from an old snapshot holds it."""
    SendingDomain.objects.get_or_create(
        workspace=workspace,
        domain="acme.example",
        defaults={"is_verified": True, "verified_at": timezone.now()},
    )
    members = ContactListFactory(workspace=workspace)
    for n in range(3):
        ListMembershipFactory(
            contact_list=members,
            contact=ContactFactory(workspace=workspace, email=f"late{n}@example.com"),
        )
    campaign = services.campaign_create(
        workspace=workspace,
        name=f"Late by {late}",
        subject="Hello",
        html="<p>Hello</p>",
        from_email="news@acme.example",
        audience={"lists": [str(members.pk)]},
    )
    services.campaign_schedule(campaign=campaign, send_at=timezone.now() + timedelta(hours=1))
    Campaign.objects.filter(pk=campaign.pk).update(send_at=timezone.now() - late)
    return campaign


def run_scheduler() -> None:
    """django-q2's scheduler, as a cluster runs it, when the housekeeping is due (the
    migration's row; transactional tests flush it) and nothing else is (the domains' re-check
    would find acme.example unpublished). Tasks run synchronously here."""
    from django_q.models import Schedule
    from django_q.scheduler import scheduler

    Schedule.objects.update(next_run=timezone.now() + timedelta(hours=1))
    Schedule.objects.update_or_create(
        func="campaigns.tasks.housekeeping",
        defaults={
            "name": "Sending housekeeping",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
            "next_run": timezone.now() - timedelta(seconds=1),
        },
    )
    scheduler()


def test_a_schedule_long_past_waits_for_an_operator_to_resume_it(workspace):
    campaign = scheduled_campaign(workspace, late=timedelta(days=3))

    with SmtpSink() as sink, sink.as_email_backend():
        run_scheduler()

        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.PAUSED, campaign.status_reason
        assert "passed 72 hours ago; resume to send" in campaign.status_reason
        assert sink.received == []
        assert statuses(campaign) == {MessageStatus.QUEUED: 3}
        event = Event.objects.get(workspace=workspace, type="campaign.paused")
        assert event.data["reason"] == "missed_schedule"
        assert event.data["campaign_id"] == str(campaign.pk)

        run_scheduler()  # the next minute changes nothing
        assert sink.received == []

        services.campaign_resume(campaign=campaign)  # the operator's confirmation

    assert sorted(r.recipients[0] for r in sink.received) == [
        f"late{n}@example.com" for n in range(3)
    ]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT


@override_settings(CAMPAIGN_SCHEDULE_GRACE=3600)
def test_a_schedule_found_within_the_grace_starts_on_its_own(workspace):
    campaign = scheduled_campaign(workspace, late=timedelta(minutes=50))

    with SmtpSink() as sink, sink.as_email_backend():
        run_scheduler()

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    assert len(sink.received) == 3
    assert not Event.objects.filter(workspace=workspace, type="campaign.paused").exists()
