"""Companions: `companion` edges (a silent node beside its source) and companion threads (forks).

Against the real scripted model over loopback. The platform runs both concurrently; the engine runs
them in a fixed order (docs/engine.md), which these tests pin down.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import (
    START,
    conditional,
    direct,
    event,
    node,
    say_llm,
    start,
    turn_events,
    types,
    user,
    worker,
    workflow,
)

from harness.engine import Engine, FixedClock, LLMClient, SqliteRunStore
from harness.engine.graph import validate_graph
from harness.models.api import RunStatus, WorkflowConfigFullyHydrated
from harness.testing.scripted_model import ScriptedModel

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "platform" / "corpus"
EDGE_EVENT_KEYS = {"edge_logical_id", "source_node_logical_id", "destination_node_logical_id"}
PLATFORM_EDGE_EVENT_KEYS = {
    *EDGE_EVENT_KEYS,
    "edge_name",
    "edge_run_id",
    "source_node_name",
    "destination_node_name",
    "reason",
    "origin_thread_id",
}
"""The keys of the platform's `EdgeEvent` (`events/event.py`) besides the common ones."""
AGE_SCHEMA = {
    "name": "Applicant",
    "input_schema": {"type": "object", "properties": {"age": {"type": "integer"}}},
}


def companion(source: str, destination: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "companion",
        "logical_id": f"{source}_with_{destination}",
        "source_node_logical_id": source,
        "destination_node_logical_id": destination,
        **fields,
    }


def fork(source: str, destination: str, thread_id: str | None = "bg") -> dict[str, Any]:
    return direct(
        source,
        destination,
        companion_thread_config={"is_companion_thread": True, "thread_id": thread_id},
    )


# ------------------------------------------------------------------ companion edges


def assessor_workflow() -> WorkflowConfigFullyHydrated:
    """Example 6 in small: a say node, its silent extracting companion, an expression edge."""
    return workflow(
        [
            say_llm("assess", "ASSESS: ask for the age.", wait_for_user_message=True),
            worker("extract", "", structured_output_schema=AGE_SCHEMA, wait_for_user_message=False),
            say_llm("senior", "SENIOR: talk about senior plans.", wait_for_user_message=False),
        ],
        [
            companion("assess", "extract"),
            conditional("assess", "senior", expression="[[age]] >= 65"),
        ],
    )


ASSESSOR_SCRIPT = {
    "rules": [
        {"when": {"response_format": "Applicant"}, "reply": {"json": {"age": 70}}},
        {"when": {"system": "SENIOR"}, "reply": {"text": "Let us look at senior plans."}},
    ],
    "default": {"text": "How old are you?"},
}


async def test_a_companion_node_runs_beside_its_source_before_the_edges_are_decided(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(ASSESSOR_SCRIPT)
    run = await engine.execute(assessor_workflow(), start())
    # The source parked waiting for the user: it did not execute, so neither did its companion.
    assert "companion_edge" not in types(run)
    run = await engine.execute(None, user(run, "I am 70"))
    assert types(run) == [
        "user_messages",
        "say_llm",
        "companion_edge",
        "start_node_run",
        "worker_llm",
        "end_node_run",
        "workflow_show_state",
        "assistant_response",
        "end_node_run",
        "workflow_show_state",
        "conditional_edge",
        "workflow_navigation_message",
        "start_node_run",
        "say_llm",
        "assistant_response",
        "end_node_run",
        "workflow_show_state",
        "self_loop_edge",
        "start_node_run",
        "busy_wait_for_user_message",
        "end_workflow_iteration",
        "workflow_ready_for_input",
    ]
    edge = event(run, "companion_edge")
    assert set(edge.model_dump(exclude_unset=True)) >= EDGE_EVENT_KEYS
    assert edge.get("source_node_logical_id") == "assess"
    assert edge.get("destination_node_logical_id") == "extract"
    assert edge.get("edge_logical_id") == "assess_with_extract"
    assert edge.origin_thread_id == "0"
    # The extraction drove the source's expression edge in the same turn.
    assert event(run, "conditional_edge").get("destination_node_logical_id") == "senior"
    # The companion read the same conversation as its source, without the source's reply.
    extract_call = next(r for r in model.requests if r.body.get("response_format"))
    assert [m["role"] for m in extract_call.messages] == ["user"]
    assert extract_call.last_user_text == "I am 70"


async def test_the_companion_node_runs_after_every_execution_of_its_source(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(
        {
            "rules": [{"when": {"response_format": "Applicant"}, "reply": {"json": {"age": 30}}}],
            "default": {"text": "Tell me more."},
        }
    )
    run = await engine.execute(assessor_workflow(), start())
    for text in ("hello", "I am 30", "anything else?"):
        run = await engine.execute(None, user(run, text))
        assert types(run).count("companion_edge") == 1
    assert run.status == RunStatus.WAITING_FOR_USER_INPUT
    outputs = run.input_output_pairs[-1].run_output.thread_to_node_outputs["0"]  # type: ignore[union-attr]
    assert [o.node_logical_id for o in outputs] == ["extract", "assess"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"wait_for_user_message": True},
            "leads to node 'extract (extract)', which waits for user messages",
        ),
        (
            {"extra_edge": True},
            "which has edges of its own; the engine runs a companion node once",
        ),
    ],
)
def test_companion_edges_the_engine_cannot_run_are_refused_by_name(
    changes: dict[str, Any], expected: str
) -> None:
    edges = [companion("assess", "extract")]
    if changes.pop("extra_edge", False):
        edges.append(direct("extract", "assess"))
    config = workflow(
        [
            say_llm("assess"),
            worker("extract", **{"wait_for_user_message": False, **changes}),
        ],
        edges,
    )
    problems = validate_graph(config)
    assert any(
        "edge 'assess_with_extract' (companion edge)" in p and expected in p for p in problems
    ), problems


