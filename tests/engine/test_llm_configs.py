"""LLM configurations: the platform's types load and round-trip, and the engine runs the right LLM.

Model tests read every `llms_config` of the real platform configs in `../shared/platform/corpus/`
(plus `HARNESS_PLATFORM_CORPUS_EXTRA=dir1:dir2`). Engine tests run over the real scripted model:
a second scripted server stands for a provider mapped to its own endpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from deepdiff import DeepDiff
from engine_helpers import event, start, turn_events, user, workflow
from pydantic import TypeAdapter

from harness.config import HarnessSettings, ProviderConfig
from harness.engine import Engine, FixedClock, LLMClient
from harness.engine.llm import ChatRequest
from harness.models.api import (
    AnthropicLLMConfig,
    AzureOpenAILLMConfig,
    BedrockLLMConfig,
    CustomLLMConfig,
    GoogleLLMConfig,
    LLMGroupConfig,
    LLMGroupWithBackchannelConfig,
    LLMOrGroupConfig,
    NoLLMConfig,
    OpenAILLMConfig,
    SayLLMNodeConfig,
    UnknownLLMConfig,
    WorkerLLMNodeConfig,
    WorkflowConfig,
    WorkflowDefaultLLMConfig,
    WorkflowRunEvaluatorNodeConfig,
)
from harness.recording.scrub import DEFAULT_SECRET_BODY_FIELDS, REDACTED, scrub_json_fields
from harness.testing.scripted_model import ScriptedModel, serve_scripted_model

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "platform" / "corpus"
LLM_CONFIGS = TypeAdapter(LLMOrGroupConfig)
CLASSES = {
    "openai_llm": OpenAILLMConfig,
    "azure_openai_llm": AzureOpenAILLMConfig,
    "google_llm": GoogleLLMConfig,
    "anthropic_llm": AnthropicLLMConfig,
    "bedrock_llm": BedrockLLMConfig,
    "custom_llm": CustomLLMConfig,
    "global_default_llm": WorkflowDefaultLLMConfig,
    "no_llm": NoLLMConfig,
    "llm_group": LLMGroupConfig,
    "llm_group_with_backchannel": LLMGroupWithBackchannelConfig,
}


def _corpus_files() -> list[Path]:
    extra = os.environ.get("HARNESS_PLATFORM_CORPUS_EXTRA", "")
    folders = [CORPUS, *(Path(p) for p in extra.split(":") if p)]
    return sorted(f for folder in folders if folder.is_dir() for f in folder.glob("wf_*.json"))


def _llm_configs(data: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every `llms_config` (and group member) in a stored workflow, with where it is."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "llms_config" and isinstance(value, dict):
                yield f"{where}.{key}", value
            yield from _llm_configs(value, f"{where}.{key}")
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _llm_configs(item, f"{where}[{index}]")


def _dump(config: Any) -> Any:
    return LLM_CONFIGS.dump_python(config, mode="json", by_alias=True, exclude_unset=True)


# ------------------------------------------------------------------ models


def test_every_llm_config_of_the_real_workflows_loads_into_its_class_and_round_trips() -> None:
    files = _corpus_files()
    if not files:
        pytest.skip(f"no platform corpus at {CORPUS}")
    seen: set[str] = set()
    for path in files:
        for where, raw in _llm_configs(json.loads(path.read_text()), path.name):
            config = LLM_CONFIGS.validate_python(raw)
            assert type(config) is CLASSES[raw["type"]], where
            assert DeepDiff(raw, _dump(config)) == {}, where
            seen.add(raw["type"])
    assert {"no_llm", "global_default_llm", "openai_llm"} <= seen


def test_group_members_are_typed_by_their_own_type() -> None:
    group = LLM_CONFIGS.validate_python(
        {
            "type": "llm_group_with_backchannel",
            "main_llm_config": {
                "type": "llm_group",
                "llms": [
                    {"type": "anthropic_llm", "model": "claude-haiku-4-5"},
                    {"type": "google_llm"},
                ],
            },
        }
    )
    assert isinstance(group, LLMGroupWithBackchannelConfig)
    assert group.main_llm_config is not None
    first, second = group.main_llm_config.llms
    assert isinstance(first, AnthropicLLMConfig) and first.provider == "anthropic"
    assert isinstance(second, GoogleLLMConfig) and second.model == "gemini-3-flash-preview"
    assert group.backchannel_min_patience_time_ms == 2000


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "mistral_llm", "provider": "mistral", "model": "m", "top_k": 3},
        {"named_llm_config_id": "cfg_1"},  # how the platform's guide references a saved config
        {"provider": "default_provider", "model": "scripted-model", "temperature": 0},
    ],
    ids=["unknown type", "named reference without type", "no type"],
)
def test_an_unknown_or_missing_type_still_loads_and_round_trips(raw: dict[str, Any]) -> None:
    config = LLM_CONFIGS.validate_python(raw)
    assert isinstance(config, UnknownLLMConfig)
    assert _dump(config) == raw


def test_the_platform_defaults() -> None:
    assert isinstance(WorkflowConfig().llms_config, NoLLMConfig)
    assert WorkflowConfig.model_validate({"llms_config": None}).llms_config is None
    openai = OpenAILLMConfig()
    assert (openai.provider, openai.model, openai.reasoning_effort) == (
        "openai",
        "gpt-5.4-mini",
        "low",
    )
    assert (openai.max_retries, openai.max_parse_retries, openai.temperature) == (3, 3, None)
    assert openai.logical_id is not None and openai.logical_id.startswith("llm_")
    assert AnthropicLLMConfig().model == "claude-sonnet-4-6"
    assert AzureOpenAILLMConfig().provider == "azure_openai"
    assert CustomLLMConfig().reasoning_effort is None
    assert WorkflowDefaultLLMConfig().provider == "default_provider"
    assert LLMGroupConfig().operation_mode == "sequential_with_proactive"


def test_llm_node_fields_follow_the_platform() -> None:
    say = SayLLMNodeConfig(logical_id="s")
    assert (say.primary_category, say.secondary_category) == ("System", "LLM")
    assert isinstance(say.llms_config, WorkflowDefaultLLMConfig)
    assert say.self_loop and say.wait_for_user_message and say.max_consecutive_tool_calls == 1
    assert say.default_error_message == (
        "I am sorry, there seems to be an issue. Could you please repeat?"
    )
    assert not (say.ignore_default_prompt_prefix or say.ignore_default_prompt_suffix)
    assert say.attachable_llm_config_id is None
    assert not say.ignore_content_received_during_llm_tool_call_specification
    assert not WorkerLLMNodeConfig(logical_id="w").self_loop
    evaluator = WorkflowRunEvaluatorNodeConfig(logical_id="e")
    assert (evaluator.secondary_category, evaluator.default_error_message) == ("Evaluation", None)
    assert evaluator.input_runtime_variable_name == "workflow_run_object"
    assert str(evaluator.output_runtime_variable_name).startswith("evaluator_output_")
    assert not (evaluator.wait_for_user_message or evaluator.is_turn_by_turn_evaluator)
    # a stored null stays null
    raw = {"type": "say_llm", "logical_id": "s", "llms_config": None, "default_error_message": None}
    node = SayLLMNodeConfig.model_validate(raw)
    assert node.model_dump(mode="json", exclude_unset=True) == raw


def test_an_api_key_round_trips_but_never_shows_in_reprs() -> None:
    raw = {"type": "openai_llm", "api_key": "sk-live-0123456789abcdef"}
    config = LLM_CONFIGS.validate_python(raw)
    assert "sk-live" not in repr(config) and "sk-live" not in str(config)
    assert _dump(config) == raw
    bedrock = {"type": "bedrock_llm", "aws_secret_access_key": "aws-secret-0123456789"}
    assert _dump(LLM_CONFIGS.validate_python(bedrock)) == bedrock
    assert "aws-secret" not in repr(LLM_CONFIGS.validate_python(bedrock))


def test_llm_config_secrets_are_scrubbed_from_recorded_bodies() -> None:
    body = {
        "workflow_config": {"llms_config": {"type": "openai_llm", "api_key": "sk-live-1"}},
        "node_configs": [
            {"llms_config": {"type": "bedrock_llm", "api_key": "b", "aws_secret_access_key": "s"}}
        ],
    }
    assert scrub_json_fields(body, frozenset(DEFAULT_SECRET_BODY_FIELDS))
    assert body["workflow_config"]["llms_config"]["api_key"] == REDACTED
    bedrock = body["node_configs"][0]["llms_config"]
    assert bedrock["api_key"] == bedrock["aws_secret_access_key"] == REDACTED


# ------------------------------------------------------------------ which LLM answers


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[tuple[ScriptedModel, str]]:
    """A second scripted model: the endpoint the `anthropic` provider is mapped to."""
    model = ScriptedModel({"default": {"text": "Claude here."}})
    with serve_scripted_model(model) as base_url:
        yield model, base_url


@pytest.fixture
def anthropic(anthropic_server: tuple[ScriptedModel, str]) -> ScriptedModel:
    model, _ = anthropic_server
    model.load({"default": {"text": "Claude here."}})
    return model


@pytest.fixture
async def mapped(
    scripted_server: tuple[ScriptedModel, str],
    anthropic_server: tuple[ScriptedModel, str],
    clock: FixedClock,
) -> AsyncIterator[Engine]:
    """An engine whose `openai` and `anthropic` providers have blocks; the rest use the default."""
    _, base_url = scripted_server
    _, anthropic_url = anthropic_server
    settings = HarnessSettings(
        providers={
            "default_provider": ProviderConfig(
                base_url=base_url, model="scripted-model", api_key_env=None
            ),
            "openai": ProviderConfig(
                base_url=base_url, api_key_env=None, headers={"x-endpoint": "openai"}
            ),
            "anthropic": ProviderConfig(base_url=anthropic_url, api_key_env=None),
        }
    )
    async with httpx.AsyncClient() as http:
        yield Engine(llm=LLMClient(http, settings, env={}, max_retries=0), clock=clock, seed=7)


def _say(logical_id: str, prompt: str = "Answer.", **fields: Any) -> dict[str, Any]:
    return {
        "type": "say_llm",
        "logical_id": logical_id,
        "name": logical_id,
        "main_response_config": {"prompt": prompt},
        "wait_for_user_message": False,
        "self_loop": False,
        **fields,
    }


def _usage(run: Any) -> tuple[str, str]:
    info = event(run, "say_llm").get("llm_usage_info")
    return info["response_model"], info["provider"]


async def test_a_provider_config_calls_the_endpoint_mapped_for_its_provider(
    mapped: Engine, model: ScriptedModel, anthropic: ScriptedModel
) -> None:
    claude = {"type": "anthropic_llm", "model": "claude-haiku-4-5", "temperature": 0.3}
    gpt = {"type": "openai_llm", "model": "gpt-4.1-mini", "max_tokens": 30}
    runs = [
        await mapped.execute(workflow([_say("a", llms_config=claude)]), start()),
        await mapped.execute(workflow([_say("b", llms_config=gpt)]), start()),
    ]
    [to_claude] = anthropic.requests
    assert (to_claude.body["model"], to_claude.body["temperature"]) == ("claude-haiku-4-5", 0.3)
    to_gpt = model.requests[-1]
    assert to_gpt.headers["x-endpoint"] == "openai"
    assert (to_gpt.body["model"], to_gpt.body["max_tokens"]) == ("gpt-4.1-mini", 30)
    assert "reasoning_effort" not in to_gpt.body  # gpt-4.1 is not a reasoning model
    assert [_usage(r) for r in runs] == [
        ("claude-haiku-4-5", "anthropic"),
        ("gpt-4.1-mini", "openai"),
    ]


async def test_a_provider_without_a_block_is_served_by_the_default_with_the_nodes_model(
    mapped: Engine, model: ScriptedModel
) -> None:
    gemini = {"type": "google_llm", "model": "gemini-2.5-flash", "thinking_budget": 0}
    run = await mapped.execute(workflow([_say("a", llms_config=gemini)]), start())
    assert model.requests[-1].body["model"] == "gemini-2.5-flash"
    assert "thinking_budget" not in model.requests[-1].body
    assert _usage(run) == ("gemini-2.5-flash", "default_provider")


async def test_global_default_llm_picks_the_workflows_llm_with_its_own_options(
    mapped: Engine, anthropic: ScriptedModel
) -> None:
    flow = workflow(
        [_say("a", llms_config={"type": "global_default_llm", "max_tokens": 300, "seed": 4})],
        llms_config={"type": "anthropic_llm", "model": "claude-sonnet-4-6", "temperature": 0.2},
    )
    run = await mapped.execute(flow, start())
    body = anthropic.requests[-1].body
    assert (body["model"], body["temperature"], body["max_tokens"], body["seed"]) == (
        "claude-sonnet-4-6",
        0.2,
        300,
        4,
    )
    assert _usage(run) == ("claude-sonnet-4-6", "anthropic")


async def test_with_no_llm_on_the_workflow_global_default_uses_the_default_provider(
    mapped: Engine, model: ScriptedModel
) -> None:
    flow = workflow(
        [_say("a", llms_config={"type": "global_default_llm"})], llms_config={"type": "no_llm"}
    )
    run = await mapped.execute(flow, start())
    assert model.requests[-1].body["model"] == "scripted-model"
    assert _usage(run) == ("scripted-model", "default_provider")


async def test_a_node_with_no_llm_fails_naming_the_node_and_the_fix(mapped: Engine) -> None:
    flow = workflow([_say("silent", llms_config={"type": "no_llm"})])
    run = await mapped.execute(flow, start())
    assert run.status == "failed"
    message = event(run, "workflow_error").get("error_message")
    assert "node silent" in message and "no_llm" in message
    assert "global_default_llm" in message  # the fix


async def test_an_llm_group_runs_its_main_model_and_usage_records_it(
    mapped: Engine, model: ScriptedModel, anthropic: ScriptedModel
) -> None:
    group = {
        "type": "llm_group",
        "named_llm_config_id": "cfg_fast",
        "named_llm_config_name": "Fast group",
        "operation_mode": "parallel_select_one",
        "llms": [
            {"type": "anthropic_llm", "model": "claude-haiku-4-5"},
            {"type": "openai_llm", "model": "gpt-5.4-nano"},
        ],
    }
    before = len(model.requests)
    run = await mapped.execute(workflow([_say("a", llms_config=group)]), start())
    assert [r.body["model"] for r in anthropic.requests] == ["claude-haiku-4-5"]
    assert len(model.requests) == before  # the other members are not raced offline
    assert _usage(run) == ("claude-haiku-4-5", "anthropic")
    info = event(run, "say_llm").get("llm_usage_info")
    assert (info["named_llm_config_id"], info["named_llm_config_name"]) == (
        "cfg_fast",
        "Fast group",
    )
    assert run.llm_token_usage.breakdown_by_models is not None
    assert run.llm_token_usage.breakdown_by_models[0].response_model == "claude-haiku-4-5"


async def test_a_backchannel_group_runs_its_main_llm_config(
    mapped: Engine, model: ScriptedModel
) -> None:
    group = {
        "type": "llm_group_with_backchannel",
        "main_llm_config": {
            "type": "llm_group",
            "llms": [{"type": "openai_llm", "model": "gpt-5.4", "reasoning_effort": "low"}],
        },
        "backchannel_static_responses": ["One moment..."],
        "backchannel_min_patience_time_ms": 1,
    }
    run = await mapped.execute(workflow([_say("a", llms_config=group)]), start())
    body = model.requests[-1].body
    assert (body["model"], body["reasoning_effort"]) == ("gpt-5.4", "low")
    assert [e.get("content") for e in turn_events(run) if e.type == "assistant_response"] == [
        "I am a scripted model."
    ]  # no filler offline
    assert _usage(run) == ("gpt-5.4", "openai")


async def test_prefix_and_suffix_ignore_flags_change_the_system_prompt(
    engine: Engine, model: ScriptedModel
) -> None:
    nodes = [
        _say("both", "Node."),
        _say("no_prefix", "Node.", ignore_default_prompt_prefix=True),
        _say(
            "neither", "Node.", ignore_default_prompt_prefix=True, ignore_default_prompt_suffix=True
        ),
    ]
    prompts = []
    for node in nodes:
        flow = workflow([node], default_prompt_prefix="Prefix.", default_prompt_suffix="Suffix.")
        await engine.execute(flow, start())
        prompts.append(model.requests[-1].system_text)
    assert prompts == ["Prefix.\n\nNode.\n\nSuffix.", "Node.\n\nSuffix.", "Node."]


async def test_truncated_max_recent_messages_keeps_only_the_recent_history(
    engine: Engine, model: ScriptedModel
) -> None:
    chat = _say("chat", wait_for_user_message=True, self_loop=True)
    chat["llms_config"] = {
        "type": "custom_llm",
        "provider": "default_provider",
        "truncated_max_recent_messages": 3,
    }
    flow = workflow([chat])
    run = await engine.execute(flow, start())
    for text in ("one", "two", "three"):
        run = await engine.execute(flow, user(run, text))
    sent = model.requests[-1].messages
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[-1]["content"] == "three"


# ------------------------------------------------------------------ the request fields sent


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-5.4-nano", {"max_completion_tokens": 40, "reasoning_effort": "low", "seed": 1}),
        ("o3-mini", {"max_completion_tokens": 40, "reasoning_effort": "low", "seed": 1}),
        ("gpt-5.2-chat-latest", {"max_tokens": 40, "seed": 1}),
        ("gpt-4.1", {"max_tokens": 40, "seed": 1}),
        ("claude-haiku-4-5", {"max_tokens": 40, "seed": 1}),
    ],
)
def test_reasoning_models_get_reasoning_effort_and_max_completion_tokens(
    name: str, expected: dict[str, Any]
) -> None:
    request = ChatRequest(messages=[], max_tokens=40, seed=1, reasoning_effort="low")
    body = request.body(name)
    keys = ("max_tokens", "max_completion_tokens", "reasoning_effort", "seed")
    sent = {k: body[k] for k in keys if k in body}
    assert sent == expected


async def test_request_timeout_and_max_retries_of_a_config_apply_to_its_call() -> None:
    attempts: list[httpx.Request] = []

    def busy(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        return httpx.Response(503, json={"error": "busy"})

    settings = HarnessSettings(
        providers={"default_provider": ProviderConfig(base_url="http://llm/v1", api_key_env=None)}
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(busy)) as http:
        client = LLMClient(http, settings, env={}, max_retries=5, retry_base_seconds=0)
        request = ChatRequest(messages=[], timeout_ms=1500, max_retries=1)
        with pytest.raises(Exception, match="HTTP 503"):
            await client.complete(request, provider=None, context={})
    assert len(attempts) == 2  # the config's max_retries (1) caps the client's 5
    assert attempts[0].extensions["timeout"]["read"] == 1.5
