"""The platform contract models: the seed round-trips, bad values are refused by name, runs stay
tolerant of what the platform adds."""

from __future__ import annotations

import json
import math
import types
import typing
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import annotated_types
import pytest
from deepdiff import DeepDiff
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from harness.models import api
from harness.models.api import (
    TERMINAL_STATUSES,
    ChatMessage,
    Command,
    EdgeType,
    ExecuteRequest,
    LangChainMessage,
    NodeRunInput,
    RunEvent,
    RunStatus,
    ToolType,
    TurnResponse,
    UnsupportedNodeConfig,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    WorkflowRunInput,
    user_message_input,
)

DATA = Path(__file__).parent / "data"
ID = "5eb7cf5a86d9755df3a6c593"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


# ------------------------------------------------------------------ the seed round-trips


def test_seed_request_round_trips() -> None:
    body = load("seed_request.json")
    assert DeepDiff(body, dump(WorkflowRunInput.model_validate(body))) == {}


def test_seed_request_round_trips_in_the_wrapped_shape() -> None:
    body = {"run_input": load("seed_request.json"), "run_id": ID}
    assert DeepDiff(body, dump(ExecuteRequest.model_validate(body))) == {}


def test_seed_response_round_trips() -> None:
    body = load("seed_response.json")
    run = WorkflowRun.model_validate(body)
    assert DeepDiff(body, dump(run)) == {}
    # The seed's event placeholder ("<unknown>") is kept as it is, not forced into an event.
    assert run.input_output_pairs[0].run_output.events == ["<unknown>"]
    assert run.workflow_config_fully_hydrated is not None
    assert run.workflow_config_fully_hydrated.node_configs[0].type == "worker_llm"


def test_seed_response_round_trips_through_json_text() -> None:
    body = load("seed_response.json")
    again = WorkflowRun.model_validate_json(
        WorkflowRun.model_validate(body).model_dump_json(by_alias=True, exclude_unset=True)
    )
    assert DeepDiff(body, dump(again)) == {}


def test_seed_placeholder_ids_load_in_runs_but_not_in_inputs() -> None:
    # A returned run keeps the seed's "<string>" ids; what clients send must be real ids.
    pair_input = load("seed_response.json")["input_output_pairs"][0]["run_input"]
    with pytest.raises(ValidationError, match="workflow_id"):
        WorkflowRunInput.model_validate(pair_input)


# ------------------------------------------------------------------ every constraint, found by
# introspection, so a constraint added to models/api.py is tested without touching this file


def _models() -> list[type[BaseModel]]:
    found = {getattr(api, n) for n in api.__all__}
    return sorted(
        (o for o in found if isinstance(o, type) and issubclass(o, BaseModel)),
        key=lambda cls: cls.__name__,
    )


def _bad_values_from_metadata(metadata: list[Any]) -> list[tuple[str, Any]]:
    bad: list[tuple[str, Any]] = []
    for item in metadata:
        if isinstance(item, FieldInfo):
            bad += _bad_values_from_metadata(item.metadata)
        elif isinstance(item, annotated_types.Ge):
            bad.append((f"ge={item.ge}", item.ge - 1))  # type: ignore[operator]
        elif isinstance(item, annotated_types.Gt):
            bad.append((f"gt={item.gt}", item.gt))
        elif isinstance(item, annotated_types.Le):
            bad.append((f"le={item.le}", item.le + 1))  # type: ignore[operator]
        elif isinstance(item, annotated_types.MinLen) and item.min_length > 0:
            bad.append((f"min_length={item.min_length}", "a" * (item.min_length - 1)))
        elif isinstance(item, annotated_types.MaxLen):
            bad.append((f"max_length={item.max_length}", "a" * (item.max_length + 1)))
        elif getattr(item, "pattern", None):
            bad.append(("pattern", "z" * 24))  # the right length, the wrong characters
    return bad


def _bad_values_from_annotation(annotation: Any) -> list[tuple[str, Any]]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        return _bad_values_from_metadata(metadata) + _bad_values_from_annotation(base)
    if origin in (typing.Union, types.UnionType):
        return [b for arg in typing.get_args(annotation) for b in _bad_values_from_annotation(arg)]
    if origin is typing.Literal:
        return [("literal", "bogus-value")]
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return [(f"enum:{annotation.__name__}", "bogus-value")]
    return []


