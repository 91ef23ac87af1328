"""`construct` builds the same object as pydantic's `model_construct`, field for field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from harness.engine._construct import construct
from harness.engine.llm import ChatRequest
from harness.models.api import NodeOutput, RecordedRunInput, RunOutput, WorkflowRunInput


class _Mixed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    required: str
    plain: int = 3
    mutable: list[int] = [1, 2]
    made: dict[str, int] = Field(default_factory=dict)


class _FromData(BaseModel):
    first: int = 1
    second: int = Field(default_factory=lambda data: data["first"] + 1)


class _PostInit(BaseModel):
    value: int = 0

    def model_post_init(self, context: Any, /) -> None:
        self.value += 1


def _parts(model: BaseModel) -> tuple[Any, ...]:
    return (
        type(model),
        list(model.__dict__.items()),
        model.__pydantic_fields_set__,
        model.__pydantic_extra__,
        model.__pydantic_private__,
    )


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (NodeOutput, {"type": "say_llm", "node_logical_id": "n", "node_run_id": "1"}),
        (NodeOutput, {"type": "tool_node", "unknown_key": 3}),  # extra="allow": kept
        (RunOutput, {"events": [], "thread_to_node_outputs": {"0": []}}),
        (RecordedRunInput, dict(WorkflowRunInput(dynamic_variables={"a": "b"}))),
        (ChatRequest, {"messages": [{"role": "user", "content": "hi"}], "tools": None}),
        (_Mixed, {"required": "r"}),
        (_Mixed, {"plain": 4, "ignored": 1}),  # a required field missing; extra="forbid"
        (_FromData, {"first": 5}),  # falls back: the factory reads the other fields
        (_PostInit, {"value": 1}),  # falls back: model_post_init
    ],
)
def test_construct_builds_what_model_construct_builds(
    cls: type[BaseModel], values: dict[str, Any]
) -> None:
    built, expected = construct(cls, **values), cls.model_construct(**values)
    assert _parts(built) == _parts(expected)
    assert built.model_dump() == expected.model_dump()


def test_mutable_defaults_are_not_shared_between_objects() -> None:
    one, two = construct(_Mixed, required="a"), construct(_Mixed, required="b")
    one.mutable.append(3)
    one.made["x"] = 1
    assert (two.mutable, two.made) == ([1, 2], {})
