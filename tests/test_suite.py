"""The suite core (`harness.runner.suite`): selection, shards, repeats, sinks, exit codes, stable
identity across working folders, and `harness run --baseline`.

Scenarios are written into a project folder under tmp_path (with a `harness.toml`, so it is the
project root). Scenarios that only start the intake workflow make no LLM call and need no cassette;
the others record against the scripted model over real HTTP once and then replay offline. The
identity test runs real `harness run` subprocesses from three working folders.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import HAPPY_TURNS, SCRIPT, UNREACHABLE, write_scenario

from harness.cli import main
from harness.errors import HarnessError
from harness.models.result import BatchInfo, RunSummary, ScenarioResult, Verdict
from harness.results import read_results
from harness.runner import RunOptions
from harness.runner.suite import (
    EXIT_FAILED,
    EXIT_INFRASTRUCTURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PIPE_CLOSED,
    NoScenarioError,
    Selection,
    Shard,
    Stop,
    Suite,
    assign_shards,
    exit_code,
)
from harness.testing import ScriptedModel, serve_scripted_model

START_ONLY = HAPPY_TURNS[:1]
"""The intake workflow's start: a static welcome message, no LLM call (no cassette needed)."""


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    with serve_scripted_model(ScriptedModel(SCRIPT)) as url:
        yield url


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root (it has a harness.toml) as the working folder; LLM calls go nowhere."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "harness.toml").write_text("# the project root\n", encoding="utf-8")
    monkeypatch.chdir(root)
    monkeypatch.setenv("OPENAI_BASE_URL", UNREACHABLE)
    monkeypatch.delenv("HARNESS_API_URL", raising=False)
    return root


def scenarios(root: Path, *names: str, **fields: Any) -> None:
    """Start-only scenarios `root/scenarios/<name>.yaml`."""
    for name in names:
        write_scenario(root, name, turns=START_ONLY, **fields)


