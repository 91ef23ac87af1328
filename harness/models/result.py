"""Results of running scenarios: outcomes, turns, attempts, scenarios and a run summary.

These are persisted (JSON reports, the SQLite history) and read back by the regression and the
dashboard, so the top-level models carry `format_version`; a reader refuses a version it does not
know with a hint (`harness.results.read_results` migrates version 1 files first). A failed check
is an outcome with status `failed`; broken infrastructure is an outcome (or `error` field) with
status `error`. Nothing here raises on a failed check.

Version 2 (docs/results.md) adds the batch's provenance (`BatchInfo`), LLM usage per turn and node
by model and provider with every call's latency (`NodeUsage`), evaluation scores and the
evaluator's own usage, costs from a price table (`ModelPrice`; an unknown model costs None, never
a guess), and the run output of each turn moved out to an artifact (`TurnResult.artifact`: a line of the batch's
artifact packs, or a file per scenario before packs).
"""

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from harness.models._factories import empty_list
from harness.models.api import RunStatus

__all__ = [
    "RESULT_FORMAT_VERSION",
    "AttemptResult",
    "BatchInfo",
    "CheckOutcome",
    "EvaluationResult",
    "ModelPrice",
    "ModelRef",
    "NodeUsage",
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
    "flatten_scores",
    "models_used",
    "new_batch_id",
    "outcomes_verdict",
    "price_for",
    "scenario_verdict",
    "sum_costs",
]

RESULT_FORMAT_VERSION = 2
"""The results format version written and read by this harness (version 1 files are migrated by
`harness.results.read_results`)."""

JsonDict = dict[str, Any]


class ResultModel(BaseModel):
    """Base of the result models: plain data, unknown keys ignored within a known version."""

    # Fields are described with `Field(description=...)`, not attribute docstrings:
    # `use_attribute_docstrings` re-reads and parses this file's source at every start (~20 ms).
    model_config = ConfigDict(extra="ignore")


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

    check: str = Field(
        description="Check kind, e.g. `says.contains`, `tool_calls.contains`, `budgets.tokens.max`."
    )
    status: OutcomeStatus = Field(
        description="passed, failed, or error (the check itself could not run)."
    )
    message: str = Field(description="Readable one-liner: expected ..., got ....")
    key: str | None = Field(
        default=None,
        description="Where the expectation is written, e.g. `turns[2].expect.says.contains`.",
    )
    expected: JsonValue = Field(default=None, description="The expected value, as JSON.")
    got: JsonValue = Field(
        default=None, description="The actual value, as JSON (possibly truncated)."
    )

    @property
    def passed(self) -> bool:
        """Whether the check passed."""
        return self.status is OutcomeStatus.PASSED


class ToolCallRecord(ResultModel):
    """A tool call seen in the run's events."""

    name: str = Field(description="Tool name.")
    arguments: JsonDict = Field(
        default_factory=dict, description="Arguments the call was made with."
    )
    result: JsonValue = Field(
        default=None, description="The tool's result, when a `tool_result` event reported one."
    )
    error: str | None = Field(default=None, description="The error message when the call failed.")
    node: str | None = Field(default=None, description="Logical id of the node that made the call.")
    call_id: str | None = Field(
        default=None, description="The call's id, when the events carry one."
    )


class TransitionRecord(ResultModel):
    """An edge that fired."""

    type: str = Field(description="`direct`, `conditional`, `reverse_conditional` or `self_loop`.")
    edge: str | None = Field(default=None, description="Edge logical id.")
    source: str | None = Field(default=None, description="Source node logical id.")
    destination: str | None = Field(default=None, description="Destination node logical id.")
    args: JsonDict | None = Field(
        default=None, description="Arguments the LLM filled when it took a conditional edge."
    )


class Usage(ResultModel):
    """LLM cost and speed of a turn or a run."""

    tokens: int = Field(default=0, description="Total tokens (prompt + completion).")
    prompt_tokens: int = Field(default=0, description="Prompt tokens.")
    completion_tokens: int = Field(default=0, description="Completion tokens.")
    llm_calls: int = Field(default=0, description="Number of LLM calls.")
    latency_ms: float = Field(
        default=0, description="Sum of the LLM calls' latency (recorded latency on replay)."
    )

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            tokens=self.tokens + other.tokens,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            llm_calls=self.llm_calls + other.llm_calls,
            latency_ms=self.latency_ms + other.latency_ms,
        )


