"""Faults during sending (issue 12 §2), against a real SMTP sink on loopback: a campaign paused
and resumed twenty times (in this process, and under a real two-worker cluster), contacts
suppressed or unsubscribed while it runs, an SMTP server that hangs up, answers 4xx for a
while, is gone for a minute or refuses the sender, a database connection killed under a
batch, a Redis broker restarted; and a hypothesis property of the snapshot across two
workspaces. Each ends with every eligible recipient holding exactly one copy at the sink (or,
where the hand-off itself broke, reported ``interrupted``), and nobody else holding any.

Most sends run in this process, through the product's own batch task and housekeeping
(django-q2 runs tasks synchronously in tests); faults are injected between the chunks of a
batch by wrapping ``pipeline.record_outcomes`` (the moment a chunk's outcomes are written),
which is where a user's click or another process's commit would land. The Redis and cluster
tests run ``qcluster`` processes (tests/workers.py) and need PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import random
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from campaigns import pipeline, services
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.sending import send_batch
from campaigns.tasks import housekeeping
from contacts.models import Contact, ContactList, ContactTag, ListMembership, Tag
from contacts.segmentation import segment_create, segment_refresh
from deliverability.models import SendingDomain, Suppression
from deliverability.services import (
    is_suppressed,
    suppression_add,
    unsubscribe_record,
    whitelist_add,
)
from mailcrm.tests.factories import WorkspaceFactory
from tests.smtp import SinkHandler, SmtpSink, free_port
from tests.workers import (
    QCluster,
    enqueue,
    needs_shared_state,
    purge_queue,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def domain(workspace) -> SendingDomain:
    return SendingDomain.objects.create(
        workspace=workspace, domain="acme.io", is_verified=True, verified_at=timezone.now()
    )


@pytest.fixture
def sink():
    with SmtpSink() as sink, sink.as_email_backend():
        yield sink


def audience(workspace, size: int, *, name: str = "Readers", blocked: int = 3):
    """A list of ``size`` active contacts plus ``blocked`` suppressed and ``blocked``
    unsubscribed ones; returns the list and the addresses that may be mailed."""
    contact_list = ContactList.objects.create(workspace=workspace, name=name)
    slug = name.lower()
    contacts = Contact.objects.bulk_create(
        [
            Contact(workspace=workspace, email=f"{slug}{n}@example{n % 4}.org", first_name=f"R{n}")
            for n in range(size + 2 * blocked)
        ]
    )
    ListMembership.objects.bulk_create(
        [ListMembership(contact=c, contact_list=contact_list) for c in contacts]
    )
    for contact in contacts[size : size + blocked]:
        suppression_add(workspace=workspace, email=contact.email, type="manual")
    for contact in contacts[size + blocked :]:
        unsubscribe_record(workspace=workspace, email=contact.email, source="api")
    return contact_list, {c.email for c in contacts[:size]}


def campaign_for(workspace, contact_list, name: str = "Faults") -> Campaign:
    return services.campaign_create(
        workspace=workspace,
        name=name,
        subject="Hello {{ contact.first_name }}",
        html="<p>Hello {{ contact.first_name }}</p>",
        from_email="news@acme.io",
        audience={"lists": [str(contact_list.id)]},
    )


def copies(sink: SmtpSink) -> Counter:
    return Counter(r.recipients[0].lower() for r in sink.received)


def assert_each_got_one(sink: SmtpSink, campaign: Campaign, eligible: set[str]) -> None:
    received = copies(sink)
    assert not [email for email, n in received.items() if n > 1], "sent twice"
    assert set(received) == eligible
    statuses = Counter(Message.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses == {MessageStatus.SENT: len(eligible)}
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT


def between_chunks(monkeypatch, action) -> None:
    """Call ``action()`` each time a chunk's outcomes have been written."""
    write = pipeline.record_outcomes

    def record_outcomes(**kwargs):
        write(**kwargs)
        action()

    monkeypatch.setattr(pipeline, "record_outcomes", record_outcomes)


