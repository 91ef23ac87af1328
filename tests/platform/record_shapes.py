"""Record the platform's run and event shapes for CI (dev-time; run with the scratch venv).

    /tmp/sdkvenv/bin/python tests/platform/record_shapes.py

Reads the platform's own models (`interactly_configs`, installed only in the scratch virtualenv)
and writes `tests/data/platform/`:

- `shapes.json`: every event type of the platform's `Event` union with its family (`node` events
  carry `origin_node_*`, `edge` events the edge fields) and its own fields with their defaults;
  every node run output type with its fields and defaults; the field names of the run models.
- `workflow_run.schema.json` and `event.schema.json`: the JSON Schemas of `WorkflowRun` and of
  the `Event` union, as the platform's models generate them (validation mode).

CI (`tests/engine/test_event_shapes.py`) checks the engine's runs against these files; the
development check (`tests/platform/check_runs.py`) against the models themselves.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

from interactly_configs import workflow_run
from interactly_configs.events import event as ev
from interactly_configs.nodes import node_unions
from pydantic import BaseModel, TypeAdapter
from pydantic_core import PydanticUndefined

OUT = Path(__file__).resolve().parents[1] / "data" / "platform"
REQUIRED = "<required>"
GENERATED = "<generated>"


def _default(field: Any) -> Any:
    if field.default_factory is not None and field.annotation in (float, str | None):
        return GENERATED  # ids and timestamps: new on every instance
    value = field.get_default(call_default_factory=True)
    if value is PydanticUndefined:
        return REQUIRED
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if hasattr(value, "value"):  # enums
        return value.value
    return value


def _own_fields(cls: type[BaseModel], inherited: set[str]) -> dict[str, Any]:
    return {
        name: _default(field)
        for name, field in cls.model_fields.items()
        if name not in inherited and name != "type"
    }


def _members(union: Any) -> tuple[type[BaseModel], ...]:
    return typing.get_args(typing.get_args(union)[0])


def _events() -> dict[str, Any]:
    shapes: dict[str, Any] = {}
    for cls in _members(ev.Event):
        family = "node" if issubclass(cls, ev.NodeEvent) else "base"
        family = "edge" if issubclass(cls, ev.EdgeEvent) else family
        inherited = set(ev.BaseEvent.model_fields)
        if family == "node":
            inherited |= set(ev.NodeEvent.model_fields)
        shapes[cls.model_fields["type"].default] = {
            "family": family,
            "class": cls.__name__,
            "fields": _own_fields(cls, inherited),
        }
    return shapes


def _node_run_outputs() -> dict[str, Any]:
    from interactly_configs.nodes.node import BaseNodeRunOutput

    inherited = set(BaseNodeRunOutput.model_fields)
    return {
        cls.model_fields["type"].default: _own_fields(cls, inherited)
        for cls in _members(node_unions.NodeRunOutput)
    }


def main() -> None:
    models = {
        "BaseEvent": ev.BaseEvent,
        "NodeEvent": ev.NodeEvent,
        "LLMUsageInfo": ev.LLMUsageInfo,
        "WorkflowIterationMetrics": ev.WorkflowIterationMetrics,
        "IterationCallLatencyStats": ev.IterationCallLatencyStats,
        "WorkflowRun": workflow_run.WorkflowRun,
        "WorkflowRunInput": workflow_run.WorkflowRunInput,
        "WorkflowRunOutput": workflow_run.WorkflowRunOutput,
        "WorkflowRunInputOutputPair": workflow_run.WorkflowRunInputOutputPair,
        "LLMTokenUsage": workflow_run.LLMTokenUsage,
        "LLMLatencyStats": workflow_run.LLMLatencyStats,
    }
    shapes = {
        "source": "interactly_configs (the platform SDK's configs package); regenerate with "
        "/tmp/sdkvenv/bin/python tests/platform/record_shapes.py",
        "base_event_fields": _own_fields(ev.BaseEvent, set()),
        "node_event_fields": _own_fields(ev.NodeEvent, set(ev.BaseEvent.model_fields)),
        "computed_event_fields": sorted(ev.BaseEvent.model_computed_fields),
        "events": _events(),
        "node_run_output_fields": _own_fields(
            __import__("interactly_configs.nodes.node", fromlist=["x"]).BaseNodeRunOutput, set()
        ),
        "node_run_outputs": _node_run_outputs(),
        "models": {name: list(cls.model_fields) for name, cls in models.items()},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "shapes.json").write_text(json.dumps(shapes, indent=1) + "\n")
    run_schema = workflow_run.WorkflowRun.model_json_schema(mode="validation")
    (OUT / "workflow_run.schema.json").write_text(json.dumps(run_schema, indent=1) + "\n")
    event_schema = TypeAdapter(ev.Event).json_schema(mode="validation")
    (OUT / "event.schema.json").write_text(json.dumps(event_schema, indent=1) + "\n")
    print(
        f"wrote {OUT}: {len(shapes['events'])} event types, "
        f"{len(shapes['node_run_outputs'])} node run output types"
    )


if __name__ == "__main__":
    main()