class ModelPrice(ResultModel):
    """Price of one model in USD per million tokens (`[tool.harness.prices."MODEL"]`)."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0, description="USD per million input (prompt) tokens.")
    output: float = Field(ge=0, description="USD per million output (completion) tokens.")

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The cost of a call or a sum of calls, in USD."""
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")
"""A dated snapshot suffix: OpenAI answers `gpt-4o-mini-2024-07-18` for `gpt-4o-mini`, Anthropic
`claude-3-5-sonnet-20241022`."""


def price_for(model: str | None, prices: Mapping[str, ModelPrice]) -> ModelPrice | None:
    """The price of `model`: its own entry, else the entry of the model it is a dated snapshot of.

    Nothing else is matched (no prefixes: `gpt-4o` must not price `gpt-4o-mini`), so an unknown
    model has no price and its cost stays None rather than a guess.
    """
    if not model:
        return None
    if model in prices:
        return prices[model]
    base = _SNAPSHOT.sub("", model)
    return prices.get(base) if base != model else None


def sum_costs(costs: Iterable[float | None]) -> float | None:
    """The sum of costs, or None when any is unknown (nothing to add up costs 0)."""
    total = 0.0
    for cost in costs:
        if cost is None:
            return None
        total += cost
    return total


class ModelRef(ResultModel):
    """A model and the provider that served it."""

    model: str | None = Field(
        default=None, description="The model that answered (`llm_usage_info.response_model`)."
    )
    provider: str | None = Field(
        default=None, description="The provider it was sent to (`llm_usage_info.provider`)."
    )


class NodeUsage(ResultModel):
    """LLM usage of one node with one model and provider, within a turn (or an evaluation).

    Read from the `llm_usage_info` of the run's LLM events, once per `llm_response_id`, as the
    platform's own `LLMTokenUsageByModel` counts them, and kept per node.
    """

    node: str | None = Field(
        default=None, description="Logical id of the node that made the calls."
    )
    node_name: str | None = Field(default=None, description="Its name.")
    model: str | None = Field(default=None, description="The model that answered.")
    provider: str | None = Field(default=None, description="The provider the calls were sent to.")
    prompt_tokens: int = Field(default=0, description="Input tokens.")
    completion_tokens: int = Field(default=0, description="Output tokens.")
    total_tokens: int = Field(default=0, description="All tokens.")
    llm_calls: int = Field(default=0, description="LLM calls.")
    latencies_ms: list[float] = Field(
        default_factory=empty_list,
        description="Each call's latency in milliseconds, in call order (recorded latency on replay).",
    )
    cost_usd: float | None = Field(
        default=None, description="Cost from the price table; None when the model has no price."
    )

    @property
    def latency_ms(self) -> float:
        """Sum of the calls' latencies."""
        return float(sum(self.latencies_ms))

    def price(self, prices: Mapping[str, ModelPrice]) -> None:
        """Set `cost_usd` from `prices` (None when the model is not in it)."""
        found = price_for(self.model, prices)
        self.cost_usd = (
            found.cost(self.prompt_tokens, self.completion_tokens) if found is not None else None
        )


def new_batch_id(now: datetime | None = None) -> str:
    """A sortable batch id: the UTC time to the microsecond, e.g. `20260105T090000-123456`."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S-%f")


class BatchInfo(ResultModel):
    """Provenance of a batch (one `harness run`, or shards merged into one).

    `harness.results.provenance.batch_info` fills it; git fields are None outside a checkout.
    """

    batch_id: str = Field(
        default_factory=new_batch_id,
        description="Sortable id, `YYYYMMDDTHHMMSS-xxxxxx` (UTC); also the report folder's name.",
    )
    started_at: datetime | None = Field(default=None, description="When the batch started.")
    finished_at: datetime | None = Field(
        default=None, description="When it finished (or was interrupted)."
    )
    git_commit: str | None = Field(
        default=None, description="HEAD commit of the project's checkout."
    )
    git_branch: str | None = Field(default=None, description="Its branch (`HEAD` when detached).")
    git_dirty: bool | None = Field(
        default=None, description="Whether tracked files had uncommitted changes."
    )
    backend: str | None = Field(default=None, description="`engine` or `api`.")
    record_mode: str | None = Field(default=None, description="Cassette record mode.")
    harness_version: str | None = Field(
        default=None, description="Version of the harness that ran it."
    )
    host: str | None = Field(default=None, description="Host name.")
    python: str | None = Field(default=None, description="Python version.")
    argv: list[str] = Field(default_factory=empty_list, description="The command line.")
    selection: JsonDict = Field(
        default_factory=dict,
        description="How scenarios were selected: paths, tags, -k, shard (merged batches: `merged_from`).",
    )
    models: list[ModelRef] = Field(
        default_factory=empty_list, description="Models and providers used, sorted."
    )
    project_root: str | None = Field(
        default=None, description="The project root that ids and paths are relative to."
    )


def models_used(results: "Iterable[ScenarioResult]") -> list[ModelRef]:
    """Every (model, provider) of the results' usage, evaluators included, sorted."""
    seen: set[tuple[str | None, str | None]] = set()
    for result in results:
        for attempt in result.attempts:
            rows = [u for t in attempt.turns for u in t.usage]
            rows += attempt.evaluation.usage if attempt.evaluation else []
            seen.update((u.model, u.provider) for u in rows)
    ordered = sorted(seen, key=lambda pair: (pair[0] or "", pair[1] or ""))
    return [ModelRef(model=model, provider=provider) for model, provider in ordered]


