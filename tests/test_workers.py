"""`harness run --workers N`: forked worker processes give the same batch as one process.

Real processes throughout: `harness run` in a subprocess, a worker killed with SIGKILL, Ctrl-C a
real SIGINT to the parent. Scenarios are recorded against the scripted model first (recording
runs in one process), then replayed with `OPENAI_BASE_URL` pointing nowhere.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from runner_helpers import HAPPY_TURNS, SCRIPT, STOCK, UNREACHABLE, settings_for, write_scenario

from harness.backends.binding import make_factory
from harness.errors import HarnessError
from harness.models.result import ScenarioResult, Verdict
from harness.results import HistoryStore, read_artifact, read_results
from harness.results.sinks import ReportFilesSink
from harness.runner import RunOptions
from harness.runner.suite import Selection, Shard, Suite
from harness.runner.workers import (
    EARLY_AFTER,
    MIN_SCENARIOS_PER_WORKER,
    EarlyWorker,
    RunAhead,
    cpu_count,
    plan_workers,
)
from harness.scenarios import ScenarioLoadError, load_scenarios
from harness.testing import ScriptedModel, serve_scripted_model

ROOT = Path(__file__).resolve().parents[1]

# Fields that differ between any two runs of the same batch: the batch's id and command line,
# and clock readings (`*_ms`, `*_at`).
_VOLATILE = {"batch_id", "argv"}


def _volatile(key: str) -> bool:
    return key in _VOLATILE or key.endswith(("_ms", "_at"))


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    with serve_scripted_model(ScriptedModel(SCRIPT)) as url:
        yield url


def _harness(
    folder: Path, *args: str, url: str = UNREACHABLE, temp: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_BASE_URL": url}
    if temp is not None:
        env["TMPDIR"] = str(temp)
    command = [sys.executable, "-m", "harness.cli", "run", *args]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def _popen(folder: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OPENAI_BASE_URL": UNREACHABLE}
    command = [sys.executable, "-m", "harness.cli", "run", *args]
    return subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _stable(value: Any) -> Any:
    """`value` without the fields that change from run to run."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if not _volatile(k)}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _references(result: dict[str, Any]) -> set[str | None]:
    """The artifact references of a result's JSON: the scenario's and each turn's."""
    turns = [t for a in result["attempts"] for t in a["turns"]]
    return {result["artifact"]} | {t["artifact"] for t in turns}


def _batch(folder: Path, report_dir: str) -> dict[str, Any]:
    """A finished batch's report contents, clock readings left out; each scenario's artifact
    read through its reference (the packs' names and line order depend on the writers)."""
    batch = (folder / report_dir / "latest").resolve()
    results = json.loads((batch / "results.json").read_text())
    artifacts = {}
    for result in results["results"]:
        references = _references(result)
        assert len(references) == 1, references  # the scenario and its turns: the same line
        artifacts[result["scenario_id"]] = read_artifact(batch, result["artifact"])
        result["artifact"] = "the line"
        for attempt in result["attempts"]:
            for turn in attempt["turns"]:
                turn["artifact"] = "the line"
    return {"results": _stable(results), "artifacts": artifacts}


def _packs(folder: Path, report_dir: str) -> list[str]:
    """The artifact packs of a batch, without the batch id that starts their names."""
    batch = (folder / report_dir / "latest").resolve()
    return sorted(p.name.removeprefix(batch.name) for p in (batch / "artifacts").iterdir())


