"""A campaign to N contacts (default 100,000) end to end, against the ceiling of the same sink.

    DATABASE_URL=postgres://… python -m bench.sending [N] [--snapshot M] [--workers 2]
        [--clusters 1] [--no-postoffice]

1. ceiling: N pre-built messages pushed straight into a local aiosmtpd sink over persistent
   connections, one per worker process — what the sink can take;
2. ours: a tracked, personalised campaign to N contacts, sent by ``--workers`` django-q2 worker
   processes, shared out among ``--clusters`` ``manage.py qcluster`` processes (as on several
   machines: with Redis as the broker they share one queue), through the same sink, timed from
   "send" to the last message received; reported as messages/s, as a fraction of the ceiling,
   with the duplicates the sink saw (same Message-ID twice: must be 0) and the CPU seconds per
   message of the workers, the PostgreSQL backends and the sink;
3. post-office: the same N personalised messages queued in django-post-office and sent by its
   ``send_queued`` with ``--workers`` processes through the same sink (``bench.postoffice``, in
   a process of its own with ``bench.postoffice_settings`` and a database of its own);
4. snapshot: the time to snapshot M recipients (default 1,000,000) into Message rows.

Prints one JSON object. Uses workspaces of its own (``bench-sending``, ``bench-snapshot``) and
migrates the bench database first (workers whose models are ahead of it fail every task). The
workers' output goes to ``var/bench-qcluster.log``; a run that stalls for a minute stops and
shows its tail.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from bench.generate import bench_workspace, generate
from bench.smtp_sink import CountingSink
from campaigns import pipeline, services
from campaigns.models import Campaign, CampaignStatus, Message
from contacts import services as contact_services
from contacts.models import Contact, ListMembership
from deliverability.models import SendingDomain
from mailcrm.workspace_deletion import workspace_delete

ROOT = Path(__file__).resolve().parent.parent
HTML = """<html><head><style>p { color: #333; font-family: sans-serif }</style></head>
<body><h1>Hello {{ contact.first_name|default('there') }},</h1>
<p>Our {{ contact.properties.plan|default('free') }} plan news for {{ contact.company }}.</p>
<p><a href="https://example.org/news?id=1">Read the news</a> or
<a href="https://example.org/pricing">see the prices</a>.</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""


def _push(port: int, first: int, count: int, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for n in range(first, first + count):
            # A Message-ID of its own, as ours carry: the sink counts duplicates by it.
            smtp.sendmail(
                "news@example.com",
                [f"person{n}@example.com"],
                b"Message-ID: <ceiling-%d@example.com>\r\n" % n + data,
            )


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
        context.Process(target=_push, args=(sink.port, n * share, share, data))
        for n in range(workers)
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
    # Campaigns leave only from a verified sending domain; this one has no DKIM key, so the
    # figures leave out signing.
    SendingDomain.objects.get_or_create(
        workspace=workspace,
        domain="example.com",
        defaults={"is_verified": True, "verified_at": timezone.now()},
    )
    return services.campaign_create(
        workspace=workspace,
        name="Benchmark",
        subject="News for {{ contact.first_name }}",
        html=HTML,
        from_email="news@example.com",
        from_name="Bench",
        audience={"lists": [list_id]},
    )


def _worker_env(sink: CountingSink, workers: int) -> dict[str, str]:
    """What the worker processes need: the same database and keys as this process, the
    server-wide EMAIL_* pointing at the sink (the bench workspace has no sending backend of
    its own, so the server's default carries its mail), and real asynchronous tasks."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.DATABASE_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink.port),
        "EMAIL_USE_TLS": "0",
        "EMAIL_RATE_PER_MINUTE": "0",
        "Q_WORKERS": str(workers),
        "Q_SYNC": "0",
    }
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    return env


def _cpu_seconds(pids) -> float:
    """User + system CPU seconds of these processes so far (0 for those already gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> set[int]:
    """``pid`` and every process below it (a qcluster's monitor, pusher and workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(children.get(current, []))
    return found


def _database_backends() -> set[int]:
    """The PostgreSQL server processes of the bench database (the workers' connections)."""
    if connection.vendor != "postgresql":
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        return {row[0] for row in cursor.fetchall()}


class _BackendCpu:
    """CPU seconds of the bench database's backends while sending, sampled every second: a
    worker's connection is renewed after CONN_MAX_AGE (60 s), and a backend that has exited
    keeps the CPU it had when last seen."""

    def __init__(self):
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for pid in _database_backends():
            seconds = _cpu_seconds([pid])
            self.start.setdefault(pid, seconds)
            self.last[pid] = max(self.last.get(pid, 0), seconds)

    def _run(self) -> None:
        try:
            while not self._stop.wait(1):
                self._sample()
        finally:
            connection.close()

    def __enter__(self) -> _BackendCpu:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)
        self._sample()

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.start[pid] for pid in self.last)


def _start_cluster(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """``manage.py qcluster`` with its output in ``log_path``; returns once it is running."""
    log = log_path.open("w")
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while "running." not in log_path.read_text():
        if cluster.poll() is not None or time.monotonic() > deadline:
            cluster.kill()
            raise RuntimeError(f"qcluster did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return cluster


def _analyze() -> None:
    """The tables as a live database has them (autovacuum visits them within a minute of the
    inserts): statistics — right after generating, the planner takes the tables for empty and
    the snapshot's SELECT runs as nested loops over a million rows — and the visibility map
    and hint bits, which the snapshot's reads would otherwise set and write out."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"VACUUM (ANALYZE) {Contact._meta.db_table}, {ListMembership._meta.db_table},"
                f" {Message._meta.db_table}"
            )


def campaign_rate(sink: CountingSink, total: int, workers: int, clusters: int = 1) -> dict:
    workspace, _ = bench_workspace("bench-sending")
    workspace.limit_monthly_sends = None
    workspace.save()
    generate(workspace, total, progress=False)
    campaign = _campaign(workspace, _everyone(workspace, "Everyone"))
    _analyze()
    clusters = max(1, min(clusters, workers))
    log_paths = [
        ROOT / "var" / ("bench-qcluster.log" if n == 0 else f"bench-qcluster-{n + 1}.log")
        for n in range(clusters)
    ]
    shares = [workers // clusters + (n < workers % clusters) for n in range(clusters)]
    running = [
        _start_cluster(_worker_env(sink, share), path)
        for share, path in zip(shares, log_paths, strict=True)
    ]
    try:
        before, duplicates_before = sink.count, sink.duplicates
        worker_pids = set().union(*(_descendants(c.pid) for c in running))
        cpu_before = _cpu_seconds(worker_pids), _cpu_seconds([sink.pid])
        with _BackendCpu() as database:
            started = time.perf_counter()
            services.campaign_send(campaign=campaign)
            queued = time.perf_counter() - started
            done = sink.wait_for(before + total, timeout=max(600, total / 50), stall=60)
            elapsed = time.perf_counter() - started
        cpu = {
            "workers": _cpu_seconds(worker_pids) - cpu_before[0],
            "sink": _cpu_seconds([sink.pid]) - cpu_before[1],
            "database": database.seconds,
        }
        deadline = time.monotonic() + 60
        while Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENDING:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        # Anything still arriving after the campaign settled would be a second copy.
        time.sleep(1)
    finally:
        for cluster in running:
            cluster.terminate()
        for cluster in running:
            cluster.wait(30)
    received = sink.count - before
    log_path = log_paths[0]
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
        "qcluster_processes": clusters,
        "worker_processes": workers,
        "duplicates": sink.duplicates - duplicates_before,
        "distinct_received": received - (sink.duplicates - duplicates_before),
        # CPU per message while sending (ms): the workers (qcluster processes and children),
        # the PostgreSQL backends of the bench database (sampled every second, this process's
        # own included), and the sink.
        "cpu_ms_per_message": {
            name: round(1000 * seconds / max(received, 1), 3) for name, seconds in cpu.items()
        },
        "message_statuses": statuses,
        "campaign_status": Campaign.objects.get(pk=campaign.pk).status,
    }
    if not done:
        # A stalled run says why: the workers' own output (tracebacks included).
        result["qcluster_log_tail"] = log_path.read_text()[-3000:]
    workspace_delete(workspace.pk)
    return result


_LEFT_TO_DELETE: list = []


def snapshot_time(total: int) -> dict:
    workspace, _ = bench_workspace("bench-snapshot")
    workspace.limit_monthly_sends = None
    workspace.save()
    generate(workspace, total, progress=False)
    campaign = _campaign(workspace, _everyone(workspace, "Everyone"))
    _analyze()
    if connection.vendor == "postgresql":
        # The million contacts just written (and VACUUMed) leave ≈ 1 GB of WAL and dirty pages
        # behind: without a checkpoint first, the one they trigger lands inside the timing.
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    started = time.perf_counter()
    with transaction.atomic():
        recipients = pipeline.snapshot(campaign)
    seconds = time.perf_counter() - started
    _LEFT_TO_DELETE.append(workspace)  # minutes for a million contacts: after the figures
    return {"recipients": recipients, "seconds": round(seconds, 2)}


def postoffice_rate(sink: CountingSink, total: int, workers: int) -> dict:
    """The same campaign through django-post-office, in a process of its own (its settings
    add the app and use a database of their own): see ``bench.postoffice``."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.postoffice_settings",
        "DATABASE_URL": settings.DATABASE_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
        "BENCH_SMTP_PORT": str(sink.port),
    }
    _create_postoffice_database()
    before = sink.count
    output = subprocess.run(
        [sys.executable, "-m", "bench.postoffice", str(total), "--processes", str(workers)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if output.returncode:
        raise RuntimeError(f"bench.postoffice failed:\n{output.stderr[-3000:]}")
    result = json.loads(output.stdout)
    result["received_by_sink"] = sink.count - before
    return result


def _create_postoffice_database() -> None:
    """The ``<bench database>_po`` database of ``bench.postoffice_settings``, made if missing."""
    if connection.vendor != "postgresql":
        return
    name = f"{settings.DATABASES['default']['NAME']}_po"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')


def _progress(name: str, value) -> None:
    """Each figure on stderr as soon as it is known (the whole object comes at the end)."""
    print(f"{name}: {json.dumps(value)}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="?", type=int, default=100_000)
    parser.add_argument("--snapshot", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes in all")
    parser.add_argument(
        "--clusters",
        type=int,
        default=1,
        help="qcluster processes sharing --workers (as on several machines; Redis broker)",
    )
    parser.add_argument(
        "--no-postoffice", action="store_true", help="skip the django-post-office run"
    )
    args = parser.parse_args()
    # The workers fail on every task when a model is ahead of the bench database.
    call_command("migrate", skip_checks=True, verbosity=0)
    figures: dict = {
        "scenario": "sending",
        "database": connection.vendor,
        "broker": "redis" if settings.REDIS_URL else "orm",
        "load_average_before": os.getloadavg(),
    }
    with CountingSink() as sink:
        rate = ceiling(sink, args.size, args.workers)
        figures["ceiling_messages_per_s"] = round(rate)
        figures["ceiling_duplicates"] = sink.duplicates
        _progress("ceiling_messages_per_s", figures["ceiling_messages_per_s"])
        ours = campaign_rate(sink, args.size, args.workers, args.clusters)
        figures["campaign"] = ours
        _progress("campaign", ours)
        figures["fraction_of_ceiling"] = round(ours["messages_per_s"] / rate, 2)
        if not args.no_postoffice:
            theirs = postoffice_rate(sink, args.size, args.workers)
            figures["postoffice"] = theirs
            _progress("postoffice", theirs)
            figures["ours_vs_postoffice"] = round(
                ours["messages_per_s"] / theirs["messages_per_s"], 2
            )
    if args.snapshot:
        figures["snapshot"] = snapshot_time(args.snapshot)
    figures["load_average_after"] = os.getloadavg()
    print(json.dumps(figures, indent=2), flush=True)
    for workspace in _LEFT_TO_DELETE:
        workspace_delete(workspace.pk)


if __name__ == "__main__":
    main()
