"""Accounting: `llm_usage_info` on every LLM event; run totals and per-(model, provider) breakdowns."""

from __future__ import annotations

import json

import httpx
from engine_helpers import (
    conditional,
    direct,
    event,
    say_llm,
    say_static,
    start,
    turn_events,
    user,
    worker,
    workflow,
)

from harness.config import HarnessSettings, ProviderConfig
from harness.engine import Engine, LLMClient
from harness.engine.variables import FixedClock
from harness.testing.scripted_model import ScriptedModel

LLM_EVENTS = {"say_llm", "worker_llm", "condition_evaluator_llm"}


def _hello() -> dict:
    return {"0": {"node_run_inputs": [{"messages": [{"role": "user", "content": "hello"}]}]}}


async def test_totals_and_breakdowns_cover_every_call(engine: Engine, model: ScriptedModel) -> None:
    model.load(
        {
            "rules": [
                {
                    "when": {"response_format": "condition_evaluation"},
                    "reply": {"json": {"is_condition_met": True}},
                },
                {"when": {"response_format": "facts"}, "reply": {"json": {"ok": True}}},
                {
                    "when": {"stream": True},
                    "reply": {
                        "text": "streamed reply",
                        "usage": {"prompt_tokens": 100, "completion_tokens": 7},
                    },
                },
            ],
            "default": {"text": "plain"},
        }
    )
    facts = {
        "name": "facts",
        "input_schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
    }
    flow = workflow(
        [
            worker(
                "w",
                structured_output_schema=facts,
                llms_config={"provider": "other", "model": "m-other"},
            ),
            say_llm("s", self_loop=False, llms_config={"streaming": True}),
            say_static("end", "Bye."),
        ],
        [direct("w", "s"), conditional("s", "end", freeform="The user is done.")],
        global_condition_evaluation_method="independent_llm_evaluations",
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))

    events = [e for e in turn_events(run) if e.type in LLM_EVENTS]
    assert [e.type for e in events] == ["worker_llm", "say_llm", "condition_evaluator_llm"]
    infos = [e.get("llm_usage_info") for e in events]
    assert [(i["response_model"], i["provider"]) for i in infos] == [
        ("m-other", "other"),
        ("scripted-model", "default_provider"),
        ("scripted-model", "default_provider"),
    ]
    assert infos[1]["prompt_tokens"] == 100 and infos[1]["was_streamed"] is True
    assert event(run, "assistant_response").get("llm_usage_info") == infos[1]
    assert all(i["llm_response_id"] and i["response_latency_milliseconds"] > 0 for i in infos)

    usage = run.llm_token_usage
    served = model.total_usage()
    assert (usage.total_input_tokens, usage.total_output_tokens) == (
        served.prompt_tokens,
        served.completion_tokens,
    )
    assert usage.total_tokens == served.total_tokens
    assert usage.call_count == 3 == usage.call_count_with_fallback_keys
    breakdown = {(b.response_model, b.provider): b for b in usage.breakdown_by_models or []}
    assert breakdown[("m-other", "other")].call_count == 1
    assert breakdown[("scripted-model", "default_provider")].call_count == 2
    assert sum(b.total_tokens for b in breakdown.values()) == usage.total_tokens

    latency = run.llm_latency_stats
    total = sum(i["response_latency_milliseconds"] for i in infos)
    assert latency.call_count == 3
    assert abs(latency.total_latency_milliseconds - total) < 0.01
    assert abs(latency.average_latency_milliseconds - total / 3) < 0.01
    assert [b.call_count for b in latency.breakdown_by_models or []] == [1, 2]

    end = event(run, "end_workflow")
    assert end.get("llm_token_usage") == usage.model_dump()
    assert end.get("llm_latency_stats") == latency.model_dump()


async def test_a_run_without_llm_calls_has_null_breakdowns(engine: Engine) -> None:
    run = await engine.execute(workflow([say_static("a", "A")]), start())
    assert run.llm_token_usage.call_count == 0
    assert run.llm_token_usage.breakdown_by_models is None
    assert run.llm_latency_stats.breakdown_by_models is None
    assert run.llm_latency_stats.average_latency_milliseconds == 0


async def test_totals_accumulate_over_turns(engine: Engine, model: ScriptedModel) -> None:
    flow = workflow([say_llm("chat")])
    run = await engine.execute(flow, start())
    for text in ("one", "two", "three"):
        run = await engine.execute(flow, user(run, text))
    assert run.llm_token_usage.call_count == 3
    assert run.llm_token_usage.total_tokens == model.total_usage().total_tokens


async def test_replayed_latencies_come_from_the_recorded_header(clock: FixedClock) -> None:
    answer = {
        "id": "r1",
        "model": "rec-model",
        "choices": [{"message": {"role": "assistant", "content": "recorded"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }

    def replay(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["model"] == "rec-model"
        return httpx.Response(200, json=answer, headers={"x-harness-recorded-latency-ms": "812"})

    settings = HarnessSettings(
        providers={
            "default_provider": ProviderConfig(
                base_url="http://rec/v1", model="rec-model", api_key_env=None
            )
        }
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(replay)) as http:
        engine = Engine(llm=LLMClient(http, settings, env={}), clock=clock)
        flow = workflow(
            [say_llm("a", wait_for_user_message=False, self_loop=False)],
            llms_config={"provider": "default_provider"},
        )
        run = await engine.execute(flow, start())
    assert event(run, "say_llm").get("llm_usage_info")["response_latency_milliseconds"] == 812
    assert run.llm_latency_stats.total_latency_milliseconds == 812