def _children(pid: int) -> list[int]:
    """The live processes whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [p for p in pids if Path(f"/proc/{p}").exists()]:
            return True
        time.sleep(0.05)
    return False


def _record_quick_and_slow(folder: Path, url: str, quick: int) -> None:
    """`quick` recorded scenarios, then `b_slow`, recorded too, that now waits 60 s in a mocked
    tool (the delay does not change the requests, so its cassette still replays)."""
    mocks = {"tools": {"check_stock": {"returns": 1}}}
    for number in range(quick):
        write_scenario(folder, f"a_quick{number}", workflow=STOCK, turns=[{"start": {}}])
    write_scenario(folder, "b_slow", workflow=STOCK, turns=[{"start": {}}], mocks=mocks)
    (folder / "harness.toml").write_text("# test project\n")
    recorded = _harness(folder, "scenarios", "--record-mode", "once", "--no-history", url=url)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    slow = {"tools": {"check_stock": {"returns": 1, "delay_seconds": 60}}}
    write_scenario(folder, "b_slow", workflow=STOCK, turns=[{"start": {}}], mocks=slow)


def test_a_generated_suite_gives_the_same_reports_in_two_workers(
    tmp_path: Path, model_url: str
) -> None:
    for number in range(24):
        turns = HAPPY_TURNS if number % 3 else HAPPY_TURNS[:2]
        write_scenario(tmp_path, f"s{number:02d}", turns=turns)
    (tmp_path / "harness.toml").write_text("# test project\n")
    recorded = _harness(
        tmp_path, "scenarios", "--record-mode", "once", "--no-history", url=model_url
    )
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr

    one = _harness(tmp_path, "scenarios", "--workers", "1", "--report-dir", "one")
    two = _harness(tmp_path, "scenarios", "--workers", "2", "--report-dir", "two")
    assert one.returncode == two.returncode == 0, two.stdout + two.stderr
    assert "24 scenario(s): 24 passed" in two.stdout
    assert _batch(tmp_path, "one") == _batch(tmp_path, "two")
    assert "Traceback" not in two.stderr
    # one pack per writing process: the parent alone, or each worker (never the parent too)
    assert _packs(tmp_path, "one") == ["-main.jsonl"]
    assert _packs(tmp_path, "two") == ["-w1.jsonl", "-w2.jsonl"]
    # The parent writes each result as the JSON its worker sent: results.jsonl, results.json
    # and the history hold the same results as the parent's models of them.
    batch = (tmp_path / "two" / "latest").resolve()
    summary = read_results(batch)
    lines = (batch / "results.jsonl").read_text().splitlines()[1:]
    by_id = {r.scenario_id: r for r in summary.results}
    for line in lines:
        result = ScenarioResult.model_validate_json(line)
        assert line == result.model_dump_json() and by_id[result.scenario_id] == result
    with HistoryStore(tmp_path / "two" / "history.sqlite") as store:
        stored = store.load_summary(summary.batch.batch_id).results  # in completion order
    assert {r.scenario_id: r for r in stored} == by_id


def test_a_suite_large_enough_for_grouped_results_loses_none(
    tmp_path: Path, model_url: str
) -> None:
    # 100 scenarios on two workers: each sends its results three to a message and gets as
    # many indices back in one, the last of them with the end of the queue (None) after them.
    for number in range(100):
        write_scenario(tmp_path, f"s{number:03d}", turns=HAPPY_TURNS[:1])
    (tmp_path / "harness.toml").write_text("# test project\n")
    recorded = _harness(
        tmp_path, "scenarios", "--record-mode", "once", "--no-history", url=model_url
    )
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr

    one = _harness(tmp_path, "scenarios", "--workers", "1", "--report-dir", "one")
    assert one.returncode == 0, one.stdout + one.stderr
    for concurrency in ("1", "4"):
        two = _harness(
            tmp_path, "scenarios", "--workers", "2", "--concurrency", concurrency,
            "--report-dir", f"two-{concurrency}",
        )  # fmt: skip
        assert two.returncode == 0, two.stdout + two.stderr
        assert "100 scenario(s): 100 passed" in two.stdout
        assert _batch(tmp_path, "one") == _batch(tmp_path, f"two-{concurrency}")
        # The first `EARLY_AFTER` ran in the worker started while the files were read (w0),
        # each of the others in one of the two started with them all.
        batch = (tmp_path / f"two-{concurrency}" / "latest").resolve()
        early = (batch / "artifacts" / f"{batch.name}-w0.jsonl").read_text().splitlines()
        assert sorted(json.loads(line)["scenario_id"] for line in early) == [
            f"scenarios/s{number:03d}" for number in range(EARLY_AFTER)
        ]
        assert _packs(tmp_path, f"two-{concurrency}") == ["-w0.jsonl", "-w1.jsonl", "-w2.jsonl"]


def test_the_example_suite_gives_the_same_verdicts_and_reports_in_two_workers(
    tmp_path: Path,
) -> None:
    for name in ("scenarios", "cassettes"):
        shutil.copytree(ROOT / name, tmp_path / name)
    (tmp_path / "harness.toml").write_text("# test project\n")
    temp = tmp_path / "temp"
    temp.mkdir()
    one = _harness(tmp_path, "scenarios", "--workers", "1", "--report-dir", "one")
    two = _harness(tmp_path, "scenarios", "--workers", "2", "--report-dir", "two", temp=temp)
    assert one.returncode == two.returncode == 0, two.stdout + two.stderr
    assert _batch(tmp_path, "one") == _batch(tmp_path, "two")
    # The workers ran inline Python in the sandbox, and left none of its folders behind.
    assert "harness-sandbox" not in two.stderr
    assert sorted(p.name for p in temp.iterdir()) == []
    # The history holds the same verdicts per scenario.
    verdicts = {
        (r.scenario_id, r.verdict) for r in read_results(tmp_path / "two" / "latest").results
    }
    assert verdicts == {
        (r.scenario_id, r.verdict) for r in read_results(tmp_path / "one" / "latest").results
    }


def _b_slow_left(folder: Path, url: str, quick: int) -> tuple[subprocess.Popen[str], list[int]]:
    """`harness run` in two workers once the `quick` scenarios passed and only the worker
    running `b_slow` (the last one handed out, waiting in its tool) is left, with its pid."""
    _record_quick_and_slow(folder, url, quick=quick)
    process = _popen(folder, "scenarios", "--workers", "2", "--concurrency", "1", "--plain")
    assert process.stdout is not None
    for _ in range(quick):  # (one child is also what the run has before its second fork)
        assert process.stdout.readline().startswith("PASS  scenarios/a_quick")
    deadline = time.monotonic() + 30
    while len(workers := _children(process.pid)) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(workers) == 1  # the other one had nothing left and ended
    return process, workers


@pytest.mark.parametrize("quick", [4, 100])  # 100: results sent in groups, indices held ahead
def test_a_killed_worker_turns_its_scenario_into_an_error_and_the_rest_finish(
    tmp_path: Path, model_url: str, quick: int
) -> None:
    process, workers = _b_slow_left(tmp_path, model_url, quick=quick)
    os.kill(workers[0], signal.SIGKILL)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 3, out + err  # an error verdict, no failure
    summary = read_results(tmp_path / "reports" / "latest")
    assert not summary.interrupted and summary.not_run == []
    verdicts = {r.scenario_id: r.verdict for r in summary.results}
    assert verdicts.pop("scenarios/b_slow") is Verdict.ERROR
    assert set(verdicts.values()) == {Verdict.PASSED} and len(verdicts) == quick
    lines = (tmp_path / "reports" / "latest" / "results.jsonl").read_text().splitlines()[1:]
    assert len(lines) == quick + 1  # each scenario once
    slow = next(r for r in summary.results if r.scenario_id == "scenarios/b_slow")
    assert slow.error == f"the worker process (pid {workers[0]}) killed by SIGKILL"
    assert slow.file == "scenarios/b_slow.yaml"
    assert "Traceback" not in err
    # the finished scenarios reference whole lines of the workers' packs, the dead one's too
    folder = (tmp_path / "reports" / "latest").resolve()
    for result in summary.results:
        if result.scenario_id != "scenarios/b_slow":
            assert result.artifact is not None
            document = read_artifact(folder, result.artifact)
            assert document["scenario_id"] == result.scenario_id
    assert _gone(workers)


class _CrashOn:
    """A backend factory whose worker kills itself when it starts the scenario `crash`."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.capabilities = inner, inner.name, inner.capabilities

    def bind(self, scenario: Any) -> Any:
        if scenario.name == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        return self.inner.bind(scenario)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_worker_killed_amid_grouped_results_loses_only_the_scenario_it_ran(
    tmp_path: Path, model_url: str
) -> None:
    # Quick scenarios go in groups: when `crash` kills its worker, results of scenarios it had
    # finished may still wait in it. Only the scenario it was running is an error (its shared
    # slot names it); results lost with the worker are run again by the next one.
    quick = {"tools": {"check_stock": {"returns": 1}}}
    for number in range(100):
        write_scenario(
            tmp_path, f"a{number:03d}", workflow=STOCK, turns=[{"start": {}}], mocks=quick
        )
    (tmp_path / "harness.toml").write_text("# test project\n")
    recorded = _harness(
        tmp_path, "scenarios", "--record-mode", "once", "--no-history", url=model_url
    )
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    crash = yaml.safe_load((tmp_path / "scenarios" / "a050.yaml").read_text())
    (tmp_path / "scenarios" / "a050x.yaml").write_text(yaml.safe_dump({**crash, "name": "crash"}))
    scenarios = load_scenarios([tmp_path / "scenarios"], root=tmp_path)
    options = RunOptions(
        settings=settings_for(UNREACHABLE),
        cassettes_root=tmp_path / "cassettes",
        scenarios_root=tmp_path / "scenarios",
    )

    def crashing() -> Any:
        return _CrashOn(make_factory(options.backend, options.binding_config()))

    ahead = RunAhead(2, scenarios, options, factory=crashing)
    try:
        results = [ahead.take(index) for index in range(len(scenarios))]
    finally:
        ahead.close()
    errors = [r.name for r in results if r.verdict is Verdict.ERROR]
    assert errors == ["crash"], [r.error for r in results if r.error]
    assert [r.verdict for r in results].count(Verdict.PASSED) == 100