def test_twenty_random_pauses_and_resumes_skip_nobody_and_repeat_nobody(
    workspace, domain, sink, monkeypatch
):
    contact_list, eligible = audience(workspace, 240)
    campaign = campaign_for(workspace, contact_list)
    monkeypatch.setattr(pipeline, "SEND_CHUNK", 4)
    rng = random.Random(20261207)
    pauses: list = []  # when each pause committed

    def maybe_pause():
        if len(pauses) < 20 and rng.random() < 0.7:
            try:
                services.campaign_pause(campaign=campaign)
            except services.CampaignStateError:
                return  # paused already: a chunk in flight at the pause has just settled
            pauses.append(timezone.now())

    between_chunks(monkeypatch, maybe_pause)
    services.campaign_send(campaign=campaign)  # the chains run here, until the first pause
    resumes = []
    for _ in range(60):
        campaign.refresh_from_db()
        if campaign.status == CampaignStatus.SENT:
            break
        assert campaign.status == CampaignStatus.PAUSED
        held = len(sink.received)
        if rng.random() < 0.5:  # a redelivered batch or the minute's housekeeping, paused
            send_batch(str(campaign.pk))
            housekeeping()
        assert len(sink.received) == held  # nothing leaves while paused
        resumes.append(timezone.now())
        services.campaign_resume(campaign=campaign)

    assert len(pauses) == 20
    assert_each_got_one(sink, campaign, eligible)
    # Nothing was handed off between a pause's commit and the next resume.
    for paused, resumed in zip(pauses, resumes, strict=True):
        late = Message.objects.filter(
            campaign=campaign, sending_at__gt=paused, sending_at__lt=resumed
        )
        assert not late.exists()


def test_a_resume_while_a_paused_batch_still_holds_its_claims_leaves_no_chain_resting(
    workspace, domain, sink, monkeypatch
):
    """A batch hands its chain on early; a pause stops it at its next chunk, and the resume
    comes while it still holds its unsent claims: the resume's chains find nothing to claim
    and end. Once the batch releases its claims it hands on again, so the campaign finishes
    without waiting for the minute's housekeeping."""
    contact_list, eligible = audience(workspace, 16, blocked=0)
    campaign = campaign_for(workspace, contact_list)
    monkeypatch.setattr(pipeline, "SEND_CHUNK", 4)
    monkeypatch.setattr(pipeline, "claim", functools.partial(pipeline.claim, limit=12))
    resume_chains: list[str] = []
    monkeypatch.setattr(
        services, "start_chains", lambda c: resume_chains.extend([str(c.pk)] * pipeline.CHAINS)
    )
    services.campaign_send(campaign=campaign)  # snapshot; its chains are recorded, not run
    resume_chains.clear()
    first_hand_ons: list[str] = []
    settled_chunks = 0
    write = pipeline.record_outcomes

    def record_outcomes(**kwargs):
        nonlocal settled_chunks
        write(**kwargs)
        settled_chunks += 1
        if settled_chunks == 1:
            # The first batch's successor runs now and sends what the first did not claim;
            # then the user pauses: the first batch stops at its next chunk.
            monkeypatch.setattr(pipeline, "record_outcomes", write)
            assert send_batch(str(campaign.pk), hand_on=lambda _: None) == 4
            monkeypatch.setattr(pipeline, "record_outcomes", record_outcomes)
            services.campaign_pause(campaign=campaign)
        elif settled_chunks == 2:
            # Stopped, not yet released: the resume's chains find every message claimed.
            services.campaign_resume(campaign=campaign)
            assert [send_batch(chain) for chain in resume_chains] == [0] * len(resume_chains)

    monkeypatch.setattr(pipeline, "record_outcomes", record_outcomes)
    send_batch(str(campaign.pk), hand_on=first_hand_ons.append)

    assert len(first_hand_ons) == 2  # early, and again once its claims were released
    monkeypatch.setattr(pipeline, "record_outcomes", write)
    send_batch(first_hand_ons[-1])
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    assert_each_got_one(sink, campaign, eligible)


def test_contacts_suppressed_or_unsubscribed_while_a_campaign_runs_get_nothing(
    workspace, domain, sink, monkeypatch
):
    contact_list, eligible = audience(workspace, 120)
    campaign = campaign_for(workspace, contact_list)
    monkeypatch.setattr(pipeline, "SEND_CHUNK", 10)
    rng = random.Random(12)
    stopped: set[str] = set()

    def stop_some():
        queued = list(
            Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).values_list(
                "email", flat=True
            )
        )
        for email in rng.sample(queued, min(3, len(queued))):
            if rng.random() < 0.5:
                suppression_add(workspace=workspace, email=email.upper(), type="complaint")
            else:
                unsubscribe_record(workspace=workspace, email=email, source="link")
            stopped.add(email)

    between_chunks(monkeypatch, stop_some)
    services.campaign_send(campaign=campaign)

    assert stopped
    received = copies(sink)
    assert not set(received) & stopped
    assert max(received.values()) == 1
    assert set(received) == eligible - stopped
    statuses = dict(Message.objects.filter(campaign=campaign).values_list("email", "status"))
    assert {statuses[email] for email in stopped} == {MessageStatus.SUPPRESSED}
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT


