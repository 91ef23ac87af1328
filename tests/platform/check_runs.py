"""Validate dumped runs against the platform's own models (dev-time; run with the scratch venv).

    /tmp/sdkvenv/bin/python tests/platform/check_runs.py RUNS_DIR

For every `*.json` in RUNS_DIR (written by `tests/platform/dump_runs.py`): `WorkflowRun`
(`interactly_configs`) validates it; every event of every pair parses strictly as the platform's
`Event` union (no fallback to `BaseEvent`); every event's keys equal those of a dump of the
platform's class for its type (computed fields aside); every pair's node outputs parse as the
platform's `NodeRunOutput` union. Prints the figures and every problem; exits 1 on any problem.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from interactly_configs.events.event import BaseEvent, Event
from interactly_configs.nodes.node_unions import NodeRunOutput
from interactly_configs.workflow_run import WorkflowRun
from pydantic import TypeAdapter, ValidationError

EVENTS: TypeAdapter[Any] = TypeAdapter(Event)
OUTPUTS: TypeAdapter[Any] = TypeAdapter(NodeRunOutput)
COMPUTED = set(BaseEvent.model_computed_fields)


def check(path: Path, counts: Counter[str]) -> list[str]:
    data = json.loads(path.read_text())
    problems: list[str] = []
    try:
        WorkflowRun.model_validate(data)
        counts["runs valid"] += 1
    except ValidationError as exc:
        problems.append(f"{path.name}: WorkflowRun: {exc}")
    for index, pair in enumerate(data.get("input_output_pairs") or []):
        output = pair.get("run_output") or {}
        for event in output.get("events") or []:
            counts["events"] += 1
            counts[f"event {event.get('type')}"] += 1
            try:
                typed = EVENTS.validate_python(event)
            except ValidationError as exc:
                problems.append(f"{path.name} pair {index} {event.get('type')}: {exc}")
                continue
            keys = set(typed.model_dump()) - COMPUTED
            if keys != set(event):
                extra, missing = sorted(set(event) - keys), sorted(keys - set(event))
                problems.append(f"{path.name} {event['type']}: extra {extra}, missing {missing}")
            else:
                counts["events exact"] += 1
        for outputs in (output.get("thread_to_node_outputs") or {}).values():
            for node_output in outputs:
                counts["node outputs"] += 1
                try:
                    OUTPUTS.validate_python(node_output)
                except ValidationError as exc:
                    problems.append(f"{path.name} output {node_output.get('type')}: {exc}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    counts: Counter[str] = Counter()
    problems: list[str] = []
    paths = sorted(Path(argv[0]).glob("*.json"))
    for path in paths:
        problems += check(path, counts)
    print(f"{len(paths)} run(s): {counts['runs valid']} valid as WorkflowRun")
    print(f"{counts['events']} event(s): {counts['events exact']} parse strictly with exact keys")
    print(f"{counts['node outputs']} node output(s)")
    for key, value in sorted(counts.items()):
        if key.startswith("event "):
            print(f"  {key[6:]}: {value}")
    for problem in problems:
        print(f"PROBLEM {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