def test_the_scenario_waiting_in_a_killed_worker_runs_in_its_replacement(
    tmp_path: Path, model_url: str
) -> None:
    # Handed out in turns, one running and one waiting per worker: the first worker gets
    # b_slow (running) and d_quick (waiting), the second c_quick.
    for name in ("c_quick", "d_quick"):  # recorded with the others
        write_scenario(tmp_path, name, workflow=STOCK, turns=[{"start": {}}])
    _record_quick_and_slow(tmp_path, model_url, quick=0)
    process = _popen(tmp_path, "scenarios", "--workers", "2", "--concurrency", "1", "--plain")
    assert process.stdout is not None
    assert process.stdout.readline().startswith("PASS  scenarios/c_quick")
    deadline = time.monotonic() + 30
    while len(workers := _children(process.pid)) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(workers) == 1  # the one holding b_slow and d_quick
    os.kill(workers[0], signal.SIGKILL)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 3, out + err
    verdicts = {
        r.scenario_id: r.verdict for r in read_results(tmp_path / "reports" / "latest").results
    }
    assert verdicts == {
        "scenarios/b_slow": Verdict.ERROR,
        "scenarios/c_quick": Verdict.PASSED,
        "scenarios/d_quick": Verdict.PASSED,  # never started in the dead worker: run again
    }


