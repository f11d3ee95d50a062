"""A campaign to N contacts (default 100,000) end to end, against the ceiling of the same sink.

    DATABASE_URL=postgres://… python -m bench.sending [N] [--snapshot M] [--workers 2]

1. ceiling: N pre-built messages pushed straight into a local aiosmtpd sink over persistent
   connections, one per worker process — what the sink can take;
2. ours: a tracked, personalised campaign to N contacts, sent by ``--workers`` django-q2 worker
   processes (``manage.py qcluster``) through the same sink, timed from "send" to the last
   message received; reported as messages/s and as a fraction of the ceiling;
3. snapshot: the time to snapshot M recipients (default 1,000,000) into Message rows.

Prints one JSON object. Uses workspaces of its own (``bench-sending``, ``bench-snapshot``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import smtplib
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection, transaction
from django.db.models import Count

from bench.generate import bench_workspace, generate
from bench.smtp_sink import CountingSink
from campaigns import pipeline, services
from campaigns.models import Campaign, CampaignStatus, Message
from contacts import services as contact_services
from contacts.models import Contact, ListMembership

ROOT = Path(__file__).resolve().parent.parent
HTML = """<html><head><style>p { color: #333; font-family: sans-serif }</style></head>
<body><h1>Hello {{ contact.first_name|default('there') }},</h1>
<p>Our {{ contact.properties.plan|default('free') }} plan news for {{ contact.company }}.</p>
<p><a href="https://example.org/news?id=1">Read the news</a> or
<a href="https://example.org/pricing">see the prices</a>.</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""


def _push(port: int, count: int, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for n in range(count):
            smtp.sendmail("news@example.com", [f"person{n}@example.com"], data)


def ceiling(sink: CountingSink, total: int, workers: int) -> float:
    """Messages/s the sink accepts from ``workers`` processes over persistent connections."""
    data = (
        b"From: news@example.com\r\nTo: someone@example.com\r\nSubject: Hello\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        + HTML.replace("\n", "\r\n").encode()
        * 3
    )
    start_count = sink.count
    context = multiprocessing.get_context("fork")
    share = total // workers
    processes = [
        context.Process(target=_push, args=(sink.port, share, data)) for _ in range(workers)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    sink.wait_for(start_count + share * workers, 60)
    return share * workers / (time.perf_counter() - started)


def _everyone(workspace, name: str) -> str:
    """A list holding every contact of the workspace, all made active."""
    Contact.objects.filter(workspace=workspace).update(status="active", archived_at=None)
    target = contact_services.contact_list_create(workspace=workspace, name=name)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ListMembership._meta.db_table} (contact_id, contact_list_id, added_at)"
            f" SELECT id, %s, now() FROM {Contact._meta.db_table} WHERE workspace_id = %s",
            [target.pk, workspace.pk],
        )
    return str(target.pk)


def _campaign(workspace, list_id: str) -> Campaign:
    return services.campaign_create(
        workspace=workspace,
        name="Benchmark",
        subject="News for {{ contact.first_name }}",
        html=HTML,
        from_email="news@example.com",
        from_name="Bench",
        audience={"lists": [list_id]},
    )


def campaign_rate(sink: CountingSink, total: int, workers: int) -> dict:
    workspace, _ = bench_workspace("bench-sending")
    workspace.limit_monthly_sends = None
    workspace.save()
    generate(workspace, total, progress=False)
    campaign = _campaign(workspace, _everyone(workspace, "Everyone"))
    env = {
        **os.environ,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink.port),
        "Q_WORKERS": str(workers),
        "Q_SYNC": "0",
    }
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)  # let the workers start
        before = sink.count
        started = time.perf_counter()
        services.campaign_send(campaign=campaign)
        queued = time.perf_counter() - started
        done = sink.wait_for(before + total, timeout=max(600, total / 50))
        elapsed = time.perf_counter() - started
        deadline = time.monotonic() + 60
        while Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENDING:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        cluster.terminate()
        cluster.wait(30)
    received = sink.count - before
    statuses = dict(
        Message.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("id"))
    )
    result = {
        "recipients": total,
        "received_by_sink": received,
        "complete": done,
        "seconds": round(elapsed, 2),
        "snapshot_and_enqueue_seconds": round(queued, 2),
        "messages_per_s": round(received / elapsed),
        "message_statuses": statuses,
        "campaign_status": Campaign.objects.get(pk=campaign.pk).status,
    }
    workspace.delete()
    return result


def snapshot_time(total: int) -> dict:
    workspace, _ = bench_workspace("bench-snapshot")
    workspace.limit_monthly_sends = None
    workspace.save()
    generate(workspace, total, progress=False)
    campaign = _campaign(workspace, _everyone(workspace, "Everyone"))
    started = time.perf_counter()
    with transaction.atomic():
        recipients = pipeline.snapshot(campaign)
    seconds = time.perf_counter() - started
    workspace.delete()
    return {"recipients": recipients, "seconds": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="?", type=int, default=100_000)
    parser.add_argument("--snapshot", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    figures: dict = {"scenario": "sending", "database": connection.vendor}
    with CountingSink() as sink:
        rate = ceiling(sink, args.size, args.workers)
        figures["ceiling_messages_per_s"] = round(rate)
        ours = campaign_rate(sink, args.size, args.workers)
        figures["campaign"] = ours
        figures["fraction_of_ceiling"] = round(ours["messages_per_s"] / rate, 2)
    if args.snapshot:
        figures["snapshot"] = snapshot_time(args.snapshot)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
