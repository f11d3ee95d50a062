"""`make bench`: every scenario of bench/, one after the other, against PostgreSQL and Redis.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python -m bench.run [--scale full|small]
        [--only a,b] [--skip a,b]

Each scenario runs as a subprocess (``python -m bench.<module> <size> …``, the command it also
runs alone with); its figures are the last JSON object it prints on stdout. The runner records
the machine (cores, RAM, load average before and after each scenario, PostgreSQL, Redis and
Python versions, git commit), the sizes and the exact commands, compares each figure with its
target from issues 3, 4 and 11, and writes ``bench/results.json`` and ``bench/results.md`` (the
table is printed too). A scenario that fails or times out is a row saying so; the run goes on.

Without DATABASE_URL the database is ``postgres://postgres@127.0.0.1:5432/mailcrm_bench``
(created when missing); anything but PostgreSQL is refused, since the figures would mean
nothing. REDIS_URL defaults to ``redis://127.0.0.1:6379/0``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/mailcrm_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
RESULTS = ROOT / "bench" / "results"  # .json and .md


# --- Targets and figures ----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """``value <op> limit``, with the issue that sets it."""

    op: str  # ">=", "<=" or "<"
    limit: float
    source: str

    def met(self, value: float) -> bool:
        if self.op == ">=":
            return value >= self.limit
        if self.op == "<=":
            return value <= self.limit
        return value < self.limit

    def __str__(self) -> str:
        op = {">=": "≥", "<=": "≤", "<": "<"}[self.op]
        return f"{op} {_number(self.limit)} ({self.source})"


@dataclass
class Figure:
    scenario: str
    name: str
    value: float | bool | None
    unit: str = ""
    target: Target | None = None

    @property
    def met(self) -> bool | None:
        if isinstance(self.value, bool):
            return self.value
        if self.target is None or self.value is None:
            return None
        return self.target.met(self.value)

    @property
    def ratio(self) -> float | None:
        """The figure over its target: above 1 beats a "≥" target and misses a "≤" one."""
        if self.target is None or not isinstance(self.value, int | float) or not self.target.limit:
            return None
        if isinstance(self.value, bool):
            return None
        return round(self.value / self.target.limit, 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "figure": self.name,
            "value": self.value,
            "unit": self.unit,
            "target": str(self.target) if self.target else None,
            "met": self.met,
            "ratio_to_target": self.ratio,
        }


def dig(data: Any, path: str) -> Any:
    """``data["a"]["b"]`` for ``"a.b"``; None when any step is missing."""
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _ms(value: Any) -> float | None:
    """wrk prints latencies as text ("102.35ms", "1.85s", "690.00us")."""
    if isinstance(value, int | float) or value is None:
        return value
    text = str(value).strip()
    for suffix, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(suffix):
            try:
                return round(float(text[: -len(suffix)]) * factor, 2)
            except ValueError:
                return None
    return None


IMPORT = Target(">=", 50_000, "issue 3/11")
REFRESH = Target("<=", 3, "issue 3/11")
PREVIEW = Target("<=", 0.3, "issue 3/11")
TYPEAHEAD = Target("<=", 50, "issue 3/11")
RSS = Target("<", 300, "issue 3/11 §2")
CAMPAIGN = Target(">=", 600, "issue 4/11")
OF_CEILING = Target(">=", 0.5, "issue 4/11")
VS_POSTOFFICE = Target(">=", 2, "issue 4/11")
SNAPSHOT = Target("<=", 5, "issue 4")
TRACKING = Target(">=", 1000, "issue 4/11")
API_P95 = Target("<=", 100, "issue 11")


def figures_generate(data: dict) -> list[Figure]:
    return [
        Figure("generate", "contacts generated", data.get("contacts"), "rows"),
        Figure("generate", "generation", data.get("seconds"), "s"),
        Figure("generate", "generation rate", data.get("rows_per_s"), "rows/s"),
    ]


def figures_imports(data: dict) -> list[Figure]:
    return [
        Figure("imports", f"import {label}", dig(data, f"{key}.rows_per_s"), "rows/s", IMPORT)
        for key, label in (
            ("all_new", "all new"),
            ("all_updates", "all updates"),
            ("new_with_tag_and_list", "new + tag + list"),
        )
    ]


def figures_import_memory(data: dict) -> list[Figure]:
    return [
        Figure("import_memory", "import rows", dig(data, "import.total_rows"), "rows"),
        Figure("import_memory", "import rate", dig(data, "import.rows_per_s"), "rows/s", IMPORT),
        Figure("import_memory", "import peak RSS", dig(data, "import.peak_rss_mb"), "MB", RSS),
    ]


def figures_orm_import(data: dict) -> list[Figure]:
    return [
        Figure("orm_import", "ours", dig(data, "ours.rows_per_s"), "rows/s"),
        Figure("orm_import", "per-row ORM", dig(data, "orm.rows_per_s"), "rows/s"),
        Figure("orm_import", "ours / per-row ORM", data.get("ours_vs_orm"), "×"),
    ]


def figures_segments(data: dict) -> list[Figure]:
    rows = []
    for key, value in data.items():
        if key.startswith("segment_") and isinstance(value, dict):
            name = key.removeprefix("segment_")
            rows += [
                Figure("segments", f"{name}: first refresh", value.get("first_refresh_s"), "s"),
                Figure(
                    "segments",
                    f"{name}: steady refresh",
                    value.get("steady_refresh_s"),
                    "s",
                    REFRESH,
                ),
                Figure(
                    "segments", f"{name}: preview count", value.get("preview_count_s"), "s", PREVIEW
                ),
            ]
    rows.append(
        Figure("segments", "typeahead p95", dig(data, "typeahead_search.p95_ms"), "ms", TYPEAHEAD)
    )
    return rows


def figures_exports(data: dict) -> list[Figure]:
    return [
        Figure("exports", "export all", dig(data, "export_all.rows_per_s"), "rows/s"),
        Figure("exports", "export all peak RSS", dig(data, "export_all.peak_rss_mb"), "MB", RSS),
        Figure("exports", "export ?tag=vip", dig(data, "export_tag_vip.rows_per_s"), "rows/s"),
        Figure(
            "exports",
            "export ?tag=vip peak RSS",
            dig(data, "export_tag_vip.peak_rss_mb"),
            "MB",
            RSS,
        ),
    ]


def figures_sending(data: dict) -> list[Figure]:
    return [
        Figure("sending", "sink ceiling", data.get("ceiling_messages_per_s"), "msg/s"),
        Figure(
            "sending",
            "campaign end to end",
            dig(data, "campaign.messages_per_s"),
            "msg/s",
            CAMPAIGN,
        ),
        Figure("sending", "campaign complete", dig(data, "campaign.complete")),
        Figure("sending", "of the ceiling", data.get("fraction_of_ceiling"), "", OF_CEILING),
        Figure("sending", "django-post-office", dig(data, "postoffice.messages_per_s"), "msg/s"),
        Figure("sending", "ours / post-office", data.get("ours_vs_postoffice"), "×", VS_POSTOFFICE),
        Figure("sending", "snapshot", dig(data, "snapshot.seconds"), "s", SNAPSHOT),
    ]


def figures_transactional(data: dict) -> list[Figure]:
    rows = []
    for key, label in (("single", "POST /emails"), ("batch", "POST /emails/batch")):
        rows += [
            Figure(
                "transactional", f"{label} accepted", dig(data, f"{key}.accepted_per_s"), "msg/s"
            ),
            Figure(
                "transactional", f"{label} delivered", dig(data, f"{key}.delivered_per_s"), "msg/s"
            ),
            Figure("transactional", f"{label} all delivered", dig(data, f"{key}.complete")),
        ]
    return rows


def figures_tracking(data: dict) -> list[Figure]:
    return [
        Figure("tracking", "open hits", data.get("hits_per_s"), "hits/s", TRACKING),
        Figure("tracking", "every hit recorded", data.get("every_hit_recorded")),
        Figure("tracking", "every open counted", data.get("every_open_counted")),
        Figure("tracking", "hit p99", _ms(dig(data, "latency.p99")), "ms"),
    ]


def figures_contacts_api(data: dict) -> list[Figure]:
    rows = []
    for name, value in (data.get("latency") or {}).items():
        rows.append(Figure("contacts_api", f"{name} p50", value.get("p50_ms"), "ms"))
        rows.append(Figure("contacts_api", f"{name} p95", value.get("p95_ms"), "ms", API_P95))
    return rows


def figures_smtp_relay(data: dict) -> list[Figure]:
    return [
        Figure("smtp_relay", "accepted", data.get("accepted_messages_per_s"), "msg/s"),
        Figure("smtp_relay", "delivered", data.get("delivered_messages_per_s"), "msg/s"),
        Figure("smtp_relay", "all delivered", data.get("complete")),
    ]


def figures_automations(data: dict) -> list[Figure]:
    return [
        Figure("automations", "enrol", dig(data, "enrol.enrolments_per_s"), "enrolments/s"),
        Figure("automations", "idle tick", dig(data, "idle_tick.ms_median"), "ms"),
        Figure("automations", "advance", dig(data, "advance.enrolments_per_s"), "enrolments/s"),
        Figure("automations", "advance complete", dig(data, "advance.complete")),
    ]


def figures_plans(data: dict) -> list[Figure]:
    """The count of cases, of slow ones and of sequential scans of large tables, then each slow
    case (the EXPLAIN ANALYZE time of its statements) against the API's 100 ms target; every
    case's plan summary is in results.json."""
    cases = data.get("cases") or []
    rows = [
        Figure("plans", "cases explained", len(cases) if cases else None, "cases"),
        Figure("plans", "cases over 100 ms", sum(1 for c in cases if c.get("slow")), "cases"),
        Figure(
            "plans",
            "cases scanning a large table",
            sum(1 for c in cases if c.get("seq_scan")),
            "cases",
        ),
    ]
    for case in cases:
        if case.get("slow"):
            name = f"{case.get('group')}: {case.get('case')}"
            rows.append(Figure("plans", name, case.get("best_ms"), "ms", API_P95))
    return rows