def _two_finished_and_b_slow_running(
    folder: Path, url: str
) -> tuple[subprocess.Popen[str], list[int]]:
    """`harness run` in two workers once two quick scenarios passed and `b_slow` waits in its
    tool, with its workers' pids."""
    _record_quick_and_slow(folder, url, quick=2)
    process = _popen(folder, "scenarios", "--workers", "2", "--concurrency", "1", "--plain")
    assert process.stdout is not None
    finished = [process.stdout.readline(), process.stdout.readline()]
    assert all(line.startswith("PASS  scenarios/a_quick") for line in finished)
    workers = _children(process.pid)
    assert workers  # at least the worker holding b_slow
    return process, workers


def test_ctrl_c_stops_every_worker_and_keeps_the_finished_results(
    tmp_path: Path, model_url: str
) -> None:
    process, workers = _two_finished_and_b_slow_running(tmp_path, model_url)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, out + err
    assert "interrupted: 1 scenario(s) not run:\n  scenarios/b_slow\n" in err
    assert "Traceback" not in err
    summary = read_results(tmp_path / "reports" / "latest")
    assert summary.interrupted and summary.not_run == ["scenarios/b_slow"]
    assert sorted(r.scenario_id for r in summary.results) == [
        "scenarios/a_quick0",
        "scenarios/a_quick1",
    ]
    assert _gone(workers)  # no orphan left running b_slow


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_die_with_a_killed_parent(tmp_path: Path, model_url: str) -> None:
    # SIGKILL runs no clean-up in the parent: only the death signal each worker armed at its
    # start stops the one waiting 60 s in b_slow.
    process, workers = _two_finished_and_b_slow_running(tmp_path, model_url)
    process.kill()
    process.communicate(timeout=30)
    assert _gone(workers)


def test_a_reader_closing_the_pipe_stops_the_workers(tmp_path: Path, model_url: str) -> None:
    _record_quick_and_slow(tmp_path, model_url, quick=2)
    command = f"{sys.executable} -m harness.cli run scenarios --workers 2 --concurrency 1"
    done = subprocess.run(
        f'{command} | head -1; echo "status ${{PIPESTATUS[0]}}"',
        shell=True,
        executable="/bin/bash",
        cwd=tmp_path,
        env={**os.environ, "OPENAI_BASE_URL": UNREACHABLE},
        capture_output=True,
        text=True,
        timeout=60,  # b_slow would take 60 s: the batch stopped when `head` went away
    )
    lines = done.stdout.splitlines()
    assert lines[0].startswith("PASS  scenarios/a_quick") and lines[-1] == "status 141"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    summary = read_results(tmp_path / "reports" / "latest")
    assert summary.interrupted and "scenarios/b_slow" in summary.not_run


def _start_only(folder: Path, count: int) -> None:
    """`count` scenarios that only start the intake workflow (no LLM call, no cassette)."""
    for number in range(count):
        write_scenario(folder, f"s{number:03d}", turns=HAPPY_TURNS[:1])
    (folder / "harness.toml").write_text("# test project\n")


