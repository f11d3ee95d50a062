"""What an A/B test adds to a campaign of N recipients (default 1,000,000):

    DATABASE_URL=postgres://… python -m bench.ab [N]

1. the snapshot of a plain campaign (the baseline);
2. the snapshot of a campaign with a four-variant test on 20 % of the audience, and apart the
   assignment (``campaigns.ab.assign``: one UPDATE hashing every message, plus the holds);
3. the per-variant statistics (``ab_stats``: two grouped queries) once the test share is sent;
4. the pick of the winner (the API's or the clock's part), and the task that then releases the
   held rest (80 % of the rows) in chunks.

Prints one JSON object with the load average before and after. Uses a workspace of its own
(``bench-ab``), kept (deleting a million messages takes minutes; the next run replaces it).
"""

from __future__ import annotations

import argparse
import json
import os
import time

from django.core.management import call_command
from django.db import transaction

from bench.generate import bench_workspace, generate
from bench.sending import _campaign, _everyone
from campaigns import ab, pipeline
from campaigns.models import CampaignStatus, Message, MessageStatus

VARIANTS = [{"subject": f"Subject {label}"} for label in ab.LABELS]


def _timed(action) -> tuple[object, float]:
    started = time.perf_counter()
    result = action()
    return result, round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="?", type=int, default=1_000_000)
    args = parser.parse_args()
    call_command("migrate", skip_checks=True, verbosity=0)
    figures: dict = {"scenario": "ab", "load_average_before": os.getloadavg()}
    workspace, _ = bench_workspace("bench-ab")
    workspace.limit_monthly_sends = None
    workspace.save()
    try:
        generate(workspace, args.size, progress=False)
        everyone = _everyone(workspace, "Everyone")

        plain = _campaign(workspace, everyone)
        with transaction.atomic():
            recipients, seconds = _timed(lambda: pipeline.snapshot(plain))
        figures["plain_snapshot"] = {"recipients": recipients, "seconds": seconds}

        tested = _campaign(workspace, everyone)
        ab.ab_configure(
            campaign=tested, share=20, criterion="manual", wait_minutes=240, variants=VARIANTS
        )
        with transaction.atomic():
            _, snapshot_seconds = _timed(lambda: pipeline.snapshot(tested))
            _, assign_seconds = _timed(lambda: ab.assign(tested))
        messages = Message.objects.filter(campaign=tested)
        figures["ab_snapshot"] = {
            "snapshot_seconds": snapshot_seconds,
            "assign_seconds": assign_seconds,
            "in_test": messages.filter(ab_variant__isnull=False).count(),
            "held": messages.filter(status=MessageStatus.HELD).count(),
        }

        messages.filter(ab_variant__isnull=False).update(status=MessageStatus.SENT)
        _, figures["stats_seconds"] = _timed(lambda: ab.ab_stats(tested))

        type(tested).objects.filter(pk=tested.pk).update(status=CampaignStatus.PAUSED)
        test = ab.ab_test_of(tested)
        _, figures["winner_seconds"] = _timed(
            lambda: ab.select_winner(test=test, position=1, decided_by="bench")
        )
        # The task the decision queues (here in this process, the campaign paused: no sending).
        _, figures["release_rest_seconds"] = _timed(lambda: ab.release_rest(tested.pk))
    finally:
        figures["load_average_after"] = os.getloadavg()
        print(json.dumps(figures, indent=2), flush=True)


if __name__ == "__main__":
    main()
