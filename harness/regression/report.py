"""The result of a comparison (`RegressionReport`) and its text, Markdown and JSON forms."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["NOISE_SHOWN", "Change", "RegressionReport", "Skipped"]

NOISE_SHOWN = 20
"""Changes within noise listed in text and Markdown (JSON lists them all)."""


@dataclass
class Change:
    """One metric of one scenario (turn and node, or all of it) that moved beyond its threshold."""

    scenario: str
    turn: int | None
    """Scenario turn index (as in `turns[i]` of the scenario file); None for the whole scenario."""
    node: str | None
    """Node logical id; None for the whole scenario."""
    metric: str
    """`tokens`, `llm_calls`, `cost_usd` (per attempt), `latency_p50`, `latency_p95` (ms),
    `pass_rate`, or `score:NAME`."""
    baseline: float | None
    current: float | None
    delta: float
    delta_pct: float | None
    """delta / baseline in percent; None when the baseline is 0."""
    method: str
    """How it was decided: `exact count`, `single run, not tested`, or the test and its result."""
    threshold: str
    """The threshold it crossed, e.g. `>20% and >50`."""
    p_value: float | None = None
    n_baseline: int = 0
    """Samples (calls or attempts) on the baseline side."""
    n_current: int = 0
    severity: float = math.inf
    """How many times the allowed change it is (infinite when any change counts)."""

    @property
    def where(self) -> str:
        """`scenario`, or `scenario turns[i] node`."""
        if self.turn is None:
            return self.scenario
        return f"{self.scenario} turns[{self.turn}] {self.node or '(no node)'}"

    def values_text(self) -> str:
        """E.g. `120 -> 156 (+36, +30.0%)`."""
        pct = f", {self.delta_pct:+.1f}%" if self.delta_pct is not None else ""
        return (
            f"{_fmt(self.baseline)} -> {_fmt(self.current)} ({_fmt(self.delta, signed=True)}{pct})"
        )


@dataclass
class Skipped:
    """A scenario present on both sides but not compared, and why."""

    scenario: str
    reason: str


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):+d}" if signed else f"{int(value)}"
    digits = ".6f" if abs(value) < 0.01 else ".3f" if abs(value) < 10 else ".1f"
    return format(value, ("+" if signed else "") + digits)


_RANK = {"regression": 0, "improvement": 1, "noise": 2}


@dataclass
class RegressionReport:
    """Regressions, improvements and changes the tests put down to noise; scenarios not compared."""

    baseline: dict[str, Any]
    """The baseline side's provenance (batch id, git commit, ... or its file)."""
    current: dict[str, Any]
    """The current side's provenance."""
    regressions: list[Change] = field(default_factory=list)
    improvements: list[Change] = field(default_factory=list)
    noise: list[Change] = field(default_factory=list)
    """Beyond the threshold, but with repeated runs not significant (or too few samples to
    test): not flagged."""
    new: list[str] = field(default_factory=list)
    """Scenarios only in the current batch."""
    removed: list[str] = field(default_factory=list)
    """Scenarios only in the baseline (or not run this time)."""
    skipped: list[Skipped] = field(default_factory=list)
    """Scenarios in both that could not be compared (skipped, or no attempt without an error)."""
    untested: dict[str, int] = field(default_factory=dict)
    """Metric -> changes beyond their threshold in repeated runs too few for any test to reach
    alpha (e.g. 5 runs a side for a p50): not flagged, not listed; repeat more to test them."""
    compared: int = 0
    """Scenarios compared."""
    tests: int = 0
    """Measurements a noise-aware test applied to (repeated runs on both sides)."""
    alpha: float = 0.01
    """The false discovery rate the tests were held to (Benjamini-Hochberg)."""

    @property
    def has_regressions(self) -> bool:
        """Whether anything got worse beyond its threshold (and significantly, when tested)."""
        return bool(self.regressions)

    def sort(self) -> None:
        """Most severe first, then by scenario, turn, node and metric (stable output)."""
        for rows in (self.regressions, self.improvements, self.noise):
            rows.sort(
                key=lambda c: (
                    -c.severity,
                    c.scenario,
                    -1 if c.turn is None else c.turn,
                    c.node or "",
                    c.metric,
                )
            )

    # ------------------------------------------------------------------ text

    def _side(self, source: dict[str, Any]) -> str:
        label = source.get("batch_id") or source.get("file") or "?"
        commit = source.get("git_commit")
        return f"{label}" + (f" ({str(commit)[:10]})" if commit else "")

    def headline(self) -> str:
        """One line: how many regressions, improvements, new, removed, skipped."""
        parts = [
            f"{len(self.regressions)} regression(s)",
            f"{len(self.improvements)} improvement(s)",
        ]
        if self.noise:
            parts.append(f"{len(self.noise)} change(s) within noise")
        for name, items in (("new", self.new), ("removed", self.removed)):
            if items:
                parts.append(f"{len(items)} {name}")
        if self.skipped:
            parts.append(f"{len(self.skipped)} not compared")
        if self.untested:
            parts.append(f"{sum(self.untested.values())} untestable (too few runs)")
        if self.tests:
            parts.append(
                f"{self.tests} noise-aware test(s) at a false discovery rate of {self.alpha:g}"
            )
        return (
            f"{self.compared} scenario(s) compared against {self._side(self.baseline)}: "
            + ", ".join(parts)
        )

    def to_text(self) -> str:
        """A plain-text report for a terminal."""
        lines = [self.headline()]
        for title, rows in (
            ("regressions", self.regressions),
            ("improvements", self.improvements),
            ("within noise (not flagged: not significant, or too few samples to test)", self.noise),
        ):
            if not rows:
                continue
            lines.append(f"{title}:")
            shown = rows if rows is not self.noise else rows[:NOISE_SHOWN]
            for change in shown:
                lines.append(
                    f"  {change.where}  {change.metric}  {change.values_text()}  "
                    f"[threshold {change.threshold}; {change.method}]"
                )
            if len(shown) < len(rows):
                lines.append(f"  ... and {len(rows) - len(shown)} more (--format json lists all)")
        lines += self._scenario_lists(bullet="  ")
        return "\n".join(lines)

    def _scenario_lists(self, bullet: str) -> list[str]:
        lines: list[str] = []
        if self.untested:
            counts = ", ".join(
                f"{metric} {count}" for metric, count in sorted(self.untested.items())
            )
            lines.append(
                f"not tested, too few runs for a test to reach alpha {self.alpha:g} (not flagged; "
                f"repeat more to test them): {counts}"
            )
        if self.new:
            lines.append("new scenarios (no baseline):")
            lines += [f"{bullet}{s}" for s in self.new]
        if self.removed:
            lines.append("removed scenarios (in the baseline, not in this batch):")
            lines += [f"{bullet}{s}" for s in self.removed]
        if self.skipped:
            lines.append("not compared:")
            lines += [f"{bullet}{s.scenario}: {s.reason}" for s in self.skipped]
        return lines

    def to_markdown(self) -> str:
        """A Markdown report (a pull-request comment or `$GITHUB_STEP_SUMMARY`)."""
        mark = ":red_circle:" if self.regressions else ":green_circle:"
        lines = [f"### {mark} Regressions", "", self.headline(), ""]
        rows = [("regression", c) for c in self.regressions]
        rows += [("improvement", c) for c in self.improvements]
        rows += [("noise", c) for c in self.noise[:NOISE_SHOWN]]
        if rows:
            lines += [
                "| | scenario | turn | node | metric | baseline | current | delta | decided by |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            ]
            icon = {"regression": "🔺", "improvement": "✅", "noise": "〰️"}
            for kind, c in rows:
                pct = f" ({c.delta_pct:+.1f}%)" if c.delta_pct is not None else ""
                cells = [
                    icon[kind],
                    f"`{_md(c.scenario)}`",
                    "all" if c.turn is None else str(c.turn),
                    _md(c.node) if c.node else ("all" if c.turn is None else "-"),
                    c.metric,
                    _fmt(c.baseline),
                    _fmt(c.current),
                    f"{_fmt(c.delta, signed=True)}{pct}",
                    _md(f"{c.method} (threshold {c.threshold})"),
                ]
                lines.append("| " + " | ".join(cells) + " |")
            if len(self.noise) > NOISE_SHOWN:
                lines.append(f"\n{len(self.noise) - NOISE_SHOWN} more change(s) within noise.")
            lines.append("")
        lists = self._scenario_lists(bullet="- ")
        return "\n".join(lines + lists).rstrip() + "\n"

    def to_json(self) -> str:
        """The whole report as JSON (infinite severities as null)."""
        data = {
            "baseline": self.baseline,
            "current": self.current,
            "has_regressions": self.has_regressions,
            "compared": self.compared,
            "tests": self.tests,
            "alpha": self.alpha,
            "regressions": [_change_json(c) for c in self.regressions],
            "improvements": [_change_json(c) for c in self.improvements],
            "noise": [_change_json(c) for c in self.noise],
            "new": self.new,
            "removed": self.removed,
            "skipped": [asdict(s) for s in self.skipped],
            "untested": self.untested,
        }
        return json.dumps(data, indent=1, ensure_ascii=False)


def _change_json(change: Change) -> dict[str, Any]:
    data = asdict(change)
    for key, value in data.items():
        if isinstance(value, float) and not math.isfinite(value):
            data[key] = None
    return data


def _md(text: str) -> str:
    return text.replace("|", "\\|")
