"""One scenario, all its repeats: attempts with a time limit, evaluation, budgets, the verdict.

`run_scenario` never raises for a failing scenario: a failed check is an outcome, and broken
infrastructure (a backend that cannot start, a timeout, a cassette miss) is an `error` verdict
with the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from harness.backends.base import Capability
from harness.backends.binding import BackendFactory, ScenarioBinding
from harness.checks import check_budget_p95, check_run
from harness.config import load_settings
from harness.models.result import (
    AttemptResult,
    CheckOutcome,
    EvaluationResult,
    OutcomeStatus,
    RepeatStats,
    ScenarioResult,
    Usage,
    Verdict,
    outcomes_verdict,
    scenario_verdict,
)
from harness.models.scenario import Scenario
from harness.runner.attempt import AttemptState, describe_error, run_turns
from harness.runner.evaluate import evaluate_attempt, own_verdict
from harness.runner.options import RunOptions

__all__ = ["base_result", "run_scenario"]


def _usage(turns: list[Usage]) -> Usage:
    total = Usage()
    for usage in turns:
        total += usage
    return total


async def _attempt(
    scenario: Scenario, binding: ScenarioBinding, number: int, options: RunOptions
) -> AttemptResult:
    state = AttemptState()
    started = time.perf_counter()
    limit = scenario.timeout_seconds or options.timeout_seconds
    evaluation: EvaluationResult | None = None
    try:
        async with asyncio.timeout(limit):
            await run_turns(scenario, binding, state, options.timings)
            if state.error is None and scenario.evaluation is not None:
                evaluation = await evaluate_attempt(scenario, binding, state.run)
    except TimeoutError:
        turn = state.current_turn + 1
        state.error = f"timed out after {limit:g} s during turn {turn}"
    outcomes = list(state.outcomes)
    if state.error is None and state.run is not None:
        verdict = evaluation.verdict if evaluation and evaluation.verdict else None
        timing = options.timings
        with timing.measure("checks") if timing else contextlib.nullcontext():
            outcomes += check_run(scenario, state.run, verdict or own_verdict(state.run))
    # Tokens, latencies, e2e and cost are filled by `run_scenario`, priced, with the other attempts.
    result = AttemptResult(
        attempt=number,
        verdict=Verdict.PASSED,
        workflow_run_id=state.run.workflow_run_id if state.run else None,
        status=state.run.status if state.run else None,
        turns=state.turns,
        outcomes=outcomes,
        evaluation=evaluation,
        duration_ms=(time.perf_counter() - started) * 1000,
        error=state.error,
    )
    error = state.error or (evaluation.error if evaluation else None)
    result.verdict = outcomes_verdict(result.all_outcomes(), error)
    return result


def _p95_outcomes(scenario: Scenario, attempts: list[AttemptResult]) -> list[CheckOutcome]:
    outcomes: list[CheckOutcome] = []
    for index, turn in enumerate(scenario.turns):
        if turn.budgets is None:
            continue
        samples = []
        for attempt in attempts:
            mine = [t.totals for t in attempt.turns if t.turn == index]
            if mine:
                samples.append(_usage(mine))
        key = f"turns[{index}].budgets"
        outcomes += check_budget_p95(turn.budgets, samples, key, scope="attempts")
    if scenario.budgets is not None:  # (the samples are gathered only for a budget)
        every = [t.totals for a in attempts for t in a.turns if t.error is None]
        outcomes += check_budget_p95(scenario.budgets, every, "budgets", scope="turns")
    return outcomes


def _repeat_outcome(scenario: Scenario, stats: RepeatStats) -> list[CheckOutcome]:
    if stats.runs <= 1:
        return []
    enough = stats.passed >= stats.required
    return [
        CheckOutcome(
            check="repeat.min_pass",
            status=OutcomeStatus.PASSED if enough else OutcomeStatus.FAILED,
            key="repeat.min_pass",
            message=(
                f"repeat: expected at least {stats.required} of {stats.runs} runs to pass, "
                f"got {stats.passed}"
            ),
            expected=stats.required,
            got=stats.passed,
        )
    ]


def _relative(file: str, root: Path | None) -> str:
    """`file` relative to the project root when it is inside it (stable across working folders)."""
    if root is None:
        return file
    path = os.path.abspath(file)
    if os.sep == "/" and path != str(root):
        # `Path.relative_to` on strings, as paths are POSIX here: no two paths made per scenario.
        base = str(root).rstrip("/") + "/"
        return path[len(base) :] if path.startswith(base) else path
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:  # outside the project
        return str(Path(path))


def base_result(scenario: Scenario, backend: str, root: Path | None) -> ScenarioResult:
    """The result a scenario starts with: its identity, and `error` until it has run."""
    source = scenario.source
    return ScenarioResult(
        scenario_id=scenario.id or scenario.name,
        name=scenario.name,
        file=_relative(source.file, root) if source else None,
        tags=list(scenario.tags),
        parameters=dict(source.parameters) if source else {},
        backend=backend,
        verdict=Verdict.ERROR,
        started_at=datetime.now(UTC),
    )


async def run_scenario(
    scenario: Scenario, factory: BackendFactory, options: RunOptions
) -> ScenarioResult:
    """Run every repeat of `scenario` on `factory`'s backend and decide its verdict."""
    result = base_result(scenario, factory.name, options.project_root)
    if scenario.skip is not None:  # `skip: reason` in the file: never sent to any backend
        result.verdict = Verdict.SKIPPED
        result.error = f"skipped: {scenario.skip}"
        return result
    if scenario.mocks.tools and Capability.TOOL_MOCKS not in factory.capabilities:
        result.verdict = Verdict.SKIPPED
        result.error = (
            f"skipped on the {factory.name} backend: it cannot apply tool mocks, only the "
            "built-in engine can (run it with --backend engine, or tag it and leave the tag out)"
        )
        return result
    started = time.perf_counter()
    attempts: list[AttemptResult] = []
    timing = options.timings
    try:
        loading = timing.measure("loading") if timing else contextlib.nullcontext()
        with loading:
            bound = factory.bind(scenario)
            binding = await bound.__aenter__()
        try:
            for number in range(scenario.repeat.runs):
                attempts.append(await _attempt(scenario, binding, number, options))
            if binding.cassette is not None and all(a.error is None for a in attempts):
                binding.cassette.mark_complete()  # only a complete recording is written
                result.stale = [
                    f"#{s.position} {s.method} {s.uri}  {s.summary}"
                    for s in binding.cassette.unused()
                ]
        finally:
            with timing.measure("loading") if timing else contextlib.nullcontext():
                await bound.__aexit__(None, None, None)
    except Exception as exc:  # the backend or cassette could not be set up (or saved)
        result.error = describe_error(exc)
    result.attempts = attempts
    result.duration_ms = (time.perf_counter() - started) * 1000
    settings = options.settings or load_settings(options.project_root)
    result.total_up(settings.prices)  # costs from [tool.harness.prices]; unknown models: None
    repeat = scenario.repeat
    passed = sum(a.verdict is Verdict.PASSED for a in attempts)
    runs = len(attempts)
    result.repeat = RepeatStats.compute(
        runs, passed, min(repeat.required, runs), min(repeat.k or runs, runs) if runs else None
    )
    if result.error is not None or not attempts:
        result.verdict = Verdict.ERROR
        result.error = result.error or "no attempt ran"
        return result
    result.outcomes = _p95_outcomes(scenario, attempts) + _repeat_outcome(scenario, result.repeat)
    result.verdict = scenario_verdict(
        [a.verdict for a in attempts], repeat.required, result.outcomes
    )
    return result