def test_a_problem_read_after_the_early_worker_started_drops_what_it_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _start_only(tmp_path, EARLY_AFTER + 8)
    (tmp_path / "scenarios" / "zz_broken.yaml").write_text("version: 1\nname: [unclosed\n")
    monkeypatch.chdir(tmp_path)
    before = set(_children(os.getpid()))
    started: list[int] = []
    start = EarlyWorker._start

    def spied(self: EarlyWorker) -> None:
        start(self)
        assert self.worker is not None
        started.append(self.worker.process.pid)

    monkeypatch.setattr(EarlyWorker, "_start", spied)
    with pytest.raises(ScenarioLoadError, match="zz_broken"):
        Suite.select(Selection(paths=("scenarios",)), options=RunOptions(workers=2))
    # The worker started on the first files is stopped (waited for), and nothing was written.
    assert len(started) == 1 and started[0] not in _children(os.getpid())
    assert set(_children(os.getpid())) <= before
    assert not (tmp_path / "reports").exists()


def test_the_early_worker_runs_only_for_the_options_it_was_started_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _start_only(tmp_path, EARLY_AFTER + 8)
    monkeypatch.chdir(tmp_path)
    selection = Selection(paths=("scenarios",))
    before = set(_children(os.getpid()))

    # Run with the options it was selected for: the early worker ran the first files' share.
    suite = Suite.select(selection, options=(given := RunOptions(workers=2)))
    assert suite.early_worker is not None and set(_children(os.getpid())) > before
    summary = suite.run(given, [sink := ReportFilesSink(tmp_path / "reports" / "same")])
    assert summary.passed == EARLY_AFTER + 8
    assert sorted(p.name for p in sink.artifacts_dir.iterdir()) == [
        "same-w0.jsonl", "same-w1.jsonl", "same-w2.jsonl"
    ]  # fmt: skip

    # Other options (an equal but other object): it is stopped, and its share runs again.
    suite = Suite.select(selection, options=RunOptions(workers=2))
    assert suite.early_worker is not None
    summary = suite.run(
        RunOptions(workers=2), [sink := ReportFilesSink(tmp_path / "reports" / "other")]
    )
    assert summary.passed == EARLY_AFTER + 8
    assert sorted(p.name for p in sink.artifacts_dir.iterdir()) == [
        "other-w1.jsonl",
        "other-w2.jsonl",
    ]

    # Selected and never run: stopped once the suite is dropped.
    suite = Suite.select(selection, options=RunOptions(workers=2))
    assert suite.early_worker is not None
    del suite
    gc.collect()
    assert _gone(list(set(_children(os.getpid())) - before))
    assert set(_children(os.getpid())) <= before

    # Neither a shard (it selects once every file is read), nor one process, nor the API.
    for options, shard in (
        (RunOptions(workers=2), Shard(1, 2)),
        (RunOptions(workers=1), None),
        (RunOptions(workers=2, backend="api"), None),
    ):
        suite = Suite.select(Selection(paths=("scenarios",), shard=shard), options=options)
        assert suite.early_worker is None


def test_auto_uses_workers_only_for_large_engine_replays() -> None:
    replay = RunOptions()
    many = MIN_SCENARIOS_PER_WORKER * 64
    assert plan_workers("auto", 15, replay).count == 1
    assert plan_workers("auto", many, replay).count == cpu_count()
    assert plan_workers("auto", many, RunOptions(record_mode="once")).count == 1
    assert plan_workers("auto", many, RunOptions(backend="api")).count == 1
    assert plan_workers(4, 3, replay).count == 3  # never more workers than scenarios
    assert plan_workers(1, many, RunOptions(record_mode="all")).count == 1
    with pytest.raises(HarnessError, match="replays only"):
        plan_workers(2, many, RunOptions(record_mode="once"))


def test_workers_record_nothing_and_refuse_a_recording_mode(tmp_path: Path) -> None:
    write_scenario(tmp_path, "s", workflow=STOCK, turns=[{"start": {}}])
    (tmp_path / "harness.toml").write_text("# test project\n")
    done = _harness(tmp_path, "scenarios", "--workers", "2", "--record-mode", "once")
    assert done.returncode == 2
    assert "--workers 2 replays only" in done.stderr
    assert not (tmp_path / "cassettes").exists()


def test_a_small_suite_stays_in_one_process_without_the_process_machinery(
    tmp_path: Path,
) -> None:
    for name in ("scenarios", "cassettes"):
        shutil.copytree(ROOT / name, tmp_path / name)
    (tmp_path / "harness.toml").write_text("# test project\n")
    script = (
        "import sys; from harness.cli import main; code = main(['run', 'scenarios', "
        "'--no-history']); print('MP=' + str('multiprocessing' in sys.modules)); sys.exit(code)"
    )
    env = {**os.environ, "OPENAI_BASE_URL": UNREACHABLE}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MP=False" in done.stdout  # `auto` chose one process: no fork, nothing imported