class Recorder:
    """A sink that keeps what it is given."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.selected: list[str] = []
        self.added: list[str] = []
        self.summary: RunSummary | None = None

    def start(self, batch: BatchInfo, selected: list[str]) -> None:
        self.calls.append("start")
        self.selected = selected

    def add(self, result: ScenarioResult) -> None:
        self.calls.append("add")
        self.added.append(result.scenario_id)

    def finish(self, summary: RunSummary) -> None:
        self.calls.append("finish")
        self.summary = summary


class Broken(Recorder):
    """A sink whose `add` fails (a full disk, a locked database)."""

    def add(self, result: ScenarioResult) -> None:
        super().add(result)
        raise OSError(28, "No space left on device")


# ------------------------------------------------------------------ shards and selection


def test_shards_split_ids_deterministically_into_balanced_disjoint_parts() -> None:
    ids = [f"scenarios/{folder}/case_{n}" for folder in ("a", "b", "c") for n in range(7)]
    for total in (1, 2, 3, 5):
        shards = assign_shards(ids, total)
        assert set(shards) == set(ids) and set(shards.values()) <= set(range(1, total + 1))
        sizes = [list(shards.values()).count(i) for i in range(1, total + 1)]
        assert max(sizes) - min(sizes) <= 1
        # The order the ids come in does not matter (another machine, another walk order).
        assert assign_shards(list(reversed(ids)), total) == shards
    # Neighbours of one folder are spread over the shards.
    two = assign_shards(ids, 2)
    assert {two[f"scenarios/a/case_{n}"] for n in range(7)} == {1, 2}


def test_a_shard_is_parsed_and_checked() -> None:
    assert Shard.parse("2/3") == Shard(2, 3) and str(Shard(2, 3)) == "2/3"
    for text in ("0/2", "3/2", "1", "a/b", "1/0"):
        with pytest.raises(HarnessError):
            Shard.parse(text)


def test_selection_by_tag_keyword_and_shard(project: Path) -> None:
    scenarios(project, "alpha", "beta", tags=["smoke"])
    scenarios(project, "deep/gamma", "deep/delta")
    every = Suite.select(Selection(paths=("scenarios",)))
    assert every.root == project
    assert every.ids == [
        "scenarios/alpha",
        "scenarios/beta",
        "scenarios/deep/delta",
        "scenarios/deep/gamma",
    ]
    smoke = Suite.select(Selection(paths=("scenarios",), tags=("smoke",)))
    assert smoke.ids == ["scenarios/alpha", "scenarios/beta"]
    named = Suite.select(Selection(paths=("scenarios",), keywords=("gam", "alp")))
    assert named.ids == ["scenarios/alpha", "scenarios/deep/gamma"]
    halves = [Suite.select(Selection(paths=("scenarios",), shard=Shard(i, 2))).ids for i in (1, 2)]
    assert sorted(halves[0] + halves[1]) == sorted(every.ids)
    assert not set(halves[0]) & set(halves[1]) and len(halves[0]) == len(halves[1]) == 2
    assert Suite.select(Selection(paths=("scenarios",), shard=Shard(5, 5))).ids == []
    with pytest.raises(NoScenarioError, match="no scenario matches") as raised:
        Suite.select(Selection(paths=("scenarios",), keywords=("nothing",)))
    assert raised.value.exit_code == 2


def test_repeat_overrides_the_scenarios_runs(project: Path) -> None:
    scenarios(project, "once")
    scenarios(project, "thrice", repeat={"runs": 3, "min_pass": 3, "k": 2})
    suite = Suite.select(Selection(paths=("scenarios",), repeat=2))
    assert [(s.repeat.runs, s.repeat.min_pass, s.repeat.k) for s in suite.scenarios] == [
        (2, None, None),
        (2, 2, 2),  # a min_pass or k above the new runs is lowered to it
    ]
    summary = suite.run(RunOptions())
    assert [len(r.attempts) for r in summary.results] == [2, 2]
    assert summary.batch.selection["repeat"] == 2


# ------------------------------------------------------------------ sinks and exit codes


def test_every_sink_gets_each_result_and_a_broken_sink_loses_nothing_else(project: Path) -> None:
    scenarios(project, "one", "two")
    suite = Suite.select(Selection(paths=("scenarios",)))
    broken, kept = Broken(), Recorder()
    summary = suite.run(
        RunOptions(concurrency=1), [broken, kept], batch_id="20260105T090000-000001"
    )
    assert kept.calls == ["start", "add", "add", "finish"]
    assert kept.selected == kept.added == ["scenarios/one", "scenarios/two"]
    assert kept.summary is summary and summary.passed == 2 and summary.not_run == []
    # The broken sink is not called again after its first failure (it would write a wrong
    # report), and the failure is reported.
    assert broken.calls == ["start", "add"]
    assert [(f.sink, f.call) for f in suite.sink_failures] == [("Broken", "add")]
    assert "No space left on device" in suite.sink_failures[0].error
    assert summary.batch.batch_id == "20260105T090000-000001"
    assert summary.batch.project_root == str(project)
    assert exit_code(summary, sink_failed=True) == EXIT_INFRASTRUCTURE
    assert exit_code(summary) == EXIT_OK


class Aside(Recorder):
    """A sink that finishes beside the others (`finishes_aside`, as the history does): its
    `finish` waits until another sink's `finish` has begun, which only a thread of its own can,
    then fails."""

    finishes_aside = True

    def __init__(self, other_began: threading.Event) -> None:
        super().__init__()
        self.other_began = other_began
        self.thread = ""

    def finish(self, summary: RunSummary) -> None:
        super().finish(summary)
        self.thread = threading.current_thread().name
        assert self.other_began.wait(10), "the other sinks did not finish meanwhile"
        raise OSError(28, "No space left on device")


class Signalling(Recorder):
    def __init__(self, began: threading.Event) -> None:
        super().__init__()
        self.began = began

    def finish(self, summary: RunSummary) -> None:
        self.began.set()
        time.sleep(0.05)  # still finishing when the aside sink fails
        super().finish(summary)


def test_a_sink_that_finishes_aside_finishes_beside_the_others_and_its_failure_counts(
    project: Path,
) -> None:
    scenarios(project, "one")
    began = threading.Event()
    aside, other = Aside(began), Signalling(began)
    suite = Suite.select(Selection(paths=("scenarios",)))
    summary = suite.run(RunOptions(concurrency=1), [aside, other])
    # Both finished before `run` returned, the aside one in a thread of its own.
    assert aside.summary is summary and other.summary is summary
    assert aside.thread != threading.current_thread().name
    assert [(f.sink, f.call) for f in suite.sink_failures] == [("Aside", "finish")]


def test_exit_codes(project: Path) -> None:
    def summary(*verdicts: Verdict) -> RunSummary:
        results = [
            ScenarioResult(scenario_id=f"s{i}", name=f"s{i}", verdict=v)
            for i, v in enumerate(verdicts)
        ]
        return RunSummary.from_results(results)

    assert exit_code(summary(Verdict.PASSED, Verdict.SKIPPED)) == EXIT_OK
    assert exit_code(summary(Verdict.PASSED, Verdict.FAILED, Verdict.ERROR)) == EXIT_FAILED
    assert exit_code(summary(Verdict.PASSED, Verdict.ERROR)) == EXIT_INFRASTRUCTURE
    assert exit_code(summary(Verdict.PASSED), regressed=True) == EXIT_FAILED
    assert exit_code(summary(Verdict.ERROR), regressed=True) == EXIT_FAILED
    assert exit_code(summary(Verdict.FAILED), stopped=Stop.INTERRUPTED) == EXIT_INTERRUPTED
    assert exit_code(summary(), stopped=Stop.PIPE_CLOSED) == EXIT_PIPE_CLOSED


# ------------------------------------------------------------------ stable identity


def _harness(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_BASE_URL": UNREACHABLE}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _files(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*") if p.is_file()}


def test_the_same_ids_cassettes_and_reports_from_any_working_folder(
    project: Path, model_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_scenario(project, "happy", turns=HAPPY_TURNS)
    write_scenario(project, "nested/again", turns=HAPPY_TURNS[:2])
    monkeypatch.setenv("OPENAI_BASE_URL", model_url)
    assert main(["run", "scenarios", "--record-mode", "once", "--no-history"]) == 0
    cassettes = _files(project / "cassettes")
    assert sorted(cassettes) == ["engine/happy.json", "engine/nested/again.json"]
    elsewhere = project.parent / "elsewhere"
    elsewhere.mkdir()
    runs = {
        "root": _harness(project, "scenarios"),
        "scenarios/": _harness(project / "scenarios", "."),
        "elsewhere": _harness(elsewhere, "../project/scenarios"),
        "elsewhere, one file": _harness(elsewhere, str(project / "scenarios" / "happy.yaml")),
    }
    seen = []
    for where, done in runs.items():
        # Offline replay passed: each run found the recorded cassettes.
        assert done.returncode == 0, (where, done.stdout, done.stderr)
        folder = Path(done.stdout.rsplit("reports: ", 1)[1].strip())
        assert folder.parent == project / "reports", where
        summary = read_results(folder)
        assert summary.batch.project_root == str(project)
        seen.append([(r.scenario_id, r.file, r.verdict) for r in summary.results])
    expected = [
        ("scenarios/happy", "scenarios/happy.yaml", Verdict.PASSED),
        ("scenarios/nested/again", "scenarios/nested/again.yaml", Verdict.PASSED),
    ]
    assert seen == [expected, expected, expected, expected[:1]]
    # Nothing was recorded anew, and nothing was written beside the working folders.
    assert _files(project / "cassettes") == cassettes
    assert not (project / "scenarios" / "cassettes").exists()
    assert not (project / "scenarios" / "reports").exists()
    assert list(elsewhere.iterdir()) == []


# ------------------------------------------------------------------ baselines


def _scale_tokens(cassette: Path, factor: float) -> int:
    """An edited copy of a recording: every response reports `factor` times the prompt tokens;
    returns the tokens added."""
    data = json.loads(cassette.read_text())
    added = 0
    for interaction in data["interactions"]:
        body = json.loads(interaction["response"]["body"]["string"])
        usage = body["usage"]
        before = usage["prompt_tokens"]
        usage["prompt_tokens"] = round(before * factor)
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        added += usage["prompt_tokens"] - before
        interaction["response"]["body"]["string"] = json.dumps(body)
    cassette.write_text(json.dumps(data, indent=1))
    return added


def test_a_baseline_gives_deltas_and_fail_on_regression_exits_1(
    project: Path,
    model_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_scenario(project, "happy", turns=HAPPY_TURNS)
    monkeypatch.setenv("OPENAI_BASE_URL", model_url)
    assert main(["run", "scenarios", "--record-mode", "once"]) == 0
    monkeypatch.setenv("OPENAI_BASE_URL", UNREACHABLE)
    baseline = str((project / "reports" / "latest").resolve())
    capsys.readouterr()
    # An unchanged rerun: no regression, exit 0; the table gets delta columns.
    assert main(["run", "scenarios", "--baseline", baseline, "--fail-on-regression"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("scenario "))
    assert header.split() == [
        "scenario",
        "verdict",
        "tokens/run",
        "Δ",
        "p50",
        "ms",
        "Δ",
        "p95",
        "ms",
        "Δ",
        "cost/run",
        "$",
        "Δ",
    ]
    # 30% more prompt tokens in every call of the scenario.
    added = _scale_tokens(project / "cassettes" / "engine" / "happy.json", 1.3)
    assert added > 0.2 * 515
    assert main(["run", "scenarios", "--baseline", baseline, "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("scenarios/happy "))
    assert row.split()[1:4] == ["passed", f"{515 + added:,}", f"+{added:,}"]
    assert "tokens" in out[out.index(row) + len(row) :]  # the regression report names it
    summary_md = (project / "reports" / "latest" / "summary.md").read_text()
    assert "scenarios/happy" in summary_md and "tokens" in summary_md
    # Without --fail-on-regression the regression is reported, and the exit code is the verdicts'.
    assert main(["run", "scenarios", "--baseline", baseline]) == 0


# ------------------------------------------------------------------ the console


def test_the_live_console_prints_only_what_did_not_pass_and_the_table_every_row() -> None:
    import io

    from harness.runner.console import ConsoleSink, render_table

    def result(sid: str, verdict: Verdict) -> ScenarioResult:
        return ScenarioResult(scenario_id=sid, name=sid, verdict=verdict, tokens=10)

    stream = io.StringIO()
    console = ConsoleSink(stream, live=True)
    console.start(BatchInfo(), ["s/ok", "s/bad", "s/later"])
    console.add(result("s/ok", Verdict.PASSED))
    console.add(result("s/bad", Verdict.FAILED))
    summary = RunSummary.from_results(
        [result("s/ok", Verdict.PASSED), result("s/bad", Verdict.FAILED)],
        interrupted=True,
        not_run=["s/later"],
    )
    console.finish(summary)
    out = stream.getvalue()
    assert "FAIL  s/bad" in out and "s/ok" not in out
    table = render_table(summary, {"s/bad": {"tokens": 3.0}}).splitlines()
    assert [row.split()[:4] for row in table[2:]] == [
        ["s/ok", "passed", "-", "-"],  # no attempt: nothing per run; no delta: empty
        ["s/bad", "failed", "-", "+3"],
        ["s/later", "not", "run"],
    ]
    quiet = io.StringIO()
    ConsoleSink(quiet, quiet=True).add(result("s/bad", Verdict.FAILED))
    assert quiet.getvalue() == ""
