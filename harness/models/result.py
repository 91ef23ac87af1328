"""Results of running scenarios: outcomes, turns, attempts, scenarios and a run summary.

These are persisted (JSON reports, the SQLite history) and read back by the regression and the
dashboard, so the top-level models carry `format_version`; a reader refuses a version it does not
know with a hint. A failed check is an outcome with status `failed`; broken infrastructure is an
outcome (or `error` field) with status `error`. Nothing here raises on a failed check.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from harness.models.api import RunStatus

__all__ = [
    "RESULT_FORMAT_VERSION",
    "AttemptResult",
    "CheckOutcome",
    "EvaluationResult",
    "OutcomeStatus",
    "RepeatStats",
    "ResultModel",
    "RunSummary",
    "ScenarioResult",
    "ToolCallRecord",
    "TransitionRecord",
    "TurnResult",
    "Usage",
    "Verdict",
    "outcomes_verdict",
    "scenario_verdict",
]

RESULT_FORMAT_VERSION = 1
"""The results format version written and read by this harness."""

JsonDict = dict[str, Any]


class ResultModel(BaseModel):
    """Base of the result models: plain data, unknown keys ignored within a known version."""

    model_config = ConfigDict(extra="ignore", use_attribute_docstrings=True)


class OutcomeStatus(StrEnum):
    """Result of one check."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"


class Verdict(StrEnum):
    """Result of an attempt or a scenario: `error` means the harness could not decide.

    `skipped`: the scenario cannot mean anything on this backend (e.g. tool mocks on the API).
    """

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


class CheckOutcome(ResultModel):
    """One check's outcome, with a message naming what was expected and what was got."""

    check: str
    """Check kind, e.g. `says.contains`, `tool_calls.contains`, `budgets.tokens.max`."""
    status: OutcomeStatus
    """passed, failed, or error (the check itself could not run)."""
    message: str
    """Readable one-liner: expected ..., got ...."""
    key: str | None = None
    """Where the expectation is written, e.g. `turns[2].expect.says.contains`."""
    expected: JsonValue = None
    """The expected value, as JSON."""
    got: JsonValue = None
    """The actual value, as JSON (possibly truncated)."""

    @property
    def passed(self) -> bool:
        """Whether the check passed."""
        return self.status is OutcomeStatus.PASSED


class ToolCallRecord(ResultModel):
    """A tool call seen in the run's events."""

    name: str
    """Tool name."""
    arguments: JsonDict = Field(default_factory=dict)
    """Arguments the call was made with."""
    result: JsonValue = None
    """The tool's result, when a `tool_result` event reported one."""
    error: str | None = None
    """The error message when the call failed."""
    node: str | None = None
    """Logical id of the node that made the call."""
    call_id: str | None = None
    """The call's id, when the events carry one."""


class TransitionRecord(ResultModel):
    """An edge that fired."""

    type: str
    """`direct`, `conditional`, `reverse_conditional` or `self_loop`."""
    edge: str | None = None
    """Edge logical id."""
    source: str | None = None
    """Source node logical id."""
    destination: str | None = None
    """Destination node logical id."""
    args: JsonDict | None = None
    """Arguments the LLM filled when it took a conditional edge."""


class Usage(ResultModel):
    """LLM cost and speed of a turn or a run."""

    tokens: int = 0
    """Total tokens (prompt + completion)."""
    prompt_tokens: int = 0
    """Prompt tokens."""
    completion_tokens: int = 0
    """Completion tokens."""
    llm_calls: int = 0
    """Number of LLM calls."""
    latency_ms: float = 0
    """Sum of the LLM calls' latency (recorded latency on replay)."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            tokens=self.tokens + other.tokens,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            llm_calls=self.llm_calls + other.llm_calls,
            latency_ms=self.latency_ms + other.latency_ms,
        )


class TurnResult(ResultModel):
    """One execute call of an attempt and the checks made after it."""

    index: int
    """Position of this execute call in the run, from 0."""
    turn: int
    """Index of the scenario turn that made it (a simulated turn makes several)."""
    kind: str
    """Turn kind: start, user, input, simulate, pause, resume, stop."""
    label: str = ""
    """The turn's name or a short description."""
    input: JsonDict = Field(default_factory=dict)
    """The run input sent."""
    run_output: JsonDict | None = None
    """The run output of this execute call (events, node outputs)."""
    status: RunStatus | None = None
    """Run status after the call."""
    said: str = ""
    """What the assistant said in this call."""
    path: list[str] = Field(default_factory=list)
    """Nodes entered in this call, consecutive repeats collapsed."""
    node: str | None = None
    """Current node after the call."""
    transitions: list[TransitionRecord] = Field(default_factory=list)
    """Edges fired in this call."""
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    """Tool calls made in this call."""
    tokens: int = 0
    """LLM tokens used by this call."""
    llm_calls: int = 0
    """LLM calls made by this call."""
    latency_ms: float = 0
    """LLM latency of this call, in milliseconds (recorded latency on replay)."""
    wall_ms: float = 0
    """Measured wall-clock time of the execute call, in milliseconds."""
    outcomes: list[CheckOutcome] = Field(default_factory=list)
    """Outcomes of this turn's expectations and budgets."""
    error: str | None = None
    """Infrastructure error of this call (backend unreachable, cassette miss, ...)."""

    @property
    def usage(self) -> Usage:
        """Tokens, LLM calls and latency as one value (for budgets)."""
        return Usage(tokens=self.tokens, llm_calls=self.llm_calls, latency_ms=self.latency_ms)