def corpus_workflow(name: str) -> WorkflowConfigFullyHydrated:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"{path} is missing: CI keeps ../shared beside the checkout")
    return WorkflowConfigFullyHydrated.model_validate(json.loads(path.read_text()))


def edge_id(config: WorkflowConfigFullyHydrated, name: str) -> str | None:
    return next(e.logical_id for e in config.edge_configs if e.name == name)


async def test_the_platform_example_with_three_companion_extractors_runs(
    engine: Engine, model: ScriptedModel
) -> None:
    """`wf_07.json` (curriculum example 7): route to urgent care, its companion extracts the
    urgency, and the expression edge it feeds moves on to same-day scheduling."""
    config = corpus_workflow("wf_07.json")
    model.load(
        {
            "rules": [
                {
                    "when": {"tool_offered": "route_to_urgent_care", "last_user": "chest"},
                    "reply": {"tool_calls": [{"name": "route_to_urgent_care"}]},
                },
                {
                    "when": {"response_format": "UrgentTriageData"},
                    "reply": {"json": {"urgency_level": "urgent", "symptoms": "chest pain"}},
                },
                {"when": {"response_format": "*"}, "reply": {"json": {}}},
            ],
            "default": {"text": "Thank you, go on."},
        }
    )
    run = await engine.execute(config, start())
    assert run.status == RunStatus.WAITING_FOR_USER_INPUT
    run = await engine.execute(None, user(run, "I have chest pain"))
    # The router leaves without answering, so the triage node answers the same message at once.
    entered = [e.get("origin_node_name") for e in turn_events(run) if e.type == "start_node_run"]
    assert entered == [
        "Urgent Care Triage",
        "Urgent Triage Data Extractor",
        "Same-Day Urgent Scheduling",
    ]
    edge = event(run, "companion_edge")
    assert set(edge.model_dump(exclude_unset=True)) >= PLATFORM_EDGE_EVENT_KEYS
    assert edge.get("edge_logical_id") == edge_id(config, "Urgent Triage Data Extraction")
    (extracted,) = [
        e
        for e in turn_events(run)
        if e.type == "end_node_run" and e.get("origin_node_name") == "Urgent Triage Data Extractor"
    ]
    assert extracted.get("run_output")["structured_output"] == {
        "urgency_level": "urgent",
        "symptoms": "chest pain",
    }
    conditional_edges = [e for e in turn_events(run) if e.type == "conditional_edge"]
    assert conditional_edges[-1].get("edge_logical_id") == edge_id(config, "Urgent to Same Day")
    assert run.status == RunStatus.WAITING_FOR_USER_INPUT
    # The next message goes to the scheduling node: no companion runs beside it.
    run = await engine.execute(None, user(run, "Thank you"))
    assert "companion_edge" not in types(run)


# ------------------------------------------------------------------ companion threads (forks)


def forking_workflow(
    thread_id: str | None = "bg",
    chat_prompt: str = "CHAT: status is [[thread_bg.status]].",
    extra_nodes: tuple[dict[str, Any], ...] | list[dict[str, Any]] = (),
    extra_edges: tuple[dict[str, Any], ...] | list[dict[str, Any]] = (),
) -> WorkflowConfigFullyHydrated:
    return workflow(
        [
            node("no_op", "entry"),
            say_llm("chat", chat_prompt, wait_for_user_message=True),
            worker(
                "poll",
                "POLL",
                structured_output_schema={
                    "name": "Status",
                    "input_schema": {
                        "type": "object",
                        "properties": {"status": {"type": "string"}},
                    },
                },
                wait_for_user_message=False,
            ),
            *extra_nodes,
        ],
        [direct("entry", "chat"), fork("entry", "poll", thread_id), *extra_edges],
    )