def _constraint_cases() -> list[Any]:
    cases = []
    for model in _models():
        for name, field in model.model_fields.items():
            key = field.alias or name
            bad = _bad_values_from_metadata(field.metadata)
            bad += _bad_values_from_annotation(field.annotation)
            for kind, value in bad:
                cases.append(pytest.param(model, key, value, id=f"{model.__name__}.{key}-{kind}"))
    return cases


CONSTRAINT_CASES = _constraint_cases()


@pytest.mark.parametrize(("model", "key", "value"), CONSTRAINT_CASES)
def test_every_constraint_rejects_a_bad_value_naming_the_field(
    model: type[BaseModel], key: str, value: Any
) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate({key: value})
    assert any(err["loc"][:1] == (key,) for err in info.value.errors()), info.value.errors()
    assert key in str(info.value)


def test_the_constraint_table_covers_the_contract() -> None:
    kinds = {case.id.split("-", 1)[1].split(":")[0].split("=")[0] for case in CONSTRAINT_CASES}
    # no `gt`: the platform's models bound nothing strictly (e.g. `max_tokens` is unbounded there)
    assert {"ge", "le", "min_length", "max_length", "pattern", "enum", "literal"} <= kinds
    enums = {case.id.split("enum:")[1] for case in CONSTRAINT_CASES if "-enum:" in case.id}
    assert {"Command", "RunStatus", "SelectionMode", "GlobalConditionEvaluationMethod"} <= enums
    ids = {case.id.split("-")[0] for case in CONSTRAINT_CASES}
    for wanted in (
        "WorkflowRunInput.workflow_id",
        "WorkflowRunInput.workflow_run_id",
        "ExecuteRequest.run_id",
        "CommentConfig.createdBy",
        "LLMTokenUsage.total_tokens",
        "ModelLatencyStats.call_count",
        "LLMUsageInfo.response_latency_milliseconds",
        "RunsPage.page",
    ):
        assert wanted in ids


# ------------------------------------------------------------------ nested values: the message
# names the whole path to the field

NESTED_CASES = [
    ("command", WorkflowRunInput, {"command": "restart"}, "command"),
    ("status", WorkflowRun, {"status": "exploded"}, "status"),
    (
        "command in a stored pair",
        WorkflowRun,
        {"input_output_pairs": [{"run_input": {"command": "go"}}]},
        "input_output_pairs.0.run_input.command",
    ),
    (
        "selection mode",
        WorkflowConfigFullyHydrated,
        {
            "node_configs": [
                {
                    "type": "say_static",
                    "logical_id": "n1",
                    "static_messages_config": {"static_messages_selection_mode": "shuffle"},
                }
            ]
        },
        "node_configs.0.say_static.static_messages_config.static_messages_selection_mode",
    ),
    (
        "condition evaluation method",
        WorkflowConfigFullyHydrated,
        {"workflow_config": {"global_condition_evaluation_method": "vote"}},
        "workflow_config.global_condition_evaluation_method",
    ),
    (
        "edge type",
        WorkflowConfigFullyHydrated,
        {
            "edge_configs": [
                {
                    "type": "teleport",
                    "logical_id": "e1",
                    "source_node_logical_id": "a",
                    "destination_node_logical_id": "b",
                }
            ]
        },
        "edge_configs.0",
    ),
    (
        "tool method",
        WorkflowConfigFullyHydrated,
        {
            "workflow_config": {
                "tools_config": {"tools": [{"type": "external_api", "api_method": "FETCH"}]}
            }
        },
        "workflow_config.tools_config.tools.0.external_api.api_method",
    ),
    ("workflow id pattern", WorkflowRunInput, {"workflow_id": "<string>"}, "workflow_id"),
    (
        "run id pattern (uppercase)",
        WorkflowRunInput,
        {"workflow_run_id": ID.upper()},
        "workflow_run_id",
    ),
    ("wrapped run id", ExecuteRequest, {"run_input": {}, "run_id": "abc"}, "run_id"),
    (
        "wrapped command",
        ExecuteRequest,
        {"run_input": {"command": "jump"}},
        "run_input.command",
    ),
    ("wrapped unknown key", ExecuteRequest, {"run_input": {}, "runid": ID}, "runid"),
    (
        "token count",
        WorkflowRun,
        {"llm_token_usage": {"breakdown_by_models": [{"total_tokens": -1}]}},
        "llm_token_usage.breakdown_by_models.0.total_tokens",
    ),
    (
        "latency must be finite",
        WorkflowRun,
        {"llm_latency_stats": {"average_latency_milliseconds": math.inf}},
        "llm_latency_stats.average_latency_milliseconds",
    ),
    ("chat role", NodeRunInput, {"messages": [{"role": "robot"}]}, "messages.0.chat.role"),
    (
        "langchain type",
        NodeRunInput,
        {"messages": [{"type": "alien"}]},
        "messages.0.langchain.type",
    ),
    ("version", WorkflowRunInput, {"version_number": -1}, "version_number"),
    (
        "temperature",
        WorkflowConfigFullyHydrated,
        {"workflow_config": {"llms_config": {"type": "openai_llm", "temperature": 3}}},
        "workflow_config.llms_config.openai_llm.temperature",
    ),
    ("turn number", TurnResponse, {"turn_number": -1}, "turn_number"),
]


