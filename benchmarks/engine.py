"""The built-in engine's own cost per node execution, LLM time excluded.

Run: `python benchmarks/engine.py [--conversations N]` (a few seconds on 2 cores). Prints one
JSON document.

Two workloads, each on a fresh `Engine` with a `MemoryRunStore`, a fixed clock and seed:
- `intake`: the five-node intake of tests/data/workflows/intake.yaml driven through a six-turn
  conversation (start, name, ask for a human, go back, reason, confirm): say_static, worker_llm
  with structured output, say_llm with transition tools, a global node and its reverse edge.
  LLM answers come from an in-process `httpx.MockTransport` keyed on the request; only the time
  inside that transport (the stand-in for the provider) is subtracted, so the figure is all of
  our own work per node: graph walk, prompts, tools offered, transitions, events, accounting,
  variables, the store, and the LLM client's request building and response parsing (httpx
  client included). `llm_client_s` (the time inside `LLMClient.complete`, transport included)
  is reported beside it.
- `static`: a ten-node say_static/no_op chain with no LLM at all (the floor).

Both run under `batch_gc()`, the garbage-collector settings `harness run` uses for a batch
(without them, collections alone add a third to these figures).

Target: at most 1 ms of engine time per node execution.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from harness.config import HarnessSettings, ProviderConfig
from harness.engine import ChatRequest, ChatResponse, Engine, FixedClock, LLMClient
from harness.models.api import (
    Command,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    WorkflowRunInput,
    user_message_input,
)
from harness.runner.batch import batch_gc

__all__ = ["TimedAnswers", "TimedLLMClient", "main"]

ROOT = Path(__file__).resolve().parent.parent
INTAKE = ROOT / "tests" / "data" / "workflows" / "intake.yaml"
TARGET_MS_PER_NODE = 1.0
CONVERSATION = [
    "My name is Ana Ruiz",
    "Can I talk to a human?",
    "Yes, let's continue",
    "I have a bad headache",
    "Yes, that's right",
]


class TimedLLMClient(LLMClient):
    """An LLM client that adds up the time spent in its calls."""

    spent = 0.0

    async def complete(
        self, req: ChatRequest, *, provider: str | None, context: Any
    ) -> ChatResponse:
        started = time.perf_counter()
        try:
            return await super().complete(req, provider=provider, context=context)
        finally:
            self.spent += time.perf_counter() - started


class TimedAnswers:
    """The mock provider: answers requests and adds up the time spent answering."""

    spent = 0.0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            return _answer(request)
        finally:
            self.spent += time.perf_counter() - started


def _answer(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    tools = {t["function"]["name"] for t in body.get("tools") or []}
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    last = users[-1] if users else ""
    message: dict[str, Any] = {"role": "assistant", "content": "What brings you in today?"}
    call = None
    if body.get("response_format"):
        message["content"] = json.dumps({"patient_name": "Ana Ruiz"})
    elif "human" in last and "go_to_human" in tools:
        call = "go_to_human"
    elif "continue" in last and "return_to_previous_node" in tools:
        call = "return_to_previous_node"
    elif "headache" in last and "reason_given" in tools:
        call = "reason_given"
    elif "right" in last and "confirmed" in tools:
        call = "confirmed"
    if call is not None:
        arguments = '{"reason": "headache"}' if call == "reason_given" else "{}"
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": call, "arguments": arguments}}
            ],
        }
    usage = {"prompt_tokens": 120, "completion_tokens": 12, "total_tokens": 132}
    return httpx.Response(
        200,
        json={
            "id": "bench",
            "model": "bench-model",
            "choices": [{"message": message}],
            "usage": usage,
        },
    )


def _static_chain() -> WorkflowConfigFullyHydrated:
    nodes: list[dict[str, Any]] = []
    for index in range(10):
        node_id = f"n{index}"
        if index % 2:
            nodes.append({"type": "no_op", "logical_id": node_id})
        else:
            messages = {"static_messages": ["Step {{step}} of [[total]]."]}
            nodes.append(
                {"type": "say_static", "logical_id": node_id, "static_messages_config": messages}
            )
    nodes[0]["is_start"] = True
    edges = [
        {
            "type": "direct",
            "logical_id": f"e{i}",
            "source_node_logical_id": f"n{i}",
            "destination_node_logical_id": f"n{i + 1}",
        }
        for i in range(9)
    ]
    return WorkflowConfigFullyHydrated.model_validate(
        {
            "workflow_config": {"nodes": [n["logical_id"] for n in nodes], "edges": []},
            "node_configs": nodes,
            "edge_configs": edges,
            "dynamic_variables": {"step": 1},
            "runtime_variables": {"total": 10},
        }
    )


def _node_runs(run: WorkflowRun) -> int:
    return sum(1 for e in run.events() if e.type == "start_node_run")


async def _intake(conversations: int) -> dict[str, Any]:
    flow = WorkflowConfigFullyHydrated.model_validate(yaml.safe_load(INTAKE.read_text()))
    settings = HarnessSettings(
        providers={
            "default_provider": ProviderConfig(
                base_url="http://bench.invalid/v1", model="bench-model", api_key_env=None
            )
        }
    )
    answers = TimedAnswers()
    async with httpx.AsyncClient(transport=httpx.MockTransport(answers)) as http:
        llm = TimedLLMClient(http, settings, env={})
        engine = Engine(llm=llm, clock=FixedClock(datetime(2026, 1, 5, tzinfo=UTC)))
        nodes = turns = calls = 0
        started = time.perf_counter()
        for _ in range(conversations):
            run = await engine.execute(flow, WorkflowRunInput(command=Command.START))
            for text in CONVERSATION:
                run = await engine.execute(
                    flow,
                    WorkflowRunInput(
                        command=Command.DATA,
                        workflow_run_id=run.workflow_run_id,
                        thread_to_node_inputs=user_message_input(text),
                    ),
                )
            assert run.status.value == "completed", run.status
            nodes += _node_runs(run)
            turns += len(run.input_output_pairs)
            calls += run.llm_token_usage.call_count
        total = time.perf_counter() - started
    own = total - answers.spent
    return {
        "conversations": conversations,
        "turns": turns,
        "node_executions": nodes,
        "llm_calls": calls,
        "wall_s": round(total, 3),
        "llm_client_s": round(llm.spent, 3),
        "mock_provider_s": round(answers.spent, 3),
        "engine_ms_per_node": round(own / nodes * 1000, 4),
        "engine_ms_per_turn": round(own / turns * 1000, 4),
    }


async def _static(runs: int) -> dict[str, Any]:
    flow = _static_chain()
    settings = HarnessSettings()
    async with httpx.AsyncClient() as http:
        engine = Engine(
            llm=LLMClient(http, settings, env={}),
            clock=FixedClock(datetime(2026, 1, 5, tzinfo=UTC)),
        )
        nodes = 0
        started = time.perf_counter()
        for _ in range(runs):
            run = await engine.execute(flow, WorkflowRunInput(command=Command.START))
            nodes += _node_runs(run)
        total = time.perf_counter() - started
    return {
        "runs": runs,
        "node_executions": nodes,
        "wall_s": round(total, 3),
        "engine_ms_per_node": round(total / nodes * 1000, 4),
    }


async def _main(conversations: int) -> dict[str, Any]:
    await _intake(20)  # warm-up: imports, caches, first-call paths
    with batch_gc():  # the collector settings `harness run` uses while a batch runs
        intake = await _intake(conversations)
        static = await _static(conversations)
    return {
        "benchmark": "engine",
        "python": sys.version.split()[0],
        "target_ms_per_node": TARGET_MS_PER_NODE,
        "intake": intake,
        "static": static,
        "meets_target": intake["engine_ms_per_node"] <= TARGET_MS_PER_NODE,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON report; exit 1 when the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=300)
    args = parser.parse_args(argv)
    report = asyncio.run(_main(args.conversations))
    print(json.dumps(report, indent=2))
    return 0 if report["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
