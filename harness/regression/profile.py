"""A batch reduced to what the comparison needs (`Baseline`), from results or a baseline file.

Per scenario: attempts compared, attempts passed, evaluation scores per attempt. Per scenario,
turn and node (and per scenario in total): tokens and LLM calls per attempt (means over the
attempts), cost per attempt, and the latency of every LLM call, kept sorted per group in one
numpy array (`values[offsets[i]:offsets[i] + counts[i]]`) so exact p50/p95 of thousands of
groups are one vectorised step.

The baseline file (`reports/baseline.json`, docs/regressions.md) is this, written with one line per
scenario total and per node, so a re-recorded prompt shows in a review as the lines that moved.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import HarnessError
from harness.models.result import AttemptResult, RunSummary, ScenarioResult, Verdict
from harness.regression.stats import group_quantiles

__all__ = [
    "BASELINE_FORMAT_VERSION",
    "BASELINE_KIND",
    "SAMPLE_LIMIT",
    "TOTAL",
    "Baseline",
    "GroupKey",
    "ScenarioInfo",
    "UsageTable",
    "write_baseline",
]

BASELINE_KIND = "harness-baseline"
BASELINE_FORMAT_VERSION = 1
SAMPLE_LIMIT = 50
"""Latency samples kept as they are in a baseline file; a group with more keeps 21 quantiles."""
_GRID = np.linspace(0.0, 1.0, 21)
"""q0, q5, ..., q100: holds p50 (index 10) and p95 (index 19) exactly."""
TOTAL = -1
"""The `turn` of a scenario's totals row (its node is "")."""

GroupKey = tuple[str, int, str]
"""(scenario id, turn index, node logical id); (scenario, TOTAL, "") is the scenario's total."""
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class ScenarioInfo:
    """A scenario's side of the comparison: compared, or why not (`status`)."""

    scenario_id: str
    name: str = ""
    file: str | None = None
    status: str = "compared"
    """`compared`, `skipped` (verdict skipped) or `error` (no attempt without an error)."""
    reason: str | None = None
    runs: int = 0
    """Attempts compared (those without an infrastructure error)."""
    passed: int = 0
    scores: dict[str, list[float]] = field(default_factory=dict)
    """Score name -> its value in each compared attempt that has it."""

    @property
    def compared(self) -> bool:
        """Whether this side has metrics to compare."""
        return self.status == "compared"


