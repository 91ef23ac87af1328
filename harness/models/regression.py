"""Regression thresholds: how much a metric may move before a batch counts as a regression.

Global settings live in `[tool.harness.regression]` (`RegressionSettings`), a scenario may override
them with a `regression:` key (`ScenarioRegression`); both are plain data here, the comparison is
`harness.regression`. The reference with examples is `docs/regressions.md`.

A change exceeds a `Threshold` when it is larger than every limit that is set: more than `absolute`
(in the metric's unit) and more than `relative` times the baseline value. With neither set, any
change exceeds it.
"""

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.models._factories import empty_list

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Metric",
    "RegressionSettings",
    "ScenarioRegression",
    "Threshold",
    "ThresholdSet",
]


class Metric(StrEnum):
    """The metric families a threshold (or `ignore`) can name."""

    TOKENS = "tokens"
    """Total tokens per attempt (an exact count)."""
    LLM_CALLS = "llm_calls"
    """LLM calls per attempt (an exact count)."""
    LATENCY = "latency"
    """LLM call latency, p50 and p95, in milliseconds (noisy)."""
    PASS_RATE = "pass_rate"
    """Passed attempts / attempts, from 0 to 1 (lower is worse)."""
    SCORES = "scores"
    """Evaluation scores (numeric verdict fields; lower is worse)."""
    COST = "cost"
    """Estimated cost per attempt, in USD."""


class _Strict(BaseModel):
    # `Field(description=...)`, not attribute docstrings: see `harness.models.result.ResultModel`.
    model_config = ConfigDict(extra="forbid")


class Threshold(_Strict):
    """How far one metric may move: beyond both limits that are set is a change."""

    relative: float | None = Field(
        default=None, ge=0, description="Fraction of the baseline value, e.g. 0.2 for 20%."
    )
    absolute: float | None = Field(
        default=None,
        ge=0,
        description="In the metric's unit: tokens, calls, milliseconds, USD, or 0-1 for rates and scores.",
    )

    def exceeded(self, baseline: float, delta: float) -> bool:
        """Whether a change of `delta` from `baseline` is beyond every limit set (any change when
        none is set)."""
        size = abs(delta)
        if size == 0:
            return False
        if self.absolute is not None and size <= self.absolute:
            return False
        return self.relative is None or size > self.relative * abs(baseline)

    def describe(self) -> str:
        """E.g. `>20% and >50`, or `any change`."""
        parts = []
        if self.relative is not None:
            parts.append(f">{self.relative * 100:g}%")
        if self.absolute is not None:
            parts.append(f">{self.absolute:g}")
        return " and ".join(parts) or "any change"

    def merged(self, override: "Threshold") -> "Threshold":
        """This threshold with the limits `override` sets explicitly replaced."""
        return self.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})


class ThresholdSet(_Strict):
    """One threshold per metric family, and the families not compared at all."""

    tokens: Threshold = Field(
        default_factory=lambda: Threshold(relative=0.05),
        description="Default: more than 5% (any change of an exact count beyond it).",
    )
    llm_calls: Threshold = Field(default_factory=Threshold, description="Default: any change.")
    latency: Threshold = Field(
        default_factory=lambda: Threshold(relative=0.2, absolute=50),
        description="Default: more than 20% and more than 50 ms, for p50 and p95.",
    )
    pass_rate: Threshold = Field(
        default_factory=Threshold,
        description="Default: any drop (with repeats it must also be significant).",
    )
    scores: Threshold = Field(
        default_factory=lambda: Threshold(absolute=0.05), description="Default: more than 0.05."
    )
    cost: Threshold = Field(
        default_factory=lambda: Threshold(relative=0.05), description="Default: more than 5%."
    )
    ignore: list[Metric] = Field(
        default_factory=empty_list, description="Metric families not compared."
    )

    def threshold(self, metric: Metric) -> Threshold:
        """The threshold of a metric family."""
        value: Threshold = getattr(self, metric.value)
        return value

    def merged(self, override: "ScenarioRegression | None") -> "ThresholdSet":
        """These thresholds with a scenario's overrides applied limit by limit."""
        if override is None:
            return self
        update: dict[str, Any] = {}
        for metric in Metric:
            mine: Threshold | None = getattr(override, metric.value)
            if mine is not None:
                update[metric.value] = self.threshold(metric).merged(mine)
        if "ignore" in override.model_fields_set:
            update["ignore"] = list(override.ignore)
        return self.model_copy(update=update)


DEFAULT_THRESHOLDS = ThresholdSet()
"""The thresholds used when nothing is configured."""


class ScenarioRegression(_Strict):
    """A scenario's own thresholds (`regression:` in the scenario file); unset keys inherit the
    project's `[tool.harness.regression]`, limit by limit."""

    tokens: Threshold | None = Field(default=None, description="Tokens per attempt.")
    llm_calls: Threshold | None = Field(default=None, description="LLM calls per attempt.")
    latency: Threshold | None = Field(default=None, description="Latency p50 and p95 (ms).")
    pass_rate: Threshold | None = Field(default=None, description="Pass rate (0-1).")
    scores: Threshold | None = Field(default=None, description="Evaluation scores.")
    cost: Threshold | None = Field(default=None, description="Cost per attempt (USD).")
    ignore: list[Metric] = Field(
        default_factory=empty_list,
        description="Metric families this scenario does not compare (replaces the project's list).",
    )


class RegressionSettings(ThresholdSet):
    """`[tool.harness.regression]`: the project's thresholds and the statistical tests' settings."""

    alpha: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="False discovery rate of the noise-aware tests (repeated runs only), held over "
        "every test\nof a comparison with the Benjamini-Hochberg procedure.",
    )
