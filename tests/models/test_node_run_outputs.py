"""Node run outputs built from trusted engine values are what `model_construct` builds."""

from __future__ import annotations

from typing import Any

import pytest

from harness.models.api import node_runs
from harness.models.api.node_runs import NodeRunOutput, node_run_output, node_run_output_class

NODE_TYPES = [*node_runs._OUTPUT_CLASSES, "a_type_the_platform_lacks"]


@pytest.mark.parametrize("node_type", NODE_TYPES)
def test_output_classes_have_nothing_construct_would_have_to_resolve(node_type: str) -> None:
    cls = node_run_output_class(node_type)
    assert not cls.__private_attributes__
    assert cls.__pydantic_post_init__ is None
    assert all(f.alias is None and f.validation_alias is None for f in cls.model_fields.values())


@pytest.mark.parametrize("node_type", NODE_TYPES)
def test_node_run_output_is_what_model_construct_builds(node_type: str) -> None:
    given: dict[str, Any] = {"node_logical_id": "n", "node_run_id": "2", "not_a_field": 1}
    built = node_run_output(node_type, **given)
    cls = node_run_output_class(node_type)
    values: dict[str, Any] = {"events": [], "type": node_type}
    for name, field in cls.model_fields.items():
        values.setdefault(name, field.get_default(call_default_factory=True))
    expected = cls.model_construct(**{**values, **given})
    assert type(built) is cls
    assert list(built.__dict__.items()) == list(expected.__dict__.items())
    assert built.model_fields_set == expected.model_fields_set
    assert built.model_extra == expected.model_extra
    assert built.model_dump_json() == expected.model_dump_json()


def test_outputs_do_not_share_mutable_defaults() -> None:
    first, second = node_run_output("say_llm"), node_run_output("say_llm")
    assert isinstance(first, NodeRunOutput)
    assert first.events is not second.events
