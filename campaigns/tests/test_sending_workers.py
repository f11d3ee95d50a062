"""Two real worker processes send one campaign at the same time (issue 11 §3): nobody gets two
copies, and the campaign's ``rate_per_minute`` holds across both.

Each worker is a process of its own (``python -c``, Django set up against the test database)
sending batches of the campaign until none is left, into one real SMTP sink. PostgreSQL only:
the processes need a database they can open, and SQLite's test database lives in this
process's memory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from campaigns import pipeline
from campaigns.models import (
    Campaign,
    CampaignStatus,
    Message,
    MessageStatus,
    ThrottleWindow,
)
from tests.smtp import SmtpSink
from tests.workers import sending_campaign

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="worker processes cannot open SQLite's in-memory test database",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
# What one worker does: batches of the campaign until none settles anything.
WORKER = """
import django, sys
django.setup()
from campaigns import sending
while sending.send_batch(sys.argv[1]):
    pass
"""


def _run_workers(campaign: Campaign, sink: SmtpSink, count: int = 2) -> None:
    database = settings.DATABASES["default"]
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    url = (
        f"postgres://{database['USER']}{password}@{database['HOST']}:{database['PORT']}"
        f"/{database['NAME']}"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mailcrm.settings",
        "DATABASE_URL": url,
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink.port),
        "EMAIL_USE_TLS": "0",
        "EMAIL_RATE_PER_MINUTE": "0",
    }
    connection.close()  # the workers must see every row committed (they are)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(campaign.pk)],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    for worker in workers:
        _, errors = worker.communicate(timeout=300)
        assert worker.returncode == 0, errors[-3000:]


def test_two_workers_share_a_campaign_and_nobody_gets_two_copies(workspace):
    campaign = sending_campaign(workspace, 240)

    with SmtpSink() as sink:
        _run_workers(campaign, sink)

    recipients = Counter(r.recipients[0].lower() for r in sink.received)
    assert len(recipients) == 240
    assert max(recipients.values()) == 1
    message_ids = [r.message["Message-ID"] for r in sink.received]
    assert len(set(message_ids)) == len(message_ids) == 240
    statuses = Counter(Message.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses == {MessageStatus.SENT: 240}


def test_the_campaigns_rate_per_minute_holds_across_two_workers(workspace):
    campaign = sending_campaign(workspace, 60, rate_per_minute=25)

    with SmtpSink() as sink:
        _run_workers(campaign, sink)

    windows = ThrottleWindow.objects.filter(key=f"campaign:{campaign.pk}")
    granted = sum(w.used for w in windows)
    # Both workers stop when the minute's budget is spent; what left is what was granted, and
    # no window granted more than the rate (one or two windows: the test may cross a minute).
    assert all(w.used <= 25 for w in windows)
    assert len(sink.received) == granted == (25 if windows.count() == 1 else granted)
    assert 25 <= len(sink.received) <= 50
    sent = Message.objects.filter(campaign=campaign, status=MessageStatus.SENT).count()
    assert sent == len(sink.received)
    assert Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).count() == (
        60 - sent
    )


def test_a_worker_of_another_campaign_sends_nothing_of_this_one(workspace, outsider):
    ours = sending_campaign(workspace, 5)
    theirs = Campaign.objects.create(
        workspace=outsider.workspace, name="Theirs", subject="Hi", status=CampaignStatus.DRAFT
    )

    with SmtpSink() as sink:
        _run_workers(theirs, sink, count=1)

    assert sink.received == []
    assert set(Message.objects.filter(campaign=ours).values_list("status", flat=True)) == {
        MessageStatus.QUEUED
    }
    assert pipeline.claim(theirs.pk) == []
