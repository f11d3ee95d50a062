"""Open-tracking hits per second against gunicorn on this machine, with a load generator (wrk)
on loopback, and a check that every hit answered 200 was recorded as a MessageEvent.

    DATABASE_URL=postgres://… python -m bench.tracking [--messages 10000] [--seconds 20]
        [--gunicorn-workers 4] [--connections 32]

Needs `wrk` (Debian package). Prints one JSON object.
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
from django.utils import timezone

from bench.generate import bench_workspace, generate
from bench.sending import _campaign, _everyone
from campaigns import pipeline
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

    tokens, workspace = _sent_messages(args.messages)
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
    recorded = MessageEvent.objects.filter(workspace=workspace, type=EventType.OPENED).count()
    recorded -= before
    p = {k: v for k, v in re.findall(r"\s+(50|90|99)%\s+(\S+)", output)}
    print(
        json.dumps(
            {
                "scenario": "tracking_hits",
                "hits_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
                "requests": total,
                "non_2xx": errors,
                "recorded_events": recorded,
                "every_hit_recorded": recorded == total - errors,
                "latency": {"p50": p.get("50"), "p90": p.get("90"), "p99": p.get("99")},
                "gunicorn_workers": args.gunicorn_workers,
                "connections": args.connections,
            },
            indent=2,
        )
    )
    workspace.delete()


if __name__ == "__main__":
    main()
