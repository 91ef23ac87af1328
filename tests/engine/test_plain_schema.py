"""`plainly_valid`: a schema it accepts is one jsonschema finds valid; anything else goes there."""

from __future__ import annotations

import random
from typing import Any

import pytest
from jsonschema import Draft202012Validator, SchemaError, validators

from harness.engine._plain_schema import plainly_valid


def _valid_for_jsonschema(schema: Any) -> bool:
    validator = validators.validator_for(schema, default=Draft202012Validator)
    try:
        validator.check_schema(schema)
    except SchemaError:
        return False
    return True


PLAIN = [
    True,
    {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]},
    {"type": ["string", "null"], "description": "a day", "title": "Day", "default": None},
    {"type": "array", "items": {"type": "integer"}, "examples": [[1, 2]]},
    {"type": "object", "additionalProperties": False, "properties": {"a": True}},
    {"enum": ["a", 1, None], "const": "a"},
    {"properties": {}, "required": []},
]

NOT_PLAIN = [
    # invalid: jsonschema gives the verdict and the message
    {"type": "strin"},
    {"type": []},
    {"type": ["string", "string"]},
    {"required": "day"},
    {"required": ["a", "a"]},
    {"properties": {"a": 3}},
    {"properties": []},
    {"items": "string"},
    {"enum": "a"},
    {"examples": 3},
    {"description": 3},
    # valid, but outside the plain shapes
    {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"},
    {"type": "string", "pattern": "^a"},
    {"type": "string", "minLength": 1},
    {"$ref": "#/$defs/a", "$defs": {"a": {"type": "string"}}},
    "object",
    None,
]


@pytest.mark.parametrize("schema", PLAIN)
def test_plain_schemas_are_valid_without_jsonschema(schema: Any) -> None:
    assert plainly_valid(schema)
    assert _valid_for_jsonschema(schema)


@pytest.mark.parametrize("schema", NOT_PLAIN)
def test_other_schemas_are_left_to_jsonschema(schema: Any) -> None:
    assert not plainly_valid(schema)


_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 1.5, "", "string", "object", "strin", [], ["string"],
    ["string", "null"], ["a", "a"], [1], {}, {"type": "string"}, {"a": {"type": "integer"}},
    {"a": 3}, {"a": True},
]  # fmt: skip
_KEYWORDS = [
    "type", "properties", "required", "enum", "examples", "title", "description", "default",
    "const", "items", "additionalProperties", "minLength", "$schema",
]  # fmt: skip


def _random_schema(rng: random.Random, depth: int = 0) -> Any:
    if depth > 2 or rng.random() < 0.1:
        return rng.choice(_VALUES)
    schema: dict[str, Any] = {}
    for key in rng.sample(_KEYWORDS, rng.randint(0, 3)):
        roll = rng.random()
        if key in ("items", "additionalProperties") and roll < 0.5:
            schema[key] = _random_schema(rng, depth + 1)
        elif key == "properties" and roll < 0.5:
            schema[key] = {"p": _random_schema(rng, depth + 1)}
        else:
            schema[key] = rng.choice(_VALUES)
    return schema


def test_whatever_it_accepts_jsonschema_finds_valid() -> None:
    rng = random.Random(15)
    accepted = 0
    for _ in range(3000):
        schema = _random_schema(rng)
        if plainly_valid(schema):
            accepted += 1
            assert _valid_for_jsonschema(schema), schema
    assert accepted > 300  # the generator does reach the plain shapes