@dataclass
class UsageTable:
    """Per group (scenario totals and turn/node pairs): means per attempt and latency samples."""

    keys: list[GroupKey]
    tokens: FloatArray
    llm_calls: FloatArray
    cost_usd: FloatArray
    """NaN where a price is unknown."""
    values: FloatArray
    """Latency samples (or quantile grids), sorted within each group, groups one after another."""
    offsets: IntArray
    counts: IntArray
    """Samples stored per group."""
    calls: IntArray
    """LLM calls measured per group (more than `counts` when a file kept quantiles only)."""

    def samples(self, index: int) -> FloatArray:
        """The sorted latency samples of group `index`."""
        start = int(self.offsets[index])
        return self.values[start : start + int(self.counts[index])]

    def quantiles(self, q: float) -> FloatArray:
        """The exact `q` quantile of every group (linear interpolation; NaN for no samples)."""
        return group_quantiles(self.values, self.offsets, self.counts, q)

    @classmethod
    def build(cls, groups: Mapping[GroupKey, _Group], runs: Mapping[str, int]) -> UsageTable:
        """A table from accumulated groups; sums become means over the scenario's `runs`."""
        keys = list(groups)
        divisor = np.array([max(runs.get(k[0], 1), 1) for k in keys], dtype=np.float64)
        samples = [np.sort(np.asarray(groups[k].latencies, dtype=np.float64)) for k in keys]
        counts = np.array([s.size for s in samples], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        return cls(
            keys=keys,
            tokens=np.array([groups[k].tokens for k in keys], dtype=np.float64) / divisor,
            llm_calls=np.array([groups[k].llm_calls for k in keys], dtype=np.float64) / divisor,
            cost_usd=np.array([_nan(groups[k].cost) for k in keys], dtype=np.float64) / divisor,
            values=np.concatenate(samples) if samples else np.zeros(0),
            offsets=offsets if keys else np.zeros(0, dtype=np.int64),
            counts=counts,
            calls=np.array(
                [groups[k].calls or s.size for k, s in zip(keys, samples, strict=True)],
                dtype=np.int64,
            ),
        )


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


@dataclass
class _Group:
    """Accumulator of one group while a table is built."""

    tokens: float = 0.0
    llm_calls: float = 0.0
    cost: float | None = 0.0
    latencies: list[float] = field(default_factory=list)
    calls: int = 0
    """Measured calls, when more than the samples given (quantile grids from a file)."""

    def add(
        self, tokens: float, calls: float, cost: float | None, latencies: Iterable[float]
    ) -> None:
        self.tokens += tokens
        self.llm_calls += calls
        self.cost = None if cost is None or self.cost is None else self.cost + cost
        self.latencies.extend(latencies)


@dataclass
class Baseline:
    """One side of a comparison: a batch's scenarios and usage, and where it came from."""

    source: dict[str, Any]
    """Provenance: batch id, git commit and branch, backend, record mode, ..."""
    scenarios: dict[str, ScenarioInfo]
    usage: UsageTable

    @property
    def label(self) -> str:
        """How reports name this side: its batch id, else its file."""
        return str(self.source.get("batch_id") or self.source.get("file") or "baseline")

    @classmethod
    def from_summary(cls, summary: RunSummary) -> Baseline:
        """A batch's results reduced for the comparison (attempts with an error are left out)."""
        scenarios: dict[str, ScenarioInfo] = {}
        groups: dict[GroupKey, _Group] = {}
        for result in summary.results:
            info = _scenario_info(result)
            scenarios[result.scenario_id] = info
            if info.compared:
                _add_usage(groups, result)
        runs = {s.scenario_id: s.runs for s in scenarios.values()}
        return cls(_source_of(summary), scenarios, UsageTable.build(groups, runs))

    @classmethod
    def read(cls, path: Path) -> Baseline:
        """A baseline file written by `write_baseline`.

        Raises:
            HarnessError: unreadable, not a baseline, or a newer format (the message says which).
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise HarnessError(
                f"cannot read baseline {path}: {exc.strerror}",
                hint="write one with `harness baseline update`, or give a batch id or `latest`",
            ) from None
        except ValueError as exc:
            raise HarnessError(
                f"{path}: not JSON ({exc})", hint="regenerate it: harness baseline update"
            ) from None
        if not isinstance(data, dict) or data.get("kind") != BASELINE_KIND:
            raise HarnessError(
                f'{path}: not a harness baseline (no "kind": "{BASELINE_KIND}")',
                hint="give a file written by `harness baseline update`",
            )
        version = data.get("format_version")
        if version != BASELINE_FORMAT_VERSION:
            raise HarnessError(
                f"{path}: baseline format version {version!r} is not readable by this harness "
                f"(it reads {BASELINE_FORMAT_VERSION})",
                hint="upgrade harness, or regenerate the baseline: harness baseline update",
            )
        try:
            return _from_file_data(data, path)
        except (KeyError, TypeError, ValueError) as exc:
            raise HarnessError(
                f"{path}: malformed baseline ({type(exc).__name__}: {exc})",
                hint="regenerate it: harness baseline update (do not edit it by hand)",
            ) from None


def _source_of(summary: RunSummary) -> dict[str, Any]:
    batch = summary.batch
    source = batch.model_dump(
        mode="json",
        include={
            "batch_id",
            "started_at",
            "git_commit",
            "git_branch",
            "git_dirty",
            "backend",
            "record_mode",
            "harness_version",
        },
    )
    return {k: v for k, v in source.items() if v is not None}


def _compared_attempts(result: ScenarioResult) -> list[AttemptResult]:
    return [a for a in result.attempts if a.verdict is not Verdict.ERROR and a.error is None]


def _scenario_info(result: ScenarioResult) -> ScenarioInfo:
    info = ScenarioInfo(result.scenario_id, name=result.name, file=result.file)
    if result.verdict is Verdict.SKIPPED:
        info.status, info.reason = "skipped", result.error or "skipped"
        return info
    attempts = _compared_attempts(result)
    if not attempts:
        errors = [a.error for a in result.attempts if a.error] + [result.error]
        info.status = "error"
        info.reason = next((e for e in errors if e), "no attempt finished without an error")
        return info
    info.runs = len(attempts)
    info.passed = sum(a.verdict is Verdict.PASSED for a in attempts)
    for attempt in attempts:
        scores = attempt.evaluation.scores if attempt.evaluation else {}
        for name, value in scores.items():
            info.scores.setdefault(name, []).append(value)
    return info


def _add_usage(groups: dict[GroupKey, _Group], result: ScenarioResult) -> None:
    scenario = result.scenario_id
    total = groups.setdefault((scenario, TOTAL, ""), _Group())
    for attempt in _compared_attempts(result):
        for turn in attempt.turns:
            for row in turn.usage:
                key = (scenario, turn.turn, row.node or "")
                values = (row.total_tokens, row.llm_calls, row.cost_usd, row.latencies_ms)
                groups.setdefault(key, _Group()).add(*values)
                total.add(*values)


# ------------------------------------------------------------------ the file


def _samples_json(samples: FloatArray) -> dict[str, Any]:
    if samples.size <= SAMPLE_LIMIT:
        return {"latencies_ms": [round(float(v), 1) for v in samples]}
    grid = np.quantile(samples, _GRID)
    return {"latency_quantiles_ms": [round(float(v), 1) for v in grid], "calls": int(samples.size)}


def _group_json(table: UsageTable, index: int) -> dict[str, Any]:
    cost = float(table.cost_usd[index])
    entry: dict[str, Any] = {
        "tokens": _number(float(table.tokens[index])),
        "llm_calls": _number(float(table.llm_calls[index])),
        "cost_usd": None if math.isnan(cost) else float(f"{cost:.6g}"),
    }
    samples = table.samples(index)
    if int(table.calls[index]) > samples.size:  # already a quantile grid (read from a file)
        entry.update(latency_quantiles_ms=[round(float(v), 1) for v in samples])
        entry.update(calls=int(table.calls[index]))
    else:
        entry.update(_samples_json(samples))
    return entry


def _number(value: float) -> float | int:
    rounded = round(value, 3)
    return int(rounded) if rounded.is_integer() else rounded


def _baseline_json(baseline: Baseline) -> dict[str, Any]:
    table = baseline.usage
    rows: dict[str, dict[GroupKey, int]] = {}
    for index, key in enumerate(table.keys):
        rows.setdefault(key[0], {})[key] = index
    scenarios: dict[str, Any] = {}
    for scenario_id in sorted(baseline.scenarios):
        info = baseline.scenarios[scenario_id]
        entry: dict[str, Any] = {"name": info.name}
        if info.file:
            entry["file"] = info.file
        if not info.compared:
            entry.update(status=info.status, reason=info.reason)
            scenarios[scenario_id] = entry
            continue
        entry.update(runs=info.runs, passed=info.passed)
        if info.scores:
            entry["scores"] = {k: info.scores[k] for k in sorted(info.scores)}
        mine = rows.get(scenario_id, {})
        total = mine.get((scenario_id, TOTAL, ""))
        if total is not None:
            entry["total"] = _group_json(table, total)
        nodes = sorted((k for k in mine if k[1] != TOTAL), key=lambda k: (k[1], k[2]))
        entry["nodes"] = {f"{k[1]}/{k[2]}": _group_json(table, mine[k]) for k in nodes}
        scenarios[scenario_id] = entry
    return {
        "kind": BASELINE_KIND,
        "format_version": BASELINE_FORMAT_VERSION,
        "source": baseline.source,
        "scenarios": scenarios,
    }


def _line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _block(items: list[tuple[str, str]], depth: int) -> str:
    if not items:
        return "{}"
    pad = "  " * depth
    body = ",\n".join(f"{pad}  {_line(key)}: {text}" for key, text in items)
    return "{\n" + body + "\n" + pad + "}"


def _render(data: dict[str, Any]) -> str:
    """The file's JSON with one line per scenario field and per node: reviewable diffs."""

    def scenario(entry: dict[str, Any]) -> str:
        items = []
        for key, value in entry.items():
            if key == "nodes":
                items.append((key, _block([(n, _line(v)) for n, v in value.items()], 3)))
            else:
                items.append((key, _line(value)))
        return _block(items, 2)

    scenarios = _block([(k, scenario(v)) for k, v in data["scenarios"].items()], 1)
    items = [(k, _line(v)) for k, v in data.items() if k != "scenarios"]
    return _block([*items, ("scenarios", scenarios)], 0)


def write_baseline(summary: RunSummary | Baseline, path: Path) -> None:
    """Write the baseline file for a batch (atomically): compact, sorted, one line per node."""
    from harness.results.files import write_atomic

    baseline = summary if isinstance(summary, Baseline) else Baseline.from_summary(summary)
    write_atomic(path, _render(_baseline_json(baseline)) + "\n")


def _from_file_data(data: dict[str, Any], path: Path) -> Baseline:
    scenarios: dict[str, ScenarioInfo] = {}
    groups: dict[GroupKey, _Group] = {}
    for scenario_id, entry in data["scenarios"].items():
        info = ScenarioInfo(
            scenario_id,
            name=str(entry.get("name", "")),
            file=entry.get("file"),
            status=str(entry.get("status", "compared")),
            reason=entry.get("reason"),
            runs=int(entry.get("runs", 0)),
            passed=int(entry.get("passed", 0)),
            scores={k: [float(v) for v in vs] for k, vs in entry.get("scores", {}).items()},
        )
        scenarios[scenario_id] = info
        if not info.compared:
            continue
        if "total" in entry:
            groups[(scenario_id, TOTAL, "")] = _group_from_json(entry["total"], info.runs)
        for name, node in entry.get("nodes", {}).items():
            turn, _, logical = name.partition("/")
            groups[(scenario_id, int(turn), logical)] = _group_from_json(node, info.runs)
    runs = {s.scenario_id: s.runs for s in scenarios.values()}
    source = dict(data.get("source") or {})
    source.setdefault("file", str(path))
    return Baseline(source, scenarios, UsageTable.build(groups, runs))


def _group_from_json(entry: dict[str, Any], runs: int) -> _Group:
    # The file holds means per attempt; the table divides sums by runs, so multiply back.
    cost = entry.get("cost_usd")
    samples = entry.get("latencies_ms")
    if samples is None:
        samples = entry.get("latency_quantiles_ms", [])
    return _Group(
        tokens=float(entry.get("tokens", 0)) * runs,
        llm_calls=float(entry.get("llm_calls", 0)) * runs,
        cost=None if cost is None else float(cost) * runs,
        latencies=[float(v) for v in samples],
        calls=int(entry.get("calls", len(samples))),
    )
