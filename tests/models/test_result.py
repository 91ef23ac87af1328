"""Result models: versioned, verdicts from outcomes, repeat statistics."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.models.result import (
    AttemptResult,
    CheckOutcome,
    OutcomeStatus,
    RepeatStats,
    RunSummary,
    ScenarioResult,
    TurnResult,
    Verdict,
    outcomes_verdict,
    scenario_verdict,
)

PASS = CheckOutcome(check="status", status=OutcomeStatus.PASSED, message="status: ok (completed)")
FAIL = CheckOutcome(
    check="status", status=OutcomeStatus.FAILED, message="status: expected completed, got failed"
)
ERROR = CheckOutcome(
    check="says", status=OutcomeStatus.ERROR, message="says: the check could not run"
)


def result(verdict: Verdict = Verdict.PASSED) -> ScenarioResult:
    turn = TurnResult(
        index=0, turn=0, kind="start", outcomes=[PASS], tokens=120, llm_calls=1, latency_ms=300
    )
    attempt = AttemptResult(attempt=0, verdict=verdict, turns=[turn], outcomes=[FAIL])
    return ScenarioResult(
        scenario_id="clinic/book", name="books", verdict=verdict, attempts=[attempt]
    )


def test_results_round_trip_through_json_with_their_version() -> None:
    original = RunSummary.from_results([result(), result(Verdict.FAILED)], backend="engine")
    text = original.model_dump_json()
    assert '"format_version":1' in text
    assert RunSummary.model_validate_json(text) == original
    assert (original.total, original.passed, original.failed, original.errored) == (2, 1, 1, 0)
    assert original.exit_code == 1


def test_an_unknown_results_version_is_refused_with_a_hint() -> None:
    data = result().model_dump(mode="json") | {"format_version": 2}
    with pytest.raises(ValidationError, match="results format version 2 is not readable"):
        ScenarioResult.model_validate(data)


def test_failures_collect_turn_run_and_scenario_outcomes() -> None:
    scenario = result(Verdict.FAILED)
    scenario.outcomes.append(ERROR)
    assert scenario.failures() == [FAIL, ERROR]
    assert scenario.attempts[0].turns[0].usage.tokens == 120


@pytest.mark.parametrize(
    ("outcomes", "error", "verdict"),
    [
        ([PASS, PASS], None, Verdict.PASSED),
        ([], None, Verdict.PASSED),
        ([PASS, FAIL], None, Verdict.FAILED),
        ([FAIL, ERROR], None, Verdict.ERROR),
        ([PASS], "backend unreachable", Verdict.ERROR),
    ],
)
def test_outcomes_verdict(
    outcomes: list[CheckOutcome], error: str | None, verdict: Verdict
) -> None:
    assert outcomes_verdict(outcomes, error) is verdict


@pytest.mark.parametrize(
    ("attempts", "required", "outcomes", "verdict"),
    [
        ([Verdict.PASSED] * 4 + [Verdict.FAILED], 4, [], Verdict.PASSED),
        ([Verdict.PASSED] * 3 + [Verdict.FAILED] * 2, 4, [], Verdict.FAILED),
        ([Verdict.PASSED] * 3 + [Verdict.ERROR] * 2, 4, [], Verdict.ERROR),
        ([Verdict.PASSED] * 4 + [Verdict.ERROR], 4, [], Verdict.PASSED),
        ([Verdict.PASSED] * 5, 4, [FAIL], Verdict.FAILED),
    ],
)
def test_scenario_verdict(
    attempts: list[Verdict], required: int, outcomes: list[CheckOutcome], verdict: Verdict
) -> None:
    assert scenario_verdict(attempts, required, outcomes) is verdict


@pytest.mark.parametrize(
    ("runs", "passed", "k", "at_k", "hat_k"),
    [
        (5, 4, 1, 0.8, 0.8),
        (5, 4, 2, 1.0, 0.6),
        (5, 0, 3, 0.0, 0.0),
        (10, 5, 3, 1 - 10 / 120, 10 / 120),
        (3, 3, None, 1.0, 1.0),
    ],
)
def test_pass_at_k_and_pass_hat_k(
    runs: int, passed: int, k: int | None, at_k: float, hat_k: float
) -> None:
    stats = RepeatStats.compute(runs, passed, required=runs, k=k)
    assert (stats.pass_at_k, stats.pass_hat_k) == (pytest.approx(at_k), pytest.approx(hat_k))
    assert stats.pass_rate == passed / runs
