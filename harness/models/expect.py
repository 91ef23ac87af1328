"""Expectations: what a scenario says a turn (or the whole run) must look like.

Every model forbids unknown keys, so a typo is an error with file:line at load time. Shorthands
(`says: text`, `path: [a, b]`, `tool_calls: [...]`, `count: 2`, `score: 0.8`) are normalised to the
full model while validating, so code reading an `Expect` always sees one shape; the JSON Schema
still accepts both. Evaluation lives in `harness.checks`; this module only holds data.
"""

import difflib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

from harness.models._factories import empty_list
from harness.models.api import RunStatus
from harness.models.selector import Selector

__all__ = [
    "Budgets",
    "Count",
    "CountRange",
    "EventMatch",
    "EventsExpect",
    "Expect",
    "FieldMatch",
    "Limit",
    "OutputExpect",
    "PathExpect",
    "ScenarioModel",
    "SchemaCheck",
    "TextExpect",
    "ToolCallMatch",
    "ToolCallsExpect",
    "TransitionMatch",
    "TransitionType",
    "TransitionsExpect",
    "ValueCheck",
    "ValueMatch",
]

TransitionType = Literal["direct", "conditional", "reverse_conditional", "self_loop"]
"""An edge event's type without the `_edge` suffix."""


class ScenarioModel(BaseModel):
    """Base of every scenario-file model: unknown keys are errors, never ignored."""

    # Built on first use, not at import: a part (a turn, an expectation) is validated inside its
    # `Scenario`, whose schema holds the part's, so a run builds a part's own schema only where a
    # check validates that part alone; and the `Scenario` is built when the first file is read.
    model_config = ConfigDict(
        extra="forbid", validate_by_name=True, validate_by_alias=True, defer_build=True
    )


def _wrap(key: str, short_type: type, accepted: Any) -> BeforeValidator:
    """Turn a shorthand value (a `short_type`) into `{key: value}` before validation.

    `accepted` is what the JSON Schema advertises: the shorthand or the full model.
    """

    def convert(value: Any) -> Any:
        return {key: value} if isinstance(value, short_type) else value

    return BeforeValidator(convert, json_schema_input_type=accepted)


def _listify(value: Any) -> Any:
    return [value] if value is not None and not isinstance(value, list) else value


MAX_REGEX_LENGTH = 2_000
"""Longest regex a scenario may give (docs/reliability.md)."""
MAX_REGEX_NESTING = 50
"""Deepest nesting of groups in a regex (Python's parser recurses per level)."""


def _compiled(regex: str | None) -> str | None:
    if regex is not None:
        _check_regex_size(regex)
        try:
            re.compile(regex)
        except (re.error, OverflowError, RecursionError) as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
    return regex


def _check_regex_size(regex: str) -> None:
    """Refuse a regex too long or too deeply nested before Python's parser sees it."""
    if len(regex) > MAX_REGEX_LENGTH:
        raise ValueError(
            f"a regex of {len(regex):,} characters is longer than the limit of {MAX_REGEX_LENGTH:,}"
        )
    depth = deepest = 0
    escaped = False
    for char in regex:  # counts escaped and in-class parentheses too: an overestimate is safe
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    if deepest > MAX_REGEX_NESTING:
        raise ValueError(
            f"a regex nested {deepest} groups deep is more than the limit of {MAX_REGEX_NESTING}"
        )


# ------------------------------------------------------------------ numbers and values


class CountRange(ScenarioModel):
    """Bounds on a count; every given bound must hold."""

    eq: int | None = Field(default=None, ge=0, description="Exactly this many.")
    gte: int | None = Field(default=None, ge=0, description="At least this many.")
    lte: int | None = Field(default=None, ge=0, description="At most this many.")

    @model_validator(mode="after")
    def _some_bound(self) -> "CountRange":
        if self.eq is None and self.gte is None and self.lte is None:
            raise ValueError("give at least one of `eq`, `gte`, `lte` (or a plain integer)")
        return self


def _count_short(value: Any) -> Any:
    return {"eq": value} if isinstance(value, int) and not isinstance(value, bool) else value


