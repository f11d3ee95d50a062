"""Real django-q2 clusters for fault tests: ``manage.py qcluster`` processes working the test
database through a Redis broker, each in a process group of its own, so a test can SIGKILL a
whole cluster (sentinel, pusher, monitor and workers) at once, as a machine losing power would.

PostgreSQL and Redis only (``needs_shared_state``): the processes must open the test database
and share the queue; SQLite's test database lives in the test process's memory.

Typical use::

    with SmtpSink() as sink, QCluster(worker_env(sink=sink), tmp_path / "a.log") as cluster:
        enqueue("campaigns.tasks.send_batch", str(campaign.pk))
        wait_until(lambda: len(sink.received) >= 100, what="100 messages")
        cluster.kill()
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection
from django.utils import timezone

from tests.smtp import SinkHandler, SmtpSink

ROOT = Path(__file__).resolve().parents[1]

needs_shared_state = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"
    or not settings.REDIS_URL,
    reason="worker processes need PostgreSQL (SQLite's test database is in this process's "
    "memory) and a Redis broker they share with the test",
)


def database_url() -> str:
    """The test database (``test_…``), as a URL for other processes."""
    database = settings.DATABASES["default"]
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    return (
        f"postgres://{database['USER']}{password}@{database['HOST']}:{database['PORT']}"
        f"/{database['NAME']}"
    )


def worker_env(
    *, sink: SmtpSink | None = None, workers: int = 2, settings_module: str = "mailcrm.settings"
) -> dict[str, str]:
    """The environment of a worker process: this test's database, Redis and keys, real
    asynchronous tasks, and (with ``sink``) the server-wide SMTP settings pointing at it."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
        "EMAIL_RATE_PER_MINUTE": "0",
        "Q_WORKERS": str(workers),
        "Q_SYNC": "0",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("Q_CLUSTER_NAME", None)
    if sink is not None:
        env |= {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(sink.port),
            "EMAIL_USE_TLS": "0",
        }
    return env


class QCluster:
    """One ``manage.py qcluster`` (or ``command``) in a new session (its own process group);
    ``start`` returns once it says it is running. ``kill`` is the crash (and what leaving the
    ``with`` block does); ``stop`` is the graceful SIGTERM."""

    def __init__(self, env: dict[str, str], log_path: Path, *, command: list[str] | None = None):
        self.env, self.log_path = env, log_path
        self.command = command or [sys.executable, "manage.py", "qcluster"]
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> QCluster:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc) -> None:
        # Killed, not stopped: a graceful stop waits for running tasks (a minute of a test's
        # time when one is a DNS check), and the test has looked at everything by now.
        self.kill()

    def start(self, timeout: float = 60) -> QCluster:
        self.launch()
        return self.wait_running(timeout)

    def launch(self) -> QCluster:
        """Start the process without waiting (``wait_running``): clusters start side by side."""
        # Nothing of this process's connection may be shared with the children (and rows this
        # test wrote are committed: transactional tests run in autocommit).
        connection.close()
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_running(self, timeout: float = 60) -> QCluster:
        wait_until(
            lambda: "running." in self.log() or self.process.poll() is not None,
            timeout=timeout,
            what=f"qcluster to start (log: {self.log_path})",
        )
        assert self.process.poll() is None, f"qcluster exited:\n{self.log()[-3000:]}"
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to every process of the cluster at once: nothing gets to clean up."""
        if self.process is not None:
            self._signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (django-q2 lets running tasks finish), SIGKILL after ``timeout``."""
        if not self.alive:
            return
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        # Stray children (a worker orphaned by the sentinel's death) go with the group.
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def enqueue(func: str, *args) -> None:
    """Queue a task for the clusters (this test process otherwise runs tasks synchronously)."""
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    async_task(func, *args, sync=False, broker=get_broker())


def purge_queue() -> None:
    """Drop whatever a previous test left in the broker's queue."""
    from django_q.brokers import get_broker

    get_broker().purge_queue()