class EvaluationResult(ResultModel):
    """An evaluator workflow's verdict on a finished run and the checks on it."""

    evaluator: str
    """`own` (the workflow's evaluator), an evaluator workflow file, or a workflow id."""
    workflow_run_id: str | None = None
    """Id of the evaluation run."""
    verdict: JsonDict = Field(default_factory=dict)
    """The evaluator's structured output (e.g. `passed`, `score`, `reason`)."""
    outcomes: list[CheckOutcome] = Field(default_factory=list)
    """Outcomes of `evaluation.expect`."""
    error: str | None = None
    """Why the evaluation could not run."""


class AttemptResult(ResultModel):
    """One run of a scenario (a scenario with `repeat.runs: n` has n attempts)."""

    attempt: int
    """Attempt number, from 0."""
    verdict: Verdict
    """passed, failed, or error."""
    workflow_run_id: str | None = None
    """Id of the workflow run."""
    status: RunStatus | None = None
    """Final run status."""
    turns: list[TurnResult] = Field(default_factory=list)
    """Every execute call, in order."""
    outcomes: list[CheckOutcome] = Field(default_factory=list)
    """Run-level outcomes: the top-level `expect` and scenario budgets."""
    evaluation: EvaluationResult | None = None
    """The evaluation, when the scenario has one."""
    tokens: int = 0
    """LLM tokens of the whole run."""
    llm_calls: int = 0
    """LLM calls of the whole run."""
    latency_ms: float = 0
    """LLM latency of the whole run, in milliseconds."""
    duration_ms: float = 0
    """Wall-clock time of the attempt, in milliseconds."""
    error: str | None = None
    """Infrastructure error that ended the attempt early."""

    def all_outcomes(self) -> list[CheckOutcome]:
        """Turn, run and evaluation outcomes, in that order."""
        evaluation = self.evaluation.outcomes if self.evaluation else []
        return [o for t in self.turns for o in t.outcomes] + self.outcomes + evaluation


class RepeatStats(ResultModel):
    """How often a repeated scenario passed; pass@k and pass^k are unbiased estimates."""

    runs: int
    """Attempts made."""
    passed: int
    """Attempts that passed."""
    required: int
    """Attempts that had to pass (`repeat.min_pass`)."""
    k: int
    """The k of pass@k and pass^k."""
    pass_rate: float
    """passed / runs."""
    pass_at_k: float
    """Chance that at least one of k attempts passes."""
    pass_hat_k: float
    """Chance that all of k attempts pass (pass^k)."""

    @classmethod
    def compute(cls, runs: int, passed: int, required: int, k: int | None = None) -> RepeatStats:
        """Statistics of `passed` successes out of `runs` attempts."""
        k = runs if k is None else k
        total = math.comb(runs, k) if runs else 0
        at_k = 1 - math.comb(runs - passed, k) / total if total else 0.0
        hat_k = math.comb(passed, k) / total if total else 0.0
        return cls(
            runs=runs,
            passed=passed,
            required=required,
            k=k,
            pass_rate=passed / runs if runs else 0.0,
            pass_at_k=at_k,
            pass_hat_k=hat_k,
        )


def _known_format(value: Any) -> Any:
    if value != RESULT_FORMAT_VERSION:
        raise ValueError(
            f"results format version {value!r} is not readable by this harness (it reads version "
            f"{RESULT_FORMAT_VERSION}); use the harness version that wrote it, or re-run the "
            "scenarios to write fresh results"
        )
    return value