@pytest.mark.parametrize(
    ("model", "data", "path"), [pytest.param(*c[1:], id=c[0]) for c in NESTED_CASES]
)
def test_bad_nested_values_name_their_path(
    model: type[BaseModel], data: dict[str, Any], path: str
) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    paths = [".".join(str(p) for p in err["loc"]) for err in info.value.errors()]
    assert path in paths
    assert path in str(info.value)


def test_discriminator_errors_list_the_allowed_types() -> None:
    edge = {"type": "teleport", "logical_id": "e", "source_node_logical_id": "a",
            "destination_node_logical_id": "b"}  # fmt: skip
    with pytest.raises(ValidationError) as info:
        WorkflowConfigFullyHydrated.model_validate({"edge_configs": [edge]})
    assert all(f"'{t.value}'" in str(info.value) for t in EdgeType)


def test_a_tool_of_an_unknown_type_loads_and_round_trips() -> None:
    # The platform may add tool types: such a tool is kept whole; the engine refuses to run it.
    data = {"tools": [{"type": "shell", "name": "x", "command": "ls"}]}
    tools = api.ToolsConfig.model_validate(data)
    assert isinstance(tools.tools[0], api.UnsupportedTool)
    assert tools.model_dump(mode="json", exclude_unset=True) == data


def _union_models(union: Any) -> list[type[BaseModel]]:
    members = typing.get_args(typing.get_args(union)[0])
    # Tagged members are Annotated[Model, Tag(...)].
    return [typing.get_args(m)[0] if typing.get_origin(m) is Annotated else m for m in members]


@pytest.mark.parametrize(
    ("enum", "union"), [(EdgeType, api.EdgeConfig), (ToolType, api.ToolConfig)]
)
def test_enum_values_match_the_discriminated_union(enum: type[StrEnum], union: Any) -> None:
    models = [m for m in _union_models(union) if m is not api.UnsupportedTool]
    literals = {typing.get_args(m.model_fields["type"].annotation)[0] for m in models}
    assert literals == {e.value for e in enum}


def test_enums_are_exactly_the_seeds_options() -> None:
    assert [c.value for c in Command] == ["start", "data", "resume", "pause", "stop"]
    assert {s.value for s in RunStatus} == {
        "not_started", "started", "running", "failed", "completed", "paused",
        "waiting_for_user_input", "cancelled", "aborted_looping_risk",
    }  # fmt: skip
    assert {s.value for s in TERMINAL_STATUSES} == {
        "completed", "failed", "cancelled", "aborted_looping_risk",
    }  # fmt: skip


# ------------------------------------------------------------------ tolerance


def _run_with_unknowns() -> dict[str, Any]:
    return {
        "workflow_run_id": ID,
        "status": "waiting_for_user_input",
        "brand_new_top_level_field": {"nested": [1, 2, {"x": None}]},
        "input_output_pairs": [
            {
                "run_input": {"command": "start", "future_input_flag": True},
                "run_output": {
                    "events": [
                        {"type": "start_node_run", "origin_node_logical_id": "n1", "extra": 1},
                        {"type": "telephony_dtmf", "digits": "5", "timestamp": 1.5},
                        {"type": "assistant_response", "content": "Hi", "llm_usage_info": {
                            "prompt_tokens": 3, "provider_region": "eu"}},
                        "<unknown>",
                        42,
                        {"no_type_here": True},
                    ],
                    "thread_to_node_outputs": {
                        "0": [{"type": "say_llm", "node_logical_id": "n1", "latency": 9}]
                    },
                    "trace_id": "abc",
                },
                "evaluation": None,
            }
        ],
        "workflow_config_fully_hydrated": {
            "workflow_config": {"name": "w", "new_workflow_setting": "on"},
            "node_configs": [
                {"type": "sms_send", "logical_id": "sms1", "to": "{{phone}}"},
                {"type": "say_llm", "logical_id": "n1", "voice": "alloy"},
            ],
            "edge_configs": [
                {"type": "direct", "logical_id": "e1", "source_node_logical_id": "n1",
                 "destination_node_logical_id": "sms1", "weight": 2}
            ],
        },
    }  # fmt: skip


