"""Where a batch's results go as they finish: the sink protocol, report files and the history.

The suite core calls every sink in turn (and wraps each call, so one sink's failure never loses
another's data): `start` once, `add` as each scenario finishes (the sink makes it durable before
returning; `HistorySink` commits results in groups: see its own guarantee), `finish` once at the
end, also after an interruption (`summary.interrupted`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

from harness.errors import HarnessError
from harness.models.result import RESULT_FORMAT_VERSION, BatchInfo, RunSummary, ScenarioResult
from harness.results.artifacts import ARTIFACT_KIND, ArtifactPack
from harness.results.files import (
    ARTIFACTS_DIR,
    JSONL_NAME,
    JUNIT_NAME,
    RESULTS_NAME,
    SUMMARY_NAME,
    file_mode,
    point_latest,
    write_atomic,
)
from harness.results.history import HistoryStore, ResultRows
from harness.results.reading import JSONL_KIND
from harness.results.report import junit_xml, summary_markdown

__all__ = [
    "HistorySink",
    "ReportFilesSink",
    "ResultSink",
    "ResultsWriter",
    "move_run_outputs",
    "write_report_files",
]


@runtime_checkable
class ResultSink(Protocol):
    """Receives a batch's results as they finish."""

    def start(self, batch: BatchInfo, selected: list[str]) -> None:
        """The batch starts with these scenario ids selected."""
        ...

    def add(self, result: ScenarioResult) -> None:
        """One scenario finished; durable when this returns (`HistorySink`: when its group is
        committed, at the latest `GROUP_SECONDS` later or at `finish`)."""
        ...

    def finish(self, summary: RunSummary) -> None:
        """The batch ended (`summary.interrupted` after Ctrl-C or a closed pipe)."""
        ...


def move_run_outputs(result: ScenarioResult, pack: ArtifactPack) -> str | None:
    """Append the turns' run outputs to `pack` as one artifact line and take them out of
    `result` (which then references the line, on the scenario and on each of those turns);
    returns the reference, or None when there were no run outputs (an artifact already written
    stays referenced)."""
    turns = [
        {"attempt": a.attempt, "index": t.index, "turn": t.turn, "run_output": t.run_output}
        for a in result.attempts
        for t in a.turns
        if t.run_output is not None
    ]
    if not turns:
        return result.artifact
    reference = pack.append(
        {
            "format_version": RESULT_FORMAT_VERSION,
            "kind": ARTIFACT_KIND,
            "scenario_id": result.scenario_id,
            "turns": turns,
        }
    )
    result.artifact = reference
    for attempt in result.attempts:
        for turn in attempt.turns:
            if turn.run_output is not None:
                turn.run_output = None
                turn.artifact = reference
    return reference


def _summary_json(summary: RunSummary, lines: Mapping[int, tuple[ScenarioResult, bytes]]) -> bytes:
    """`summary.model_dump_json()`, each result taken from `lines` (by `id`) when it is there
    as the very object: the line `results.jsonl` holds (so the two files cannot disagree, and
    a thousand results are not serialised a second time at the end of a batch)."""
    head = summary.model_dump_json(exclude={"results"}).encode("utf-8")
    parts = []
    for result in summary.results:
        kept = lines.get(id(result))
        parts.append(kept[1] if kept and kept[0] is result else _result_line(result))
    # `results` is the summary's last field: it goes where the full dump puts it.
    return b'%s,"results":[%s]}' % (head[:-1], b",".join(parts))


def _result_line(result: ScenarioResult) -> bytes:
    return result.model_dump_json().encode("utf-8")