Count = Annotated[
    CountRange, BeforeValidator(_count_short, json_schema_input_type=int | CountRange)
]
"""A count: a plain integer (exactly) or `{eq, gte, lte}`."""

_MATCHER_KEYS = frozenset(
    [
        "equals",
        "not_equals",
        "one_of",
        "eq",
        "tolerance",
        "gt",
        "gte",
        "lt",
        "lte",
        "contains",
        "not_contains",
        "regex",
        "exists",
        "length",
    ]
)


class ValueMatch(ScenarioModel):
    """Constraints on one value; every constraint given must hold.

    `equals` compares JSON values exactly (1 == 1.0); `eq` compares numbers within `tolerance`.
    `contains` means substring for text, item for lists and key for mappings.
    """

    equals: JsonValue = Field(default=None, description="Deep-equal to this value.")
    not_equals: JsonValue = Field(default=None, description="Not deep-equal to this value.")
    one_of: list[JsonValue] | None = Field(default=None, description="Equal to one of these.")
    eq: float | None = Field(default=None, description="A number equal to this (± tolerance).")
    tolerance: float = Field(default=1e-9, ge=0, description="Absolute tolerance of `eq`.")
    gt: float | None = Field(default=None, description="A number greater than this.")
    gte: float | None = Field(default=None, description="A number at least this.")
    lt: float | None = Field(default=None, description="A number less than this.")
    lte: float | None = Field(default=None, description="A number at most this.")
    contains: JsonValue = Field(default=None, description="Substring, list item or mapping key.")
    not_contains: JsonValue = Field(default=None, description="Not a substring/item/key.")
    regex: str | None = Field(default=None, description="Text matching this regex (search).")
    exists: bool | None = Field(default=None, description="Whether the value exists at all.")
    length: Count | None = Field(default=None, description="Length of a text, list or mapping.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        return _compiled(v)

    @model_validator(mode="after")
    def _some_constraint(self) -> "ValueMatch":
        if not (self.model_fields_set - {"tolerance", "select"}):
            raise ValueError(f"give at least one of: {', '.join(sorted(_MATCHER_KEYS))}")
        return self


def _matcher_or_literal(value: Any) -> Any:
    """A mapping of matcher keys (or near misses of them, to report the typo) is a matcher."""
    if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        keys = list(value)
        if all(
            k in _MATCHER_KEYS or difflib.get_close_matches(k, _MATCHER_KEYS, 1, 0.8) for k in keys
        ):
            return value
    if isinstance(value, ValueMatch):
        return value
    return {"equals": value}


FieldMatch = Annotated[
    ValueMatch, BeforeValidator(_matcher_or_literal, json_schema_input_type=ValueMatch | JsonValue)
]
"""A literal (must be equal) or a `ValueMatch` mapping such as `{gte: 0.8}`."""


class ValueCheck(ValueMatch):
    """A value selected from the run by a selector, with constraints on it."""

    select: Selector = Field(description="Where the value is, e.g. `runtime_variables.slot`.")


# ------------------------------------------------------------------ text, nodes, transitions


class TextExpect(ScenarioModel):
    """What the assistant said (every `assistant_response` of the turn, joined by newlines)."""

    equals: str | None = Field(default=None, description="The whole said text.")
    contains: (
        Annotated[list[str], BeforeValidator(_listify, json_schema_input_type=str | list[str])]
        | None
    ) = Field(default=None, description="Each of these is a substring.")
    not_contains: (
        Annotated[list[str], BeforeValidator(_listify, json_schema_input_type=str | list[str])]
        | None
    ) = Field(default=None, description="None of these is a substring.")
    regex: str | None = Field(default=None, description="A regex found in the text (search).")
    ignore_case: bool = Field(default=False, description="Compare case-insensitively.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        return _compiled(v)


class PathExpect(ScenarioModel):
    """The node path: node ids entered, consecutive repeats of a node collapsed into one."""

    equals: list[str] | None = Field(default=None, description="Exactly this path.")
    contains: list[str] | None = Field(default=None, description="These nodes, in this order.")
    not_contains: list[str] | None = Field(default=None, description="None of these nodes.")
    scope: Literal["run", "turn"] = Field(
        default="run", description="`run`: the path so far (default); `turn`: this turn only."
    )


class TransitionMatch(ScenarioModel):
    """One fired edge; every given field must match."""

    edge: str | None = Field(default=None, description="Edge logical id.")
    type: TransitionType | None = Field(default=None, description="Edge event type.")
    from_node: str | None = Field(default=None, alias="from", description="Source node id.")
    to_node: str | None = Field(default=None, alias="to", description="Destination node id.")
    args: dict[str, JsonValue] | None = Field(
        default=None, description="Subset of the arguments the LLM filled (`args_filled`)."
    )


class TransitionsExpect(ScenarioModel):
    """Edges fired (in the turn, or the run for the run-level `expect`)."""

    equals: list[TransitionMatch] | None = Field(default=None, description="Exactly these.")
    contains: list[TransitionMatch] | None = Field(default=None, description="These, in order.")
    not_contains: list[TransitionMatch] | None = Field(default=None, description="None of these.")
    count: Count | None = Field(default=None, description="How many edges fired.")


class ToolCallMatch(ScenarioModel):
    """One tool call; every given field must match (`args`/`result`: subset match)."""

    name: str | None = Field(default=None, description="Tool name.")
    args: dict[str, JsonValue] | None = Field(default=None, description="Subset of arguments.")
    result: JsonValue = Field(default=None, description="Subset of the result (when given).")
    error: bool | None = Field(default=None, description="Whether the call failed.")
    node: str | None = Field(default=None, description="Node that made the call.")


class ToolCallsExpect(ScenarioModel):
    """Tool calls made."""

    equals: list[ToolCallMatch] | None = Field(default=None, description="Exactly these.")
    contains: list[ToolCallMatch] | None = Field(default=None, description="These, in order.")
    not_contains: list[ToolCallMatch] | None = Field(default=None, description="None of these.")
    count: Count | None = Field(default=None, description="How many calls were made.")


class EventMatch(ScenarioModel):
    """One event: its type and a subset of its fields."""

    type: str = Field(description="Event type, e.g. `conditional_edge`.")
    fields: dict[str, JsonValue] | None = Field(default=None, description="Subset of fields.")


_Event = Annotated[EventMatch, _wrap("type", str, str | EventMatch)]


class EventsExpect(ScenarioModel):
    """Events emitted (types, counts, ordered subsequence)."""

    contains: list[_Event] | None = Field(default=None, description="These events, in order.")
    not_contains: list[_Event] | None = Field(default=None, description="None of these events.")
    counts: dict[str, Count] | None = Field(default=None, description="Event type -> count.")


# ------------------------------------------------------------------ outputs and schemas


class OutputExpect(ScenarioModel):
    """A selected output compared with deepdiff."""

    select: Selector = Field(
        default="outputs", description="What to compare; default: node id -> output of the turn."
    )
    equals: JsonValue = Field(description="The expected value.")
    ignore: list[str] = Field(
        default_factory=empty_list,
        description="deepdiff paths to ignore, e.g. `root['timestamp']`.",
    )
    ignore_order: bool = Field(default=False, description="Compare lists as multisets.")
    tolerance: float | None = Field(default=None, ge=0, description="Absolute numeric tolerance.")


_LATEST_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class SchemaCheck(ScenarioModel):
    """A selected value validated against a JSON Schema."""

    select: Selector = Field(default="outputs", description="The value to validate.")
    schema_: dict[str, JsonValue] = Field(alias="schema", description="A JSON Schema.")

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, v: dict[str, JsonValue]) -> dict[str, JsonValue]:
        from jsonschema.exceptions import SchemaError
        from jsonschema.validators import validator_for

        dialect = v.get("$schema", _LATEST_DIALECT)
        if not isinstance(dialect, str):
            raise ValueError(
                f"`$schema` must be a dialect URI string, got {type(dialect).__name__}; use e.g. "
                f'"{_LATEST_DIALECT}", or leave `$schema` out'
            )
        try:
            validator = validator_for({"$schema": dialect}, default=None)  # None: unknown
            if validator is None:
                raise ValueError(
                    f"unknown `$schema` dialect {dialect[:80]!r}; use e.g. "
                    f'"{_LATEST_DIALECT}", or leave `$schema` out'
                )
            validator.check_schema(v)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        except (TypeError, AttributeError, ValueError, LookupError, RecursionError) as exc:
            # e.g. `$schema: 5`: jsonschema looks the dialect up by string and crashes on others
            raise ValueError(f"not a valid JSON Schema: {exc}") from None
        return v


# ------------------------------------------------------------------ budgets


class Limit(ScenarioModel):
    """A budget on one measure; `max` bounds each measurement, `p95` their 95th percentile."""

    max: float | None = Field(default=None, ge=0, description="Upper bound of every measurement.")
    p95: float | None = Field(default=None, ge=0, description="Upper bound of the 95th percentile.")

    @model_validator(mode="after")
    def _some_bound(self) -> "Limit":
        if self.max is None and self.p95 is None:
            raise ValueError("give `max`, `p95` or both")
        return self


class Budgets(ScenarioModel):
    """Limits on cost and speed. Per turn: that turn (p95 over repeats). Per scenario: see docs."""

    tokens: Limit | None = Field(default=None, description="LLM tokens (prompt + completion).")
    llm_calls: Limit | None = Field(default=None, description="Number of LLM calls.")
    latency_ms: Limit | None = Field(default=None, description="LLM latency in milliseconds.")


# ------------------------------------------------------------------ the expectation


class Expect(ScenarioModel):
    """Expectations on a turn (`turns[].expect`) or on the whole run (top-level `expect`).

    Only the keys given are checked. Every failure is collected; none stops the others.
    """

    status: (
        Annotated[
            list[RunStatus],
            BeforeValidator(_listify, json_schema_input_type=RunStatus | list[RunStatus]),
        ]
        | None
    ) = Field(default=None, description="Run status after the turn (one of these).")
    termination_source: str | None = Field(
        default=None, description="Expected termination source; write `null` to expect none."
    )
    says: Annotated[TextExpect, _wrap("equals", str, str | TextExpect)] | None = Field(
        default=None, description="Said text; a plain string must equal it."
    )
    node: (
        Annotated[list[str], BeforeValidator(_listify, json_schema_input_type=str | list[str])]
        | None
    ) = Field(default=None, description="Current node after the turn (one of these).")
    path: Annotated[PathExpect, _wrap("equals", list, list[str] | PathExpect)] | None = Field(
        default=None, description="Node path; a plain list is the exact path of the run so far."
    )
    transitions: (
        Annotated[
            TransitionsExpect, _wrap("contains", list, list[TransitionMatch] | TransitionsExpect)
        ]
        | None
    ) = Field(default=None, description="Edges fired; a plain list must appear in order.")
    tool_calls: (
        Annotated[ToolCallsExpect, _wrap("contains", list, list[ToolCallMatch] | ToolCallsExpect)]
        | None
    ) = Field(default=None, description="Tool calls; a plain list must appear in order.")
    runtime_variables: dict[str, JsonValue] | None = Field(
        default=None, description="Subset of the runtime variables (`[[...]]`)."
    )
    dynamic_variables: dict[str, JsonValue] | None = Field(
        default=None, description="Subset of the dynamic variables (`{{...}}`)."
    )
    events: Annotated[EventsExpect, _wrap("contains", list, list[_Event] | EventsExpect)] | None = (
        Field(default=None, description="Events; a plain list must appear in order.")
    )
    output: OutputExpect | None = Field(default=None, description="An output, by deepdiff.")
    json_schema: (
        Annotated[
            list[SchemaCheck],
            BeforeValidator(_listify, json_schema_input_type=SchemaCheck | list[SchemaCheck]),
        ]
        | None
    ) = Field(default=None, description="Selected values validated against JSON Schemas.")
    values: list[ValueCheck] | None = Field(
        default=None, description="Selected values with constraints (path selectors)."
    )
    evaluation: dict[Selector, FieldMatch] | None = Field(
        default=None, description="Evaluation fields (a selector each) with expected values."
    )
    no_errors: bool | None = Field(
        default=None, description="`true`: no workflow_error event and no failed status."
    )

    def checks_termination_source(self) -> bool:
        """Whether `termination_source` was given (it may be given as null)."""
        return "termination_source" in self.model_fields_set