def no_schedules() -> None:
    """Remove django-q2's schedules (the migrations' rows, until a transactional test flushes
    them): a cluster would otherwise run domain checks and the like in the middle of a test,
    which then drives the schedule it cares about itself."""
    from django_q.models import Schedule

    Schedule.objects.all().delete()


def wait_until(predicate: Callable[[], object], *, timeout: float = 60, what: str = "") -> None:
    """Poll ``predicate`` until true; fail the test with ``what`` after ``timeout`` seconds
    (a bound against hanging, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.02)


@dataclass
class _StallingHandler(SinkHandler):
    stalling: bool = False  # hold the reply to DATA while True
    stalled: threading.Event = field(default_factory=threading.Event)  # a sender is waiting

    async def handle_DATA(self, server, session, envelope):
        # The message is kept before the reply is held: a server that stalls (or whose client
        # dies) after the final dot may deliver a message whose sender never heard "250".
        reply = await super().handle_DATA(server, session, envelope)
        while self.stalling:
            self.stalled.set()
            await asyncio.sleep(0.01)
        return reply


class StallingSink(SmtpSink):
    """An SmtpSink that can hold its reply to DATA open, as a hung or overloaded server does."""

    def __init__(self):
        super().__init__()
        self.handler = _StallingHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def stall_data(self) -> None:
        """Hold the reply to every DATA from now on (the message is kept, its sender waits)
        until ``release_data``."""
        self.handler.stalled.clear()
        self.handler.stalling = True

    def wait_stalled(self, timeout: float = 60) -> None:
        """Return once a sender waits for its reply to DATA."""
        if not self.handler.stalled.wait(timeout):
            pytest.fail(f"no DATA reached the sink within {timeout} s")

    def release_data(self) -> None:
        self.handler.stalling = False


# A cluster whose workers die (SIGKILL of themselves) in every campaign batch, after claiming
# its messages and before handing any off — as a message that exhausts memory while it is
# rendered would make them: ``QCluster(env, log, command=CRASHING_QCLUSTER)``.
CRASHING_QCLUSTER = [sys.executable, "-m", "tests.workers", "crash-before-hand-off"]


def _crashing_qcluster() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    from campaigns import pipeline

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    pipeline.mark_sending_many = die  # the workers are forked from here: they inherit it
    call_command("qcluster")


if __name__ == "__main__" and sys.argv[1:] == ["crash-before-hand-off"]:
    _crashing_qcluster()


def sending_campaign(workspace, recipients: int, **fields):
    """A campaign in ``sending`` with one queued message per recipient, as a snapshot leaves
    it (bulk-created: the snapshot's audience query is tested elsewhere); ``fields`` set more
    of the campaign (e.g. ``rate_per_minute``)."""
    # Imported here: this module also starts a qcluster (python -m), before Django is set up.
    from campaigns.models import Campaign, CampaignStatus, Message
    from contacts.models import Contact
    from deliverability.models import SendingDomain

    SendingDomain.objects.create(
        workspace=workspace, domain="acme.example", is_verified=True, verified_at=timezone.now()
    )
    contacts = Contact.objects.bulk_create(
        [
            Contact(workspace=workspace, email=f"r{n}@example.com", first_name=f"R{n}")
            for n in range(recipients)
        ],
        batch_size=5000,
    )
    campaign = Campaign.objects.create(
        workspace=workspace,
        name="Crash test",
        subject="Hello {{ contact.first_name }}",
        html="<p>Hi {{ contact.first_name }}</p>",
        from_email="news@acme.example",
        from_name="Acme",
        audience={},
        track_opens=False,
        track_clicks=False,
        status=CampaignStatus.SENDING,
        recipients=recipients,
        started_at=timezone.now(),
        **fields,
    )
    Message.objects.bulk_create(
        [
            Message(
                workspace=workspace, campaign=campaign, contact=c, kind="campaign", email=c.email
            )
            for c in contacts
        ],
        batch_size=5000,
    )
    return campaign