def test_a_run_with_unknown_fields_and_event_types_round_trips_unchanged() -> None:
    body = _run_with_unknowns()
    run = WorkflowRun.model_validate(body)
    assert DeepDiff(body, dump(run)) == {}
    again = WorkflowRun.model_validate_json(run.model_dump_json(by_alias=True, exclude_unset=True))
    assert DeepDiff(body, dump(again)) == {}


def test_unknown_events_and_nodes_stay_reachable() -> None:
    run = WorkflowRun.model_validate(_run_with_unknowns())
    types_seen = [e.type for e in run.events()]
    assert types_seen == ["start_node_run", "telephony_dtmf", "assistant_response"]
    dtmf = run.events()[1]
    assert isinstance(dtmf, RunEvent)
    assert dtmf.get("digits") == "5"
    assert run.model_extra == {"brand_new_top_level_field": {"nested": [1, 2, {"x": None}]}}
    hydrated = run.workflow_config_fully_hydrated
    assert hydrated is not None
    assert isinstance(hydrated.node_configs[0], UnsupportedNodeConfig)
    assert hydrated.node_configs[0].type == "sms_send"


def test_a_full_dump_keeps_unknown_fields_too() -> None:
    full = WorkflowRun.model_validate(_run_with_unknowns()).model_dump(mode="json", by_alias=True)
    assert full["brand_new_top_level_field"] == {"nested": [1, 2, {"x": None}]}
    assert full["input_output_pairs"][0]["run_output"]["events"][1]["digits"] == "5"


# ------------------------------------------------------------------ messages and wrapped shapes


def test_both_message_shapes_are_accepted() -> None:
    node_input = NodeRunInput.model_validate(
        {"type": "llm", "messages": [
            {"role": "user", "content": "a"},
            {"type": "human", "content": "b"},
            {"role": "assistant", "content": "c"},
            {"type": "ai", "content": "d"},
        ]}
    )  # fmt: skip
    assert isinstance(node_input.messages[0], ChatMessage)
    assert isinstance(node_input.messages[1], LangChainMessage)
    assert node_input.user_texts() == ["a", "b"]


def test_user_message_input_builds_thread_zero() -> None:
    run_input = WorkflowRunInput(
        command=Command.DATA, thread_to_node_inputs=user_message_input("hi")
    )
    assert dump(run_input)["thread_to_node_inputs"] == {
        "0": {"node_run_inputs": [{"type": "llm", "messages": [{"role": "user", "content": "hi"}]}]}
    }


def _run(status: RunStatus, pairs: int, last_events: list[Any] | None = None) -> WorkflowRun:
    pair = {"run_input": {"command": "data"}, "run_output": {"events": []}}
    items = [dict(pair) for _ in range(pairs)]
    if items and last_events is not None:
        items[-1] = {**pair, "run_output": {"events": last_events}}
    return WorkflowRun.model_validate(
        {"workflow_run_id": ID, "status": status, "input_output_pairs": items}
    )


@pytest.mark.parametrize("status", list(RunStatus))
def test_turn_response_from_run_derives_the_flags(status: RunStatus) -> None:
    turn = TurnResponse.from_run(_run(status, 3))
    assert turn.turn_number == 3
    assert turn.run_id == ID
    assert turn.status is status
    assert turn.is_waiting_for_input is (status is RunStatus.WAITING_FOR_USER_INPUT)
    assert turn.is_completed is (status in TERMINAL_STATUSES)
    assert turn.error is None


def test_turn_response_carries_the_last_turns_events_and_error() -> None:
    events = [
        {"type": "start_node_run"},
        {"type": "workflow_error", "error_message": "tool exploded"},
    ]
    turn = TurnResponse.from_run(_run(RunStatus.FAILED, 2, events))
    assert [e.type for e in turn.events if isinstance(e, RunEvent)] == [
        "start_node_run",
        "workflow_error",
    ]
    assert turn.error == "tool exploded"
    assert turn.is_completed


def test_turn_response_of_a_run_without_turns() -> None:
    turn = TurnResponse.from_run(WorkflowRun(workflow_run_id=ID))
    assert (turn.turn_number, turn.events, turn.is_completed) == (0, [], False)


