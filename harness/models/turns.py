"""Turns of a scenario: start, user messages, raw inputs, simulated users, pause/resume/stop.

Each turn has exactly one action key (`TurnKind`) plus optional `expect` and `budgets`. See
`docs/scenarios.md`, "Turns".
"""

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, JsonValue, model_validator

from harness.models.api import WorkflowRunInput
from harness.models.expect import Budgets, Expect, ScenarioModel, TextExpect

__all__ = [
    "SIMULATION_STOP_TOKEN",
    "CommandSpec",
    "SimulatedUser",
    "StartSpec",
    "StopCondition",
    "Turn",
    "TurnKind",
]

SIMULATION_STOP_TOKEN = "<<GOAL_REACHED>>"
"""What a simulated user answers to end the conversation when `stop_when.goal_reached` is on."""

Variables = dict[str, JsonValue]


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _contains_short(value: Any) -> Any:
    return {"contains": value} if isinstance(value, str) else value


def _empty_if_flag(value: Any) -> Any:
    return {} if value is None or value is True else value


# ------------------------------------------------------------------ turns


class CommandSpec(ScenarioModel):
    """The value of `pause`, `resume` and `stop` turns: `{}` (or `null`/`true`)."""


_Flag = Annotated[
    CommandSpec,
    BeforeValidator(_empty_if_flag, json_schema_input_type=CommandSpec | Literal[True] | None),
]


class StartSpec(ScenarioModel):
    """The value of a `start` turn; variables here override the scenario's."""

    dynamic_variables: Variables = Field(
        default_factory=dict, description="Extra `{{...}}` values."
    )
    runtime_variables: Variables = Field(
        default_factory=dict, description="Extra `[[...]]` values."
    )
    miscellaneous: Variables = Field(default_factory=dict, description="Extra miscellaneous data.")
    user: (
        Annotated[list[str], BeforeValidator(_listify, json_schema_input_type=str | list[str])]
        | None
    ) = Field(default=None, description="User message(s) sent with the start command.")
    start_node_logical_id: str | None = Field(
        default=None, description="Start the run at this node instead of the `is_start` one."
    )
    welcome_message: str | None = Field(
        default=None, description="Opening line, seeded as the first assistant message."
    )


class StopCondition(ScenarioModel):
    """When a simulated conversation ends (besides a terminal run status and `max_turns`)."""

    node: (
        Annotated[list[str], BeforeValidator(_listify, json_schema_input_type=str | list[str])]
        | None
    ) = Field(default=None, description="The run reached one of these nodes.")
    says: Annotated[TextExpect, BeforeValidator(_contains_short)] | None = Field(
        default=None, description="The assistant's reply matches (a string: contains it)."
    )
    goal_reached: bool = Field(
        default=True,
        description=f"The simulated user may end it by answering {SIMULATION_STOP_TOKEN}.",
    )


class SimulatedUser(ScenarioModel):
    """An LLM plays the user: a persona with a goal, for up to `max_turns` messages."""

    persona: str = Field(min_length=1, description="Who the user is and how they talk.")
    goal: str = Field(min_length=1, description="What the user wants to achieve.")
    max_turns: int = Field(default=10, ge=1, le=100, description="At most this many user messages.")
    stop_when: StopCondition = Field(default_factory=StopCondition, description="When to stop.")
    fail_on_max_turns: bool = Field(
        default=False, description="Fail the turn when `max_turns` is reached before a stop."
    )
    first_message: str | None = Field(default=None, description="A fixed opening message.")
    provider: str | None = Field(default=None, description="LLM provider name (default: default).")
    model: str | None = Field(default=None, description="LLM model (default: the provider's).")
    temperature: float | None = Field(default=None, ge=0, le=2, description="Sampling temperature.")


class TurnKind(StrEnum):
    """What a turn does; exactly one of these keys is given per turn."""

    START = "start"
    USER = "user"
    INPUT = "input"
    SIMULATE = "simulate"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


_ACTIONS = [kind.value for kind in TurnKind]


class Turn(ScenarioModel):
    """One step of the conversation: an action (exactly one action key) plus expectations."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": [a]} for a in _ACTIONS]},
    )

    name: str | None = Field(default=None, description="A label for reports.")
    start: StartSpec | None = Field(default=None, description="Start the run.")
    user: (
        Annotated[list[str], BeforeValidator(_listify, json_schema_input_type=str | list[str])]
        | None
    ) = Field(default=None, min_length=1, description="User message(s) for the parked node.")
    input: WorkflowRunInput | None = Field(default=None, description="A raw run input, as is.")
    simulate: SimulatedUser | None = Field(default=None, description="A simulated user.")
    pause: _Flag | None = Field(default=None, description="Pause the run.")
    resume: _Flag | None = Field(default=None, description="Resume a paused run.")
    stop: _Flag | None = Field(default=None, description="Stop the run (cancelled).")
    expect: Expect | None = Field(default=None, description="Checked after this turn.")
    budgets: Budgets | None = Field(default=None, description="Limits for this turn.")

    @model_validator(mode="before")
    @classmethod
    def _one_action(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        given = [a for a in _ACTIONS if a in data]
        if len(given) != 1:
            got = ", ".join(f"`{a}`" for a in given) or "none"
            raise ValueError(f"a turn needs exactly one of {', '.join(_ACTIONS)}; got {got}")
        if given[0] in ("start", "pause", "resume", "stop"):
            data = {**data, given[0]: _empty_if_flag(data[given[0]])}
        return data

    @property
    def kind(self) -> TurnKind:
        """The action of this turn."""
        return next(k for k in TurnKind if getattr(self, k.value) is not None)

    @property
    def label(self) -> str:
        """`name`, or a short description of the action, for reports."""
        if self.name:
            return self.name
        if self.user:
            return f"user: {self.user[0][:60]}"
        return self.kind.value