# --- the SMTP server misbehaves ----------------------------------------------------------------


def run_until_done(campaign: Campaign, *, minutes: int = 0, rounds: int = 30) -> None:
    """The minute's housekeeping, ``minutes`` from now, and the chains it starts — until the
    campaign is sent or ``rounds`` minutes passed."""
    for minute in range(rounds):
        now = timezone.now() + timedelta(minutes=minutes + minute * 5)
        pipeline.requeue_due_retries(now=now)
        for _ in range(20):
            if not send_batch(str(campaign.pk), now=now):
                break
        campaign.refresh_from_db()
        if campaign.status != CampaignStatus.SENDING:
            return


def test_a_server_hanging_up_mid_batch_loses_nobody(workspace, domain, sink, monkeypatch):
    contact_list, eligible = audience(workspace, 90)
    campaign = campaign_for(workspace, contact_list)
    monkeypatch.setattr(pipeline, "SEND_CHUNK", 20)
    sink.hang_up_after(7, times=8)  # the 250 for every 7th message, then the line goes dead

    services.campaign_send(campaign=campaign)
    run_until_done(campaign)

    assert sink.handler.hang_ups < 0  # it hung up all eight times
    assert_each_got_one(sink, campaign, eligible)


def test_a_server_answering_4xx_for_a_while_gets_everything_once_it_accepts(
    workspace, domain, sink, monkeypatch
):
    contact_list, eligible = audience(workspace, 60)
    campaign = campaign_for(workspace, contact_list)
    monkeypatch.setattr(pipeline, "SEND_CHUNK", 10)
    for n in range(4):
        sink.refuse(f"@example{n}.org", "451 4.3.0 Temporary local problem", times=5)

    services.campaign_send(campaign=campaign)
    assert sink.handler.refused
    run_until_done(campaign, minutes=1)

    assert_each_got_one(sink, campaign, eligible)


