"""Messages per second through the SMTP submission relay, with 10 concurrent clients.

    DATABASE_URL=postgres://… python -m bench.smtp_relay [N] [--clients 10] [--workers 2]

The relay (``manage.py smtp_relay``, STARTTLS with a self-signed certificate made here) and
``--workers`` django-q2 workers (``manage.py qcluster``) run as processes of their own; the
server-wide EMAIL_* points at a local counting aiosmtpd sink. ``--clients`` smtplib clients,
each on one connection (STARTTLS, AUTH PLAIN), submit N messages in all (default 2,000) from a
verified domain of a bench workspace. Reported:

- ``accepted``: N / the time until the last 250 reply (the relay queued every message);
- ``delivered``: N / the time until the sink had them all (relay, queue, pipeline, SMTP out).

Prints one JSON object. Uses a workspace of its own (``bench-smtp-relay``); worker and relay
output goes to ``var/bench-smtp-relay.log``.
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from bench.generate import bench_workspace
from bench.sending import _start_cluster, _worker_env
from bench.smtp_sink import CountingSink
from campaigns.models import Message
from deliverability.models import SendingDomain
from mailcrm.workspace_deletion import workspace_delete
from smtprelay import services
from tests.smtp import free_port
from tests.tls import write_self_signed

ROOT = Path(__file__).resolve().parent.parent


def _message(number: int) -> bytes:
    message = EmailMessage()
    message["From"] = "Bench <bench@relay-bench.example>"
    message["To"] = f"person{number}@example.com"
    message["Subject"] = f"Your receipt #{number}"
    message["X-Mailcrm-Tag"] = "bench"
    message.set_content(f"Thanks for order {number}. https://example.org/orders/{number}")
    message.add_alternative(
        f'<p>Thanks for order {number}. <a href="https://example.org/orders/{number}">'
        "See it</a></p>",
        subtype="html",
    )
    return message.as_bytes()


def _client(port: int, username: str, password: str, numbers: range) -> int:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
        client.starttls(context=context)
        client.login(username, password)
        for number in numbers:
            client.sendmail(
                "bench@relay-bench.example", [f"person{number}@example.com"], _message(number)
            )
    return len(numbers)


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the relay did not start:\n{log.read_text()[-3000:]}")


def run(total: int, clients: int, workers: int) -> dict:
    workspace, _ = bench_workspace("bench-smtp-relay")
    workspace.limit_monthly_sends = None
    workspace.save()
    SendingDomain.objects.create(
        workspace=workspace,
        domain="relay-bench.example",
        is_verified=True,
        verified_at=timezone.now(),
    )
    credential, password = services.smtp_credential_rotate(workspace=workspace)
    log_path = ROOT / "var" / "bench-smtp-relay.log"
    with CountingSink() as sink, tempfile.TemporaryDirectory() as folder:
        cert, key = write_self_signed(Path(folder), "relay.bench")
        port = free_port()
        env = {
            **_worker_env(sink, workers),
            "SMTP_RELAY_TLS_CERT": cert,
            "SMTP_RELAY_TLS_KEY": key,
            "SMTP_RELAY_RATE_PER_MINUTE": "0",
        }
        cluster = _start_cluster(env, log_path.with_suffix(".qcluster.log"))
        relay_log = log_path.open("w")
        relay = subprocess.Popen(
            [sys.executable, "manage.py", "smtp_relay", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=relay_log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_port(port, relay, log_path)
            share = -(-total // clients)
            ranges = [range(i * share, min(total, (i + 1) * share)) for i in range(clients)]
            before = sink.count
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=clients) as pool:
                sent = sum(
                    pool.map(lambda r: _client(port, credential.username, password, r), ranges)
                )
            accepted = time.perf_counter() - started
            done = sink.wait_for(before + total, timeout=max(600, total / 20), stall=60)
            delivered = time.perf_counter() - started
        finally:
            relay.terminate()
            relay.wait(30)
            cluster.terminate()
            cluster.wait(30)
    statuses = dict(
        Message.objects.filter(workspace=workspace)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    received = sink.count - before
    workspace_delete(workspace.pk)
    return {
        "messages": total,
        "clients": clients,
        "workers": workers,
        "accepted_by_relay": sent,
        "accepted_seconds": round(accepted, 2),
        "accepted_messages_per_s": round(sent / accepted),
        "received_by_sink": received,
        "complete": done,
        "delivered_seconds": round(delivered, 2),
        "delivered_messages_per_s": round(received / delivered),
        "message_statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", nargs="?", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    figures = {
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "load_average_before": os.getloadavg(),
        **run(args.size, args.clients, args.workers),
        "load_average_after": os.getloadavg(),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
