"""Results files through the version 1 interface (`ResultsWriter`): appended as scenarios finish,
summarised atomically, versions checked. The sinks, history and merge: tests/results/."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.models.result import RunSummary, ScenarioResult, Verdict
from harness.results import JSONL_NAME, ResultsWriter, read_results


def result(name: str, verdict: Verdict) -> ScenarioResult:
    return ScenarioResult(scenario_id=name, name=name, verdict=verdict)


def test_results_are_on_disk_before_the_run_finishes(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, run_id="r1")
    writer.add(result("a", Verdict.PASSED))
    partial = read_results(tmp_path / "r1")  # no results.json yet: rebuilt from the lines
    assert [r.scenario_id for r in partial.results] == ["a"]
    assert partial.interrupted
    writer.add(result("b", Verdict.FAILED))
    path = writer.finish(
        RunSummary.from_results([result("a", Verdict.PASSED), result("b", Verdict.FAILED)])
    )
    summary = read_results(path)
    assert (summary.total, summary.passed, summary.failed) == (2, 1, 1)
    assert not summary.interrupted
    junit = writer.junit_path.read_text(encoding="utf-8")
    assert 'tests="2" failures="1" errors="0"' in junit
    assert not [p for p in (tmp_path / "r1").iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(HarnessError, match="already finished"):
        writer.add(result("c", Verdict.PASSED))


def test_unknown_versions_are_refused_with_a_hint(tmp_path: Path) -> None:
    (tmp_path / JSONL_NAME).write_text('{"format_version": 9, "kind": "harness-results"}\n')
    with pytest.raises(HarnessError, match="results format version 9 is not readable"):
        read_results(tmp_path)
    (tmp_path / "results.json").write_text('{"format_version": 3, "results": []}')
    with pytest.raises(HarnessError, match="re-run the scenarios"):
        read_results(tmp_path)
    with pytest.raises(HarnessError, match="cannot read results"):
        read_results(tmp_path / "missing")
