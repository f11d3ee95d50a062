"""Transactional API send rate: ``POST /api/v1/emails`` and ``/emails/batch`` against gunicorn,
delivered by django-q2 workers into a local counting SMTP sink.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python -m bench.transactional [N]
        [--clients 8] [--batch-size 100] [--gunicorn-workers 4] [--workers 2]

gunicorn (``mailcrm.wsgi``, sync workers, ``DEBUG=0``) serves the API on a free loopback port;
``--workers`` worker processes (``manage.py qcluster``) send with the server-wide ``EMAIL_*``
pointing at the sink (``bench/smtp_sink.py``). Two phases, N messages each (default 5,000),
from a verified domain of a workspace of its own (``bench-transactional``):

- ``single``: ``--clients`` threads post one email per request;
- ``batch``: the same threads post ``--batch-size`` emails per ``/emails/batch`` request.

For each: ``accepted_per_s`` is N over the time until the last 202 (every message stored and
queued), ``delivered_per_s`` N over the time until the sink had them all (API, queue, render,
SMTP out). Prints one JSON object; worker output goes to ``var/bench-transactional.log``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from bench.generate import bench_workspace
from bench.import_memory import deployed_env
from bench.sending import _start_cluster, _worker_env
from bench.smtp_sink import CountingSink
from campaigns.models import Message
from deliverability.models import SendingDomain
from mailcrm.workspace_deletion import workspace_delete
from tests.smtp import free_port

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "tx-bench.example"
HTML = (
    "<p>Hello {{ contact.first_name|default('there') }}, your order {{ order }} has shipped.</p>"
    '<p><a href="https://example.org/orders">Track it</a></p>'
)


def email(number: int) -> dict:
    return {
        "from": f"orders@{DOMAIN}",
        "from_name": "Bench shop",
        "to": [f"buyer{number}@example.com"],
        "subject": f"Order #{number} has shipped",
        "html": HTML,
        "variables": {"order": number},
        "tag": "bench",
        "metadata": {"order": number},
    }


def _post(port: int, secret: str, path: str, bodies: list) -> tuple[int, int]:
    """POST each body in turn on one client connection; (accepted messages, refused requests)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    accepted = refused = 0
    headers = {"X-API-Key": secret, "Content-Type": "application/json"}
    for body in bodies:
        connection.request("POST", path, json.dumps(body), headers)
        response = connection.getresponse()
        payload = response.read()
        if response.status == 202:
            accepted += (
                len(json.loads(payload)) if isinstance(body, dict) and "emails" in body else 1
            )
        else:
            refused += 1
            if refused <= 3:
                print(f"{path}: {response.status} {payload[:300]!r}", file=sys.stderr)
        if response.getheader("Connection", "").lower() == "close":
            connection.close()  # gunicorn's sync workers close after each response
    connection.close()
    return accepted, refused


def phase(
    port: int, secret: str, sink: CountingSink, *, start: int, total: int, clients: int, batch: int
) -> dict:
    numbers = list(range(start, start + total))
    if batch:
        path = "/api/v1/emails/batch"
        bodies = [
            {"emails": [email(n) for n in numbers[i : i + batch]]} for i in range(0, total, batch)
        ]
    else:
        path, bodies = "/api/v1/emails", [email(n) for n in numbers]
    shares = [bodies[i::clients] for i in range(clients)]
    before = sink.count
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        outcomes = list(pool.map(lambda share: _post(port, secret, path, share), shares))
    accepted_s = time.perf_counter() - started
    accepted = sum(a for a, _ in outcomes)
    done = sink.wait_for(before + accepted, timeout=max(600, total / 10), stall=60)
    delivered_s = time.perf_counter() - started
    received = sink.count - before
    return {
        "messages": total,
        "requests": len(bodies),
        "accepted": accepted,
        "refused_requests": sum(r for _, r in outcomes),
        "accepted_seconds": round(accepted_s, 2),
        "accepted_per_s": round(accepted / accepted_s),
        "received_by_sink": received,
        "complete": done and received == total,
        "delivered_seconds": round(delivered_s, 2),
        "delivered_per_s": round(received / delivered_s),
    }


def _wait_until_up(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/emails/00000000-0000-0000-0000-000000000000")
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not start")


def run(total: int, clients: int, batch: int, gunicorn_workers: int, workers: int) -> dict:
    workspace, secret = bench_workspace("bench-transactional")
    workspace.limit_monthly_sends = None
    workspace.save()
    SendingDomain.objects.create(
        workspace=workspace, domain=DOMAIN, is_verified=True, verified_at=timezone.now()
    )
    port = free_port()
    figures: dict = {}
    with CountingSink() as sink:
        env = _worker_env(sink, workers)
        cluster = _start_cluster(env, ROOT / "var" / "bench-transactional.log")
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "mailcrm.wsgi",
                "--workers",
                str(gunicorn_workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=deployed_env(env, ALLOWED_HOSTS="127.0.0.1"),
        )
        try:
            _wait_until_up(port, server)
            options = {"clients": clients, "total": total}
            figures["single"] = phase(port, secret, sink, start=0, batch=0, **options)
            print(f"single: {json.dumps(figures['single'])}", file=sys.stderr, flush=True)
            figures["batch"] = phase(port, secret, sink, start=total, batch=batch, **options)
        finally:
            server.terminate()
            server.wait(30)
            cluster.terminate()
            cluster.wait(60)
    figures["message_statuses"] = dict(
        Message.objects.filter(workspace=workspace)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    workspace_delete(workspace.pk)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", nargs="?", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    # The workers fail on every task when a model is ahead of the bench database.
    call_command("migrate", skip_checks=True, verbosity=0)
    figures = {
        "scenario": "transactional",
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "broker": "redis" if settings.REDIS_URL else "orm",
        "clients": args.clients,
        "batch_size": args.batch_size,
        "gunicorn_workers": args.gunicorn_workers,
        "workers": args.workers,
        "load_average_before": os.getloadavg(),
    }
    figures.update(
        run(args.size, args.clients, args.batch_size, args.gunicorn_workers, args.workers)
    )
    figures["load_average_after"] = os.getloadavg()
    print(json.dumps(figures, indent=2), flush=True)


if __name__ == "__main__":
    main()
