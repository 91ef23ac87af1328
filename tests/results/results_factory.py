"""Scenario results built by hand for the results tests: usage rows, checks, errors, events."""

from __future__ import annotations

from typing import Any

from harness.models.result import (
    AttemptResult,
    CheckOutcome,
    EvaluationResult,
    NodeUsage,
    OutcomeStatus,
    ScenarioResult,
    TurnResult,
    Verdict,
)


def llm_event(
    node: str, response_id: str, prompt: int, completion: int, latency: int
) -> dict[str, Any]:
    """A `say_llm` event as the engine emits it (the fields the usage is read from)."""
    return {
        "type": "say_llm",
        "origin_node_logical_id": node,
        "origin_node_name": node.title(),
        "message": None,
        "llm_usage_info": {
            "response_model": "gpt-4o-mini",
            "provider": "openai",
            "llm_response_id": response_id,
            "response_latency_milliseconds": latency,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def usage_row(node: str, *latencies: float, prompt: int = 100, completion: int = 10) -> NodeUsage:
    return NodeUsage(
        node=node,
        node_name=node.title(),
        model="gpt-4o-mini",
        provider="openai",
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        llm_calls=len(latencies),
        latencies_ms=list(latencies),
    )


FAILED_CHECK = CheckOutcome(
    check="says.contains",
    status=OutcomeStatus.FAILED,
    key="turns[1].expect.says.contains",
    message="said text: expected to contain 'refill', got 'Hello'",
)


def scenario(
    sid: str,
    verdict: Verdict = Verdict.PASSED,
    *,
    events: bool = True,
    attempts: int = 1,
    error: str | None = None,
) -> ScenarioResult:
    """A result with one turn per attempt using node `greet`, run output events included."""
    made = []
    for number in range(attempts):
        rows = [usage_row("greet", 20.0 + number, 30.0, prompt=200, completion=20)]
        turn = TurnResult(
            index=0,
            turn=0,
            kind="start",
            tokens=220,
            llm_calls=2,
            latency_ms=50 + number,
            usage=rows,
            wall_ms=80,
            run_output={"events": [llm_event("greet", f"r{number}", 100, 10, 20)]}
            if events
            else None,
            outcomes=[FAILED_CHECK] if verdict is Verdict.FAILED else [],
        )
        made.append(
            AttemptResult(
                attempt=number,
                verdict=verdict,
                turns=[turn],
                evaluation=EvaluationResult(
                    evaluator="judge.yaml", verdict={"passed": True, "score": 0.5}
                ),
                error=error,
            )
        )
    result = ScenarioResult(
        scenario_id=sid, name=sid.rsplit("/", 1)[-1], file=f"{sid}.yaml", verdict=verdict
    )
    result.attempts = made
    result.total_up()
    return result