FORK_SCRIPT = {
    "rules": [{"when": {"response_format": "Status"}, "reply": {"json": {"status": "ready"}}}],
    "default": {"text": "Hi!"},
}


async def test_a_fork_runs_its_companion_thread_once_the_main_thread_settles(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(FORK_SCRIPT)
    run = await engine.execute(forking_workflow(), start())
    events = turn_events(run)
    assert [(e.type, e.origin_thread_id or e.get("thread_id")) for e in events] == [
        ("start_node_run", "0"),
        ("end_node_run", "0"),
        ("workflow_show_state", "0"),
        ("companion_edge", "0"),
        ("direct_edge", "0"),
        ("workflow_navigation_message", "0"),
        ("start_node_run", "0"),
        ("busy_wait_for_user_message", "0"),
        ("start_thread", "0_companion_bg"),
        ("start_node_run", "0_companion_bg"),
        ("worker_llm", "0_companion_bg"),
        ("end_node_run", "0_companion_bg"),
        ("workflow_show_state", "0_companion_bg"),
        ("end_thread", "0_companion_bg"),
        ("companion_step_boundary", "0_companion_bg"),
        ("end_workflow_iteration", None),
        ("workflow_ready_for_input", None),
    ]
    fork_event = event(run, "companion_edge")
    assert fork_event.get("destination_node_logical_id") == "poll"
    boundary = event(run, "companion_step_boundary")
    assert boundary.get("companion_thread_id") == "0_companion_bg"
    assert boundary.get("still_active") is False
    # Drained within the turn: nothing is left running, so there is no background work.
    assert event(run, "workflow_ready_for_input").get("active_companion_thread_ids") == []
    assert run.status == RunStatus.WAITING_FOR_USER_INPUT
    outputs = run.input_output_pairs[-1].run_output.thread_to_node_outputs  # type: ignore[union-attr]
    assert [o.node_logical_id for o in outputs["0_companion_bg"]] == ["poll"]


async def test_threads_keep_their_own_variables_and_read_each_other_by_thread_id(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(FORK_SCRIPT)
    run = await engine.execute(forking_workflow(), start())
    states = {
        e.get("thread_id"): e.get("runtime_variables")
        for e in turn_events(run)
        if e.type == "workflow_show_state"
    }
    # The companion started from a copy of the main thread's variables and wrote its own.
    assert states["0_companion_bg"]["status"] == "ready"
    assert "status" not in states["0"]
    run = await engine.execute(None, user(run, "any news?"))
    assert model.requests[-1].system_text == "CHAT: status is ready."


async def test_each_bounded_self_loop_step_of_a_companion_is_a_boundary(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(FORK_SCRIPT)
    config = workflow(
        [
            node("no_op", "entry"),
            say_llm("chat", wait_for_user_message=True),
            node(
                "no_op",
                "poll",
                self_loop_config={"enabled": True, "max_retries": 2, "expiry_time": 60},
            ),
        ],
        [direct("entry", "chat"), fork("entry", "poll")],
    )
    run = await engine.execute(config, start())
    companion = [e for e in turn_events(run) if e.origin_thread_id == "0_companion_bg"]
    boundaries = [e for e in companion if e.type == "companion_step_boundary"]
    assert [(b.get("attempts_completed"), b.get("still_active")) for b in boundaries] == [
        (1, True),
        (2, True),
        (None, False),
    ]
    assert boundaries[0].get("deadline_epoch") == START.timestamp() + 60
    assert [e.type for e in companion].count("start_node_run") == 3  # max_retries 2: 3 attempts
    assert run.status == RunStatus.WAITING_FOR_USER_INPUT


async def test_companion_threads_are_stored_and_continue_in_another_process(
    llm: LLMClient, clock: FixedClock, model: ScriptedModel, tmp_path: Path
) -> None:
    model.load(FORK_SCRIPT)
    first = SqliteRunStore(tmp_path / "runs.db")
    run = await Engine(llm=llm, clock=clock, seed=7, store=first).execute(
        forking_workflow(), start()
    )
    first.close()
    second = SqliteRunStore(tmp_path / "runs.db")
    run = await Engine(llm=llm, clock=clock, seed=7, store=second).execute(None, user(run, "news?"))
    second.close()
    assert model.requests[-1].system_text == "CHAT: status is ready."


async def test_a_condition_reads_a_companion_threads_variable(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(FORK_SCRIPT)
    config = forking_workflow(
        chat_prompt="CHAT",
        extra_nodes=[say_llm("done", "DONE", wait_for_user_message=False, self_loop=False)],
        extra_edges=[conditional("chat", "done", expression="[[thread_bg.status]] == 'ready'")],
    )
    run = await engine.execute(config, start())
    run = await engine.execute(None, user(run, "well?"))
    assert event(run, "conditional_edge").get("destination_node_logical_id") == "done"


async def test_an_unnamed_companion_thread_gets_a_reproducible_uuid(
    llm: LLMClient, clock: FixedClock, model: ScriptedModel
) -> None:
    model.load(FORK_SCRIPT)
    ids = set()
    for _ in range(2):
        engine = Engine(llm=llm, clock=clock, seed=7)
        run = await engine.execute(forking_workflow(thread_id=None, chat_prompt="CHAT"), start())
        ids.add(event(run, "start_thread").origin_thread_id)
    (thread,) = ids  # the same seed forks the same id: replays repeat
    assert thread is not None and thread.startswith("0_companion_")
    assert len(thread.removeprefix("0_companion_")) == 36


async def test_a_companion_thread_that_waits_for_a_user_message_fails_the_turn_by_name(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(FORK_SCRIPT)
    config = workflow(
        [
            node("no_op", "entry"),
            say_llm("chat", wait_for_user_message=True),
            worker("poll", wait_for_user_message=False, self_loop=True),
        ],
        [direct("entry", "chat"), fork("entry", "poll")],
    )
    run = await engine.execute(config, start())
    assert run.status == RunStatus.FAILED
    error = event(run, "workflow_error").get("error_message")
    assert "companion thread bg parked at node 'poll (poll)'" in error
    assert "companions never receive user messages" in error


@pytest.mark.parametrize(
    ("nodes", "edges", "expected"),
    [
        (
            [say_llm("chat"), say_llm("poll", wait_for_user_message=True)],
            [fork("entry", "poll")],
            "the companion thread of edge 'entry_to_poll' reaches node 'poll (poll)', which waits for user messages",
        ),
        (
            [say_llm("chat"), node("no_op", "poll"), node("no_op", "a"), node("no_op", "b")],
            [fork("entry", "poll"), direct("poll", "a"), fork("poll", "b", "nested")],
            "reaches node 'poll (poll)', which forks again: companions may not fork",
        ),
        (
            [say_llm("chat"), node("no_op", "poll")],
            [fork("entry", "poll"), direct("poll", "chat")],
            "reaches node 'chat (chat)', which the main thread also reaches",
        ),
        (
            [say_llm("chat"), node("no_op", "poll")],
            [fork("entry", "poll", "lab.poll")],
            "thread_id 'lab.poll' may only use letters, digits, '_' and '-'",
        ),
        (
            [say_llm("chat"), node("no_op", "poll")],
            [fork("entry", "poll", "0")],
            "thread_id '0' is reserved for the main thread",
        ),
        (
            [say_llm("chat"), node("no_op", "poll")],
            [fork("entry", "poll", "a_companion_b")],
            "must not contain '_companion_'",
        ),
        (
            [node("no_op", "poll"), node("no_op", "poll2")],
            [
                {**fork("entry", "poll"), "logical_id": "f1"},
                {**fork("entry", "poll2", "bg2"), "logical_id": "f2"},
            ],
            "forks only companion threads",
        ),
        (
            [say_llm("chat"), node("no_op", "poll"), node("no_op", "poll2")],
            [
                {**fork("entry", "poll"), "logical_id": "f1"},
                {**fork("entry", "poll2"), "logical_id": "f2"},
            ],
            "thread_id 'bg' is also the thread id of edge 'f1': make it unique",
        ),
    ],
    ids=[
        "interactive",
        "nested",
        "convergence",
        "dotted-id",
        "main-id",
        "delimiter-in-id",
        "no-main-edge",
        "duplicate-id",
    ],
)
def test_the_platforms_companion_thread_rules_are_checked_at_load(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]], expected: str
) -> None:
    main = [direct("entry", "chat")] if any(n["logical_id"] == "chat" for n in nodes) else []
    config = workflow([node("no_op", "entry"), *nodes], [*main, *edges])
    problems = validate_graph(config)
    assert any(expected in p for p in problems), problems


def test_a_lone_flagged_direct_edge_continues_the_main_thread() -> None:
    config = workflow([node("no_op", "entry"), say_llm("chat")], [fork("entry", "chat")])
    assert validate_graph(config) == []
