"""N enrolments (default 100,000) advanced through a wait and a send step into a local SMTP sink,
and what the scheduler costs when nothing is due.

    DATABASE_URL=postgres://… python -m bench.automations [N] [--workers 2] [--idle-ticks 5]

1. enrol: N contacts enrolled by hand (``engine.enroll``) in an automation "wait 1 day, then
   send an email": they all land waiting at the wait step;
2. idle: the scheduler's tick (``automations.tasks.tick``: date triggers, then everything due)
   with N enrolments waiting and none due — time and queries of each of ``--idle-ticks`` ticks,
   and the plan of the "who is due?" query;
3. advance: the wait is made over (every due time moved to now) and one ``advance`` task is
   queued; ``--workers`` django-q2 worker processes (``manage.py qcluster``) perform the wait and
   the send step in batches and send the mail through the sink (``campaigns.tasks.send_batch``
   chains); timed until the sink has counted N messages and every enrolment is completed.

Prints one JSON object. Uses a workspace of its own (``bench-automations``, deleted at the
end) and migrates the bench database first. The workers' output goes to
``var/bench-qcluster.log``; a run that stalls for a minute stops and reports its tail.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time

from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.tasks import async_task

from automations import engine, services, tasks
from automations.models import Automation, Enrollment, EnrollmentStatus
from bench.generate import bench_workspace, generate
from bench.sending import ROOT, _start_cluster, _worker_env
from bench.smtp_sink import CountingSink
from campaigns.models import Campaign, Message
from contacts.models import Contact
from deliverability.models import SendingDomain
from mailcrm.models import Workspace
from mailcrm.workspace_deletion import workspace_delete
from templates.models import EmailTemplate

HTML = """<html><body><h1>Hello {{ contact.first_name|default('there') }},</h1>
<p>A day after you joined: <a href="https://example.org/start">get started</a>.</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""


def _setup(total: int) -> tuple[Workspace, Automation]:
    for leftover in Workspace.objects.filter(name="bench-automations"):
        _delete(leftover)  # of a run that stopped half-way
    workspace, _ = bench_workspace("bench-automations")
    workspace.limit_monthly_sends = None
    workspace.save()
    generate(workspace, total, progress=False)
    Contact.objects.filter(workspace=workspace).update(status="active", archived_at=None)
    # Mail of an automation leaves only from a verified domain (no DKIM key: no signing).
    SendingDomain.objects.create(
        workspace=workspace, domain="example.com", is_verified=True, verified_at=timezone.now()
    )
    template = EmailTemplate.objects.create(
        workspace=workspace,
        name="Day one",
        subject="Day one, {{ contact.first_name|default('friend') }}",
        html=HTML,
        from_email="hello@example.com",
        from_name="Bench",
    )
    automation = services.automation_create(workspace=workspace, name="Drip")
    services.step_add(automation=automation, type="wait", config={"days": 1})
    services.step_add(
        automation=automation, type="send_email", config={"template_id": str(template.pk)}
    )
    return workspace, services.automation_activate(automation=automation)


def enrol(automation: Automation, total: int) -> dict:
    ids = list(
        Contact.objects.filter(workspace_id=automation.workspace_id).values_list("pk", flat=True)
    )
    started = time.perf_counter()
    enrolled = engine.enroll(automation=automation, contact_ids=ids, wake=False)
    seconds = time.perf_counter() - started
    return {
        "enrolled": enrolled,
        "seconds": round(seconds, 2),
        "enrolments_per_s": round(enrolled / seconds),
    }


def idle_ticks(ticks: int) -> dict:
    """The scheduler's tick while everyone waits: nothing is due, nothing may be done."""
    waiting = Enrollment.objects.filter(status=EnrollmentStatus.WAITING).count()
    timings, queries = [], []
    for _ in range(ticks):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            result = tasks.tick()
            timings.append((time.perf_counter() - started) * 1000)
        queries.append(len(captured.captured_queries))
        assert result == {"enrolled": 0, "advanced": 0}, result
    due = Enrollment.objects.due(timezone.now()).order_by().values_list("automation_id", "step_id")
    sql, params = due.distinct().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = [row[0] for row in cursor.fetchall()]
    return {
        "waiting_enrolments": waiting,
        "ticks": ticks,
        "ms_median": round(statistics.median(timings), 2),
        "ms_min": round(min(timings), 2),
        "ms_max": round(max(timings), 2),
        "queries_per_tick": max(queries),
        "due_query_plan": plan,
    }


