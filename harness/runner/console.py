"""What a person sees of a batch: verdict lines, a live progress display, the final table.

`ConsoleSink` is the console's `ResultSink`. On a terminal it shows a live progress display (rich:
N/M, elapsed, ETA, failures so far) and prints each scenario that did not pass, with its failing
checks, as it finishes; elsewhere (a pipe, a CI log) it prints one plain verdict block per
scenario, flushed at once. `render_table` is the final table (scenario, verdict, tokens, LLM
latency p50/p95, cost, and deltas against a baseline when there is one).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import stat
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from harness.models.result import BatchInfo, RunSummary, ScenarioResult, Verdict

__all__ = [
    "ConsoleSink",
    "Deltas",
    "format_result",
    "format_summary",
    "quantile",
    "render_table",
]

_MARK = {
    Verdict.PASSED: "PASS",
    Verdict.FAILED: "FAIL",
    Verdict.ERROR: "ERROR",
    Verdict.SKIPPED: "SKIP",
}
_LIMIT = 10

Deltas = Mapping[str, Mapping[str, float]]
"""Per scenario id, per metric (`tokens`, `latency_p50`, `latency_p95`, `cost_usd`): the change
against the baseline (`harness.runner.suite.regression_deltas`)."""


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_result(result: ScenarioResult) -> str:
    """A verdict line, then (when not passed) each failing check with expected and got."""
    stats = result.repeat
    runs = f" [{stats.passed}/{stats.runs} runs]" if stats and stats.runs > 1 else ""
    tokens = sum(a.tokens for a in result.attempts)
    lines = [
        f"{_MARK[result.verdict]:5} {result.scenario_id}{runs}  "
        f"({result.duration_ms:.0f} ms, {tokens} tokens)"
    ]
    if result.stale:
        backend = f" --backend {result.backend}" if result.backend == "api" else ""
        lines.append(
            f"      ~ {len(result.stale)} recorded interaction(s) never used (stale); "
            f"re-record: harness run {result.file or result.scenario_id}{backend} --rerecord"
        )
        lines += [f"        {entry}" for entry in result.stale[:_LIMIT]]
    if result.verdict is Verdict.SKIPPED:
        return "\n".join([*lines, f"      {result.error}"])
    if result.verdict is Verdict.PASSED:
        return "\n".join(lines)
    failures = result.failures()
    for outcome in failures[:_LIMIT]:
        where = f"{outcome.key}: " if outcome.key else ""
        lines.append(f"      - {where}{outcome.message}")
        has_values = outcome.expected is not None or outcome.got is not None
        if has_values and "expected" not in outcome.message:
            lines.append(f"        expected {_short(outcome.expected)}, got {_short(outcome.got)}")
    if len(failures) > _LIMIT:
        lines.append(f"      ... and {len(failures) - _LIMIT} more failing check(s)")
    errors = [a.error for a in result.attempts if a.error]
    errors += [a.evaluation.error for a in result.attempts if a.evaluation and a.evaluation.error]
    errors += [result.error] if result.error else []
    for error in dict.fromkeys(errors):
        lines.append("      ! " + error.replace("\n", "\n        "))
    return "\n".join(lines)


def format_summary(summary: RunSummary, wall_s: float | None = None) -> str:
    """The totals line: passed, failed, errors, tokens, LLM latency and wall time.

    `wall_s` is the real elapsed time since the process started (`harness run` passes it:
    interpreter start, imports, loading, running, report files and history); without it the
    line shows the runner's own duration (`summary.duration_ms`)."""
    attempts = [a for r in summary.results for a in r.attempts]
    tokens = sum(a.tokens for a in attempts)
    latency = sum(a.latency_ms for a in attempts)
    calls = sum(a.llm_calls for a in attempts)
    note = f" (interrupted: {len(summary.not_run)} not run)" if summary.interrupted else ""
    cost = summary.cost_usd
    spent = f", cost ${cost:.4f}" if cost else ""
    return (
        f"{summary.total} scenario(s): {summary.passed} passed, {summary.failed} failed, "
        f"{summary.errored} error(s), {summary.skipped} skipped{note}; {tokens} tokens in "
        f"{calls} LLM call(s), LLM latency {latency:.0f} ms{spent}; " + _wall_text(summary, wall_s)
    )


def _wall_text(summary: RunSummary, wall_s: float | None) -> str:
    runner = summary.duration_ms / 1000
    if wall_s is None:
        return f"wall {runner:.2f} s"
    return f"wall {wall_s:.2f} s since process start (scenarios {runner:.2f} s)"


