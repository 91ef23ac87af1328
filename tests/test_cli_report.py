"""`harness report compare|merge` and `harness baseline update` over real recorded runs.

A scenario over tests/data/workflows/intake.yaml is recorded against the scripted model (real
HTTP), then replayed offline; the regressions are real changes to that pipeline: the scripted
model's reported usage raised 30% on one node and the scenario re-recorded, or one call's recorded
latency raised 30% in a copy of the cassette.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import HAPPY_TURNS, SCRIPT, UNREACHABLE, load, options, write_scenario

from harness.cli import main
from harness.models.result import BatchInfo, RunSummary
from harness.recording import LATENCY_HEADER
from harness.results.history import HistoryStore
from harness.results.sinks import write_report_files
from harness.runner import run_scenarios
from harness.testing import ScriptedModel, serve_scripted_model

ASK_REASON = "what brings them in"
"""The system prompt of node `ask_reason`, which answers turn 1 ("My name is Ana Ruiz")."""


def script(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """SCRIPT with node ask_reason's usage fixed and its answer slowed to ~0.3 s."""
    changed = copy.deepcopy(SCRIPT)
    for rule in changed["rules"]:
        if rule["when"].get("system") == ASK_REASON:
            rule["reply"]["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
            }
            rule["reply"]["delay_seconds"] = 0.3
    return changed


def record(folder: Path, model_script: dict[str, Any]) -> None:
    write_scenario(folder, "happy", turns=HAPPY_TURNS)
    with serve_scripted_model(ScriptedModel(model_script)) as url:
        recorded = asyncio.run(run_scenarios(load(folder, "happy"), options(folder, url, "once")))
    assert recorded.results[0].verdict == "passed", recorded.results[0].failures()


def replay(folder: Path, reports: Path, batch_id: str) -> Path:
    """Replay offline and write the batch's report folder; returns it."""
    summary = asyncio.run(run_scenarios(load(folder, "happy"), options(folder, UNREACHABLE)))
    assert summary.results[0].verdict == "passed", summary.results[0].failures()
    summary = summary.model_copy(update={"batch": BatchInfo(batch_id=batch_id)})
    batch_dir = reports / batch_id
    write_report_files(batch_dir, summary)
    return batch_dir


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Batch folders: the baseline, an unchanged rerun, +30% tokens on ask_reason, +30% latency
    on ask_reason's call."""
    root = tmp_path_factory.mktemp("report")
    reports = root / "reports"
    base, tokens = root / "base", root / "tokens"
    record(base, script(100, 20))
    record(tokens, script(130, 26))  # the same scenario re-recorded: 120 -> 156 tokens (+30%)
    slow = root / "slow"
    shutil.copytree(base, slow)
    cassette = slow / "cassettes" / "engine" / "happy.json"
    data = json.loads(cassette.read_text(encoding="utf-8"))
    edited = 0
    for interaction in data["interactions"]:
        if ASK_REASON in interaction["request"]["body"]:
            headers = interaction["response"]["headers"]
            headers[LATENCY_HEADER] = [str(float(headers[LATENCY_HEADER][0]) * 1.3)]
            edited += 1
    assert edited == 2  # ask_reason answers turn 1, then takes its tool call in turn 2
    cassette.write_text(json.dumps(data), encoding="utf-8")
    return {
        "base": replay(base, reports, "20260101T000000-000001"),
        "rerun": replay(base, reports, "20260101T000000-000002"),
        "tokens": replay(tokens, reports, "20260101T000000-000003"),
        "slow": replay(slow, reports, "20260101T000000-000004"),
    }


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_thirty_percent_more_tokens_on_one_node_fails_naming_it(
    recorded: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        capsys, "report", "compare", str(recorded["base"]), str(recorded["tokens"])
    )
    assert code == 1
    assert "scenarios/happy turns[1] ask_reason  tokens  120 -> 156 (+36, +30.0%)" in out
    assert "latency" not in out.split("improvements")[0].split("regressions:")[1]


def test_thirty_percent_more_latency_on_one_call_fails_naming_it(
    recorded: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        capsys,
        "report",
        "compare",
        str(recorded["base"]),
        str(recorded["slow"]),
        "--format",
        "json",
    )
    assert code == 1
    report = json.loads(out)
    rows = {(r["turn"], r["node"], r["metric"]): r for r in report["regressions"]}
    p50 = rows[(1, "ask_reason", "latency_p50")]
    assert p50["delta_pct"] == pytest.approx(30.0, abs=0.5)  # latencies are whole ms
    assert p50["method"] == "single run, not tested"
    assert p50["scenario"] == "scenarios/happy"
    assert not [r for r in report["regressions"] if r["metric"] == "tokens"]


