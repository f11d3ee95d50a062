"""CPU per message of the campaign send path, by phase, in one process.

    DATABASE_URL=postgres://… python -m bench.send_profile [N] [--dkim] [--cprofile 40]

A tracked, personalised campaign (the one ``bench.sending`` sends) to N contacts (default
5,000), sent by ``campaigns.sending.send_batch`` called in a loop in this process into a
counting aiosmtpd sink in a process of its own. The machine is shared, so wall-clock rates are
noisy; the CPU time a thread spends in each phase is not. Each phase is timed with
``time.thread_time`` around the function that does it, exclusive of the phases it calls:

- ``claim``: taking a batch (``pipeline.claim``);
- ``load``: loading the batch's messages and contacts, the suppression re-check;
- ``context``: the render's variables (contact data, per-message URLs and their tokens);
- ``render``: Jinja, CSS inlining, the derived text part;
- ``track``: click-tracking links and the open pixel;
- ``build_email``: Django's ``EmailMultiAlternatives`` with our headers;
- ``mime``: the MIME tree (Django's ``message()``) and its wire bytes;
- ``dkim``: signing (only with ``--dkim``: the bench domain then has a 2048-bit key);
- ``mark_sending``: the chunk's UPDATE before the hand-off;
- ``smtp``: the delivery thread's work on the socket;
- ``record``: writing outcomes, events and contact counters;
- ``other``: the rest of the process's CPU (loop, chunking, throttling, the ORM outside the
  phases above).

Prints one JSON object: messages, ``cpu_ms_per_message`` (the process, all threads) and
``phases_ms_per_message``. The PostgreSQL backend's CPU is not included. ``--cprofile K``
also prints the K most expensive functions of the main thread (CPU time) to stderr and keeps the
whole profile in ``var/send_profile.pstats``.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import pstats
import sys
import threading
import time
from collections import defaultdict
from unittest import mock

from django.conf import settings
from django.core.mail import EmailMessage as DjangoEmailMessage
from django.utils import timezone

from bench.generate import bench_workspace, generate
from bench.sending import _analyze, _campaign, _everyone
from bench.smtp_sink import CountingSink
from campaigns import pipeline, sending, services, transport
from campaigns.models import Message
from deliverability.dkim import dkim_key_generate
from deliverability.models import SendingDomain
from templates import rendering

PSTATS_PATH = str(settings.BASE_DIR / "var" / "send_profile.pstats")


class Phases:
    """CPU seconds per phase, exclusive of nested phases, summed over threads."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._local = threading.local()
        self._lock = threading.Lock()

    def wrap(self, name: str, func):
        @functools.wraps(func)
        def timed(*args, **kwargs):
            stack = self._local.__dict__.setdefault("stack", [])
            stack.append(0.0)  # CPU of nested phases
            started = time.thread_time()
            try:
                return func(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                nested = stack.pop()
                if stack:
                    stack[-1] += spent
                with self._lock:
                    self.seconds[name] += spent - nested

        return timed


def _instrument(phases: Phases) -> list:
    """Patches putting each phase's function behind a timer."""
    targets = [
        (pipeline, "claim", "claim"),
        (sending._BatchRun, "prepare", "load"),
        (sending, "_context", "context"),
        (rendering.CompiledTemplate, "render", "render"),
        (sending, "track", "track"),
        (sending, "build_email", "build_email"),
        (DjangoEmailMessage, "message", "mime"),
        (transport, "mime_bytes", "mime"),
        (transport, "fast_mime_bytes", "mime"),
        (transport.DkimSigner, "sign", "dkim"),
        (pipeline, "mark_sending_many", "mark_sending"),
        (transport.SmtpTransport, "deliver", "smtp"),
        (pipeline, "record_outcomes", "record"),
    ]
    return [
        mock.patch.object(owner, attribute, phases.wrap(name, getattr(owner, attribute)))
        for owner, attribute, name in targets
    ]


def _prepare_campaign(total: int, dkim: bool):
    workspace, _ = bench_workspace("bench-send-profile")
    workspace.limit_monthly_sends = None
    workspace.save()
    generate(workspace, total, progress=False)
    campaign = _campaign(workspace, _everyone(workspace, "Everyone"))
    if dkim:
        dkim_key_generate(SendingDomain.objects.get(workspace=workspace, domain="example.com"))
    _analyze()
    with mock.patch.object(services, "start_chains", lambda campaign: None):
        services.campaign_send(campaign=campaign)
    return workspace, campaign


def profile(total: int, *, dkim: bool, top: int) -> dict:
    workspace, campaign = _prepare_campaign(total, dkim)
    phases = Phases()
    profiler = cProfile.Profile(time.thread_time) if top else None
    with CountingSink() as sink:
        with mock.patch.multiple(
            settings,
            EMAIL_BACKEND=transport.SMTP_BACKEND,
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=sink.port,
            EMAIL_USE_TLS=False,
        ):
            patches = _instrument(phases)
            for patch in patches:
                patch.start()
            try:
                cpu_started, wall_started = time.process_time(), time.perf_counter()
                if profiler:
                    profiler.enable()
                while sending.send_batch(campaign.pk, now=timezone.now()):
                    pass
                if profiler:
                    profiler.disable()
                cpu = time.process_time() - cpu_started
                wall = time.perf_counter() - wall_started
            finally:
                for patch in patches:
                    patch.stop()
        sink.wait_for(total, 30)
        received = sink.count
    sent = Message.objects.filter(campaign=campaign, status="sent").count()
    if profiler:
        profiler.dump_stats(PSTATS_PATH)  # for pstats' callers and callees
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(top)
    per = max(sent, 1)
    measured = sum(phases.seconds.values())
    by_phase = {name: round(1000 * s / per, 3) for name, s in sorted(phases.seconds.items())}
    by_phase["other"] = round(1000 * (cpu - measured) / per, 3)
    workspace.delete()
    return {
        "messages": total,
        "sent": sent,
        "received_by_sink": received,
        "dkim": dkim,
        "cpu_ms_per_message": round(1000 * cpu / per, 3),
        "phases_ms_per_message": by_phase,
        "wall_seconds": round(wall, 2),
        "profiled": bool(profiler),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("total", nargs="?", type=int, default=5_000)
    parser.add_argument("--dkim", action="store_true", help="sign with a 2048-bit DKIM key")
    parser.add_argument(
        "--cprofile", type=int, default=0, metavar="K", help="print the K costliest functions"
    )
    args = parser.parse_args()
    print(json.dumps(profile(args.total, dkim=args.dkim, top=args.cprofile), indent=2))


if __name__ == "__main__":
    main()
