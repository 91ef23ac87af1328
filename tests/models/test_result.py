"""Result models: versioned, verdicts from outcomes, repeat statistics, usage totals and costs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.models.result import (
    AttemptResult,
    BatchInfo,
    CheckOutcome,
    EvaluationResult,
    ModelPrice,
    NodeUsage,
    OutcomeStatus,
    RepeatStats,
    RunSummary,
    ScenarioResult,
    TurnResult,
    Verdict,
    flatten_scores,
    outcomes_verdict,
    price_for,
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
    assert '"format_version":2' in text
    assert RunSummary.model_validate_json(text) == original
    assert (original.total, original.passed, original.failed, original.errored) == (2, 1, 1, 0)
    assert original.exit_code == 1


def test_an_unknown_results_version_is_refused_with_a_hint() -> None:
    data = result().model_dump(mode="json") | {"format_version": 9}
    with pytest.raises(ValidationError, match="results format version 9 is not readable"):
        ScenarioResult.model_validate(data)
    with pytest.raises(ValidationError, match=r"version 1 is migrated by harness\.results"):
        ScenarioResult.model_validate(data | {"format_version": 1})


def test_failures_collect_turn_run_and_scenario_outcomes() -> None:
    scenario = result(Verdict.FAILED)
    scenario.outcomes.append(ERROR)
    assert scenario.failures() == [FAIL, ERROR]
    assert scenario.attempts[0].turns[0].totals.tokens == 120


PRICES = {"gpt-4o-mini": ModelPrice(input=0.15, output=0.60)}


def usage(model: str | None, prompt: int, completion: int, *latencies: float) -> NodeUsage:
    return NodeUsage(
        node="n",
        model=model,
        provider="openai",
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        llm_calls=len(latencies),
        latencies_ms=list(latencies),
    )


def turn_with(*rows: NodeUsage, wall_ms: float = 10) -> TurnResult:
    return TurnResult(
        index=0,
        turn=0,
        kind="user",
        usage=list(rows),
        tokens=sum(r.total_tokens for r in rows),
        llm_calls=sum(r.llm_calls for r in rows),
        latency_ms=sum(r.latency_ms for r in rows),
        wall_ms=wall_ms,
    )


def test_totals_add_up_turns_then_attempts_and_price_every_row() -> None:
    first = AttemptResult(
        attempt=0,
        verdict=Verdict.PASSED,
        turns=[
            turn_with(usage("gpt-4o-mini", 1000, 100, 20, 30), wall_ms=50),
            turn_with(usage("gpt-4o-mini-2024-07-18", 2000, 0, 40), wall_ms=60),
        ],
        evaluation=EvaluationResult(
            evaluator="judge.yaml",
            verdict={"passed": True, "score": 0.75, "detail": {"tone": 4}, "reason": "ok"},
            usage=[usage("gpt-4o-mini", 500, 50, 99)],
        ),
    )
    second = AttemptResult(attempt=1, verdict=Verdict.PASSED, turns=[turn_with(wall_ms=5)])
    scenario = ScenarioResult(
        scenario_id="s", name="s", verdict=Verdict.PASSED, attempts=[first, second]
    )
    scenario.total_up(PRICES)
    assert (first.tokens, first.prompt_tokens, first.completion_tokens) == (3100, 3000, 100)
    assert (first.llm_calls, first.latency_ms, first.latencies_ms) == (3, 90, [20, 30, 40])
    assert first.e2e_ms == 110
    # 3000 input tokens at $0.15/M plus 100 output tokens at $0.60/M; the evaluator apart
    assert first.cost_usd == pytest.approx(0.00045 + 0.00006)
    assert first.evaluation is not None
    assert first.evaluation.cost_usd == pytest.approx(0.000075 + 0.00003)
    assert first.evaluation.scores == {"passed": 1.0, "score": 0.75, "detail.tone": 4.0}
    assert second.cost_usd == 0.0  # no LLM call costs nothing, price table or not
    assert (scenario.tokens, scenario.llm_calls, scenario.e2e_ms) == (3100, 3, 115)
    assert scenario.cost_usd == first.cost_usd
    assert scenario.latencies_ms == [20, 30, 40]


def test_an_unknown_model_costs_none_never_a_guess() -> None:
    attempt = AttemptResult(
        attempt=0,
        verdict=Verdict.PASSED,
        turns=[turn_with(usage("gpt-4o-mini", 10, 10, 1)), turn_with(usage("gpt-4o", 10, 10, 1))],
    )
    attempt.total_up(PRICES)
    assert attempt.turns[0].cost_usd is not None
    assert attempt.turns[1].cost_usd is None
    assert attempt.cost_usd is None
    assert price_for("gpt-4o-mini-2024-07-18", PRICES) is PRICES["gpt-4o-mini"]
    assert price_for("gpt-4o-mini-high", PRICES) is None  # a prefix is not the same model
    assert price_for("gpt-4o", {"gpt-4o-mini": PRICES["gpt-4o-mini"]}) is None
    assert price_for(None, PRICES) is None


def test_scores_flatten_the_numeric_fields_of_a_verdict() -> None:
    verdict = {"a": 1, "b": {"c": 2.5, "d": [True, "x", None]}, "e": float("nan"), "f": "text"}
    assert flatten_scores(verdict) == {"a": 1.0, "b.c": 2.5, "b.d.0": 1.0}


def test_a_summary_takes_models_and_provenance_from_its_batch() -> None:
    scenario = result()
    scenario.attempts[0].turns[0].usage = [usage("m2", 1, 1, 5), usage("m1", 1, 1, 5)]
    batch = BatchInfo(batch_id="20260101T000000-000001", backend="engine", harness_version="9")
    summary = RunSummary.from_results([scenario], batch=batch)
    assert [m.model for m in summary.batch.models] == ["m1", "m2"]
    assert (summary.backend, summary.harness_version) == ("engine", "9")
    assert batch.models == []  # the batch given is not changed


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


def test_a_scenario_that_never_ran_does_not_make_the_batch_cost_unknown() -> None:
    ran = ScenarioResult(
        scenario_id="ran",
        name="ran",
        verdict=Verdict.PASSED,
        attempts=[
            AttemptResult(
                attempt=0, verdict=Verdict.PASSED, turns=[turn_with(usage("gpt-4o-mini", 10, 0, 1))]
            )
        ],
    )
    ran.total_up(PRICES)
    skipped = ScenarioResult(scenario_id="mocks", name="mocks", verdict=Verdict.SKIPPED)
    assert skipped.cost_usd is None
    summary = RunSummary.from_results([ran, skipped])
    assert summary.cost_usd == pytest.approx(10 * 0.15 / 1e6)
