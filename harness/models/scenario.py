"""Scenario format v1: one YAML file = one conversation to run and check.

The reference with examples is `docs/scenarios.md`; `scenario_json_schema()` is the schema editors
use (`harness schema scenario`). The models forbid unknown keys. The loader
(`harness.scenarios`) merges `_defaults.yaml` files, expands `matrix`, resolves file paths, derives
`id`, and attaches a `ScenarioSource`; these models hold data only (no I/O).
"""

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    field_validator,
    model_validator,
)

from harness.models._factories import empty_list
from harness.models.api import Command, ObjectId, WorkflowRunInput
from harness.models.expect import *  # noqa: F403
from harness.models.expect import Budgets, Expect, FieldMatch, ScenarioModel
from harness.models.expect import __all__ as _expect_all
from harness.models.regression import ScenarioRegression
from harness.models.selector import Selector
from harness.models.turns import *  # noqa: F403
from harness.models.turns import Turn, TurnKind
from harness.models.turns import __all__ as _turns_all

__all__ = [
    "FORMAT_VERSION",
    "Evaluation",
    "Matrix",
    "Mocks",
    "Repeat",
    "Scenario",
    "ScenarioSource",
    "SecretSource",
    "ToolMock",
    "scenario_json_schema",
    "user_run_input",
    *_expect_all,
    *_turns_all,
]

FORMAT_VERSION = 1
"""The scenario format version this harness reads."""


Variables = dict[str, JsonValue]


# ------------------------------------------------------------------ mocks and repeat


class ToolMock(ScenarioModel):
    """What a tool does instead of running (engine backend): return, raise, after a delay."""

    when: Variables | None = Field(default=None, description="Only for calls with these args.")
    returns: JsonValue = Field(default=None, description="The tool's result.")
    raises: str | None = Field(default=None, description="Fail the call with this error message.")
    delay_seconds: float = Field(default=0, ge=0, le=600, description="Wait this long first.")

    @model_validator(mode="after")
    def _returns_or_raises(self) -> "ToolMock":
        if self.raises is not None and "returns" in self.model_fields_set:
            raise ValueError("give `returns` or `raises`, not both")
        return self


def _mock_list(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class Mocks(ScenarioModel):
    """Replacements for parts of the workflow while it runs on the engine."""

    tools: dict[
        str,
        Annotated[
            list[ToolMock],
            BeforeValidator(_mock_list, json_schema_input_type=ToolMock | list[ToolMock]),
        ],
    ] = Field(
        default_factory=dict, description="Tool name -> mock (or a list: first `when` match wins)."
    )

    def tool_mock(self, name: str, arguments: dict[str, Any]) -> ToolMock | None:
        """The mock for a call of `name` with `arguments`, or None when the tool runs for real."""
        for mock in self.tools.get(name, []):
            if mock.when is None or all(arguments.get(k) == v for k, v in mock.when.items()):
                return mock
        return None


class Repeat(ScenarioModel):
    """Run the scenario several times; it passes when at least `min_pass` runs pass."""

    runs: int = Field(default=1, ge=1, le=1000, description="How many times to run it.")
    min_pass: int | None = Field(
        default=None, ge=0, description="Runs that must pass (default: all)."
    )
    k: int | None = Field(default=None, ge=1, description="k of pass@k and pass^k (default: runs).")

    @model_validator(mode="after")
    def _within_runs(self) -> "Repeat":
        for key in ("min_pass", "k"):
            value = getattr(self, key)
            if value is not None and value > self.runs:
                raise ValueError(f"`{key}` ({value}) cannot exceed `runs` ({self.runs})")
        return self

    @property
    def required(self) -> int:
        """How many runs must pass."""
        return self.runs if self.min_pass is None else self.min_pass


# ------------------------------------------------------------------ evaluation


class Evaluation(ScenarioModel):
    """Evaluate the finished run with an evaluator workflow and check its verdict.

    With neither `workflow` nor `workflow_id`, the workflow's own evaluator
    (`workflow_config.evaluation_config`) is used.
    """

    workflow: str | None = Field(default=None, description="An evaluator workflow file (engine).")
    workflow_id: ObjectId | None = Field(
        default=None, description="An evaluator workflow id (api)."
    )
    workflow_version: int | None = Field(default=None, ge=0, description="Its version number.")
    dynamic_variables: Variables = Field(
        default_factory=dict, description="Extra evaluator inputs."
    )
    expect: dict[Selector, FieldMatch] = Field(
        default_factory=dict, description="Verdict field (a selector) -> expected value or bounds."
    )

    @property
    def uses_own_evaluator(self) -> bool:
        """Whether the workflow's own configured evaluator is meant."""
        return self.workflow is None and self.workflow_id is None


# ------------------------------------------------------------------ the scenario


class ScenarioSource(BaseModel):
    """Where a loaded scenario came from (set by the loader, never written in YAML)."""

    model_config = ConfigDict(frozen=True)

    file: str = Field(description="Path of the scenario file.")
    defaults_files: list[str] = Field(
        default_factory=empty_list, description="`_defaults.yaml` merged in."
    )
    parameters: Variables = Field(default_factory=dict, description="This matrix combination.")


Matrix = dict[str, Annotated[list[JsonValue], Field(min_length=1)]] | list[Variables]


class SecretSource(ScenarioModel):
    """Where a secret variable's value comes from: an environment variable, never the file."""

    env: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="The environment variable to read."
    )


