"""`compare`: a batch against a baseline, per scenario, turn and node.

Steps: the scenarios both sides compared are aligned; the usage groups of both sides (scenario
totals, turn/node pairs) are joined on their keys once, and every usage metric's thresholds are
applied to all rows at once (numpy arrays); only the rows beyond a threshold go on to a
noise-aware test, and only when both sides have repeated runs (exact counts are never tested: a
replayed token count does not vary). So a batch of thousands of unchanged groups costs a few
vectorised steps, and the tests run on the few rows that moved. (No pandas: its import alone,
~0.2-0.3 s, was most of what a comparison cost a suite of a few dozen scenarios.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from harness.models.regression import (
    Metric,
    RegressionSettings,
    ScenarioRegression,
    Threshold,
    ThresholdSet,
)
from harness.models.result import RunSummary
from harness.regression import stats
from harness.regression.profile import (
    TOTAL,
    Baseline,
    FloatArray,
    GroupKey,
    IntArray,
    ScenarioInfo,
    UsageTable,
)
from harness.regression.report import Change, RegressionReport, Skipped

if TYPE_CHECKING:
    from harness.models.scenario import Scenario

__all__ = ["SINGLE_RUN", "Thresholds", "compare"]

SINGLE_RUN = "single run, not tested"
EXACT = "exact count"
PRICED = "exact tokens x price"

# Usage metrics: (metric name, family, the table column it reads).
_USAGE = (
    ("tokens", Metric.TOKENS, "tokens"),
    ("llm_calls", Metric.LLM_CALLS, "llm_calls"),
    ("cost_usd", Metric.COST, "cost_usd"),
    ("latency_p50", Metric.LATENCY, "p50"),
    ("latency_p95", Metric.LATENCY, "p95"),
)


@dataclass
class Thresholds:
    """The project's settings and the scenarios' own overrides (by scenario id)."""

    settings: RegressionSettings = field(default_factory=RegressionSettings)
    scenarios: dict[str, ScenarioRegression] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: RegressionSettings, scenarios: Iterable[Scenario] = ()) -> Thresholds:
        """The thresholds of a project and of the scenarios that have a `regression:` key."""
        own = {s.id: s.regression for s in scenarios if s.id and s.regression is not None}
        return cls(settings, own)

    def for_scenario(self, scenario_id: str) -> ThresholdSet:
        """The thresholds that apply to one scenario."""
        return self.settings.merged(self.scenarios.get(scenario_id))


def compare(
    current: RunSummary | Baseline,
    baseline: Baseline,
    thresholds: Thresholds | RegressionSettings | None = None,
) -> RegressionReport:
    """Compare a batch (its results, or a batch read like a baseline) with a baseline."""
    if thresholds is None:
        thresholds = Thresholds()
    elif isinstance(thresholds, RegressionSettings):
        thresholds = Thresholds(thresholds)
    now = current if isinstance(current, Baseline) else Baseline.from_summary(current)
    report = RegressionReport(baseline=baseline.source, current=now.source)
    both = _align(now, baseline, report)
    per_scenario = {s: thresholds.for_scenario(s) for s in both}
    _Comparison(now, baseline, both, per_scenario, thresholds.settings, report).run()
    report.sort()
    return report


def _align(now: Baseline, base: Baseline, report: RegressionReport) -> list[str]:
    """The scenarios to compare; the rest go to new, removed or skipped."""
    report.new = sorted(set(now.scenarios) - set(base.scenarios))
    report.removed = sorted(set(base.scenarios) - set(now.scenarios))
    both: list[str] = []
    for scenario_id in sorted(set(now.scenarios) & set(base.scenarios)):
        mine, theirs = now.scenarios[scenario_id], base.scenarios[scenario_id]
        if mine.compared and theirs.compared:
            both.append(scenario_id)
            continue
        side, info = ("this batch", mine) if not mine.compared else ("the baseline", theirs)
        report.skipped.append(Skipped(scenario_id, f"{info.status} in {side}: {info.reason}"))
    report.compared = len(both)
    return both


@dataclass
class _Pending:
    """A change beyond its threshold, waiting for the multiple-testing decision."""

    change: Change
    worse: bool
    untestable: str | None = None
    """Why a repeated measurement could not be tested (then it is not flagged)."""


class _Comparison:
    def __init__(
        self,
        now: Baseline,
        base: Baseline,
        scenarios: list[str],
        thresholds: Mapping[str, ThresholdSet],
        settings: RegressionSettings,
        report: RegressionReport,
    ) -> None:
        self.now, self.base, self.scenarios = now, base, scenarios
        self.thresholds, self.settings, self.report = thresholds, settings, report
        self.pending: list[_Pending] = []
        self.testable = 0
        """Measurements a test applies to, beyond their threshold or not (the family size of the
        Benjamini-Hochberg procedure)."""

    def run(self) -> None:
        for scenario_id in self.scenarios:
            self._scenario_rows(scenario_id)
        if self.scenarios:
            self._usage_rows()
        self._decide()

    def _repeated(self, scenario_id: str) -> bool:
        return (
            self.now.scenarios[scenario_id].runs > 1 and self.base.scenarios[scenario_id].runs > 1
        )

    # ------------------------------------------------------------------ pass rate and scores

    def _scenario_rows(self, scenario_id: str) -> None:
        own = self.thresholds[scenario_id]
        now, base = self.now.scenarios[scenario_id], self.base.scenarios[scenario_id]
        if Metric.PASS_RATE not in own.ignore:
            self._pass_rate(scenario_id, own.pass_rate, now, base)
        if Metric.SCORES not in own.ignore:
            for name in sorted(set(now.scores) & set(base.scores)):
                self._score(scenario_id, name, own.scores, now.scores[name], base.scores[name])

    def _pass_rate(
        self, scenario_id: str, threshold: Threshold, now: ScenarioInfo, base: ScenarioInfo
    ) -> None:
        before, after = base.passed / base.runs, now.passed / now.runs
        repeated = self._repeated(scenario_id)
        floor = stats.fisher_floor(now.runs, base.runs) if repeated else 1.0
        self.testable += repeated and floor < self.settings.alpha
        if not threshold.exceeded(before, after - before):
            return
        p_value: float | None = None
        method = SINGLE_RUN
        if repeated and floor >= self.settings.alpha:
            self._untested("pass_rate")
            return
        if repeated:
            p_value = stats.fisher_exact(now.passed, now.runs, base.passed, base.runs)
            method = f"Fisher exact p={p_value:.3g}"
        change = self._change(
            scenario_id, None, None, "pass_rate", before, after, threshold, method, p_value
        )
        change.n_baseline, change.n_current = base.runs, now.runs
        self.pending.append(_Pending(change, worse=after < before))

    def _score(
        self,
        scenario_id: str,
        name: str,
        threshold: Threshold,
        now: list[float],
        base: list[float],
    ) -> None:
        before, after = float(np.mean(base)), float(np.mean(now))
        repeated = len(now) > 1 and len(base) > 1
        floor = stats.mann_whitney_u_floor(len(base), len(now))
        self.testable += repeated and floor < self.settings.alpha
        if not threshold.exceeded(before, after - before):
            return
        p_value: float | None = None
        method = SINGLE_RUN
        if repeated and floor >= self.settings.alpha:
            self._untested(f"score:{name}")
            return
        if repeated:
            p_value = stats.mann_whitney_u(base, now)
            method = f"Mann-Whitney U p={p_value:.3g}"
        change = self._change(
            scenario_id, None, None, f"score:{name}", before, after, threshold, method, p_value
        )
        change.n_baseline, change.n_current = len(base), len(now)
        self.pending.append(_Pending(change, worse=after < before))

    # ------------------------------------------------------------------ usage, vectorised

    def _usage_rows(self) -> None:
        joined = _Joined.of(self.now.usage, self.base.usage, set(self.scenarios))
        if not joined.keys:
            return
        repeated = np.array([self._repeated(k[0]) for k in joined.keys], dtype=bool)
        for metric, family, column in _USAGE:
            before, after = joined.values(column, family)
            relative, absolute, allowed = self._limits(joined, family)
            rows = allowed & ~np.isnan(before) & ~np.isnan(after)
            size = np.abs(after - before)
            with np.errstate(invalid="ignore"):  # NaN limits (not set) compare as False
                beyond = (
                    rows
                    & (size > 0)
                    & (np.isnan(absolute) | (size > absolute))
                    & (np.isnan(relative) | (size > relative * np.abs(before)))
                )
            if family is Metric.LATENCY:
                hopeless = self._latency_rows(metric, joined, rows & repeated)
                self._untested(metric, int((beyond & hopeless).sum()))
                beyond &= ~hopeless
            for at in np.flatnonzero(beyond):
                self._usage_change(metric, family, joined, int(at), before[at], after[at])

    def _limits(
        self, joined: _Joined, family: Metric
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
        """Per row: the relative and absolute limits of `family` (NaN: not set) and whether the
        family is compared at all (not ignored by the row's scenario)."""
        per_scenario: dict[str, tuple[float, float] | None] = {}
        for scenario_id in {k[0] for k in joined.keys}:
            own = self.thresholds[scenario_id]
            limit = own.threshold(family)
            per_scenario[scenario_id] = (
                None if family in own.ignore else (_or_nan(limit.relative), _or_nan(limit.absolute))
            )
        limits = [per_scenario[k[0]] or (math.nan, math.nan) for k in joined.keys]
        allowed = np.array([per_scenario[k[0]] is not None for k in joined.keys], dtype=bool)
        relative = np.array([r for r, _a in limits], dtype=np.float64)
        absolute = np.array([a for _r, a in limits], dtype=np.float64)
        return relative, absolute, allowed

    def _latency_rows(
        self, metric: str, joined: _Joined, tested: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_]:
        """Of the latency rows of repeated scenarios (`tested`): counts those a test could find
        significant into `testable` (Tarone: a test whose smallest possible p-value is above
        alpha can never reject, so it does not widen the family) and returns the others, which
        are counted in `report.untested` when beyond their threshold, neither flagged nor listed
        one by one."""
        floors: dict[tuple[int, int], float] = {}
        hopeless = np.zeros(len(joined.keys), dtype=bool)
        n_base, n_now = joined.counts()
        for at in np.flatnonzero(tested):
            pair = (int(n_base[at]), int(n_now[at]))
            if pair not in floors:
                floors[pair] = self._floor(metric, *pair)
            if floors[pair] < self.settings.alpha:
                self.testable += 1
            else:
                hopeless[at] = True
        return hopeless

    def _usage_change(
        self, metric: str, family: Metric, joined: _Joined, at: int, before: float, after: float
    ) -> None:
        scenario_id, turn_key, node_key = joined.keys[at]
        turn = None if turn_key == TOTAL else turn_key
        node = None if turn is None else node_key
        before, after = float(before), float(after)
        threshold = self.thresholds[scenario_id].threshold(family)
        method, p_value, untestable = (PRICED if family is Metric.COST else EXACT), None, None
        n_base, n_now = 0, 0
        if family is Metric.LATENCY:
            at_b, at_c = int(joined.at_base[at]), int(joined.at_now[at])
            base, now = self.base.usage.samples(at_b), self.now.usage.samples(at_c)
            n_base, n_now = int(self.base.usage.calls[at_b]), int(self.now.usage.calls[at_c])
            method, p_value, untestable = self._latency_test(scenario_id, metric, base, now)
        change = self._change(
            scenario_id, turn, node, metric, before, after, threshold, method, p_value
        )
        change.n_baseline, change.n_current = n_base, n_now
        self.pending.append(_Pending(change, worse=after > before, untestable=untestable))

    def _floor(self, metric: str, n_base: int, n_now: int) -> float:
        if metric == "latency_p50":
            return stats.mann_whitney_u_floor(n_base, n_now)
        return stats.tail_test_floor(n_base, n_now, 0.95)

    def _untested(self, metric: str, count: int = 1) -> None:
        if count:
            self.report.untested[metric] = self.report.untested.get(metric, 0) + count

    def _latency_test(
        self, scenario_id: str, metric: str, base: np.ndarray[Any, Any], now: np.ndarray[Any, Any]
    ) -> tuple[str, float | None, str | None]:
        """(method, p-value, why it could not be tested) of a latency change."""
        if not self._repeated(scenario_id):
            return SINGLE_RUN, None, None
        floor = self._floor(metric, base.size, now.size)
        name = "Mann-Whitney U" if metric == "latency_p50" else "tail test (Fisher exact above p95)"
        if floor >= self.settings.alpha:  # filtered out before; kept for direct callers
            return name, None, f"{metric} not tested: too few calls ({base.size}, {now.size})"
        if metric == "latency_p50":
            p_value = stats.mann_whitney_u(base, now)
            return f"{name} p={p_value:.3g}", p_value, None
        p_value = stats.tail_test(base, now, 0.95)
        return f"{name} p={p_value:.3g}", p_value, None

    # ------------------------------------------------------------------ rows

    def _change(
        self,
        scenario_id: str,
        turn: int | None,
        node: str | None,
        metric: str,
        before: float,
        after: float,
        threshold: Threshold,
        method: str,
        p_value: float | None,
    ) -> Change:
        delta = after - before
        allowance = max(threshold.absolute or 0.0, (threshold.relative or 0.0) * abs(before))
        return Change(
            scenario=scenario_id,
            turn=turn,
            node=node,
            metric=metric,
            baseline=before,
            current=after,
            delta=delta,
            delta_pct=delta / before * 100 if before else None,
            method=method,
            threshold=threshold.describe(),
            p_value=p_value,
            severity=abs(delta) / allowance if allowance > 0 else math.inf,
        )

    def _decide(self) -> None:
        """File every pending change: thresholds alone decide exact counts and single runs; tested
        ones must survive Benjamini-Hochberg at `alpha` over every testable measurement."""
        tested = sorted(
            (p for p in self.pending if p.change.p_value is not None),
            key=lambda p: p.change.p_value or 0.0,
        )
        family = max(self.testable, len(tested))
        passed = 0
        for rank, item in enumerate(tested, start=1):
            if (item.change.p_value or 0.0) <= rank / family * self.settings.alpha:
                passed = rank
        significant = {id(item) for item in tested[:passed]}
        self.report.tests, self.report.alpha = family, self.settings.alpha
        for item in self.pending:
            change = item.change
            if item.untestable is not None:
                change.method = item.untestable
                self.report.noise.append(change)
            elif change.p_value is not None and id(item) not in significant:
                change.method += f": not significant (BH over {family} test(s))"
                self.report.noise.append(change)
            elif item.worse:
                self.report.regressions.append(change)
            else:
                self.report.improvements.append(change)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


@dataclass
class _Joined:
    """Both sides' usage groups joined on (scenario, turn, node), in that order: a full outer
    join, where a side without the group has position -1."""

    keys: list[GroupKey]
    at_base: IntArray
    at_now: IntArray
    now: UsageTable
    base: UsageTable

    @classmethod
    def of(cls, now: UsageTable, base: UsageTable, keep: set[str]) -> _Joined:
        """The groups of the scenarios in `keep`."""
        in_base = {key: at for at, key in enumerate(base.keys) if key[0] in keep}
        in_now = {key: at for at, key in enumerate(now.keys) if key[0] in keep}
        keys = sorted(in_base.keys() | in_now.keys())
        at_base = np.array([in_base.get(key, -1) for key in keys], dtype=np.int64)
        at_now = np.array([in_now.get(key, -1) for key in keys], dtype=np.int64)
        return cls(keys, at_base, at_now, now, base)

    def counts(self) -> tuple[IntArray, IntArray]:
        """Latency samples stored per row in the baseline and in this batch (0: no such group)."""
        return _take(self.base.counts, self.at_base, 0), _take(self.now.counts, self.at_now, 0)

    def values(self, column: str, family: Metric) -> tuple[FloatArray, FloatArray]:
        """The baseline's and the current values of a metric per row. A node absent on one side
        used nothing there (0), except for latency, which it does not have (NaN); an unknown
        price is NaN (no cost to compare)."""
        missing = math.nan if family is Metric.LATENCY else 0.0
        return (
            _take(_column(self.base, column), self.at_base, missing),
            _take(_column(self.now, column), self.at_now, missing),
        )


def _column(table: UsageTable, column: str) -> FloatArray:
    if column == "p50":
        return table.quantiles(0.5)
    if column == "p95":
        return table.quantiles(0.95)
    values: FloatArray = getattr(table, column)
    return values


def _take(values: npt.NDArray[Any], at: IntArray, missing: float) -> npt.NDArray[Any]:
    """`values[at]` (of the same dtype), with `missing` where `at` is -1."""
    out = np.full(at.shape, missing, dtype=values.dtype)
    present = at >= 0
    out[present] = values[at[present]]
    return out
