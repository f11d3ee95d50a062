"""Open-tracking hits per second against gunicorn on this machine, with a load generator (wrk)
on loopback, and a check that every hit answered 200 was recorded as a MessageEvent.

    DATABASE_URL=postgres://… python -m bench.tracking [--messages 10000] [--seconds 20]
        [--gunicorn-workers 4] [--connections 32]

Needs `wrk` (Debian package). Run it with REDIS_URL set, as a deployment would: the per-token
rate limit lives in the cache, and the file-based cache of the embedded mode costs a file write
per hit. After the run the pending engagement is drained here and the contacts' ``opens`` are
checked against the recorded events. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from bench.generate import bench_workspace, generate
from bench.sending import _campaign, _everyone
from campaigns import engagement, pipeline
from campaigns.models import EventType, Message, MessageEvent
from campaigns.tokens import make_token
from contacts.models import Contact
from mailcrm.models import Workspace
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
    pipeline.snapshot(campaign)
    Message.objects.filter(campaign=campaign).update(
        status="sent", sent_at=timezone.now() - timedelta(hours=1)
    )
    ids = Message.objects.filter(campaign=campaign).values_list("id", flat=True)
    return [make_token("open", message_id) for message_id in ids], workspace


def _opens(workspace: Workspace) -> int:
    return Contact.objects.filter(workspace=workspace).aggregate(n=Sum("opens"))["n"] or 0


def _wait_until_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 (loopback, our own server)
            return
        except Exception:  # noqa: BLE001 (404 or not yet listening: both mean try again)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    call_command("migrate", skip_checks=True, verbosity=0)
    tokens, workspace = _sent_messages(args.messages)
    engagement.drain(batches=10**6)  # anything left over from an earlier run
    opens_before = _opens(workspace)
    load_before = os.getloadavg()
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "0",
        # The tokens were signed here: the server must hold the same keys.
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "PUBLIC_HITS_PER_MINUTE": "0",
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "mailcrm.wsgi",
            "--workers",
            str(args.gunicorn_workers),
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
            _wait_until_up(f"http://127.0.0.1:{port}/t/o/{tokens[0]}")
            before = MessageEvent.objects.filter(workspace=workspace).count()
            output = subprocess.run(
                [
                    "wrk",
                    "-t2",
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
        finally:
            server.terminate()
            server.wait(30)
    total = int(re.search(r"(\d+) requests in", output).group(1))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = int(failed.group(1)) if failed else 0
    events = MessageEvent.objects.filter(workspace=workspace, type=EventType.OPENED)
    recorded = events.count() - before
    machine = events.filter(is_machine=True).count()
    # The opens wait as PendingEngagement rows for a worker's drain; drain them here.
    started = time.perf_counter()
    drained = engagement.drain(batches=10**6)
    drain_seconds = time.perf_counter() - started
    opens = _opens(workspace) - opens_before
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
                "engagement_drained": drained,
                "drain_rows_per_s": round(drained / drain_seconds) if drained else None,
                "contact_opens_counted": opens,
                "every_open_counted": opens == recorded - machine,
                "latency": {"p50": p.get("50"), "p90": p.get("90"), "p99": p.get("99")},
                "gunicorn_workers": args.gunicorn_workers,
                "connections": args.connections,
                "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
                "load_average_before": load_before,
                "load_average_after": os.getloadavg(),
            },
            indent=2,
        )
    )
    workspace.delete()


if __name__ == "__main__":
    main()