def quantile(values: Sequence[float], q: float) -> float | None:
    """The `q` quantile (0-1), linear between order statistics (as numpy's default and the
    regression comparison); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _delta(value: float | None, digits: int = 0) -> str:
    if value is None:
        return ""  # no change beyond the threshold
    return "±0" if round(value, digits) == 0 else f"{value:+,.{digits}f}"


def _per_run(value: float | None, runs: int) -> float | None:
    return None if value is None else value / max(runs, 1)


def render_table(summary: RunSummary, deltas: Deltas | None = None) -> str:
    """The final table: one row per scenario (and one per scenario not run).

    Tokens and cost are per run (the mean over a scenario's attempts, as the regression compares
    them); latencies are the LLM calls' p50 and p95 in milliseconds over all attempts; cost is in
    USD (`-` when a model has no price). With `deltas` (a baseline was compared), each metric is
    followed by its change where the comparison found one beyond its threshold.
    """
    metrics = [("tokens/run", "tokens", 0), ("p50 ms", "latency_p50", 0)]
    metrics += [("p95 ms", "latency_p95", 0), ("cost/run $", "cost_usd", 4)]
    header = ["scenario", "verdict"]
    for title, _, _ in metrics:
        header += [title, "Δ"] if deltas is not None else [title]
    rows = [header]
    for result in summary.results:
        runs = len(result.attempts)
        values = {
            "tokens": _per_run(result.tokens, runs) if runs else None,
            "latency_p50": quantile(result.latencies_ms, 0.5),
            "latency_p95": quantile(result.latencies_ms, 0.95),
            "cost_usd": _per_run(result.cost_usd, runs) if runs else None,
        }
        mine = deltas.get(result.scenario_id, {}) if deltas is not None else {}
        row = [result.scenario_id, result.verdict.value]
        for _, metric, digits in metrics:
            row.append(_number(values[metric], digits))
            if deltas is not None:
                row.append(_delta(mine.get(metric), digits))
        rows.append(row)
    rows += [[sid, "not run", *[""] * (len(header) - 2)] for sid in summary.not_run]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for number, row in enumerate(rows):
        cells = [
            cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


@dataclass
class _Counts:
    done: int = 0
    failed: int = 0
    errors: int = 0


class ConsoleSink:
    """The console's `ResultSink`: a live progress display on a terminal, plain lines elsewhere.

    Args:
        stream: where to write (stdout).
        live: show the live display (default: when `stream` is a terminal).
        quiet: write nothing (e.g. `--json`, where stdout carries the summary).

    A closed stream raises `BrokenPipeError` from `add`, which the suite takes as "stop"; when the
    stream is a pipe, `on_output_closed` also notices its reader leaving while nothing is being
    written (a long scenario after `| head -1`), so the batch stops at once.
    """

    def __init__(self, stream: IO[str], *, live: bool | None = None, quiet: bool = False) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self.quiet = quiet
        self._counts = _Counts()
        self._progress: Any = None
        self._task: Any = None

    def on_output_closed(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from another thread) when the reader of a piped stream goes away."""
        try:
            fd = self.stream.fileno()
            is_pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
        except (OSError, ValueError, AttributeError):  # not a real file (e.g. captured output)
            return
        if not is_pipe or not hasattr(select, "poll"):
            return

        def watch() -> None:
            poller = select.poll()
            poller.register(fd, 0)  # error events only: POLLERR/POLLHUP when the reader is gone
            with contextlib.suppress(OSError):
                if poller.poll():
                    callback()

        threading.Thread(target=watch, name="harness-stdout-watch", daemon=True).start()

    def start(self, batch: BatchInfo, selected: list[str]) -> None:
        """Start the live display (on a terminal)."""
        if self.quiet or not self.live:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]harness run[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[failures]}"),
            console=Console(file=self.stream),
            transient=True,
        )
        self._task = self._progress.add_task("run", total=len(selected), failures="")
        self._progress.start()

    def add(self, result: ScenarioResult) -> None:
        """Show a finished scenario: every one as plain lines, or on a terminal those that did not
        pass (above the live display)."""
        if self.quiet:
            return
        counts = self._counts
        counts.done += 1
        counts.failed += result.verdict is Verdict.FAILED
        counts.errors += result.verdict is Verdict.ERROR
        if self._progress is None:
            print(format_result(result), file=self.stream, flush=True)
            return
        if result.verdict not in (Verdict.PASSED, Verdict.SKIPPED):
            self._progress.console.print(format_result(result), markup=False, highlight=False)
        bad = [f"{counts.failed} failed"] if counts.failed else []
        bad += [f"{counts.errors} error(s)"] if counts.errors else []
        self._progress.update(self._task, advance=1, failures=", ".join(bad))

    def finish(self, summary: RunSummary) -> None:
        """Stop the live display (the front end prints the table and totals)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