# --- Scenarios --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    module: str
    args: dict[str, list[str]]  # per scale
    figures: Callable[[dict], list[Figure]]
    # Generous even when small: a scenario first deletes what a previous run of it left (a
    # million-contact workspace takes minutes, even set-based through workspace_deletion).
    timeout_s: dict[str, int] = field(default_factory=lambda: {"full": 3600, "small": 1800})

    def command(self, scale: str) -> list[str]:
        return [sys.executable, "-m", self.module, *self.args[scale]]


SCENARIOS = [
    Scenario(
        "generate", "bench.generate", {"full": ["1000000"], "small": ["10000"]}, figures_generate
    ),
    Scenario("imports", "bench.imports", {"full": ["100000"], "small": ["10000"]}, figures_imports),
    Scenario(
        "import_memory",
        "bench.import_memory",
        {"full": ["1000000"], "small": ["10000"]},
        figures_import_memory,
    ),
    Scenario(
        "orm_import", "bench.orm_import", {"full": ["20000"], "small": ["2000"]}, figures_orm_import
    ),
    Scenario(
        "segments", "bench.segments", {"full": ["1000000"], "small": ["10000"]}, figures_segments
    ),
    Scenario(
        "exports", "bench.exports", {"full": ["1000000"], "small": ["10000"]}, figures_exports
    ),
    Scenario(
        "sending",
        "bench.sending",
        {"full": ["100000"], "small": ["2000", "--snapshot", "10000"]},
        figures_sending,
        {"full": 5400, "small": 1800},
    ),
    Scenario(
        "transactional",
        "bench.transactional",
        {"full": ["10000"], "small": ["500"]},
        figures_transactional,
    ),
    Scenario(
        "tracking",
        "bench.tracking",
        {
            "full": ["--messages", "10000", "--seconds", "20"],
            "small": ["--messages", "1000", "--seconds", "5"],
        },
        figures_tracking,
    ),
    Scenario(
        "contacts_api",
        "bench.contacts_api",
        # The workspace bench.generate leaves (generated again when that scenario was skipped).
        {
            "full": ["1000000", "--reuse", "bench-generated"],
            "small": ["10000", "--reuse", "bench-generated"],
        },
        figures_contacts_api,
        # Over a thousand requests, twenty-odd cursors found by OFFSET on a loaded machine.
        {"full": 5400, "small": 1800},
    ),
    Scenario(
        "plans",
        "bench.plans",
        # EXPLAIN (ANALYZE, BUFFERS) of every filter, ordering, search and segment field on the
        # workspace bench.generate leaves (contacts_api makes it when generate was skipped).
        {
            "full": ["--workspace", "bench-generated", "--messages", "1000000", "--quiet"],
            "small": ["--workspace", "bench-generated", "--runs", "1", "--quiet"],
        },
        figures_plans,
    ),
    Scenario(
        "smtp_relay", "bench.smtp_relay", {"full": ["2000"], "small": ["200"]}, figures_smtp_relay
    ),
    Scenario(
        "automations",
        "bench.automations",
        {"full": ["100000"], "small": ["2000"]},
        figures_automations,
    ),
]


