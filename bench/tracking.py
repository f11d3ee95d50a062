"""Open-tracking hits per second against gunicorn on this machine, with a load generator (wrk)
on loopback, and a check that every hit answered 200 was recorded as a MessageEvent.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python -m bench.tracking [--messages 10000]
        [--seconds 20] [--gunicorn-workers 2] [--worker-class gthread] [--threads 8]
        [--connections 32] [--wrk-threads 2] [--per-address-limit 10000000]

Needs `wrk` (Debian package). Run it with REDIS_URL set, as a deployment would: hits are then
queued in a Redis stream and the per-token and per-address rate limits live in Redis (the
embedded mode queues a hit with one INSERT and counts in a file-based cache). The per-address
limit stays on, raised so that one loopback address sending every hit is never cut off
(``PUBLIC_HITS_PER_MINUTE``, default 6,000 a minute). No worker runs during the load: after it
the queued hits are drained here (``campaigns.hits.drain``, timed: the drain's own rate) and
the events and the contacts' ``opens`` are checked against the hits answered. CPU per hit is
the gunicorn workers' CPU time (user + system, from /proc) over the requests answered.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from bench.generate import bench_workspace, generate
from bench.import_memory import deployed_env
from bench.sending import _campaign, _everyone
from campaigns import engagement, hits, pipeline
from campaigns.models import EventType, Message, MessageEvent
from campaigns.tokens import make_token
from campaigns.tracking import describe_agent
from contacts.models import Contact
from mailcrm.models import Workspace
from mailcrm.planner_statistics import analyze_after_insert
from mailcrm.workspace_deletion import workspace_delete
from tests.smtp import free_port

ROOT = Path(__file__).resolve().parent.parent
AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
LUA = """
local tokens = {}
for line in io.lines("%(tokens)s") do tokens[#tokens + 1] = line end
local i = math.random(#tokens)
wrk.headers["User-Agent"] = "%(agent)s"
request = function()
  i = i + 1
  return wrk.format("GET", "/t/o/" .. tokens[(i %% #tokens) + 1])
end
"""


def _sent_messages(count: int) -> tuple[list[str], Workspace]:
    workspace, _ = bench_workspace("bench-tracking")
    generate(workspace, count, progress=False)
    Contact.objects.filter(workspace=workspace).update(tracking_opt_out=False)
    campaign = _campaign(workspace, _everyone(workspace, "Everyone"))
    recipients = pipeline.snapshot(campaign)
    Message.objects.filter(campaign=campaign).update(
        status="sent", sent_at=timezone.now() - timedelta(hours=1)
    )
    # As campaign_send does after its snapshot (the hits' foreign-key checks plan with them).
    analyze_after_insert(Message._meta.db_table, recipients)
    ids = Message.objects.filter(campaign=campaign).values_list("id", flat=True)
    return [make_token("open", message_id) for message_id in ids], workspace


def _opens(workspace: Workspace) -> int:
    return Contact.objects.filter(workspace=workspace).aggregate(n=Sum("opens"))["n"] or 0


def _worker_cpu_seconds(master: int) -> float:
    """User + system CPU time of the gunicorn master's live children (its workers)."""
    total = 0.0
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return 0.0
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children_cpu_seconds() -> float:
    """CPU time of this process's finished children (wrk, once it has been waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wait_until_up(url: str, timeout: float = 60) -> None:
    """Until ``url`` (a forged token: nothing recorded) answers 404 — Django is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=5)  # noqa: S310 (loopback, our own server)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return
        except OSError:  # not yet listening
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"gunicorn did not answer {url}")
        time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=20)
    # As gunicorn.conf.py deploys it (sync workers: --worker-class sync --gunicorn-workers 4).
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--threads", type=int, default=8, help="per worker (gthread)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--per-address-limit", type=int, default=10_000_000)
    args = parser.parse_args()

    call_command("migrate", skip_checks=True, verbosity=0)
    tokens, workspace = _sent_messages(args.messages)
    hits.drain(batches=10**6)  # anything left over from an earlier run
    engagement.drain(batches=10**6)
    port = free_port()
    # The tokens were signed here: the server holds the same keys (deployed_env).
    env = deployed_env(
        ALLOWED_HOSTS="127.0.0.1", PUBLIC_HITS_PER_MINUTE=str(args.per_address_limit)
    )
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "mailcrm.wsgi",
            "--workers",
            str(args.gunicorn_workers),
            "--worker-class",
            args.worker_class,
            "--threads",
            str(args.threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    with tempfile.TemporaryDirectory() as folder:
        token_file = Path(folder, "tokens.txt")
        token_file.write_text("\n".join(tokens))
        script = Path(folder, "hits.lua")
        script.write_text(LUA % {"tokens": token_file, "agent": AGENT})
        try:
            _wait_until_up(f"http://127.0.0.1:{port}/t/o/not-a-token")
            before = MessageEvent.objects.filter(workspace=workspace).count()
            opens_before = _opens(workspace)
            load_before = os.getloadavg()
            cpu_before = _worker_cpu_seconds(server.pid)
            wrk_cpu_before = _children_cpu_seconds()
            output = subprocess.run(
                [
                    "wrk",
                    f"-t{args.wrk_threads}",
                    f"-c{args.connections}",
                    f"-d{args.seconds}s",
                    "--latency",
                    "-s",
                    str(script),
                    f"http://127.0.0.1:{port}",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            server_cpu = _worker_cpu_seconds(server.pid) - cpu_before
            wrk_cpu = _children_cpu_seconds() - wrk_cpu_before
            load_during = os.getloadavg()
        finally:
            server.terminate()
            server.wait(30)
    total = int(re.search(r"(\d+) requests in", output).group(1))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = int(failed.group(1)) if failed else 0
    # The hits wait in the queue for a worker's drain; drain them here, timed. A worker loads
    # ua-parser's rules once (about a second); not counted in the drain's rate.
    describe_agent("warm-up")
    waiting = hits.pending()
    started = time.perf_counter()
    drained = hits.drain(batches=10**6)
    drain_seconds = time.perf_counter() - started
    events = MessageEvent.objects.filter(workspace=workspace, type=EventType.OPENED)
    recorded = events.count() - before
    machine = events.filter(is_machine=True).count()
    leftover = engagement.drain(batches=10**6)
    opens = _opens(workspace) - opens_before
    answered = total - errors
    p = {k: v for k, v in re.findall(r"\s+(50|90|99)%\s+(\S+)", output)}
    print(
        json.dumps(
            {
                "scenario": "tracking_hits",
                "hits_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
                "requests": total,
                "non_2xx": errors,
                "recorded_events": recorded,
                "machine_events": machine,
                # wrk does not count the requests still in flight when it stops, which the
                # server may still have answered and recorded: at most one per connection.
                "every_hit_recorded": total - errors <= recorded <= total + args.connections,
                # Engagement is counted by the hits' drain, in the transaction that writes
                # their events; "rows" are hits.
                "engagement_drained": recorded - machine + leftover,
                "drain_rows_per_s": round(drained / drain_seconds) if drained else None,
                "hits_queued_after_load": waiting,
                "hits_drained": drained,
                "drain_seconds": round(drain_seconds, 2),
                "queue": "redis" if hits._uses_redis() else "database",
                "server_cpu_ms_per_hit": round(1000 * server_cpu / answered, 3)
                if answered
                else None,
                "wrk_cpu_ms_per_hit": round(1000 * wrk_cpu / answered, 3) if answered else None,
                "contact_opens_counted": opens,
                "every_open_counted": opens == recorded - machine,
                "latency": {"p50": p.get("50"), "p90": p.get("90"), "p99": p.get("99")},
                "gunicorn_workers": args.gunicorn_workers,
                "worker_class": args.worker_class,
                "threads": args.threads,
                "connections": args.connections,
                "wrk_threads": args.wrk_threads,
                "per_address_limit_per_minute": args.per_address_limit,
                "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
                "load_average_before": load_before,
                "load_average_end_of_load": load_during,
                "load_average_after": os.getloadavg(),
            },
            indent=2,
        )
    )
    workspace_delete(workspace.pk)


if __name__ == "__main__":
    main()
