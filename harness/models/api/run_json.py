"""Run outputs as JSON data, what `model_dump(mode="json")` gives, without the serializer's walk.

Every turn's run output is dumped twice (the `end_workflow_iteration` snapshot of the pair, and
the turn's record for checks and reports), and pydantic's walk over ~21 events and their nested
values cost more than the rest of the turn's bookkeeping. The engine builds events from plain
dicts of JSON values it owns (`engine/events.py`), so their dump is the event's own dicts merged:
the known fields (the event type as plain text, a fresh empty `comments`) then the extras, in the
order pydantic dumps them. Nested values are shared, not copied: the engine replaces an event's
values but never writes into one once emitted (a finished turn's pairs are shared between run
snapshots on the same ground), and the dump's readers only serialise it. tests/engine/conftest.py
compares the dump with pydantic's for every run output of the engine tests, right after the turn
and again after the run's later turns.

Only run outputs the engine marked as built from its own values (`mark_engine_built`) take this
path; any other run output (validated from JSON or Python values, copied, built by a client)
and any event or node output beyond what the engine emits (comments, events of a node output,
items that are not `RunEvent`s) goes through `model_dump(mode="json")`.
"""

import weakref
from typing import Any, cast

from harness.models.api.node_runs import NodeRunOutput, node_run_output_class
from harness.models.api.runs import RunEvent, RunOutput, WorkflowRunInputOutputPair

__all__ = ["mark_engine_built", "pair_snapshot_json", "run_output_json"]

# id -> output: pydantic models are unhashable (no WeakSet); an entry goes with its output, and
# the identity check below makes a reused id harmless.
_ENGINE_BUILT: weakref.WeakValueDictionary[int, RunOutput] = weakref.WeakValueDictionary()


def mark_engine_built(output: RunOutput) -> None:
    """Declare that `output`'s events and node outputs are the engine's, of JSON values."""
    _ENGINE_BUILT[id(output)] = output


def _engine_built(output: RunOutput) -> bool:
    """`output` is as the engine built it: marked, with no extra keys, and node outputs of their
    node type's own class (the class their field's union dumps them as)."""
    return (
        _ENGINE_BUILT.get(id(output)) is output
        and not output.__pydantic_extra__
        and all(
            type(item) is node_run_output_class(item.type)
            for items in output.thread_to_node_outputs.values()
            for item in items
        )
    )


def run_output_json(output: RunOutput) -> dict[str, Any]:
    """`output.model_dump(mode="json")`."""
    # Only `RunEvent`s themselves (one pass in C over the items' classes), nothing else.
    if not _engine_built(output) or not set(map(type, output.events)) <= {RunEvent}:
        return output.model_dump(mode="json")
    events = cast("list[RunEvent]", output.events)
    return {
        "events": [_event_json(event) for event in events],
        "thread_to_node_outputs": _node_outputs_json(output),
    }


def _node_outputs_json(output: RunOutput) -> dict[str, list[dict[str, Any]]]:
    return {
        thread: [_node_output_json(item) for item in items]
        for thread, items in output.thread_to_node_outputs.items()
    }


def pair_snapshot_json(pair: WorkflowRunInputOutputPair) -> dict[str, Any]:
    """The pair as `end_workflow_iteration` embeds it: `model_dump(mode="json", by_alias=True)`
    without `comments` and `ratings`, its run output's events left empty (they follow)."""
    output = pair.run_output
    if output is not None and _engine_built(output) and not pair.__pydantic_extra__:
        data = pair.__dict__
        run_input = pair.run_input
        return {
            "run_input": None
            if run_input is None
            else run_input.model_dump(mode="json", by_alias=True),
            "run_output": {"events": [], "thread_to_node_outputs": _node_outputs_json(output)},
            "evaluation": data["evaluation"],
            "iteration_end_state_miscellaneous": data["iteration_end_state_miscellaneous"],
        }
    leave_out: dict[str, Any] = {"comments": True, "ratings": True, "run_output": {"events"}}
    dumped = pair.model_dump(mode="json", by_alias=True, exclude=leave_out)
    if dumped.get("run_output") is not None:
        dumped["run_output"] = {"events": [], **dumped["run_output"]}  # the key stays first
    return dumped


def _event_json(event: RunEvent) -> dict[str, Any]:
    fields = event.__dict__
    if fields["comments"]:
        return event.model_dump(mode="json")
    # `type` may be an `EventType` member: its dump is the plain text (the key keeps its place).
    extra = event.__pydantic_extra__ or {}
    return {**fields, "type": str(fields["type"]), "comments": [], **extra}


def _node_output_json(output: NodeRunOutput) -> dict[str, Any]:
    fields = output.__dict__
    if fields["events"]:
        return output.model_dump(mode="json")
    return {**fields, "events": [], **(output.__pydantic_extra__ or {})}