def flatten_scores(verdict: Any, prefix: str = "") -> dict[str, float]:
    """The numeric fields of an evaluator's verdict, nested keys joined with dots.

    Booleans count as 1.0 / 0.0 (so their mean over repeats is a rate); list items are keyed by
    position; text, nulls and non-finite numbers are left out.
    """
    items: Iterable[tuple[Any, Any]]
    if isinstance(verdict, dict):
        items = verdict.items()
    elif isinstance(verdict, list):
        items = enumerate(verdict)
    else:
        return {}
    scores: dict[str, float] = {}
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, bool | int | float):
            number = float(value)
            if math.isfinite(number):
                scores[name] = number
        else:
            scores.update(flatten_scores(value, f"{name}."))
    return scores


class TurnResult(ResultModel):
    """One execute call of an attempt and the checks made after it."""

    index: int = Field(description="Position of this execute call in the run, from 0.")
    turn: int = Field(
        description="Index of the scenario turn that made it (a simulated turn makes several)."
    )
    kind: str = Field(description="Turn kind: start, user, input, simulate, pause, resume, stop.")
    label: str = Field(default="", description="The turn's name or a short description.")
    input: JsonDict = Field(default_factory=dict, description="The run input sent.")
    run_output: JsonDict | None = Field(
        default=None,
        description="The run output of this execute call (events, node outputs); in report files "
        "it is moved to\nthe scenario's artifact (`artifact`) and is None here.",
    )
    artifact: str | None = Field(
        default=None,
        description="Where this call's run output is, relative to the batch folder: a line of an "
        "artifact pack (`artifacts/<pack>.jsonl#<byte offset>`; a per-scenario `.json` file in "
        "earlier versions).",
    )
    status: RunStatus | None = Field(default=None, description="Run status after the call.")
    said: str = Field(default="", description="What the assistant said in this call.")
    path: list[str] = Field(
        default_factory=empty_list,
        description="Nodes entered in this call, consecutive repeats collapsed.",
    )
    node: str | None = Field(default=None, description="Current node after the call.")
    transitions: list[TransitionRecord] = Field(
        default_factory=empty_list, description="Edges fired in this call."
    )
    tool_calls: list[ToolCallRecord] = Field(
        default_factory=empty_list, description="Tool calls made in this call."
    )
    tokens: int = Field(default=0, description="LLM tokens used by this call.")
    llm_calls: int = Field(default=0, description="LLM calls made by this call.")
    latency_ms: float = Field(
        default=0,
        description="LLM latency of this call, in milliseconds (recorded latency on replay).",
    )
    usage: list[NodeUsage] = Field(
        default_factory=empty_list,
        description="LLM usage of this call per (node, model, provider), in order of first call; "
        "evaluator\ncalls are not here (see `EvaluationResult.usage`).",
    )
    wall_ms: float = Field(
        default=0, description="Measured wall-clock time of the execute call, in milliseconds."
    )
    outcomes: list[CheckOutcome] = Field(
        default_factory=empty_list, description="Outcomes of this turn's expectations and budgets."
    )
    error: str | None = Field(
        default=None,
        description="Infrastructure error of this call (backend unreachable, cassette miss, ...).",
    )

    @property
    def totals(self) -> Usage:
        """Tokens, LLM calls and latency as one value (for budgets)."""
        return Usage(
            tokens=self.tokens,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            llm_calls=self.llm_calls,
            latency_ms=self.latency_ms,
        )

    @property
    def prompt_tokens(self) -> int:
        """Input tokens of this call's LLM calls."""
        return sum(u.prompt_tokens for u in self.usage)

    @property
    def completion_tokens(self) -> int:
        """Output tokens of this call's LLM calls."""
        return sum(u.completion_tokens for u in self.usage)

    @property
    def latencies_ms(self) -> list[float]:
        """Every LLM call's latency, node by node."""
        return [latency for u in self.usage for latency in u.latencies_ms]

    @property
    def cost_usd(self) -> float | None:
        """Cost of this call's LLM calls; None when a model has no price (or, in results read
        from version 1, when calls were made but their models are unknown)."""
        if self.llm_calls and not self.usage:
            return None
        return sum_costs(u.cost_usd for u in self.usage)