def test_execute_request_round_trips_and_forbids_unknown_keys() -> None:
    body = {"run_input": {"command": "data"}, "run_id": ID}
    assert dump(ExecuteRequest.model_validate(body)) == body
    with pytest.raises(ValidationError, match="run_idd"):
        ExecuteRequest.model_validate({**body, "run_idd": ID})


# ------------------------------------------------------------------ the platform's run shapes

CORPUS_RUNS = Path(__file__).resolve().parents[2] / "shared" / "platform" / "corpus" / "runs"
needs_corpus = pytest.mark.skipif(
    not CORPUS_RUNS.is_dir(), reason="../shared/platform/corpus is not beside the checkout"
)


def _corpus(name: str) -> Any:
    return json.loads((CORPUS_RUNS / name).read_text())


def _round_trips(model: type[BaseModel], body: Any) -> BaseModel:
    loaded = model.model_validate(body)
    assert DeepDiff(body, dump(loaded)) == {}
    again = model.model_validate_json(loaded.model_dump_json(by_alias=True, exclude_unset=True))
    assert DeepDiff(body, dump(again)) == {}
    return loaded


@needs_corpus
def test_every_captured_event_round_trips_with_its_nulls() -> None:
    events = _corpus("quickstart_execute_events.json")["events"]
    events += _corpus("events_from_real_dev_responses.json")["events"]
    for body in events:
        event = _round_trips(RunEvent, body)
        assert isinstance(event, RunEvent) and event.type == body["type"]


@needs_corpus
def test_the_captured_pairs_round_trip_typed() -> None:
    pair = {
        k: v for k, v in _corpus("quickstart_run_input_output_pair.json").items() if k != "source"
    }
    loaded = _round_trips(api.WorkflowRunInputOutputPair, pair)
    assert isinstance(loaded, api.WorkflowRunInputOutputPair)
    outputs = loaded.output.thread_to_node_outputs["0"]
    assert [type(o).__name__ for o in outputs] == ["SayStaticNodeRunOutput"] * 2
    assert loaded.input.start_node_logical_id is None and loaded.evaluation is None
    iteration = _corpus("quickstart_execute_events.json")["events"][-2]
    _round_trips(api.WorkflowRunInputOutputPair, iteration["run_input_output_pair"])


@needs_corpus
def test_the_captured_run_and_its_envelope_round_trip() -> None:
    capture = _corpus("quickstart_execute_events.json")
    pair = {
        k: v for k, v in _corpus("quickstart_run_input_output_pair.json").items() if k != "source"
    }
    end = capture["events"][-1]
    run = {
        "workflow_run_id": capture["run_id"],
        "workflow_id": capture["workflow_id"],
        "voice_conversation_id": None,
        "status": capture["status"],
        "input_output_pairs": [
            {**pair, "run_output": {**pair["run_output"], "events": capture["events"]}}
        ],
        "llm_token_usage": end["llm_token_usage"],
        "llm_latency_stats": end["llm_latency_stats"],
        "miscellaneous": None,
        "checkpoint_source_turn_index": None,
        "carried_over_llm_token_usage": None,
        "carried_over_llm_latency_stats": None,
    }
    loaded = _round_trips(WorkflowRun, run)
    assert isinstance(loaded, WorkflowRun) and len(loaded.events()) == 15
    stored = _corpus("get_run_envelope.json")["response"]["workflow_run"]["workflow_run"]
    _round_trips(WorkflowRun, stored)


def test_run_fields_the_platform_makes_optional_stay_null() -> None:
    body = {
        "workflow_run_id": ID,
        "llm_token_usage": None,
        "llm_latency_stats": {"call_count": None, "total_latency_milliseconds": None},
        "input_output_pairs": [
            {"run_input": None, "run_output": None, "comments": [], "ratings": []}
        ],
    }
    run = _round_trips(WorkflowRun, body)
    assert isinstance(run, WorkflowRun)
    assert run.input_output_pairs[0].output.events == []  # a null output reads as empty
    usage = {"prompt_tokens": None, "finish_reason": ["stop"], "was_estimated": True}
    assert dump(api.LLMUsageInfo.model_validate(usage)) == usage


def test_secret_variables_never_serialise() -> None:
    run_input = WorkflowRunInput.model_validate({"secret_variables": {"token": "s3cret-value-1"}})
    assert run_input.secret_values() == {"token": "s3cret-value-1"}
    assert "s3cret" not in run_input.model_dump_json() + repr(run_input) + str(run_input)
    assert "secret_variables" not in dump(run_input)