def write_report_files(
    batch_dir: Path,
    summary: RunSummary,
    *,
    regression_markdown: str | None = None,
    latest: bool = True,
    lines: Mapping[int, tuple[ScenarioResult, bytes]] | None = None,
) -> Path:
    """Write `results.json`, `junit.xml` and `summary.md` of `summary` into `batch_dir`
    (atomically), then point `reports/latest` at it; returns the `results.json` path.
    `lines`: results already serialised (see `_summary_json`)."""
    results = batch_dir / RESULTS_NAME
    write_atomic(results, _summary_json(summary, lines or {}))
    write_atomic(batch_dir / JUNIT_NAME, junit_xml(summary))
    write_atomic(batch_dir / SUMMARY_NAME, summary_markdown(summary, regression_markdown))
    if latest:
        point_latest(batch_dir)
    return results


class ReportFilesSink:
    """The report files of one batch under `batch_dir` (usually `reports/<batch id>/`).

    `results.jsonl` gets a header line, then each result as it finishes (one `write` per line,
    so a kill leaves whole lines; a reader drops a cut last line). Each scenario's run outputs go
    first to one line of this sink's artifact pack (`artifacts/<batch id>-main.jsonl`,
    `harness.results.artifacts`), and the result given is updated to reference that line
    instead of holding them (so a long batch keeps no events in memory). `finish` writes
    `results.json`, `junit.xml` and `summary.md` atomically and points `reports/latest` here.

    Args:
        batch_dir: the batch's folder (created).
        inline_run_output: keep run outputs in the results instead of artifact packs.
        latest: point `<batch_dir>/../latest` at this batch when it finishes.
    """

    def __init__(
        self, batch_dir: str | Path, *, inline_run_output: bool = False, latest: bool = True
    ) -> None:
        self.batch_dir = Path(batch_dir)
        self.inline_run_output = inline_run_output
        self.latest = latest
        self.regression_markdown: str | None = None
        """Markdown for the "Regressions" section of summary.md (set it before `finish`)."""
        self._lines: BinaryIO | None = None
        self._pack = ArtifactPack(self.batch_dir)
        self._selected: list[str] = []
        self._finished = False
        self._written: dict[int, tuple[ScenarioResult, bytes]] = {}

    @property
    def results_path(self) -> Path:
        """The final `results.json`."""
        return self.batch_dir / RESULTS_NAME

    @property
    def junit_path(self) -> Path:
        """The JUnit XML report."""
        return self.batch_dir / JUNIT_NAME

    @property
    def summary_path(self) -> Path:
        """The Markdown summary."""
        return self.batch_dir / SUMMARY_NAME

    @property
    def artifacts_dir(self) -> Path:
        """Where the run outputs go."""
        return self.batch_dir / ARTIFACTS_DIR

    def _write_line(self, data: bytes) -> None:
        if self._finished:
            raise HarnessError("the report files are already finished: a sink takes one batch")
        if self._lines is None:
            self.start(BatchInfo(batch_id=self.batch_dir.name), [])
        assert self._lines is not None
        self._lines.write(data + b"\n")  # unbuffered: one write(2) per line

    def start(self, batch: BatchInfo, selected: list[str]) -> None:
        """Create the folder and `results.jsonl` with its header (batch and selection)."""
        if self._lines is not None:
            return
        self.batch_dir.mkdir(parents=True, exist_ok=True)
        self._selected = list(selected)
        path = self.batch_dir / JSONL_NAME
        self._lines = path.open("ab", buffering=0)
        path.chmod(file_mode())
        header: dict[str, Any] = {
            "format_version": RESULT_FORMAT_VERSION,
            "kind": JSONL_KIND,
            "batch": batch.model_dump(mode="json"),
            "selected": self._selected,
        }
        self._write_line(json.dumps(header, separators=(",", ":")).encode("utf-8"))

    def add(self, result: ScenarioResult) -> None:
        """Append the scenario's artifact line, then its result to `results.jsonl`."""
        self.add_line(result, None)

    def add_line(self, result: ScenarioResult, line: str | None) -> None:
        """`add`, with `line` the result's `model_dump_json()` when already made (a worker
        sent the result as it: written as it is, unless run outputs were still to move)."""
        if not self.inline_run_output and result.holds_run_outputs():
            move_run_outputs(result, self._pack)
            line = None  # the result changed
        data = line.encode("utf-8") if line is not None else _result_line(result)
        self._write_line(data)
        self._written[id(result)] = (result, data)  # for `results.json` (`_summary_json`)

    def finish(self, summary: RunSummary, regression_markdown: str | None = None) -> None:
        """Write `results.json`, `junit.xml` and `summary.md` and point `reports/latest` here.

        Results of `summary` that still hold run outputs (added elsewhere) get artifacts too;
        selected scenarios without a result are listed as `not_run` when the summary has none.
        """
        if self._lines is not None:
            self._lines.close()
        self._lines = None
        self._finished = True
        if not self.inline_run_output:
            for result in summary.results:
                move_run_outputs(result, self._pack)
        self._pack.close()
        if not summary.not_run and self._selected:
            done = {r.scenario_id for r in summary.results}
            summary.not_run = [s for s in self._selected if s not in done]
        if regression_markdown is None:
            regression_markdown = self.regression_markdown
        write_report_files(
            self.batch_dir,
            summary,
            regression_markdown=regression_markdown,
            latest=self.latest,
            lines=self._written,
        )
        self._written = {}


