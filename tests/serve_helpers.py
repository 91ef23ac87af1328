"""Shared builders of the server, parity and evaluation tests: engines on a scripted model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from harness.config import HarnessSettings, ProviderConfig
from harness.engine import Engine, FixedClock, LLMClient, MappingWorkflowRegistry, RunStore
from harness.models.api import WorkflowConfigFullyHydrated

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
"""The tests' fixed clock time."""


def scripted_settings(base_url: str) -> HarnessSettings:
    """Settings whose default provider is the scripted model at `base_url`."""
    provider = ProviderConfig(base_url=base_url, model="scripted-model", api_key_env=None)
    return HarnessSettings(providers={"default_provider": provider})


def scripted_engine(
    http: httpx.AsyncClient,
    base_url: str,
    *,
    workflows: MappingWorkflowRegistry | None = None,
    store: RunStore | None = None,
    seed: int = 7,
) -> Engine:
    """An engine on the scripted model with a fixed clock and seed."""
    llm = LLMClient(http, scripted_settings(base_url), env={}, max_retries=0)
    return Engine(llm=llm, clock=FixedClock(START), seed=seed, workflows=workflows, store=store)


def hydrated(
    nodes: list[dict[str, Any]], edges: Sequence[dict[str, Any]] = (), **config: Any
) -> WorkflowConfigFullyHydrated:
    """A hydrated workflow; the first node starts."""
    nodes = [dict(n) for n in nodes]
    nodes[0]["is_start"] = True
    return WorkflowConfigFullyHydrated.model_validate(
        {
            "workflow_config": {
                "name": config.pop("name", "test workflow"),
                "llms_config": {"provider": "default_provider", "model": "scripted-model"},
                "nodes": [n["logical_id"] for n in nodes],
                "edges": [e["logical_id"] for e in edges],
                **config,
            },
            "node_configs": nodes,
            "edge_configs": list(edges),
        }
    )


def node(type_: str, logical_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "logical_id": logical_id, "name": logical_id, **fields}


def direct(source: str, destination: str) -> dict[str, Any]:
    return {
        "type": "direct",
        "logical_id": f"{source}_to_{destination}",
        "source_node_logical_id": source,
        "destination_node_logical_id": destination,
    }


def conditional(source: str, destination: str, freeform: str) -> dict[str, Any]:
    return {
        "type": "conditional",
        "logical_id": f"{source}_if_{destination}",
        "source_node_logical_id": source,
        "destination_node_logical_id": destination,
        "condition": {"condition_freeform": freeform},
    }


def evaluator() -> WorkflowConfigFullyHydrated:
    """fetch → judge, with a `verdict` schema of `passed` and `score`."""
    schema = {
        "name": "verdict",
        "input_schema": {
            "type": "object",
            "properties": {"passed": {"type": "boolean"}, "score": {"type": "number"}},
        },
    }
    return hydrated(
        [
            node("workflow_run_fetch", "fetch"),
            node(
                "workflow_run_evaluator",
                "judge",
                main_response_config={"prompt": "Was the user helped?"},
                structured_output_schema=schema,
            ),
        ],
        [direct("fetch", "judge")],
        name="judge",
    )