# --- Running ----------------------------------------------------------------------------------


def last_json_object(output: str) -> dict | None:
    """The last top-level JSON object in ``output`` (scenarios may print other lines first)."""
    decoder = json.JSONDecoder()
    start = output.rfind("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(output, start)
        except ValueError:
            value, end = None, start
        # An inner object of the last one is followed by more of it, never by only whitespace.
        if isinstance(value, dict) and not output[end:].strip():
            return value
        start = output.rfind("{", 0, start)
    return None


def run_scenario(
    scenario: Scenario, scale: str, env: dict[str, str], *, echo: bool = True
) -> dict[str, Any]:
    """Run one scenario in a process group of its own (its workers, servers and sinks are
    children: a timeout stops them all), echoing its stderr as progress."""
    command = scenario.command(scale)
    record: dict[str, Any] = {
        "scenario": scenario.name,
        "command": " ".join(["python", *command[1:]]),
        "load_average_before": _load(),
        "started_at": _now(),
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    stdout: list[str] = []
    stderr: deque[str] = deque(maxlen=60)

    def read_stdout() -> None:
        stdout.extend(process.stdout)

    def read_stderr() -> None:
        for line in process.stderr:
            stderr.append(line)
            if echo:
                print(f"  {scenario.name}| {line}", end="", file=sys.stderr, flush=True)

    readers = [threading.Thread(target=read_stdout), threading.Thread(target=read_stderr)]
    for reader in readers:
        reader.start()
    timeout = scenario.timeout_s[scale]
    try:
        returncode = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        returncode = None
    # A timeout stops the whole group; so does a finished scenario that left a server or worker
    # behind (its own clean-up missed it): the next scenario must not share the machine with it.
    record["left_running"] = _stop_group(process)
    for reader in readers:
        reader.join()
    figures = last_json_object("".join(stdout))
    if returncode is None:
        record["status"] = f"timed out after {timeout} s"
    elif returncode == 0 and figures is not None:
        record["status"] = "ok"
    elif returncode == 0:
        record["status"] = "failed (no JSON on stdout)"
    else:
        record["status"] = f"failed (exit {returncode})"
    record["output"] = figures
    if record["status"] != "ok":
        record["stderr_tail"] = "".join(stderr)[-4000:]
    record["wall_s"] = round(time.perf_counter() - started, 1)
    record["load_average_after"] = _load()
    return record


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(process: subprocess.Popen) -> bool:
    """Stop every process left in the scenario's group, leader and children, SIGTERM first;
    returns whether any was still running."""
    if process.poll() is not None and not _group_alive(process.pid):
        return False
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if process.poll() is not None and not _group_alive(process.pid):
                return True
            time.sleep(0.2)
    process.poll()
    return True


def _cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


def wait_for_quiet(*, idle_share: float = 0.9, longest_s: float = 120) -> float:
    """Wait until the CPUs were at least ``idle_share`` idle over one second (at most
    ``longest_s``): the load average lags a minute behind, and what the scenario before left
    winding down (a server's workers, autovacuum after its deletes) would be measured with
    the next scenario. Returns the seconds waited; on a machine without /proc/stat, none."""
    if not Path("/proc/stat").exists():
        return 0.0
    started = time.monotonic()
    while time.monotonic() - started < longest_s:
        idle_before, total_before = _cpu_times()
        time.sleep(1)
        idle_after, total_after = _cpu_times()
        if (idle_after - idle_before) >= idle_share * max(total_after - total_before, 1):
            break
    waited = time.monotonic() - started
    print(f"[bench] quiet after {waited:.0f} s", flush=True)
    return round(waited, 1)


def evaluate(scenario: Scenario, record: dict[str, Any]) -> list[Figure]:
    """The scenario's figures, each with its target; a failed scenario is one row saying so."""
    output = record.get("output")
    figures = scenario.figures(output) if isinstance(output, dict) else []
    if record.get("status") != "ok":
        figures.insert(0, Figure(scenario.name, f"RUN {record.get('status')}", None))
    return figures


def _load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- Machine and services ---------------------------------------------------------------------


def database_url() -> str:
    """DATABASE_URL, defaulted; exits with a clear message unless it is PostgreSQL."""
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if urlsplit(url).scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit(
            f"make bench measures PostgreSQL; DATABASE_URL is {url!r}.\n"
            f"Unset it (the default is {DEFAULT_DATABASE_URL}) or point it at PostgreSQL."
        )
    return url


def ensure_database(url: str) -> str:
    """Create the bench database when missing; returns the server's version."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        sys.exit(f"Cannot reach PostgreSQL at {maintenance}: {exc}")
    return version


def settle(url: str) -> None:
    """VACUUM (ANALYZE) the bench database before a scenario, as autovacuum leaves a live
    database: the scenarios before it deleted their million-contact workspaces, and the dead
    rows (still in every index, the trigram index included) would otherwise be read and
    skipped by the next scenario's queries until autovacuum got there — in one full run, a
    typeahead p95 of 267 ms against 40 ms on a settled database."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    print(f"[bench] vacuum: {time.perf_counter() - started:.1f} s", flush=True)


def migrate(env: dict[str, str]) -> None:
    """Bring the bench database up to the code's migrations: a new database is empty, and every
    scenario (the generator first) reads the tables."""
    print("[bench] migrate", flush=True)
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
    )
    if done.returncode:
        sys.exit(f"migrate failed (exit {done.returncode}); no scenario was run.")


def redis_version(url: str) -> str:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=5) as sock:
            sock.sendall(b"INFO server\r\n")
            sock.settimeout(5)
            reply = b""
            while b"redis_version:" not in reply or not reply.endswith(b"\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        sys.exit(f"Cannot reach Redis at {url}: {exc} (set REDIS_URL)")
    for line in reply.decode(errors="replace").splitlines():
        if line.startswith("redis_version:"):
            return line.split(":", 1)[1]
    return "unknown"


def machine(database_version: str, redis: str) -> dict[str, Any]:
    meminfo = Path("/proc/meminfo")
    ram_gib = None
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        ram_gib = round(total_kb / 1024 / 1024, 1)

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    return {
        "host": platform.node(),
        "cpu_cores": os.cpu_count(),
        "ram_gib": ram_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": database_version,
        "redis": redis,
        "git_commit": git("rev-parse", "HEAD"),
        # Others may be editing the same checkout: say whether the tree matched the commit.
        "git_uncommitted_files": len(
            git("status", "--porcelain", "--untracked-files=no").splitlines()
        ),
    }


# --- Reporting --------------------------------------------------------------------------------


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    return f"{int(value):,}"


def table(figures: Iterable[Figure]) -> str:
    lines = [
        "| scenario | figure | value | target | met | of target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for figure in figures:
        value = _number(figure.value) + (
            f" {figure.unit}" if figure.unit and figure.value is not None else ""
        )
        met = {True: "met", False: "**MISSED**", None: ""}[figure.met]
        ratio = f"{figure.ratio:.2f}×" if figure.ratio is not None else ""
        lines.append(
            f"| {figure.scenario} | {figure.name} | {value} | {figure.target or ''} "
            f"| {met} | {ratio} |"
        )
    return "\n".join(lines)


def markdown(results: dict[str, Any], figures: list[Figure]) -> str:
    facts = results["machine"]
    lines = [
        f"# Benchmark results ({results['scale']} sizes)",
        "",
        f"Run {results['started_at']} → {results['finished_at']}, commit "
        f"`{facts['git_commit'][:12]}` ({facts['git_uncommitted_files']} tracked files modified "
        f"in the tree), on {facts['host']}: {facts['cpu_cores']} cores, "
        f"{facts['ram_gib']} GiB RAM, "
        f"PostgreSQL {facts['postgresql']}, Redis {facts['redis']}, Python {facts['python']}. "
        f"Load average {results['load_average_before']} before, "
        f"{results['load_average_after']} after.",
        "",
        f"Command: `{results['command']}`",
        "",
        '"of target" is the figure divided by its target: above 1 beats a ≥ target, and '
        "misses a ≤ or < one.",
        "",
        table(figures),
        "",
        "## Scenarios",
        "",
        "| scenario | command | status | wall | load before → after |",
        "| --- | --- | --- | --- | --- |",
    ]
    for record in results["scenarios"]:
        lines.append(
            f"| {record['scenario']} | `{record['command']}` | {record['status']} | "
            f"{record['wall_s']} s | {record['load_average_before']} → "
            f"{record['load_average_after']} |"
        )
    return "\n".join(lines) + "\n"


def pick(only: str, skip: str) -> list[Scenario]:
    names = {scenario.name for scenario in SCENARIOS}
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    unwanted = [name.strip() for name in skip.split(",") if name.strip()]
    unknown = sorted(set(wanted + unwanted) - names)
    if unknown:
        sys.exit(f"Unknown scenario(s): {', '.join(unknown)}. Known: {', '.join(sorted(names))}.")
    return [s for s in SCENARIOS if (not wanted or s.name in wanted) and s.name not in unwanted]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["full", "small"], default="full")
    parser.add_argument("--only", default="", help="comma-separated scenarios to run")
    parser.add_argument("--skip", default="", help="comma-separated scenarios to leave out")
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="results path without suffix (.json, .md)"
    )
    args = parser.parse_args(argv)
    scenarios = pick(args.only, args.skip)
    url = database_url()
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    facts = machine(ensure_database(url), redis_version(redis_url))
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    migrate(env)
    results: dict[str, Any] = {
        "scale": args.scale,
        "command": " ".join(
            ["python -m bench.run", "--scale", args.scale]
            + [f"--{name} {value}" for name in ("only", "skip") if (value := getattr(args, name))]
        ),
        "database_url": url,
        "redis_url": redis_url,
        "machine": facts,
        "started_at": _now(),
        "load_average_before": _load(),
        "scenarios": [],
    }
    figures: list[Figure] = []
    for scenario in scenarios:
        settle(url)
        quiet_wait = wait_for_quiet()
        print(f"[bench] {scenario.name}: {' '.join(scenario.command(args.scale)[1:])}", flush=True)
        record = run_scenario(scenario, args.scale, env)
        record["waited_for_quiet_s"] = quiet_wait
        print(f"[bench] {scenario.name}: {record['status']} in {record['wall_s']} s", flush=True)
        found = evaluate(scenario, record)
        record["figures"] = [figure.as_dict() for figure in found]
        results["scenarios"].append(record)
        figures += found
        _write(results, figures, args.out)  # a long run keeps what it has so far
    results["finished_at"] = _now()
    results["load_average_after"] = _load()
    _write(results, figures, args.out)
    print(markdown(results, figures))
    return 0 if all(r["status"] == "ok" for r in results["scenarios"]) else 1


def _write(results: dict[str, Any], figures: list[Figure], out: Path) -> None:
    results = {"finished_at": "(running)", "load_average_after": None, **results}
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown(results, figures))


if __name__ == "__main__":
    sys.exit(main())