def test_a_server_gone_for_a_minute_gets_everything_once_it_is_back(
    workspace, domain, sink, monkeypatch
):
    contact_list, eligible = audience(workspace, 60)
    campaign = campaign_for(workspace, contact_list)
    monkeypatch.setattr(pipeline, "SEND_CHUNK", 10)
    gone_after = 20  # a chunk boundary: the server goes after the second chunk
    sink.hang_up_after(gone_after)

    def maybe_go():
        if len(sink.received) >= gone_after and sink.controller is not None:
            sink.stop()

    between_chunks(monkeypatch, maybe_go)
    services.campaign_send(campaign=campaign)
    assert sink.controller is None and len(sink.received) == gone_after
    for _ in range(3):  # housekeeping minutes while it is down: nothing changes for the worse
        housekeeping()
    monkeypatch.undo()
    statuses = Counter(Message.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses[MessageStatus.SENT] == gone_after
    assert statuses[MessageStatus.INTERRUPTED] == 0
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING

    sink.start()
    run_until_done(campaign, minutes=1)

    assert_each_got_one(sink, campaign, eligible)


# --- the snapshot never holds a suppressed or unsubscribed address ----------------------------

ADDRESSES = [f"p{n}@d{n % 3}.org" for n in range(10)]
SOURCES = ("list0", "list1", "tag0", "tag1", "segment")
person = st.fixed_dictionaries(
    {
        "upper": st.booleans(),  # stored as P3@D0.ORG: matching ignores case
        "status": st.sampled_from(["active", "active", "active", "unsubscribed", "bounced"]),
        "archived": st.sampled_from([False, False, False, True]),
        "lists": st.sets(st.sampled_from([0, 1])),
        "tags": st.sets(st.sampled_from([0, 1])),
    }
)
block = st.sampled_from(
    [
        "suppressed",
        "suppressed_here",  # for the campaign's sending domain only
        "suppressed_elsewhere",  # for another of the workspace's domains: no effect here
        "suppressed_whitelisted",  # the whitelist overrides a suppression, never an unsubscribe
        "unsubscribed",
        "unsubscribed_here",
        "unsubscribed_elsewhere",
        "left_list0",  # a list unsubscribe: still reached through another source
    ]
)
world = st.fixed_dictionaries(
    {
        "people": st.dictionaries(st.sampled_from(ADDRESSES), person, max_size=10),
        "blocks": st.dictionaries(st.sampled_from(ADDRESSES), st.sets(block), max_size=10),
        "segment_domain": st.sampled_from(["d0.org", "d1.org", "d2.org"]),
        "audience": st.sets(st.sampled_from(SOURCES), min_size=1),
    }
)


def build_world(data: dict, name: str):
    """A workspace as ``data`` describes it; returns its campaign and the expected recipients
    (worked out here, from ``data``, not by the product's queries)."""
    workspace = WorkspaceFactory(name=name)
    here, elsewhere = (
        SendingDomain.objects.create(
            workspace=workspace, domain=domain, is_verified=True, verified_at=timezone.now()
        )
        for domain in ("acme.io", "other.io")
    )
    lists = [ContactList.objects.create(workspace=workspace, name=f"L{n}") for n in range(2)]
    tags = [Tag.objects.create(workspace=workspace, name=f"t{n}") for n in range(2)]
    contacts = {}
    for address, who in data["people"].items():
        contact = Contact.objects.create(
            workspace=workspace,
            email=address.upper() if who["upper"] else address,
            status=who["status"],
            archived_at=timezone.now() if who["archived"] else None,
        )
        contacts[address] = contact
        for n in who["lists"]:
            ListMembership.objects.create(contact=contact, contact_list=lists[n])
        for n in who["tags"]:
            ContactTag.objects.create(contact=contact, tag=tags[n])
    segment = segment_create(
        workspace=workspace,
        name="By domain",
        query=f'email ENDS WITH "@{data["segment_domain"]}" OR tag = t1',
    )
    segment_refresh(segment=segment)
    blocked, left = set(), set()
    for address, kinds in data["blocks"].items():
        for kind in sorted(kinds):
            email = address.upper() if len(kind) % 2 else address
            if kind.startswith("suppressed"):
                domain = {"suppressed_here": here, "suppressed_elsewhere": elsewhere}.get(kind)
                suppression_add(workspace=workspace, email=email, type="manual", domain=domain)
            elif kind == "left_list0":
                unsubscribe_record(
                    workspace=workspace, email=email, source="link", contact_list=lists[0]
                )
            else:
                domain = {"unsubscribed_here": here, "unsubscribed_elsewhere": elsewhere}.get(kind)
                unsubscribe_record(workspace=workspace, email=email, source="link", domain=domain)
        if kinds & {"suppressed_whitelisted"}:
            whitelist_add(workspace=workspace, email=address)
        if kinds & {"unsubscribed", "unsubscribed_here"} or (
            kinds & {"suppressed", "suppressed_here"} and "suppressed_whitelisted" not in kinds
        ):
            blocked.add(address)
        if "left_list0" in kinds:
            left.add(address)
    sources = {
        "list0": ("lists", lists[0]),
        "list1": ("lists", lists[1]),
        "tag0": ("tags", tags[0]),
        "tag1": ("tags", tags[1]),
        "segment": ("segments", segment),
    }
    audience: dict[str, list[str]] = {}
    for source in sorted(data["audience"]):
        key, obj = sources[source]
        audience.setdefault(key, []).append(str(obj.id))
    campaign = services.campaign_create(
        workspace=workspace,
        name="Snapshot",
        subject="Hi",
        html="<p>Hi</p>",
        from_email="news@acme.io",
        sending_domain=here,
        audience=audience,
    )

    def reached(address: str, who: dict) -> bool:
        in_segment = address.endswith(data["segment_domain"]) or 1 in who["tags"]
        through = {
            "list0": 0 in who["lists"] and address not in left,
            "list1": 1 in who["lists"],
            "tag0": 0 in who["tags"],
            "tag1": 1 in who["tags"],
            "segment": in_segment,
        }
        return any(through[source] for source in data["audience"])

    expected = set()
    for address, who in data["people"].items():
        contact = Contact.objects.get(pk=contacts[address].pk)  # a suppression may mark it
        mailable = contact.status == "active" and contact.archived_at is None
        if mailable and address not in blocked and reached(address, who):
            expected.add(address)
    return campaign, expected


@pytest.mark.django_db  # no commits needed: each example rolls back
@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=world, second=world)
def test_a_snapshot_holds_nobody_suppressed_or_unsubscribed_in_any_workspace(first, second):
    with transaction.atomic():
        worlds = [build_world(data, name) for data, name in ((first, "A"), (second, "B"))]
        for campaign, expected in worlds:
            pipeline.snapshot(campaign)
            recipients = {
                email.lower()
                for email in Message.objects.filter(campaign=campaign).values_list(
                    "email", flat=True
                )
            }
            assert recipients == expected
            for email in recipients:
                assert not is_suppressed(campaign.workspace, email, domain=campaign.sending_domain)
        transaction.set_rollback(True)


