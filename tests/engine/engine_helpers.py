"""Builders for the engine tests: compact hydrated workflows and run inputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from harness.models.api import (
    Command,
    RunEvent,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    WorkflowRunInput,
    user_message_input,
)

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
"""The tests' fixed clock time (a Monday)."""
WORKFLOWS = Path(__file__).parent.parent / "data" / "workflows"


def load_workflow(name: str) -> WorkflowConfigFullyHydrated:
    """A workflow of tests/data/workflows (JSON or YAML)."""
    path = WORKFLOWS / name
    data = (
        json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    )
    return WorkflowConfigFullyHydrated.model_validate(data)


def node(type_: str, logical_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "logical_id": logical_id, "name": logical_id, **fields}


def say_llm(logical_id: str, prompt: str = "", **fields: Any) -> dict[str, Any]:
    return node("say_llm", logical_id, main_response_config={"prompt": prompt}, **fields)


def worker(logical_id: str, prompt: str = "", **fields: Any) -> dict[str, Any]:
    return node("worker_llm", logical_id, main_response_config={"prompt": prompt}, **fields)


def say_static(
    logical_id: str, *messages: str, mode: str = "random", **fields: Any
) -> dict[str, Any]:
    config = {"static_messages": list(messages), "static_messages_selection_mode": mode}
    return node("say_static", logical_id, static_messages_config=config, **fields)


def direct(source: str, destination: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "direct",
        "logical_id": fields.pop("logical_id", f"{source}_to_{destination}"),
        "source_node_logical_id": source,
        "destination_node_logical_id": destination,
        **fields,
    }


def conditional(
    source: str,
    destination: str,
    *,
    freeform: str | None = None,
    expression: str | None = None,
    args_schema: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    condition: dict[str, Any] = {}
    if freeform is not None:
        condition["condition_freeform"] = freeform
    if expression is not None:
        condition["condition_expression"] = expression
    if args_schema is not None:
        condition["args_schema"] = args_schema
    if "static_messages" in fields:
        condition["static_messages_config"] = {"static_messages": fields.pop("static_messages")}
    return {
        "type": "conditional",
        "logical_id": fields.pop("logical_id", f"{source}_if_{destination}"),
        "source_node_logical_id": source,
        "destination_node_logical_id": destination,
        "condition": condition,
        **fields,
    }


def workflow(
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]] = (),
    **config: Any,  # type: ignore[assignment]
) -> WorkflowConfigFullyHydrated:
    """A hydrated workflow; the first node starts unless one says `is_start`."""
    nodes = [dict(n) for n in nodes]
    if not any(n.get("is_start") for n in nodes) and "start_node_logical_id" not in config:
        nodes[0]["is_start"] = True
    dynamic = config.pop("dynamic_variables", {})
    runtime = config.pop("runtime_variables", {})
    workflow_config = {
        "name": config.pop("name", "test workflow"),
        "llms_config": {"provider": "default_provider", "model": "scripted-model"},
        "nodes": [n["logical_id"] for n in nodes],
        "edges": [e["logical_id"] for e in edges],
        **config,
    }
    return WorkflowConfigFullyHydrated.model_validate(
        {
            "workflow_config": workflow_config,
            "node_configs": nodes,
            "edge_configs": list(edges),
            "dynamic_variables": dynamic,
            "runtime_variables": runtime,
        }
    )


def start(**fields: Any) -> WorkflowRunInput:
    return WorkflowRunInput(command=Command.START, **fields)


def user(run: WorkflowRun, text: str, **fields: Any) -> WorkflowRunInput:
    """A `data` turn carrying one user message to `run`."""
    return WorkflowRunInput(
        command=Command.DATA,
        workflow_run_id=run.workflow_run_id,
        thread_to_node_inputs=user_message_input(text),
        **fields,
    )


def command(run: WorkflowRun, name: str, **fields: Any) -> WorkflowRunInput:
    return WorkflowRunInput(command=Command(name), workflow_run_id=run.workflow_run_id, **fields)


def turn_events(run: WorkflowRun, index: int = -1) -> list[RunEvent]:
    return run.input_output_pairs[index].run_output.typed_events()


def types(run: WorkflowRun, index: int = -1) -> list[str]:
    return [e.type for e in turn_events(run, index)]


def said(run: WorkflowRun, index: int = -1) -> list[str]:
    """What the assistant said in a turn."""
    return [e.get("content") for e in turn_events(run, index) if e.type == "assistant_response"]


def path(run: WorkflowRun) -> list[str]:
    """Node logical ids in the order their runs started, over the whole run."""
    return [e.origin_node_logical_id or "" for e in run.events() if e.type == "start_node_run"]


def event(run: WorkflowRun, type_: str, index: int = -1) -> RunEvent:
    found = [e for e in turn_events(run, index) if e.type == type_]
    assert found, f"no {type_} event in turn {index}: {types(run, index)}"
    return found[0]


def strictly_equal(ours: Any, theirs: Any) -> bool:
    """Equal with the same types and, for dicts, the same key order, all the way down."""
    if type(ours) is not type(theirs):
        return False
    if isinstance(ours, dict):
        return list(ours) == list(theirs) and all(strictly_equal(ours[k], theirs[k]) for k in ours)
    if isinstance(ours, list):
        return len(ours) == len(theirs) and all(map(strictly_equal, ours, theirs))
    return bool(ours == theirs)
