"""Histories for the dashboard tests: the example suite run for real, then a second batch with
planted changes (a token regression, an improvement, a flaky scenario, a changed answer)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness.cli import main
from harness.models.result import (
    CheckOutcome,
    OutcomeStatus,
    RepeatStats,
    ScenarioResult,
    Verdict,
    new_batch_id,
)
from harness.results import HistorySink, HistoryStore, ReportFilesSink, read_run_outputs

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"

REGRESSED = "scenarios/clinic/book_follow_up"
"""+200 prompt tokens on node `collect_need` in turn 1, and a changed last answer."""
REGRESSED_NODE = "collect_need"
IMPROVED = "scenarios/refill/refill_ready"
"""-30% tokens on every node."""
FLAKY = "scenarios/intake/intake_complete"
"""Three attempts, the second failed."""
CHANGED_ANSWER = "See you soon."


@dataclass
class History:
    path: Path
    reports: Path
    baseline: str
    current: str


def example_history(folder: Path) -> History:
    """Run the example suite (offline, on the built-in engine) into `folder`/reports, then
    record the injected batch after it."""
    reports = folder / "reports"
    code = main(["run", str(SCENARIOS), "--report-dir", str(reports)])
    assert code == 0, "the example suite must pass"
    path = reports / "history.sqlite"
    with HistoryStore(path) as store:
        first = store.latest_batch()
        assert first is not None
        summary = store.load_summary(first.batch_id)
    results = [_with_outputs(r, reports / first.batch_id) for r in summary.results]
    changed = [_plant(r) for r in results]
    started = (first.info.started_at or datetime.now(UTC)) + timedelta(minutes=5)
    batch = first.info.model_copy(
        update={"batch_id": new_batch_id(started), "started_at": started, "git_commit": "1njected0"}
    )
    sinks = [ReportFilesSink(reports / batch.batch_id), HistorySink(HistoryStore(path))]
    for sink in sinks:
        sink.start(batch, [r.scenario_id for r in changed])
    for result in changed:
        for sink in sinks:
            sink.add(result)
    final = summary.model_copy(
        update={"batch": batch.model_copy(update={"finished_at": started + timedelta(seconds=3)})}
    )
    final = type(summary).from_results(changed, batch=final.batch)
    for sink in sinks:
        sink.finish(final)
    return History(path, reports, first.batch_id, batch.batch_id)


def _with_outputs(result: ScenarioResult, batch_dir: Path) -> ScenarioResult:
    """The result with its run outputs back inline (so the new batch gets its own artifacts)."""
    result = result.model_copy(deep=True)
    if result.artifact:
        outputs = read_run_outputs(batch_dir, result.artifact)
        for attempt in result.attempts:
            for turn in attempt.turns:
                turn.run_output = copy.deepcopy(outputs.get((attempt.attempt, turn.index)))
    return result


def _plant(result: ScenarioResult) -> ScenarioResult:
    if result.scenario_id == REGRESSED:
        turn = result.attempts[0].turns[1]
        row = next(u for u in turn.usage if u.node == REGRESSED_NODE)
        row.prompt_tokens += 200
        row.total_tokens += 200
        turn.tokens += 200
        result.attempts[0].turns[-1].said += " " + CHANGED_ANSWER
    elif result.scenario_id == IMPROVED:
        for turn in result.attempts[0].turns:
            for row in turn.usage:
                cut = row.total_tokens * 3 // 10
                row.prompt_tokens -= cut
                row.total_tokens -= cut
                turn.tokens -= cut
    elif result.scenario_id == FLAKY:
        first = result.attempts[0]
        failed = first.model_copy(deep=True, update={"attempt": 1, "verdict": Verdict.FAILED})
        failed.outcomes.append(
            CheckOutcome(
                check="says.contains",
                status=OutcomeStatus.FAILED,
                key="expect.says.contains",
                message="said text: expected to contain 'intake complete', got 'Sorry?'",
            )
        )
        third = first.model_copy(deep=True, update={"attempt": 2})
        result.attempts = [first, failed, third]
        result.verdict = Verdict.FAILED
        result.repeat = RepeatStats.compute(3, 2, 3)
    result.total_up()
    return result