@dataclass
class SenderRefusingHandler(SinkHandler):
    """Refuses every MAIL FROM with ``reply`` while it is set, as a server wanting a login
    (or one that no longer relays for us) does."""

    reply: str = "530 5.7.0 Authentication required"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.reply:
            return self.reply
        envelope.mail_from = address
        return "250 OK"


def test_a_server_refusing_the_sender_bounces_nobody_and_pauses_the_campaign(
    workspace, domain, sink, monkeypatch
):
    contact_list, eligible = audience(workspace, 30)
    campaign = campaign_for(workspace, contact_list)
    sink.handler = sink.controller.handler = SenderRefusingHandler()

    services.campaign_send(campaign=campaign)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED and "530" in campaign.status_reason
    statuses = Counter(Message.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses == {MessageStatus.QUEUED: len(eligible)}  # not one bounced or suppressed
    assert not Suppression.objects.filter(type="hard_bounce").exists()
    sink.handler.reply = ""  # the credentials are fixed
    services.campaign_resume(campaign=campaign)

    assert_each_got_one(sink, campaign, eligible)


# --- the database connection drops under a batch -----------------------------------------------


class KillingHandler(SinkHandler):
    """Terminates a database backend (the batch's) when the ``at``-th message arrives: the
    batch's next statement fails while its chunk is still being delivered."""

    def __init__(self, conninfo: str, pid: int, at: int):
        super().__init__()
        self.conninfo, self.pid, self.at = conninfo, pid, at

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        if len(self.received) == self.at:
            with psycopg.connect(self.conninfo, autocommit=True) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", [self.pid])
        return reply


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="terminating another session's backend is a PostgreSQL feature",
)
def test_a_database_connection_dropped_under_a_batch_loses_nothing_and_repeats_nothing(
    workspace, domain, sink, monkeypatch
):
    contact_list, eligible = audience(workspace, 60)
    campaign = campaign_for(workspace, contact_list)
    monkeypatch.setattr(pipeline, "SEND_CHUNK", 10)
    pipeline.snapshot(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    params = connection.get_connection_params()
    conninfo = psycopg.conninfo.make_conninfo(
        **{k: v for k, v in params.items() if k in ("host", "port", "user", "password") and v},
        dbname=params["dbname"],
    )
    sink.handler = sink.controller.handler = KillingHandler(conninfo, pid, at=25)

    with pytest.raises((OperationalError, InterfaceError)):
        send_batch(str(campaign.pk))  # the worker's task fails
    close_old_connections()  # what django-q2's worker does before its next task

    # In flight when the connection went: sent, but recorded nowhere — ``sending``.
    in_flight = set(
        Message.objects.filter(campaign=campaign, status=MessageStatus.SENDING).values_list(
            "email", flat=True
        )
    )
    assert in_flight and in_flight <= set(copies(sink))
    # Time passes: the dead batch's claims run out, the sweeper reports the hand-offs.
    Message.objects.filter(campaign=campaign, claimed_until__isnull=False).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert pipeline.sweep_interrupted(now=timezone.now() + timedelta(hours=1)) == len(in_flight)
    run_until_done(campaign)

    received = copies(sink)
    assert max(received.values()) == 1
    assert set(received) == eligible
    statuses = dict(Message.objects.filter(campaign=campaign).values_list("email", "status"))
    interrupted = {e for e, status in statuses.items() if status == MessageStatus.INTERRUPTED}
    assert interrupted == in_flight
    assert {statuses[e] for e in eligible - in_flight} == {MessageStatus.SENT}
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT


# --- the Redis broker restarts -----------------------------------------------------------------


class RedisServer:
    """A redis-server of this test's own on a free loopback port, without persistence: a
    restart loses every queued task, as a broker that crashed would."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), timeout=30, what="redis-server to answer")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)


def _pings(client) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@dataclass
class SlowHandler(SinkHandler):
    """Takes a few milliseconds per message, so a batch is still sending when Redis goes."""

    delay = 0.004

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


class SlowerHandler(SlowHandler):
    """20 ms a message: 900 need ~9 s of sending, longer than twenty short resumed spells
    (~3 s), so a campaign is still sending at the last pause even on a quiet machine."""

    delay = 0.02


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"
    or not shutil.which("redis-server"),
    reason="worker processes need PostgreSQL (SQLite's test database is in this process's "
    "memory), and this test runs a redis-server of its own",
)
def test_a_redis_restart_loses_queued_batches_and_the_housekeeping_requeues_them(
    workspace, domain, tmp_path, monkeypatch
):
    from django_q.conf import Conf

    redis_server = RedisServer()
    redis_server.start()
    # This process queues into that broker too (tasks otherwise run synchronously here).
    monkeypatch.setattr(Conf, "REDIS", redis_server.url)
    monkeypatch.setattr(Conf, "ORM", None)
    campaigns, eligible = [], set()
    for name in ("First", "Second"):
        contact_list, emails = audience(workspace, 600, name=name, blocked=1)
        campaign = campaign_for(workspace, contact_list, name=name)
        pipeline.snapshot(campaign)
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
        campaigns.append(campaign)
        eligible |= emails
    sink = SmtpSink()
    sink.handler = sink.controller.handler = SlowHandler()
    env = worker_env(sink=sink, workers=1) | {"REDIS_URL": redis_server.url}
    try:
        with sink, QCluster(env, tmp_path / "qcluster.log") as cluster:
            for campaign in campaigns:  # as campaign_send's chains
                for _ in range(pipeline.CHAINS):
                    enqueue("campaigns.tasks.send_batch", str(campaign.pk))
            wait_until(lambda: len(sink.received) >= 100, timeout=120, what="100 messages")
            redis_server.kill()  # the queue goes with it; a batch handing on now fails
            redis_server.start()
            # Work left in the worker's hands finishes; what was queued in Redis is gone.
            wait_until(
                lambda: not Message.objects.filter(status=MessageStatus.SENDING).exists(),
                timeout=120,
                what="the running batch to end",
            )
            left = Message.objects.filter(status=MessageStatus.QUEUED).count()
            enqueue("campaigns.tasks.housekeeping")  # as its schedule does every minute
            wait_until(
                lambda: Campaign.objects.filter(status=CampaignStatus.SENT).count() == 2,
                timeout=180,
                what=f"both campaigns sent (log: {cluster.log()[-2000:]})",
            )
    finally:
        redis_server.kill()

    assert left, "nothing was left for the housekeeping: Redis went too late"
    received = copies(sink)
    assert max(received.values()) == 1
    assert set(received) == eligible
    statuses = Counter(Message.objects.values_list("status", flat=True))
    assert statuses == {MessageStatus.SENT: len(eligible)}


# --- pause and resume under real workers ----------------------------------------------------------


@needs_shared_state
def test_twenty_pauses_and_resumes_under_a_real_cluster_skip_nobody_and_repeat_nobody(
    workspace, domain, tmp_path, monkeypatch
):
    """The same promise with a real ``qcluster`` of two workers sending while this process
    pauses and resumes at seeded random moments (a resume queues new chains to the cluster,
    while the old ones may still run)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # a resume's chains go to the cluster
    rng = random.Random(7)
    contact_list, eligible = audience(workspace, 900, name="Workers")
    campaign = campaign_for(workspace, contact_list)
    pipeline.snapshot(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    sink = SmtpSink()
    sink.handler = sink.controller.handler = SlowerHandler()
    purge_queue()
    windows = []  # (paused, resumed)
    with sink, QCluster(worker_env(sink=sink, workers=2), tmp_path / "qcluster.log") as cluster:
        services.start_chains(campaign)
        wait_until(lambda: sink.received, timeout=120, what=f"a first message ({cluster.log_path})")
        for _ in range(20):
            time.sleep(rng.uniform(0.02, 0.3))
            services.campaign_pause(campaign=campaign)
            paused = timezone.now()
            time.sleep(rng.uniform(0.02, 0.3))
            windows.append((paused, timezone.now()))
            services.campaign_resume(campaign=campaign)

        # A chain may rest after a resume; the minute's housekeeping restarts it — queued every
        # second here (idempotent: extra runs change nothing).
        def sent_after_housekeeping() -> bool:
            enqueue("campaigns.tasks.housekeeping")
            time.sleep(1)
            return Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENT).exists()

        wait_until(
            sent_after_housekeeping,
            timeout=240,
            what=f"the campaign to be sent ({cluster.log_path})",
        )
    purge_queue()

    assert len(sink.received) > 0
    assert_each_got_one(sink, campaign, eligible)
    for paused, resumed in windows:
        assert not Message.objects.filter(sending_at__gt=paused, sending_at__lt=resumed).exists()