def advance(sink: CountingSink, automation: Automation, total: int, workers: int) -> dict:
    log_path = ROOT / "var" / "bench-automations-qcluster.log"
    cluster = _start_cluster(_worker_env(sink, workers), log_path)
    trace: list[tuple[float, int, int]] = []
    try:
        before = sink.count
        started = time.perf_counter()
        # The day is over: every wait ends now, and the automation is asked to advance (as
        # the minute's tick would; the tick runs in the cluster too and shares the work).
        Enrollment.objects.filter(automation=automation).update(due_at=timezone.now())
        async_task("automations.tasks.advance", str(automation.pk), group="automations")
        received_all = _wait(sink, before + total, timeout=max(600, total / 20), trace=trace)
        mailed = time.perf_counter() - started
        open_ones = Enrollment.objects.filter(automation=automation).open()
        deadline = time.monotonic() + 60
        while open_ones.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        _stop(cluster)
    received = sink.count - before
    completed = Enrollment.objects.filter(
        automation=automation, status=EnrollmentStatus.COMPLETED
    ).count()
    result = {
        "enrolments": total,
        "completed": completed,
        "received_by_sink": received,
        "complete": received_all and completed == total,
        "seconds_until_mail_received": round(mailed, 2),
        "seconds": round(elapsed, 2),
        "enrolments_per_s": round(completed / elapsed),
        "messages_per_s": round(received / mailed),
        "message_statuses": dict(
            Message.objects.filter(workspace_id=automation.workspace_id)
            .values_list("status")
            .annotate(n=Count("id"))
        ),
    }
    campaign = Campaign.objects.get(pk=automation.steps.get(type="send_email").campaign_id)
    result["campaign"] = {"status": campaign.status, "status_reason": campaign.status_reason}
    if not result["complete"]:
        result["trace_seconds_received_queued"] = trace
        result["qcluster_log_tail"] = log_path.read_text()[-3000:]
    return result


def _wait(sink: CountingSink, total: int, timeout: float, trace: list) -> bool:
    """Until the sink has ``total`` messages (False after ``timeout`` or a minute without a
    new one), noting every 5 s how many arrived and how many wait queued."""
    started = time.monotonic()
    last, moved = sink.count, started
    while sink.count < total:
        now = time.monotonic()
        if now - started > timeout or now - moved > 60:
            return False
        if sink.count != last:
            last, moved = sink.count, now
        if not trace or now - started - trace[-1][0] >= 5:
            queued = Message.objects.filter(status="queued").count()
            trace.append((round(now - started, 1), sink.count, queued))
        time.sleep(0.2)
    return True


def _stop(cluster: subprocess.Popen) -> None:
    """Stop the workers before anything is deleted (a loaded machine takes a while)."""
    cluster.terminate()
    try:
        cluster.wait(180)
    except subprocess.TimeoutExpired:
        cluster.kill()
        cluster.wait(30)


def _delete(workspace: Workspace) -> None:
    workspace_delete(workspace.pk)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="?", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--idle-ticks", type=int, default=5)
    args = parser.parse_args()
    # The workers fail on every task when a model is ahead of the bench database.
    call_command("migrate", skip_checks=True, verbosity=0)
    figures: dict = {
        "scenario": "automations",
        "database": connection.vendor,
        "load_average_before": os.getloadavg(),
    }
    workspace, automation = _setup(args.size)
    try:
        figures["enrol"] = enrol(automation, args.size)
        # Right after the bulk enrolment the table's statistics are stale (autovacuum
        # analyses it within a minute or so in production); then as analysed.
        figures["idle_tick_stale_statistics"] = idle_ticks(args.idle_ticks)
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Enrollment._meta.db_table}")
        figures["idle_tick"] = idle_ticks(args.idle_ticks)
        with CountingSink() as sink:
            figures["advance"] = advance(sink, automation, args.size, args.workers)
        figures["load_average_after"] = os.getloadavg()
    finally:
        # The figures so far, even when a phase failed.
        print(json.dumps(figures, indent=2, default=str), flush=True)
    if figures.get("advance", {}).get("complete"):
        _delete(workspace)  # else kept to look into (the next run deletes it)


if __name__ == "__main__":
    main()