class HistorySink:
    """Appends a batch's results to a `HistoryStore`, a group of results per transaction.

    A transaction per result cost more than everything else the history does (the commit
    writes the same index pages to the write-ahead log again each time), so results are
    serialised as they arrive (`ResultRows`: stored as they were then) and committed together
    (`HistoryStore.record_results`): when `group_size` are waiting, when the oldest has
    waited `group_seconds` (a timer thread: a long scenario does not hold the earlier results
    back), and always at `finish`, also after an interruption. Each result is stored whole or
    not at all, with its group. So, unlike the other sinks, `add` may return before the result
    is durable: a process killed outright loses the uncommitted group from the history (fewer
    than `group_size` results, none older than about `group_seconds`), while `results.jsonl`
    keeps every finished result. A group
    that cannot be written is lost whole, and the error is raised by the next `add` or
    `finish` (the suite then stops calling this sink).

    Args:
        store: the history.
        close: close `store` when the batch finishes. Closing the last connection copies the
            write-ahead log into the database file and removes it: a CI cache that keeps only
            `history.sqlite` then has the whole batch.
        group_size: results per transaction at most (1: each `add` commits its result, which
            is then durable when it returns).
        group_seconds: how long a result waits for its group at most.
    """

    GROUP_SIZE = 128
    """Measured writing single-turn results: ~265 us each alone, ~50 us in groups of 16, ~31 us
    in groups of 128; larger groups gain nothing more."""
    GROUP_SECONDS = 0.5
    """How long a result waits for its group at most (then the timer thread commits it)."""

    finishes_aside = True
    """The batch's end waits mostly for sqlite (the last commit, the checkpoint of the
    write-ahead log when closing): `BatchRecorder.finish` runs it beside the other sinks."""

    def __init__(
        self,
        store: HistoryStore,
        *,
        close: bool = False,
        group_size: int = GROUP_SIZE,
        group_seconds: float = GROUP_SECONDS,
    ) -> None:
        self.store = store
        self._close = close
        self.group_size = max(1, group_size)
        self.group_seconds = group_seconds
        self._batch_id: str | None = None
        self._group: list[ResultRows] = []
        self._oldest = 0.0
        """When the group's first result arrived (`time.monotonic`)."""
        # Held while a group is taken and written, so groups are committed in order.
        self._lock = threading.Condition()
        self._timer: threading.Thread | None = None
        self._finished = False
        self._failure: BaseException | None = None
        """Why the timer thread could not write its group (raised by the next call)."""

    def start(self, batch: BatchInfo, selected: list[str]) -> None:
        """Register the batch as running."""
        self._batch_id = batch.batch_id
        self.store.record_batch(batch)

    def add(self, result: ScenarioResult) -> None:
        """Add the scenario's result to the group (written now if the group is full)."""
        self.add_line(result, None)

    def add_line(self, result: ScenarioResult, line: str | None) -> None:
        """`add`, with `line` the result's `model_dump_json()` when already made (stored as
        it is when it holds no run output)."""
        if self._batch_id is None:
            raise HarnessError("HistorySink.add before start: the sink does not know its batch")
        if line is not None and result.holds_run_outputs():
            line = None
        # Now: the result may change after add.
        rows = ResultRows.of(self._batch_id, result, line)
        with self._lock:
            self._raise_failure()
            self._group.append(rows)
            if len(self._group) >= self.group_size:
                self._write_group()
            elif len(self._group) == 1:
                self._oldest = time.monotonic()
                self._start_timer()
                self._lock.notify()  # the timer thread waits for a group to time

    def finish(self, summary: RunSummary) -> None:
        """Write the waiting group, mark the batch finished or interrupted (then close the
        store, if asked to)."""
        try:
            with self._lock:
                self._finished = True
                self._lock.notify()  # the timer thread ends
                self._raise_failure()
                self._write_group()
            if self._timer is not None:
                self._timer.join()
            self.store.finish_batch(summary)
        finally:
            if self._close:
                self.store.close()

    def _write_group(self) -> None:
        """Commit the waiting results (called with the lock held)."""
        group, self._group = self._group, []
        if group:
            assert self._batch_id is not None
            try:
                self.store.record_results(self._batch_id, group)
            except Exception:
                # The suite calls a failed sink no more: the timer thread ends (not left waiting).
                self._finished = True
                self._lock.notify()
                raise
            except BaseException:
                # Ctrl-C while writing (the transaction was rolled back): `finish` writes the
                # group (again, if the commit had gone through: the same rows replace it).
                self._group[:0] = group
                raise

    def _start_timer(self) -> None:
        # One thread for the batch, started with its first group (a thread per group cost
        # milliseconds each on a busy machine: `Thread.start` waits until it runs).
        if self._timer is None:
            self._timer = threading.Thread(
                target=self._write_on_time, name="harness-history-group", daemon=True
            )  # a daemon never keeps a process alive: `finish` writes the last group
            self._timer.start()

    def _write_on_time(self) -> None:
        """The timer thread: commits a group once its first result has waited
        `group_seconds` (groups filled first are written by `add`)."""
        with self._lock:
            while not self._finished:
                left = self._oldest + self.group_seconds - time.monotonic()
                if not self._group or left > 0:
                    self._lock.wait(left if self._group else None)
                    continue
                try:
                    self._write_group()
                except Exception as exc:  # no caller to raise to here: the next call does
                    self._failure = exc
                    return

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise HarnessError(
                f"the history could not store a group of results: {self._failure}"
            ) from self._failure


class ResultsWriter(ReportFilesSink):
    """The report files of one batch under `report_dir/<batch id>/` (the version 1 interface:
    `add` as results finish, `finish(summary)` returns the `results.json` path)."""

    def __init__(self, report_dir: str | Path, run_id: str | None = None) -> None:
        batch = BatchInfo() if run_id is None else BatchInfo(batch_id=run_id)
        super().__init__(Path(report_dir) / batch.batch_id)
        self.run_id = batch.batch_id
        self.folder = self.batch_dir
        self.start(batch, [])

    def finish(  # type: ignore[override]
        self, summary: RunSummary, regression_markdown: str | None = None
    ) -> Path:
        """Write the final files; returns the `results.json` path."""
        if summary.batch.batch_id != self.run_id:  # (a copy: other sinks finish meanwhile)
            batch = summary.batch.model_copy(update={"batch_id": self.run_id})
            summary = summary.model_copy(update={"batch": batch})
        super().finish(summary, regression_markdown)
        return self.results_path
