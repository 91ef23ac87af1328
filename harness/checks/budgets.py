"""Budget checks: `max` bounds each measurement, `p95` the 95th percentile of a sample.

How the runner applies them (see docs/scenarios.md, "budgets"):
- a turn's `budgets`: `check_budget_max(turn.budgets, <that turn's usage>)` after the turn, and
  `check_budget_p95(turn.budgets, <that turn's usage in every attempt>)` after all repeats;
- the scenario's `budgets`: `check_budget_max(scenario.budgets, <the attempt's total usage>)` per
  attempt, and `check_budget_p95(scenario.budgets, <every turn's usage in every attempt>)` at
  the end.
"""

from __future__ import annotations

import math

from harness.checks.matching import outcome
from harness.models.result import CheckOutcome, Usage
from harness.models.scenario import Budgets

__all__ = ["MEASURES", "check_budget_max", "check_budget_p95", "percentile"]

MEASURES = {"tokens": "tokens", "llm_calls": "LLM calls", "latency_ms": "LLM latency (ms)"}
"""Budgeted measures (fields of `Usage`) and their labels."""


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), interpolating linearly between ranks (numpy's default)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def check_budget_max(
    budgets: Budgets | None, usage: Usage, key: str | None = None, *, scope: str = "turn"
) -> list[CheckOutcome]:
    """Each `max` of `budgets` bounds the matching measure of `usage` (of a turn or a run)."""
    results = []
    for measure, label in MEASURES.items():
        limit = getattr(budgets, measure, None) if budgets else None
        if limit is None or limit.max is None:
            continue
        value = float(getattr(usage, measure))
        where = f"{key}.{measure}.max" if key else None
        results.append(
            outcome(
                value <= limit.max,
                f"budgets.{measure}.max",
                where,
                f"{label} of the {scope}",
                f"<= {limit.max:g}",
                f"{value:g}",
                expected=limit.max,
                actual=value,
            )
        )
    return results


def check_budget_p95(
    budgets: Budgets | None, samples: list[Usage], key: str | None = None, *, scope: str = "turns"
) -> list[CheckOutcome]:
    """Each `p95` of `budgets` bounds the 95th percentile of the matching measure over `samples`."""
    results = []
    for measure, label in MEASURES.items():
        limit = getattr(budgets, measure, None) if budgets else None
        if limit is None or limit.p95 is None or not samples:
            continue
        values = [float(getattr(u, measure)) for u in samples]
        p95 = percentile(values, 95)
        where = f"{key}.{measure}.p95" if key else None
        subject = f"95th percentile of {label} over {len(values)} {scope}"
        got = f"{p95:g} (max {max(values):g})"
        results.append(
            outcome(
                p95 <= limit.p95,
                f"budgets.{measure}.p95",
                where,
                subject,
                f"<= {limit.p95:g}",
                got,
                expected=limit.p95,
                actual=p95,
            )
        )
    return results
