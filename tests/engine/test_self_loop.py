"""Bounded self-loops (`self_loop_config`): retries until an exit edge, a retry bound or expiry.

Time is virtual: the engine's clock is a `ManualClock` and its `sleep` advances it, so
`time_between_retries`, `delay_seconds` and `expiry_time` are exercised without waiting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import (
    START,
    conditional,
    node,
    path,
    said,
    say_static,
    start,
    turn_events,
    workflow,
)
from pydantic import ValidationError

from harness.engine import Engine, LLMClient, ManualClock
from harness.models.api import SelfLoopConfig, WorkflowConfigFullyHydrated
from harness.testing.scripted_model import ScriptedModel


@pytest.fixture(autouse=True)
def _default_script(model: ScriptedModel) -> None:
    """Every test starts from (and so leaves behind) the default script of the shared model."""


@pytest.fixture
def clock() -> ManualClock:  # type: ignore[override]
    return ManualClock(START)


@pytest.fixture
def engine(llm: LLMClient, clock: ManualClock) -> Engine:
    return Engine(llm=llm, clock=clock, sleep=clock.sleep, seed=7)


def _outcome_edges(source: str) -> list[dict[str, Any]]:
    return [
        conditional(source, "approved", expression="[[status]] == 'approved'"),
        conditional(source, "no_more", expression="[[self_loop_outcome]] == 'max_retries'"),
        conditional(source, "too_late", expression="[[self_loop_outcome]] == 'expiry_time'"),
    ]


def _retrying(loop_node: dict[str, Any]) -> WorkflowConfigFullyHydrated:
    return workflow(
        [
            loop_node,
            say_static("approved", "You're covered."),
            say_static("no_more", "No answer, I'll email you."),
            say_static("too_late", "Taking too long."),
        ],
        _outcome_edges(loop_node["logical_id"]),
    )


def _loop(**config: Any) -> dict[str, Any]:
    return {"enabled": True, **config}


def _of_type(run: Any, type_: str) -> list[Any]:
    return [e for e in turn_events(run) if e.type == type_]


async def test_the_node_runs_again_until_an_exit_edge_matches(
    engine: Engine, model: ScriptedModel, clock: ManualClock
) -> None:
    model.load(
        {
            "rules": [{"times": 2, "when": {}, "reply": {"json": {"status": "pending"}}}],
            "default": {"json": {"status": "approved"}},
        }
    )
    check = node(
        "worker_llm",
        "check",
        main_response_config={"prompt": "Check eligibility."},
        wait_for_user_message=False,
        structured_output_schema={"input_schema": {"type": "object"}},
        self_loop_config=_loop(max_retries=5, time_between_retries=2),
    )
    run = await engine.execute(_retrying(check), start())
    assert path(run) == ["check", "check", "check", "approved"]
    types = [e.type for e in turn_events(run)]
    assert types.count("self_loop_edge") == 2
    assert "self_loop_exhausted" not in types
    assert [e.get("attempt_number") for e in _of_type(run, "self_loop_delay")] == [2, 3]
    assert [e.get("delay_seconds") for e in _of_type(run, "self_loop_delay")] == [2.0, 2.0]
    assert clock.slept == [2.0, 2.0]
    assert len(model.requests) == 3


async def test_max_retries_ends_the_loop_and_sets_the_outcome(
    engine: Engine, clock: ManualClock
) -> None:
    check = node("no_op", "check", self_loop_config=_loop(max_retries=2, time_between_retries=3))
    run = await engine.execute(_retrying(check), start())
    assert path(run) == ["check", "check", "check", "no_more"]
    exhausted = _of_type(run, "self_loop_exhausted")
    assert len(exhausted) == 1
    assert exhausted[0].get("outcome") == "max_retries"
    assert exhausted[0].get("total_attempts") == 3
    assert exhausted[0].get("source_node_logical_id") == "check"
    assert exhausted[0].get("destination_node_logical_id") == "check"
    assert clock.slept == [3.0, 3.0]
    edge = _of_type(run, "conditional_edge")[0]
    assert edge.get("destination_node_logical_id") == "no_more"
    state = _of_type(run, "workflow_show_state")[-1]
    assert state.get("runtime_variables")["self_loop_outcome"] == "max_retries"


async def test_zero_retries_runs_once(engine: Engine) -> None:
    check = node("no_op", "check", self_loop_config=_loop(max_retries=0))
    run = await engine.execute(_retrying(check), start())
    assert path(run) == ["check", "no_more"]
    assert _of_type(run, "self_loop_edge") == []


async def test_expiry_during_a_delay_ends_the_loop_at_the_deadline(
    engine: Engine, clock: ManualClock
) -> None:
    check = node("no_op", "check", self_loop_config=_loop(expiry_time=5, time_between_retries=2))
    run = await engine.execute(_retrying(check), start())
    assert path(run) == ["check", "check", "check", "too_late"]
    assert clock.slept == [2.0, 2.0, 1.0]  # the last wait stops at the deadline
    exhausted = _of_type(run, "self_loop_exhausted")[0]
    assert (exhausted.get("outcome"), exhausted.get("total_attempts")) == ("expiry_time", 3)
    assert _of_type(run, "node_expired") == []


async def test_an_execution_running_past_the_deadline_expires(
    engine: Engine, clock: ManualClock
) -> None:
    check = node(
        "no_op", "check", delay_seconds=4, self_loop_config=_loop(max_retries=5, expiry_time=3)
    )
    run = await engine.execute(_retrying(check), start())
    types = [e.type for e in turn_events(run)]
    expired = _of_type(run, "node_expired")
    assert len(expired) == 1
    assert expired[0].get("attempt_number") == 1
    assert "expiry_time" in expired[0].get("reason")
    # node_expired, then the node run closes, then the loop reports and leads on
    assert (
        types.index("node_expired")
        < types.index("end_node_run")
        < types.index("self_loop_exhausted")
    )
    assert path(run) == ["check", "too_late"]
    output = _of_type(run, "end_node_run")[0].get("run_output")
    assert output["success"] is False


async def test_an_exhausted_loop_without_an_outcome_edge_ends_the_thread(engine: Engine) -> None:
    flow = workflow(
        [node("no_op", "check", self_loop_config=_loop(max_retries=1)), say_static("ok", "ok")],
        [conditional("check", "ok", expression="[[status]] == 'approved'")],
    )
    run = await engine.execute(flow, start())
    types = [e.type for e in turn_events(run)]
    assert types[-5:-1] == [
        "self_loop_exhausted",
        "workflow_show_state",
        "end_thread",
        "end_workflow_iteration",
    ]
    assert run.status == "completed"


async def test_a_new_loop_clears_the_previous_outcome(engine: Engine) -> None:
    flow = workflow(
        [node("no_op", "check", self_loop_config=_loop(max_retries=0))],
        runtime_variables={"self_loop_outcome": "expiry_time"},
    )
    run = await engine.execute(flow, start())
    state = _of_type(run, "workflow_show_state")[-1].get("runtime_variables")
    assert state["self_loop_outcome"] == "max_retries"


async def test_a_disabled_policy_runs_the_node_once(engine: Engine) -> None:
    check = node("no_op", "check", self_loop_config={"enabled": False, "max_retries": 3})
    run = await engine.execute(_retrying(check), start())
    assert path(run) == ["check"]


def test_an_enabled_loop_needs_a_bound() -> None:
    with pytest.raises(ValidationError, match="at least one of max_retries or expiry_time"):
        SelfLoopConfig(enabled=True)
    assert SelfLoopConfig(enabled=True, expiry_time=30).time_between_retries == 0
    with pytest.raises(ValidationError):
        SelfLoopConfig(enabled=True, max_retries=101)


CORPUS = Path(__file__).resolve().parents[3] / "shared" / "platform" / "corpus"


@pytest.mark.skipif(not (CORPUS / "wf_25.json").exists(), reason="no platform corpus")
@pytest.mark.parametrize(
    ("mode", "answer", "waits"),
    [
        ("normal", "Good news — you're covered for this procedure.", [2.0]),
        ("always_pending", "I couldn't get an answer", [2.0, 2.0, 2.0]),
    ],
)
async def test_the_platforms_bounded_retry_example_runs_as_documented(
    engine: Engine, clock: ManualClock, mode: str, answer: str, waits: list[float]
) -> None:
    # Example 25 of the platform's SDK, as the platform stores it: a tool node retried on a bound,
    # three exits (approved, max_retries, expiry_time) converging on a no_op junction.
    flow = WorkflowConfigFullyHydrated.model_validate_json((CORPUS / "wf_25.json").read_text())
    run = await engine.execute(flow, start(dynamic_variables={"mode": mode}))
    spoken = said(run)
    assert spoken[0] == "Let me check your coverage — one moment please."
    assert spoken[1].startswith(answer)
    assert spoken[2] == "Thanks for calling — goodbye."
    assert clock.slept == waits
    assert run.status == "completed"