class Scenario(ScenarioModel):
    """A conversation with a workflow, its mocks, and what must hold."""

    version: int = Field(default=FORMAT_VERSION, description="Scenario format version: 1.")
    name: str = Field(min_length=1, description="What the scenario shows, in a few words.")
    id: str | None = Field(default=None, description="Stable id; default: derived from the path.")
    description: str | None = Field(default=None, description="Longer explanation.")
    tags: list[str] = Field(
        default_factory=empty_list, description="For selecting scenarios (`-k`)."
    )
    workflow: str | None = Field(
        default=None, description="Hydrated workflow config file (engine), relative to this file."
    )
    workflow_id: ObjectId | None = Field(default=None, description="Workflow id (api backend).")
    workflow_version: int | None = Field(default=None, ge=0, description="Workflow version (api).")
    dynamic_variables: Variables = Field(default_factory=dict, description="`{{...}}` values.")
    runtime_variables: Variables = Field(default_factory=dict, description="`[[...]]` values.")
    miscellaneous: Variables = Field(default_factory=dict, description="Run input miscellaneous.")
    secret_variables: dict[str, SecretSource] = Field(
        default_factory=dict,
        description="Secret values sent with `start` (`{env: VAR}`); never written anywhere.",
    )
    turns: list[Turn] = Field(min_length=1, description="The conversation, in order.")
    expect: Expect | None = Field(default=None, description="Checked on the whole run at the end.")
    mocks: Mocks = Field(default_factory=Mocks, description="Tool mocks (engine backend).")
    budgets: Budgets | None = Field(default=None, description="Limits for the whole scenario.")
    repeat: Repeat = Field(default_factory=Repeat, description="Repeats and the pass rule.")
    evaluation: Evaluation | None = Field(default=None, description="Evaluator and its verdict.")
    matrix: Matrix | None = Field(
        default=None, description="Variables -> values; one scenario per combination."
    )
    timeout_seconds: float | None = Field(default=None, gt=0, description="Per-run time limit.")
    regression: ScenarioRegression | None = Field(
        default=None,
        description="Regression thresholds of this scenario (over [tool.harness.regression]).",
    )
    skip: str | None = Field(
        default=None,
        min_length=1,
        description="Why the scenario is not run: it is reported `skipped` with this reason.",
    )
    xfail: str | None = Field(
        default=None,
        min_length=1,
        description="Why it is expected to fail (the pytest plugin marks it xfail; its result "
        "keeps the real verdict).",
    )

    _source: ScenarioSource | None = PrivateAttr(default=None)

    @field_validator("version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v != FORMAT_VERSION:
            raise ValueError(
                f"scenario format version {v} is not supported; this harness reads version "
                f"{FORMAT_VERSION}: upgrade harness or write `version: {FORMAT_VERSION}`"
            )
        return v

    @model_validator(mode="after")
    def _coherent(self) -> "Scenario":
        if self.workflow is None and self.workflow_id is None:
            raise ValueError(
                "give `workflow` (a workflow file, for the engine) or `workflow_id` (for the api)"
            )
        return self

    @field_validator("turns")
    @classmethod
    def _starts(cls, turns: list[Turn]) -> list[Turn]:
        first = turns[0].kind if turns else None
        if first not in (None, TurnKind.START, TurnKind.INPUT):
            raise ValueError(
                f"the first turn must be `start` (or a raw `input`), not `{first}`; "
                "add `- start: {}` first"
            )
        return turns

    @property
    def source(self) -> ScenarioSource | None:
        """Where the loader found this scenario (None when built in code)."""
        # From pydantic's dict of private values: `self._source` goes through its `__getattr__`
        # (~1 us), and binding and reporting a scenario read this several times.
        private = self.__pydantic_private__
        return private.get("_source") if private else None

    def with_source(self, source: ScenarioSource, *, scenario_id: str | None = None) -> "Scenario":
        """A copy of this scenario that knows where it came from (with id `scenario_id` when
        given: one copy, not two)."""
        copy = self.model_copy(update=None if scenario_id is None else {"id": scenario_id})
        copy._source = source
        return copy

    def secret_values(self, env: Mapping[str, str]) -> dict[str, str]:
        """The secret variables read from `env`.

        Raises:
            ValueError: an environment variable is not set (the message names it and the fix).
        """
        missing = [(n, s.env) for n, s in self.secret_variables.items() if s.env not in env]
        if missing:
            names = ", ".join(f"{name} (env {var})" for name, var in missing)
            raise ValueError(
                f"secret_variables {names} not set: export the variable(s) before running"
            )
        return {name: env[source.env] for name, source in self.secret_variables.items()}

    def run_input_for(self, turn: Turn) -> WorkflowRunInput:
        """The run input a non-simulated turn sends (ids are filled in by the runner).

        Raises:
            ValueError: for a `simulate` turn, whose messages come from the simulator
                (send each with `user_run_input`).
        """
        kind = turn.kind
        if kind is TurnKind.INPUT and turn.input is not None:
            return turn.input.model_copy(deep=True)
        if kind is TurnKind.START and turn.start is not None:
            spec = turn.start
            return WorkflowRunInput(
                command=Command.START,
                dynamic_variables={**self.dynamic_variables, **spec.dynamic_variables},
                runtime_variables={**self.runtime_variables, **spec.runtime_variables},
                miscellaneous={**self.miscellaneous, **spec.miscellaneous},
                version_number=self.workflow_version or 0,
                thread_to_node_inputs=_messages(spec.user or []),
                start_node_logical_id=spec.start_node_logical_id,
                welcome_message=spec.welcome_message,
            )
        if kind is TurnKind.USER and turn.user is not None:
            return user_run_input(turn.user)
        if kind is TurnKind.SIMULATE:
            raise ValueError(
                "a simulated turn has no fixed input; send each message with user_run_input"
            )
        return WorkflowRunInput(command=Command(kind.value))


def _messages(texts: list[str]) -> dict[str, Any]:
    """`thread_to_node_inputs` delivering `texts` to thread "0", as plain data: the run input
    validates it in one pass (nested models built first are each validated again, ~2x slower)."""
    if not texts:
        return {}
    messages = [{"role": "user", "content": text} for text in texts]
    return {"0": {"node_run_inputs": [{"type": "llm", "messages": messages}]}}


def user_run_input(texts: str | list[str]) -> WorkflowRunInput:
    """A `data` run input delivering user message(s) to the node thread "0" is parked on."""
    return WorkflowRunInput(
        command=Command.DATA,
        thread_to_node_inputs=_messages([texts] if isinstance(texts, str) else texts),
    )


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (draft 2020-12), for editors and `harness schema`."""
    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"harness scenario (format v{FORMAT_VERSION})"
    schema["properties"]["version"]["const"] = FORMAT_VERSION
    return schema
