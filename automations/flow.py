"""The shape of an automation's steps: top to bottom, with the yes/no paths of branches, and
where an enrolment goes after a step. Built once per automation from one query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from automations.models import Step, StepPath, StepType


class Flow:
    def __init__(self, steps: list[Step]):
        self.steps = {step.id: step for step in steps}
        self.paths: dict[tuple[Any, str], list[Step]] = defaultdict(list)
        for step in sorted(steps, key=lambda s: (s.position, s.id)):
            self.paths[(step.parent_id, step.path)].append(step)

    @classmethod
    def of(cls, automation_id: Any) -> Flow:
        return cls(list(Step.objects.filter(automation_id=automation_id)))

    def first(self) -> Step | None:
        main = self.paths.get((None, StepPath.MAIN), [])
        return main[0] if main else None

    def after(self, step: Step) -> Step | None:
        """The step that follows ``step``: its next sibling, else whatever follows the branch
        it sits in, else None (the end)."""
        siblings = self.paths.get((step.parent_id, step.path), [])
        index = next(i for i, s in enumerate(siblings) if s.id == step.id)
        if index + 1 < len(siblings):
            return siblings[index + 1]
        if step.parent_id is not None and step.parent_id in self.steps:
            return self.after(self.steps[step.parent_id])
        return None

    def start_of(self, branch: Step, path: str) -> Step | None:
        steps = self.paths.get((branch.id, path), [])
        return steps[0] if steps else self.after(branch)

    def walk(self, parent_id: Any = None, path: str = "", depth: int = 0) -> Iterator[tuple]:
        """(step, depth, path) top to bottom, each branch followed by its yes then no path."""
        for step in self.paths.get((parent_id, path), []):
            yield step, depth, path
            if step.type == StepType.BRANCH:
                yield from self.walk(step.id, StepPath.YES, depth + 1)
                yield from self.walk(step.id, StepPath.NO, depth + 1)

    def path_of(self, step: Step) -> list[Step]:
        """The branches above ``step``, outermost first."""
        chain: list[Step] = []
        while step.parent_id is not None and step.parent_id in self.steps:
            step = self.steps[step.parent_id]
            chain.insert(0, step)
        return chain


# --- waiting -----------------------------------------------------------------------------------


def zone(name: Any, fallback: str = "UTC") -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if isinstance(candidate, str) and candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def wait_duration(config: dict) -> timedelta:
    return timedelta(
        days=int(config.get("days") or 0),
        hours=int(config.get("hours") or 0),
        minutes=int(config.get("minutes") or 0),
    )


def next_weekday_time(now: datetime, tz: ZoneInfo, weekdays: list[int], at: time) -> datetime:
    """The first moment after ``now`` that is ``at`` o'clock on one of ``weekdays`` (0 =
    Monday) in ``tz``."""
    local = now.astimezone(tz)
    days = set(weekdays) or set(range(7))
    for offset in range(8):
        candidate = datetime.combine(local.date() + timedelta(days=offset), at, tzinfo=tz)
        if candidate.weekday() in days and candidate > local:
            return candidate.astimezone(now.tzinfo)
    return now  # unreachable: a week always has one


def parse_time(value: Any) -> time:
    hours, _, minutes = str(value or "09:00").partition(":")
    return time(int(hours), int(minutes or 0))