def test_an_unchanged_rerun_is_clean(
    recorded: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        capsys, "report", "compare", str(recorded["base"]), str(recorded["rerun"]), "--format",
        "markdown",
    )  # fmt: skip
    assert code == 0, out
    assert ":green_circle:" in out and "0 regression(s)" in out


def test_baseline_update_writes_a_file_that_catches_the_regression(
    recorded: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    baseline = tmp_path / "baseline.json"
    code, out, _ = run_cli(
        capsys, "baseline", "update", "--from", str(recorded["base"]), "-o", str(baseline)
    )
    assert code == 0 and f"wrote {baseline}: 1 scenario(s)" in out
    node = json.loads(baseline.read_text(encoding="utf-8"))["scenarios"]["scenarios/happy"]
    assert node["nodes"]["1/ask_reason"]["tokens"] == 120
    assert run_cli(capsys, "report", "compare", str(baseline), str(recorded["rerun"]))[0] == 0
    code, out, _ = run_cli(capsys, "report", "compare", str(baseline), str(recorded["tokens"]))
    assert code == 1 and "ask_reason  tokens  120 -> 156" in out


def test_batches_are_found_by_id_and_latest_in_the_history(
    recorded: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from harness.results.reading import read_results

    history = tmp_path / "history.sqlite"
    with HistoryStore(history) as store:
        for name in ("base", "tokens"):
            summary: RunSummary = read_results(recorded[name])
            store.record_batch(summary.batch)
            for result in summary.results:
                store.record_result(summary.batch.batch_id, result)
            store.finish_batch(summary)
    code, out, _ = run_cli(
        capsys, "report", "compare", "20260101T000000-000001", "latest", "--history", str(history)
    )
    assert code == 1 and "ask_reason  tokens  120 -> 156" in out


def test_an_unknown_baseline_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no project, no history around: the message is the file's
    code, _, err = run_cli(
        capsys, "report", "compare", str(tmp_path / "nope.json"), str(tmp_path / "also-not")
    )
    assert code == 2
    assert "no baseline" in err and "harness baseline update" in err


def test_merge_combines_shard_folders(
    recorded: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from harness.results.reading import read_results

    shard = tmp_path / "shard"
    summary = read_results(recorded["base"])
    renamed = summary.results[0].model_copy(update={"scenario_id": "scenarios/other"})
    write_report_files(shard, RunSummary.from_results([renamed], batch=summary.batch), latest=False)
    out_dir = tmp_path / "merged"
    code, out, _ = run_cli(
        capsys, "report", "merge", str(recorded["base"]), str(shard), "-o", str(out_dir)
    )
    assert code == 0 and "2 scenario(s), 2 passed" in out
    merged = read_results(out_dir)
    assert [r.scenario_id for r in merged.results] == ["scenarios/happy", "scenarios/other"]


# ------------------------------------------------------------------ harness run --baseline

PROJECT = '[tool.harness]\n[tool.harness.providers.default_provider]\nbase_url = "{url}"\n'


@pytest.fixture(scope="module")
def projects(recorded: dict[str, Path]) -> dict[str, Path]:
    """The recorded folders as projects (replay only: the model's URL points nowhere)."""
    root = recorded["base"].parent.parent
    folders = {name: root / name for name in ("base", "tokens", "slow")}
    for folder in folders.values():
        (folder / "pyproject.toml").write_text(PROJECT.format(url=UNREACHABLE), encoding="utf-8")
    return folders


def test_harness_run_fails_on_a_regression_against_the_baseline(
    projects: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(projects["base"])
    assert run_cli(capsys, "run", "scenarios/happy.yaml")[0] == 0
    assert run_cli(capsys, "baseline", "update")[0] == 0
    baseline = str(projects["base"] / "reports" / "baseline.json")
    args = ("run", "scenarios/happy.yaml", "--baseline", baseline, "--fail-on-regression")
    code, out, _ = run_cli(capsys, *args)
    assert code == 0, out  # an unchanged rerun
    monkeypatch.chdir(projects["tokens"])
    code, out, _ = run_cli(capsys, *args)
    assert code == 1
    assert "scenarios/happy turns[1] ask_reason  tokens  120 -> 156 (+36, +30.0%)" in out
    monkeypatch.chdir(projects["slow"])
    code, out, _ = run_cli(capsys, *args)
    assert code == 1
    assert re.search(
        r"scenarios/happy turns\[1\] ask_reason  latency_p50  \d+ -> \d+ \(\+\d+, \+(29|30)\.\d%\)",
        out,
    ), out
