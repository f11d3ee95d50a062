"""`make bench`'s runner (bench/run.py): reading a scenario's JSON, comparing figures with their
targets, and the table — on canned output, without running a benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run

SENDING = {
    "scenario": "sending",
    "ceiling_messages_per_s": 2793,
    "campaign": {"messages_per_s": 752, "complete": True},
    "fraction_of_ceiling": 0.27,
    "postoffice": {"messages_per_s": 607},
    "ours_vs_postoffice": 1.24,
    "snapshot": {"recipients": 1000000, "seconds": 30.3},
}


def _by_name(figures: list[run.Figure]) -> dict[str, run.Figure]:
    return {figure.name: figure for figure in figures}


def test_the_last_top_level_object_is_read_after_other_output():
    first = json.dumps({"scenario": "ignored", "inner": {"a": 1}})
    last = json.dumps(SENDING, indent=2)
    output = f"progress line {{not json}}\n{first}\n{last}\n"

    assert run.last_json_object(output) == SENDING


def test_output_without_an_object_gives_none():
    assert run.last_json_object("Traceback (most recent call last):\n  boom\n") is None
    assert run.last_json_object('{"cut": [1, 2') is None


def test_targets_are_compared_and_the_ratio_given():
    figures = _by_name(run.figures_sending(SENDING))

    campaign = figures["campaign end to end"]
    assert (campaign.met, campaign.ratio) == (True, 1.25)
    assert figures["of the ceiling"].met is False
    assert figures["ours / post-office"].ratio == 0.62
    snapshot = figures["snapshot"]
    assert snapshot.met is False  # ≤ 5 s: 30.3 s is 6.06 times the limit
    assert snapshot.ratio == 6.06
    assert figures["sink ceiling"].met is None  # no target, reported as is
    assert figures["campaign complete"].met is True


def test_figures_missing_from_a_scenarios_output_are_blank_not_an_error():
    figures = _by_name(run.figures_sending({"scenario": "sending"}))

    assert figures["campaign end to end"].value is None
    assert figures["campaign end to end"].met is None
    assert "| sending | campaign end to end | — |" in run.table(figures.values())


def test_latencies_in_wrk_units_and_api_p95_against_100_ms():
    assert run._ms("102.35ms") == 102.35
    assert run._ms("1.85s") == 1850.0
    assert run._ms("690.00us") == 0.69
    output = {
        "latency": {
            "list order -pk: last page": {"p50_ms": 12.0, "p95_ms": 15.5, "p99_ms": 20.0},
            "?count=true (all)": {"p50_ms": 140.0, "p95_ms": 180.0, "p99_ms": 190.0},
        }
    }
    figures = _by_name(run.figures_contacts_api(output))

    assert figures["list order -pk: last page p95"].met is True
    assert figures["?count=true (all) p95"].met is False
    assert figures["?count=true (all) p95"].ratio == 1.8


def test_the_table_says_what_is_missed_and_by_how_much():
    text = run.table(run.figures_sending(SENDING))

    assert (
        "| sending | campaign end to end | 752 msg/s | ≥ 600 (issue 4/11) | met | 1.25× |" in text
    )
    assert "| sending | snapshot | 30.3 s | ≤ 5 (issue 4) | **MISSED** | 6.06× |" in text


def test_a_failed_scenario_is_a_row_and_keeps_its_partial_figures():
    record = {"status": "failed (exit 1)", "output": {"enrol": {"enrolments_per_s": 3308}}}
    scenario = next(s for s in run.SCENARIOS if s.name == "automations")

    figures = run.evaluate(scenario, record)

    assert figures[0].name == "RUN failed (exit 1)"
    assert _by_name(figures)["enrol"].value == 3308


def test_a_scenario_printing_no_json_is_reported_failed(tmp_path):
    # Any module that prints no JSON object: the standard library's calendar.
    scenario = run.Scenario("calendar", "calendar", {"small": ["2026"]}, run.figures_generate)

    record = run.run_scenario(scenario, "small", {"PATH": "/usr/bin:/bin"}, echo=False)

    assert record["status"] == "failed (no JSON on stdout)"
    assert record["command"] == "python -m calendar 2026"
    assert run.evaluate(scenario, record)[0].name == "RUN failed (no JSON on stdout)"


def test_only_postgresql_is_accepted(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/bench.sqlite3")
    with pytest.raises(SystemExit) as exited:
        run.database_url()
    assert "PostgreSQL" in str(exited.value)

    monkeypatch.delenv("DATABASE_URL")
    assert run.database_url() == run.DEFAULT_DATABASE_URL


def test_unknown_scenario_names_are_refused():
    with pytest.raises(SystemExit) as exited:
        run.pick("imports,nonsense", "")
    assert "nonsense" in str(exited.value)
    assert [s.name for s in run.pick("imports,exports", "exports")] == ["imports"]


def test_plans_report_their_counts_and_each_slow_case_against_the_api_target():
    output = {
        "scenario": "plans",
        "cases": [
            {"group": "ordering", "case": "ordering=email first page", "best_ms": 0.2},
            {"group": "count", "case": "?count=true (all)", "best_ms": 850.0, "slow": True},
            {"group": "filter", "case": "created_before", "best_ms": 40, "seq_scan": True},
        ],
    }
    figures = _by_name(run.figures_plans(output))

    assert figures["cases explained"].value == 3
    assert figures["cases over 100 ms"].value == 1
    assert figures["cases scanning a large table"].value == 1
    slow = figures["count: ?count=true (all)"]
    assert (slow.value, slow.met) == (850.0, False)
    assert "ordering: ordering=email first page" not in figures
    assert [s.name for s in run.SCENARIOS].index("plans") > [s.name for s in run.SCENARIOS].index(
        "contacts_api"
    )


def _state(pid: int) -> str | None:
    """The process's state letter (Z for a zombie), or None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


LEAVES_A_CHILD = """
import json, subprocess
child = subprocess.Popen(["sleep", "300"])  # inherits stdout: the runner's reader waits on it
print(json.dumps({"child": child.pid}), flush=True)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_what_a_finished_scenario_leaves_running_is_stopped(tmp_path):
    (tmp_path / "leaves_a_child.py").write_text(LEAVES_A_CHILD)
    scenario = run.Scenario("leaves", "leaves_a_child", {"small": []}, run.figures_generate)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}

    record = run.run_scenario(scenario, "small", env, echo=False)

    assert record["status"] == "ok"
    assert record["left_running"] is True
    assert record["wall_s"] < 60  # not the child's 300 s
    assert _state(record["output"]["child"]) in (None, "Z")


def test_a_scenario_leaving_nothing_behind_says_so(tmp_path):
    scenario = run.Scenario("calendar", "calendar", {"small": ["2026"]}, run.figures_generate)

    record = run.run_scenario(scenario, "small", {"PATH": "/usr/bin:/bin"}, echo=False)

    assert record["left_running"] is False


def test_waiting_for_a_quiet_machine_is_bounded():
    assert 1 <= run.wait_for_quiet(idle_share=0.0, longest_s=5) < 3  # one sample suffices
    assert 1 <= run.wait_for_quiet(idle_share=1.01, longest_s=1.5) < 4  # never quiet: gives up