class ScenarioResult(ResultModel):
    """Everything a scenario run produced; the unit of reports and history."""

    format_version: int = RESULT_FORMAT_VERSION
    """Results format version (1)."""
    scenario_id: str
    """The scenario's id."""
    name: str
    """The scenario's name."""
    file: str | None = None
    """The scenario file."""
    tags: list[str] = Field(default_factory=list)
    """The scenario's tags."""
    parameters: JsonDict = Field(default_factory=dict)
    """Its matrix combination."""
    backend: str | None = None
    """`engine` or `api`."""
    verdict: Verdict
    """passed, failed, or error."""
    attempts: list[AttemptResult] = Field(default_factory=list)
    """One per repeat."""
    outcomes: list[CheckOutcome] = Field(default_factory=list)
    """Scenario-level outcomes over all attempts: the repeat rule, p95 budgets."""
    repeat: RepeatStats | None = None
    """Repeat statistics (also for a single run)."""
    started_at: datetime | None = None
    """When it started."""
    duration_ms: float = 0
    """Wall-clock time of all attempts, in milliseconds."""
    error: str | None = None
    """Infrastructure error outside any attempt (e.g. a timeout)."""
    stale: list[str] = Field(default_factory=list)
    """Recorded interactions this replay never used (the scenario no longer asks them)."""

    @field_validator("format_version", mode="before")
    @classmethod
    def _readable(cls, value: Any) -> Any:
        return _known_format(value)

    @property
    def evaluation(self) -> EvaluationResult | None:
        """The evaluation of the first attempt that has one."""
        return next((a.evaluation for a in self.attempts if a.evaluation), None)

    def failures(self) -> list[CheckOutcome]:
        """Every outcome that did not pass, across attempts, then scenario-level ones."""
        every = [o for a in self.attempts for o in a.all_outcomes()] + self.outcomes
        return [o for o in every if not o.passed]


class RunSummary(ResultModel):
    """A batch of scenario results (one `harness run`)."""

    format_version: int = RESULT_FORMAT_VERSION
    """Results format version (1)."""
    harness_version: str | None = None
    """Version of the harness that ran it."""
    backend: str | None = None
    """`engine` or `api`."""
    started_at: datetime | None = None
    """When the run started."""
    duration_ms: float = 0
    """Wall-clock time of the whole run, in milliseconds."""
    interrupted: bool = False
    """True when stopped early (Ctrl-C); the results are those finished."""
    total: int = 0
    """Scenarios with a result."""
    passed: int = 0
    """Scenarios passed."""
    failed: int = 0
    """Scenarios failed."""
    errored: int = 0
    """Scenarios with an error verdict."""
    skipped: int = 0
    """Scenarios skipped on this backend (they count neither as passed nor as failed)."""
    results: list[ScenarioResult] = Field(default_factory=list)
    """One per scenario, in run order."""

    @field_validator("format_version", mode="before")
    @classmethod
    def _readable(cls, value: Any) -> Any:
        return _known_format(value)

    @classmethod
    def from_results(cls, results: list[ScenarioResult], **fields: Any) -> RunSummary:
        """A summary with the counts derived from `results`."""
        counts = {v: sum(r.verdict is v for r in results) for v in Verdict}
        return cls(
            results=results,
            total=len(results),
            passed=counts[Verdict.PASSED],
            failed=counts[Verdict.FAILED],
            errored=counts[Verdict.ERROR],
            skipped=counts[Verdict.SKIPPED],
            **fields,
        )

    @property
    def exit_code(self) -> int:
        """0 when every scenario passed (and the run was not interrupted), else 1."""
        decided = self.total - self.skipped
        return 0 if self.passed == decided and not self.interrupted else 1


def outcomes_verdict(outcomes: Iterable[CheckOutcome], error: str | None = None) -> Verdict:
    """error if `error` is set or any outcome errored; failed if any failed; else passed."""
    statuses = {o.status for o in outcomes}
    if error is not None or OutcomeStatus.ERROR in statuses:
        return Verdict.ERROR
    return Verdict.FAILED if OutcomeStatus.FAILED in statuses else Verdict.PASSED


def scenario_verdict(
    attempts: list[Verdict], required: int, outcomes: Iterable[CheckOutcome] = ()
) -> Verdict:
    """The verdict of a scenario from its attempts' verdicts and scenario-level outcomes.

    Passed when at least `required` attempts passed and no scenario-level outcome failed; error
    when it failed and any attempt (or outcome) errored, since then the count is not trustworthy.
    """
    own = outcomes_verdict(outcomes)
    enough = sum(v is Verdict.PASSED for v in attempts) >= required
    if enough and own is Verdict.PASSED:
        return Verdict.PASSED
    if own is Verdict.ERROR or Verdict.ERROR in attempts:
        return Verdict.ERROR
    return Verdict.FAILED
