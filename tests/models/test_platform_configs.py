"""Real platform configs load, round-trip unchanged, and pass or fail graph validation by name.

The configs of `../shared/platform/corpus/` are the bodies the platform's official SDK uploads for
its example workflows, nulls and defaults as the platform stores them. Each must load into
`WorkflowConfigFullyHydrated` and dump back (`exclude_unset`, by alias) to exactly the same JSON.
A config whose node types the engine all runs passes graph validation; any other is refused with
each unsupported node named, its type, and the way out (the API backend).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from deepdiff import DeepDiff

from harness.engine import DEFAULT_NODE_HANDLERS, validate_graph
from harness.models.api import WorkflowConfigFullyHydrated

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "platform" / "corpus"
FILES = sorted(CORPUS.glob("wf_*.json"))

pytestmark = pytest.mark.skipif(not FILES, reason=f"no platform corpus at {CORPUS}")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_a_platform_config_round_trips_unchanged(path: Path) -> None:
    data = _load(path)
    workflow = WorkflowConfigFullyHydrated.model_validate(data)
    dumped = workflow.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert DeepDiff(data, dumped) == {}


def _node_types(data: dict[str, Any]) -> set[str]:
    return {node["type"] for node in data["node_configs"]}


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_a_platform_config_passes_graph_validation_or_names_what_cannot_run(path: Path) -> None:
    data = _load(path)
    problems = validate_graph(WorkflowConfigFullyHydrated.model_validate(data))
    unsupported = [n for n in data["node_configs"] if n["type"] not in DEFAULT_NODE_HANDLERS]
    if not unsupported:
        assert problems == []
        return
    assert len(problems) == len(unsupported), problems
    for node, problem in zip(unsupported, problems, strict=True):
        assert node["logical_id"] in problem
        assert f"type {node['type']!r}" in problem
        assert "API backend" in problem


def test_the_corpus_has_both_kinds() -> None:
    runnable = [f for f in FILES if _node_types(_load(f)) <= set(DEFAULT_NODE_HANDLERS)]
    assert runnable and len(runnable) < len(FILES)