class EvaluationResult(ResultModel):
    """An evaluator workflow's verdict on a finished run and the checks on it."""

    evaluator: str = Field(
        description="`own` (the workflow's evaluator), an evaluator workflow file, or a workflow id."
    )
    workflow_run_id: str | None = Field(default=None, description="Id of the evaluation run.")
    verdict: JsonDict = Field(
        default_factory=dict,
        description="The evaluator's structured output (e.g. `passed`, `score`, `reason`).",
    )
    scores: dict[str, float] = Field(
        default_factory=dict,
        description="The verdict's numeric fields, nested keys joined with dots (`flatten_scores`).",
    )
    usage: list[NodeUsage] = Field(
        default_factory=empty_list,
        description="LLM usage of the evaluator's run per (node, model, provider), apart from the run's.",
    )
    outcomes: list[CheckOutcome] = Field(
        default_factory=empty_list, description="Outcomes of `evaluation.expect`."
    )
    error: str | None = Field(default=None, description="Why the evaluation could not run.")

    @property
    def cost_usd(self) -> float | None:
        """Cost of the evaluator's LLM calls (None when a model has no price)."""
        return sum_costs(u.cost_usd for u in self.usage)


class AttemptResult(ResultModel):
    """One run of a scenario (a scenario with `repeat.runs: n` has n attempts)."""

    attempt: int = Field(description="Attempt number, from 0.")
    verdict: Verdict = Field(description="passed, failed, or error.")
    workflow_run_id: str | None = Field(default=None, description="Id of the workflow run.")
    status: RunStatus | None = Field(default=None, description="Final run status.")
    turns: list[TurnResult] = Field(
        default_factory=empty_list, description="Every execute call, in order."
    )
    outcomes: list[CheckOutcome] = Field(
        default_factory=empty_list,
        description="Run-level outcomes: the top-level `expect` and scenario budgets.",
    )
    evaluation: EvaluationResult | None = Field(
        default=None, description="The evaluation, when the scenario has one."
    )
    tokens: int = Field(default=0, description="LLM tokens of the whole run.")
    prompt_tokens: int = Field(default=0, description="Input tokens of the whole run.")
    completion_tokens: int = Field(default=0, description="Output tokens of the whole run.")
    llm_calls: int = Field(default=0, description="LLM calls of the whole run.")
    latency_ms: float = Field(
        default=0, description="LLM latency of the whole run, in milliseconds."
    )
    latencies_ms: list[float] = Field(
        default_factory=empty_list,
        description="Every LLM call's latency of the run, turn by turn (for exact percentiles).",
    )
    e2e_ms: float = Field(
        default=0,
        description="End-to-end latency: the sum of the turns' wall-clock times, in milliseconds.",
    )
    cost_usd: float | None = Field(
        default=None,
        description="Cost of the run's LLM calls (evaluator excluded); None when a model has no price.",
    )
    duration_ms: float = Field(
        default=0, description="Wall-clock time of the attempt, in milliseconds."
    )
    error: str | None = Field(
        default=None, description="Infrastructure error that ended the attempt early."
    )

    def all_outcomes(self) -> list[CheckOutcome]:
        """Turn, run and evaluation outcomes, in that order."""
        evaluation = self.evaluation.outcomes if self.evaluation else []
        return [o for t in self.turns for o in t.outcomes] + self.outcomes + evaluation

    def total_up(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        """Fill the totals from the turns; price every usage row first when `prices` is given,
        and fill the evaluation's `scores` from its verdict when they are empty."""
        evaluation = self.evaluation
        if prices is not None:
            rows = [u for t in self.turns for u in t.usage]
            for row in rows + (evaluation.usage if evaluation else []):
                row.price(prices)
        if evaluation is not None and not evaluation.scores:
            evaluation.scores = flatten_scores(evaluation.verdict)
        turns = self.turns
        self.tokens = sum(t.tokens for t in turns)
        self.prompt_tokens = sum(t.prompt_tokens for t in turns)
        self.completion_tokens = sum(t.completion_tokens for t in turns)
        self.llm_calls = sum(t.llm_calls for t in turns)
        self.latency_ms = float(sum(t.latency_ms for t in turns))
        self.latencies_ms = [latency for t in turns for latency in t.latencies_ms]
        self.e2e_ms = float(sum(t.wall_ms for t in turns))
        self.cost_usd = sum_costs(t.cost_usd for t in turns)


class RepeatStats(ResultModel):
    """How often a repeated scenario passed; pass@k and pass^k are unbiased estimates."""

    runs: int = Field(description="Attempts made.")
    passed: int = Field(description="Attempts that passed.")
    required: int = Field(description="Attempts that had to pass (`repeat.min_pass`).")
    k: int = Field(description="The k of pass@k and pass^k.")
    pass_rate: float = Field(description="passed / runs.")
    pass_at_k: float = Field(description="Chance that at least one of k attempts passes.")
    pass_hat_k: float = Field(description="Chance that all of k attempts pass (pass^k).")

    @classmethod
    def compute(cls, runs: int, passed: int, required: int, k: int | None = None) -> "RepeatStats":
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
    if value == 1:
        raise ValueError(
            "results format version 1 is migrated by harness.results.read_results; read the "
            "file through it (or `harness report`) instead of validating it directly"
        )
    if value != RESULT_FORMAT_VERSION:
        raise ValueError(
            f"results format version {value!r} is not readable by this harness (it reads versions "
            f"1 and {RESULT_FORMAT_VERSION}); use the harness version that wrote it, or re-run the "
            "scenarios to write fresh results"
        )
    return value


class ScenarioResult(ResultModel):
    """Everything a scenario run produced; the unit of reports and history."""

    format_version: int = Field(
        default=RESULT_FORMAT_VERSION, description="Results format version (2)."
    )
    scenario_id: str = Field(description="The scenario's id.")
    name: str = Field(description="The scenario's name.")
    file: str | None = Field(default=None, description="The scenario file.")
    tags: list[str] = Field(default_factory=empty_list, description="The scenario's tags.")
    parameters: JsonDict = Field(default_factory=dict, description="Its matrix combination.")
    backend: str | None = Field(default=None, description="`engine` or `api`.")
    verdict: Verdict = Field(description="passed, failed, or error.")
    attempts: list[AttemptResult] = Field(default_factory=empty_list, description="One per repeat.")
    outcomes: list[CheckOutcome] = Field(
        default_factory=empty_list,
        description="Scenario-level outcomes over all attempts: the repeat rule, p95 budgets.",
    )
    repeat: RepeatStats | None = Field(
        default=None, description="Repeat statistics (also for a single run)."
    )
    started_at: datetime | None = Field(default=None, description="When it started.")
    duration_ms: float = Field(
        default=0, description="Wall-clock time of all attempts, in milliseconds."
    )
    tokens: int = Field(default=0, description="LLM tokens of all attempts.")
    prompt_tokens: int = Field(default=0, description="Input tokens of all attempts.")
    completion_tokens: int = Field(default=0, description="Output tokens of all attempts.")
    llm_calls: int = Field(default=0, description="LLM calls of all attempts.")
    latency_ms: float = Field(
        default=0, description="LLM latency of all attempts, in milliseconds."
    )
    latencies_ms: list[float] = Field(
        default_factory=empty_list,
        description="Every LLM call's latency, attempt by attempt (p50/p95 are exact).",
    )
    e2e_ms: float = Field(
        default=0,
        description="Sum of the turns' wall-clock times over all attempts, in milliseconds.",
    )
    cost_usd: float | None = Field(
        default=None,
        description="Cost of all attempts' LLM calls (evaluators excluded); None when a model has no price.",
    )
    artifact: str | None = Field(
        default=None,
        description="Where the turns' run outputs are, relative to the batch folder: a line of an "
        "artifact pack (`artifacts/<pack>.jsonl#<byte offset>`; a per-scenario `.json` file in "
        "earlier versions).",
    )
    error: str | None = Field(
        default=None, description="Infrastructure error outside any attempt (e.g. a timeout)."
    )
    stale: list[str] = Field(
        default_factory=empty_list,
        description="Recorded interactions this replay never used (the scenario no longer asks them).",
    )

    @field_validator("format_version", mode="before")
    @classmethod
    def _readable(cls, value: Any) -> Any:
        return _known_format(value)

    @property
    def evaluation(self) -> EvaluationResult | None:
        """The evaluation of the first attempt that has one."""
        return next((a.evaluation for a in self.attempts if a.evaluation), None)

    def holds_run_outputs(self) -> bool:
        """Whether a turn still holds its run output (not moved to an artifact yet)."""
        return any(t.run_output is not None for a in self.attempts for t in a.turns)

    def failures(self) -> list[CheckOutcome]:
        """Every outcome that did not pass, across attempts, then scenario-level ones."""
        every = [o for a in self.attempts for o in a.all_outcomes()] + self.outcomes
        return [o for o in every if not o.passed]

    def total_up(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        """Total up every attempt (`AttemptResult.total_up`), then the scenario over attempts."""
        for attempt in self.attempts:
            attempt.total_up(prices)
        attempts = self.attempts
        self.tokens = sum(a.tokens for a in attempts)
        self.prompt_tokens = sum(a.prompt_tokens for a in attempts)
        self.completion_tokens = sum(a.completion_tokens for a in attempts)
        self.llm_calls = sum(a.llm_calls for a in attempts)
        self.latency_ms = float(sum(a.latency_ms for a in attempts))
        self.latencies_ms = [latency for a in attempts for latency in a.latencies_ms]
        self.e2e_ms = float(sum(a.e2e_ms for a in attempts))
        self.cost_usd = sum_costs(a.cost_usd for a in attempts)


class RunSummary(ResultModel):
    """A batch of scenario results (one `harness run`)."""

    format_version: int = Field(
        default=RESULT_FORMAT_VERSION, description="Results format version (2)."
    )
    batch: BatchInfo = Field(
        default_factory=BatchInfo, description="Id and provenance of the batch."
    )
    harness_version: str | None = Field(
        default=None, description="Version of the harness that ran it."
    )
    backend: str | None = Field(default=None, description="`engine` or `api`.")
    started_at: datetime | None = Field(default=None, description="When the run started.")
    duration_ms: float = Field(
        default=0, description="Wall-clock time of the whole run, in milliseconds."
    )
    interrupted: bool = Field(
        default=False,
        description="True when stopped early (Ctrl-C); the results are those finished.",
    )
    total: int = Field(default=0, description="Scenarios with a result.")
    passed: int = Field(default=0, description="Scenarios passed.")
    failed: int = Field(default=0, description="Scenarios failed.")
    errored: int = Field(default=0, description="Scenarios with an error verdict.")
    skipped: int = Field(
        default=0,
        description="Scenarios skipped on this backend (they count neither as passed nor as failed).",
    )
    not_run: list[str] = Field(
        default_factory=empty_list,
        description="Ids of selected scenarios that have no result (the batch was interrupted).",
    )
    results: list[ScenarioResult] = Field(
        default_factory=empty_list, description="One per scenario, in run order."
    )

    @field_validator("format_version", mode="before")
    @classmethod
    def _readable(cls, value: Any) -> Any:
        return _known_format(value)

    @classmethod
    def from_results(cls, results: list[ScenarioResult], **fields: Any) -> "RunSummary":
        """A summary with the counts derived from `results`.

        The batch's `models` are filled from the results when empty; `started_at`, `backend`
        and `harness_version` default to the batch's (without a `batch`, a new one gets them).
        """
        counts = {v: sum(r.verdict is v for r in results) for v in Verdict}
        names = ("started_at", "backend", "harness_version")
        batch = fields.get("batch")
        if isinstance(batch, dict):
            batch = BatchInfo.model_validate(batch)
        elif not isinstance(batch, BatchInfo):
            batch = BatchInfo(**{name: fields.get(name) for name in names})
        if not batch.models:
            batch = batch.model_copy(update={"models": models_used(results)})
        fields["batch"] = batch
        for name in names:
            fields.setdefault(name, getattr(batch, name))
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
    def tokens(self) -> int:
        """LLM tokens of every scenario."""
        return sum(r.tokens for r in self.results)

    @property
    def llm_calls(self) -> int:
        """LLM calls of every scenario."""
        return sum(r.llm_calls for r in self.results)

    @property
    def cost_usd(self) -> float | None:
        """Cost of every scenario that ran (None when any is unknown)."""
        return sum_costs(r.cost_usd for r in self.results if r.attempts)

    @property
    def latencies_ms(self) -> list[float]:
        """Every LLM call's latency in the batch."""
        return [latency for r in self.results for latency in r.latencies_ms]

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
