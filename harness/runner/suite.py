"""One suite core for every front end: select scenarios, run them, stream results to sinks.

`harness run`, the pytest plugin and the dashboard's "rerun" all go through here:

```python
suite = Suite.select(Selection(paths=["scenarios/"], tags=["smoke"], shard=Shard(1, 2)))
summary = suite.run(RunOptions(backend="engine"), sinks=[ReportFilesSink(...), console])
```

Identity is stable: the project root is found upward from the scenario paths (not from the
working folder), scenario ids are relative to it, and relative cassette and scenario roots in
`RunOptions` are taken under it; so a suite started from the root, from `scenarios/` or from
elsewhere selects the same ids and replays the same cassettes.

Each finished scenario goes to every sink at once (`ResultSink.add`); a sink that fails does not
stop the others. Ctrl-C (SIGINT) and a closed stdout (a sink raising `BrokenPipeError`, e.g.
`harness run | head -1`) stop the batch cleanly: the finished results are kept, the rest are
listed in `RunSummary.not_run`, and every sink gets `finish` with `interrupted` set.

With `RunOptions.workers` above 1 (or `auto`), the scenarios run in forked worker processes
(`harness.runner.workers`) and their results reach the sinks here, in this process, just the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness import __version__
from harness.backends.binding import (
    EarlySandbox,
    check_recording,
    release_sandbox,
    start_sandbox_early,
)
from harness.config import load_settings, project_root_for
from harness.errors import HarnessError
from harness.models.result import BatchInfo, RunSummary, ScenarioResult
from harness.models.scenario import Scenario
from harness.results.sinks import ResultSink
from harness.runner.batch import Runner, batch_gc
from harness.runner.options import RunOptions

if TYPE_CHECKING:  # the regression package imports numpy: only when a baseline is compared
    from harness.regression import Baseline, RegressionReport
    from harness.runner.workers import EarlyWorker

__all__ = [
    "EXIT_FAILED",
    "EXIT_INFRASTRUCTURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PIPE_CLOSED",
    "EXIT_USAGE",
    "BatchRecorder",
    "NoScenarioError",
    "OutputWatcher",
    "Selection",
    "Shard",
    "SinkFailure",
    "Stop",
    "Suite",
    "assign_shards",
    "compare_to_baseline",
    "exit_code",
    "regression_deltas",
    "run_suite",
    "with_repeat",
]

EXIT_OK = 0
"""Every decided scenario passed (skipped ones do not count) and nothing regressed."""
EXIT_FAILED = 1
"""A scenario failed, or (with `--fail-on-regression`) a metric regressed."""
EXIT_USAGE = 2
"""Usage or file errors: bad flags, unreadable scenario files, no scenario selected."""
EXIT_INFRASTRUCTURE = 3
"""Infrastructure errors only: scenarios with an `error` verdict, or a sink that could not write,
and no failure."""
EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C (SIGINT): 128 + 2, as a shell reports it."""
EXIT_PIPE_CLOSED = 141
"""Stopped because the reader of stdout went away: 128 + SIGPIPE (13), as a shell reports it."""


class NoScenarioError(HarnessError):
    """The selection matched no scenario (a usage error: exit code 2)."""


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `total` (1-based, as in `--shard 1/3`)."""

    index: int
    total: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.total:
            raise HarnessError(
                f"shard {self.index}/{self.total} does not exist",
                hint="give --shard i/n with 1 <= i <= n, e.g. --shard 1/2 and --shard 2/2",
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`"2/3"` -> `Shard(2, 3)`.

        Raises:
            HarnessError: not `i/n` with 1 <= i <= n (exit code 2).
        """
        index, _, total = text.partition("/")
        try:
            return cls(int(index), int(total))
        except ValueError:
            raise HarnessError(
                f"--shard {text!r} is not i/n", hint="e.g. --shard 1/2 and --shard 2/2"
            ) from None

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


def assign_shards(scenario_ids: Sequence[str], total: int) -> dict[str, int]:
    """The shard (1-based) of each scenario id, for `total` shards.

    The ids are sorted and dealt out in turn, so shards differ in size by at most one and
    neighbours (often similar scenarios of one folder) land on different shards. The split depends
    only on the set of ids: every shard, on any machine and from any working folder, must select
    with the same paths, tags and `-k` (the pytest plugin uses this same function).
    """
    return {sid: position % total + 1 for position, sid in enumerate(sorted(set(scenario_ids)))}


@dataclass(frozen=True)
class Selection:
    """Which scenarios a batch runs.

    Attributes:
        paths: scenario files or folders (relative to the working folder).
        tags: keep scenarios with any of these tags (none: all).
        keywords: keep scenarios whose id or name contains any of these (`-k`; none: all).
        shard: keep this shard's scenarios (`assign_shards`).
        repeat: run each scenario this many times (overrides its `repeat.runs`).
    """

    paths: tuple[str, ...]
    tags: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    shard: Shard | None = None
    repeat: int | None = None

    def to_json(self) -> dict[str, Any]:
        """As stored in `BatchInfo.selection`."""
        return {
            "paths": list(self.paths),
            "tags": list(self.tags),
            "k": list(self.keywords),
            "shard": str(self.shard) if self.shard else None,
            "repeat": self.repeat,
        }


def _matches(scenario: Scenario, selection: Selection) -> bool:
    if selection.tags and not set(selection.tags) & set(scenario.tags):
        return False
    ident = scenario.id or ""
    return not selection.keywords or any(
        k in ident or k in scenario.name for k in selection.keywords
    )


def _selected_to(
    sandbox: EarlySandbox | None, worker: EarlyWorker | None, selection: Selection
) -> Callable[[list[Scenario]], None] | None:
    """What is given each file's scenarios as they are read: those the tags and -k select go to
    the early sandbox until a worker starts early (workers start their own), and to the early
    worker with the repeats applied."""
    if sandbox is None and worker is None:
        return None

    def on_file(scenarios: list[Scenario]) -> None:
        selected = [s for s in scenarios if _matches(s, selection)]
        if worker is not None:
            if selection.repeat is not None:
                selected = [with_repeat(s, selection.repeat) for s in selected]
            worker.look(selected)
            if worker.started:
                return
        if sandbox is not None:
            sandbox.look(selected)

    return on_file


def _options_under(root: Path, options: RunOptions) -> RunOptions:
    return dataclasses.replace(
        options,
        settings=options.settings or load_settings(root),
        project_root=root,
        cassettes_root=root / options.cassettes_root,
        scenarios_root=root / options.scenarios_root,
    )


def _early_worker(selection: Selection, options: RunOptions, root: Path) -> EarlyWorker | None:
    """The `EarlyWorker` of a batch that will replay on the built-in engine in workers
    (`plan_workers` would start two or more once `EARLY_AFTER` scenarios are selected), or
    None. Not for a shard: which scenarios it selects is known only once every file is read."""
    if options.workers == 1 or options.backend != "engine" or selection.shard is not None:
        return None
    from harness.runner.workers import EARLY_AFTER, EarlyWorker, can_fork, plan_workers

    try:
        under = _options_under(root, options)
        if not can_fork() or plan_workers(options.workers, EARLY_AFTER, under).count < 2:
            return None
    except HarnessError:  # (the run says it, in its own words)
        return None
    return EarlyWorker(under, after=EARLY_AFTER)


def with_repeat(scenario: Scenario, runs: int) -> Scenario:
    """`scenario` run `runs` times (`--repeat`); a `min_pass` or `k` above that is lowered to it."""
    repeat = scenario.repeat
    update: dict[str, Any] = {"runs": runs}
    for key in ("min_pass", "k"):
        value = getattr(repeat, key)
        if value is not None and value > runs:
            update[key] = runs
    return scenario.model_copy(update={"repeat": repeat.model_copy(update=update)})


@runtime_checkable
class OutputWatcher(Protocol):
    """A sink that can tell when its reader went away while it writes nothing (`ConsoleSink`)."""

    def on_output_closed(self, callback: Callable[[], None]) -> None:
        """Arrange for `callback` to be called (from any thread) when the output is closed."""
        ...


class Stop(StrEnum):
    """Why a batch stopped before its end."""

    INTERRUPTED = "interrupted"
    """Ctrl-C (SIGINT)."""
    PIPE_CLOSED = "pipe closed"
    """A sink's output went away (`BrokenPipeError`: the reader of stdout closed it)."""


@dataclass(frozen=True)
class SinkFailure:
    """A sink call that raised: the sink, the call and the error (the other sinks went on)."""

    sink: str
    call: str
    error: str


@dataclass
class _Fanout:
    """Calls every sink; one that raises is recorded and does not stop the others."""

    sinks: Sequence[ResultSink]
    failures: list[SinkFailure] = field(default_factory=list)
    pipe_closed: bool = False
    _broken: set[int] = field(default_factory=set)

    def add(self, result: ScenarioResult, line: str | None = None) -> None:
        """`call("add", result)`; a sink that writes the result's JSON (`add_line`) is given
        `line` instead of making it again, when there is one."""
        if line is None:
            self.call("add", result)
            return
        for index, sink in enumerate(self.sinks):
            if hasattr(sink, "add_line"):
                self._call_one(index, "add_line", result, line)
            else:
                self._call_one(index, "add", result)

    def call(self, name: str, *args: Any) -> None:
        for index in range(len(self.sinks)):
            self._call_one(index, name, *args)

    def finish(self, summary: RunSummary) -> None:
        """`call("finish", summary)`, except that a sink whose finish mostly waits for its own
        storage (`finishes_aside`: the history's last commit and the checkpoint of its
        write-ahead log, ~20 ms for 1,000 results, which sqlite does without holding the
        interpreter) finishes in a thread of its own meanwhile; every sink has finished when
        this returns."""
        aside = [
            threading.Thread(target=self._call_one, args=(index, "finish", summary))
            for index, sink in enumerate(self.sinks)
            if getattr(sink, "finishes_aside", False)
        ]
        for thread in aside:
            thread.start()
        try:
            for index, sink in enumerate(self.sinks):
                if not getattr(sink, "finishes_aside", False):
                    self._call_one(index, "finish", summary)
        finally:
            for thread in aside:
                thread.join()

    def _call_one(self, index: int, name: str, *args: Any) -> None:
        if index not in self._broken:
            sink = self.sinks[index]
            try:
                getattr(sink, name)(*args)
            except BrokenPipeError:
                self.pipe_closed = True
                self._broken.add(index)
            except Exception as exc:  # a sink must not lose the others' data
                # Not called again: a sink that missed a result would write a wrong report.
                self._broken.add(index)
                label = type(sink).__name__
                call = "add" if name == "add_line" else name  # (the same call, as the sink sees it)
                self.failures.append(SinkFailure(label, call, f"{type(exc).__name__}: {exc}"))


def _batch_info(**fields: Any) -> BatchInfo:
    from harness.results.provenance import batch_info

    return batch_info(**fields)


class BatchRecorder:
    """One batch: its provenance, its sinks and its finished results.

    `Suite.run` records through it, and so does a front end that runs scenarios one at a time
    itself (the pytest plugin: `start`, `add` each result as its item finishes, `finish`), so
    every front end writes the same batch, sink failures included.

    Args:
        root: the project root (`Suite.root`).
        selection: how the scenarios were selected (stored in the provenance).
        ids: the selected scenario ids, in run order (the rest are `not_run` at the end).
        options: the run options (`Suite.options_for`): backend and record mode.
        sinks: where results go (see `_Fanout`: a failing sink does not stop the others).
        batch_id: the batch's id (default: a new one); argv: recorded in the provenance.
    """

    def __init__(
        self,
        *,
        root: Path,
        selection: Selection,
        ids: Sequence[str],
        options: RunOptions,
        sinks: Sequence[ResultSink] = (),
        batch_id: str | None = None,
        argv: Sequence[str] | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "started_at": datetime.now(UTC),
            "backend": options.backend,
            "record_mode": str(options.record_mode),
            "selection": selection.to_json(),
            "project_root": str(root),
        }
        fields.update({"batch_id": batch_id} if batch_id else {})
        fields.update({"argv": list(argv)} if argv is not None else {})
        self.batch = _batch_info(**fields)
        self.ids = list(ids)
        self.fanout = _Fanout(sinks)
        self.results: list[ScenarioResult] = []
        self._t0 = time.perf_counter()

    @property
    def failures(self) -> list[SinkFailure]:
        """Sink calls that raised so far."""
        return self.fanout.failures

    def start(self) -> None:
        """Tell every sink the batch starts with `ids` selected."""
        self._t0 = time.perf_counter()
        self.fanout.call("start", self.batch, self.ids)

    def add(self, result: ScenarioResult, line: str | None = None) -> None:
        """One scenario finished: keep it and hand it to every sink (`line`: its
        `model_dump_json()` when already made, e.g. by a worker; see `_Fanout.add`)."""
        self.results.append(result)
        self.fanout.add(result, line)

    def finish(
        self,
        *,
        interrupted: bool = False,
        before_finish: Callable[[RunSummary], None] | None = None,
    ) -> RunSummary:
        """The summary (results in the order of `ids`, the rest in `not_run`), given to
        `before_finish` and then to every sink's `finish` (even if `before_finish` raises)."""
        order = {sid: index for index, sid in enumerate(self.ids)}
        results = sorted(self.results, key=lambda r: order.get(r.scenario_id, len(order)))
        done = {r.scenario_id for r in results}
        summary = RunSummary.from_results(
            results,
            batch=self.batch.model_copy(update={"finished_at": datetime.now(UTC)}),
            harness_version=__version__,
            duration_ms=(time.perf_counter() - self._t0) * 1000,
            interrupted=interrupted,
            not_run=[sid for sid in self.ids if sid not in done],
        )
        try:
            if before_finish is not None:
                before_finish(summary)
        finally:
            self.fanout.finish(summary)
        return summary


class Suite:
    """Selected scenarios under one project root, ready to run (once) into sinks.

    Attributes:
        selection: how they were selected.
        root: the project root ids, cassettes and reports are relative to.
        scenarios: the selected scenarios, repeats applied, in file order.
        stopped: why the last `run` stopped early (None: it ran to the end).
        sink_failures: sink calls that raised during the last `run`.
    """

    def __init__(self, selection: Selection, root: Path, scenarios: list[Scenario]) -> None:
        self.selection = selection
        self.root = root
        self.scenarios = scenarios
        self.early_sandbox: EarlySandbox | None = None  # set by `select` when given the options
        self.early_worker: EarlyWorker | None = None  # likewise (for a run in workers)
        self._early_options: RunOptions | None = None  # what `select` was given
        self.stopped: Stop | None = None
        self.sink_failures: list[SinkFailure] = []

    @property
    def ids(self) -> list[str]:
        """The selected scenario ids, in run order."""
        return [s.id or s.name for s in self.scenarios]

    @classmethod
    def select(
        cls, selection: Selection, *, cwd: Path | None = None, options: RunOptions | None = None
    ) -> Suite:
        """Load and select scenarios.

        `options`, when given, are those the suite will run with (the very object `run` will be
        given): a run on the engine that may stay in one process then starts the sandbox as soon
        as a file read will call inline Python (`EarlySandbox`), while the other files are read;
        a replay in workers starts its first worker on the first files read (`EarlyWorker`).

        Raises:
            ScenarioLoadError: a path is missing or a file has problems (exit code 2).
            ConfigError: the paths belong to different projects.
            NoScenarioError: nothing matches the paths, tags and `-k` (exit code 2); an empty
                shard is not an error.
        """
        from harness.scenarios import load_scenarios

        root = project_root_for(selection.paths, cwd=cwd)
        base = cwd or Path.cwd()
        paths = [base / p for p in selection.paths]
        early = (
            EarlySandbox(options.backend) if options and options.workers in (1, "auto") else None
        )
        ahead = _early_worker(selection, options, root) if options else None
        on_file = _selected_to(early, ahead, selection)
        try:
            with batch_gc():  # reading a thousand files allocates like a batch: collect as seldom
                read = load_scenarios(paths, root=root, on_file=on_file)
                loaded = [s for s in read if _matches(s, selection)]
        except BaseException:
            if ahead is not None:
                ahead.discard()  # the batch never begins: what it ran is dropped
            raise
        if not loaded:
            raise NoScenarioError(
                "no scenario matches the selection "
                f"(paths {', '.join(selection.paths)}; tags {list(selection.tags) or 'any'}; "
                f"-k {list(selection.keywords) or 'any'})",
                hint="check the paths, --tag and -k",
            )
        if selection.shard is not None:
            # A shard may be empty (fewer scenarios than shards): a batch of nothing, not an error.
            shards = assign_shards([s.id or s.name for s in loaded], selection.shard.total)
            loaded = [s for s in loaded if shards[s.id or s.name] == selection.shard.index]
        if selection.repeat is not None:
            loaded = [with_repeat(s, selection.repeat) for s in loaded]
        suite = cls(selection, root, loaded)
        suite.early_sandbox = early
        if ahead is not None and ahead.started:
            suite.early_worker, suite._early_options = ahead, options
        return suite

    def options_for(self, options: RunOptions) -> RunOptions:
        """`options` with the project root set, relative cassette/scenario roots under it, and
        the settings loaded once from the root (unless given).

        Raises:
            ConfigError: the settings file is invalid.
        """
        return _options_under(self.root, options)

    def run(
        self,
        options: RunOptions,
        sinks: Sequence[ResultSink] = (),
        *,
        batch_id: str | None = None,
        argv: Sequence[str] | None = None,
        before_finish: Callable[[RunSummary], None] | None = None,
    ) -> RunSummary:
        """Run the scenarios, handing each result to every sink as it finishes.

        `before_finish` sees the summary before the sinks' `finish` (e.g. to compare it with a
        baseline and give a sink the regression section); the sinks finish even if it raises.

        `batch_id` names the batch (default: a new one; give it when a sink needs it first,
        e.g. for its folder); `argv` is recorded in its provenance (default: this process's).

        Ctrl-C and a closed pipe end the batch early (see `stopped`); the summary then holds the
        finished results and lists the rest in `not_run`. Never raises for a failing scenario
        or a failing sink.

        Raises:
            ConfigError: the backend cannot be set up from the settings, or the batch records
                and an LLM provider it calls is not configured.
        """
        given, early_worker, self.early_worker = options, self.early_worker, None
        try:
            return self._run_all(given, sinks, early_worker, batch_id, argv, before_finish)
        finally:
            if early_worker is not None:  # (nothing left to stop once a pool adopted it)
                early_worker.discard()

    def _run_all(
        self,
        given: RunOptions,
        sinks: Sequence[ResultSink],
        early_worker: EarlyWorker | None,
        batch_id: str | None,
        argv: Sequence[str] | None,
        before_finish: Callable[[RunSummary], None] | None,
    ) -> RunSummary:
        options = self.options_for(given)
        # Before any sink starts: a recording whose provider is not configured is a usage error,
        # and so are workers asked for a recording.
        check_recording(self.scenarios, options.backend, options.binding_config())
        workers = self._plan_workers(options)
        if early_worker is not None and (given is not self._early_options or workers < 2):
            early_worker.discard()  # started for other options than these: dropped unseen
            early_worker = None
        early = self.early_sandbox  # (it looked at the files as they were read)
        if workers == 1 and early is None:
            start_sandbox_early(options.backend, self.scenarios)
        elif workers > 1 and early is not None and early.started:
            release_sandbox()  # each worker starts its own
        recorder = BatchRecorder(
            root=self.root,
            selection=self.selection,
            ids=self.ids,
            options=options,
            sinks=sinks,
            batch_id=batch_id,
            argv=argv,
        )
        recorder.start()
        fanout = recorder.fanout
        if fanout.pipe_closed:  # the reader left before the first scenario: run nothing
            self.stopped = Stop.PIPE_CLOSED
        elif workers > 1:
            self.stopped = self._run_in_workers(workers, options, recorder, early_worker)
        else:
            self.stopped = self._run(options, recorder)
        summary = recorder.finish(interrupted=self.stopped is not None, before_finish=before_finish)
        if fanout.pipe_closed and self.stopped is None:
            self.stopped = Stop.PIPE_CLOSED  # the reader left after the last result
        self.sink_failures = recorder.failures
        return summary

    def _plan_workers(self, options: RunOptions) -> int:
        if options.workers == 1:  # the library default: no import of the process machinery
            return 1
        from harness.runner.workers import plan_workers

        return plan_workers(options.workers, len(self.scenarios), options).count

    def _run_in_workers(
        self,
        count: int,
        options: RunOptions,
        recorder: BatchRecorder,
        early: EarlyWorker | None = None,
    ) -> Stop | None:
        """As `_run`, in `count` forked processes (`harness.runner.workers`)."""
        from harness.runner.workers import run_in_workers

        fanout = recorder.fanout
        wake_read, wake_write = os.pipe()  # a closed stdout noticed by a sink's thread wakes us
        wake_open = threading.Lock()  # held while writing: the pipe is not closed under a writer
        closed = False

        def closed_elsewhere() -> None:
            fanout.pipe_closed = True
            with wake_open, contextlib.suppress(OSError):
                if not closed:
                    os.write(wake_write, b"x")

        for sink in fanout.sinks:
            if isinstance(sink, OutputWatcher):
                sink.on_output_closed(closed_elsewhere)

        def finished(result: ScenarioResult, line: str | None) -> bool:
            recorder.add(result, line)
            return not fanout.pipe_closed

        try:
            done = run_in_workers(
                count, self.scenarios, options, fanout.sinks, finished, wake=wake_read, early=early
            )
        except KeyboardInterrupt:
            return Stop.INTERRUPTED
        finally:
            with wake_open:
                closed = True
                os.close(wake_read)
                os.close(wake_write)
        return None if done else Stop.PIPE_CLOSED

    def _run(self, options: RunOptions, recorder: BatchRecorder) -> Stop | None:
        fanout = recorder.fanout

        async def main() -> Stop | None:
            task = asyncio.current_task()
            loop = asyncio.get_running_loop()

            def close() -> None:
                fanout.pipe_closed = True
                if task is not None:
                    task.cancel()  # nobody reads the verdicts any more: stop as SIGPIPE would

            def closed_elsewhere() -> None:  # from a sink's watcher thread
                with contextlib.suppress(RuntimeError):  # the loop already ended: nothing to stop
                    loop.call_soon_threadsafe(close)

            for sink in fanout.sinks:
                if isinstance(sink, OutputWatcher):
                    sink.on_output_closed(closed_elsewhere)

            def finished(result: ScenarioResult) -> None:
                recorder.add(result)
                if fanout.pipe_closed:
                    close()

            runner = Runner(options, on_result=finished)
            try:
                await runner.run(self.scenarios)
            except asyncio.CancelledError:
                if not fanout.pipe_closed:
                    raise
                return Stop.PIPE_CLOSED
            return None

        try:
            return asyncio.run(main())
        except KeyboardInterrupt:
            return Stop.INTERRUPTED


def run_suite(
    selection: Selection,
    options: RunOptions,
    sinks: Sequence[ResultSink] = (),
    *,
    batch_id: str | None = None,
    argv: Sequence[str] | None = None,
    cwd: Path | None = None,
) -> RunSummary:
    """Select, run and summarise in one call (`Suite.select(...).run(...)`).

    Raises:
        ScenarioLoadError, NoScenarioError, ConfigError: as `Suite.select` and `Suite.run`.
    """
    suite = Suite.select(selection, cwd=cwd, options=options)
    return suite.run(options, sinks, batch_id=batch_id, argv=argv)


def exit_code(
    summary: RunSummary,
    *,
    stopped: Stop | None = None,
    regressed: bool = False,
    sink_failed: bool = False,
) -> int:
    """The documented exit code of a batch (see the `EXIT_*` constants).

    A stop wins (130 or 141); then a failure or a regression that counts (1); then an `error`
    verdict or a failed sink (3); else 0. Skipped scenarios count for nothing.
    """
    if stopped is Stop.INTERRUPTED:
        return EXIT_INTERRUPTED
    if stopped is Stop.PIPE_CLOSED:
        return EXIT_PIPE_CLOSED
    if summary.failed or regressed:
        return EXIT_FAILED
    if summary.errored or sink_failed:
        return EXIT_INFRASTRUCTURE
    return EXIT_OK


def compare_to_baseline(summary: RunSummary, baseline: Baseline, suite: Suite) -> RegressionReport:
    """The batch against `baseline`, with the project's thresholds (`[tool.harness.regression]`)
    and the selected scenarios' own (`regression:`).

    Raises:
        ConfigError: the settings file is invalid.
    """
    from harness.regression import Thresholds, compare

    settings = load_settings(suite.root)
    return compare(summary, baseline, Thresholds.of(settings.regression, suite.scenarios))


_TABLE_METRICS = ("tokens", "latency_p50", "latency_p95", "cost_usd")


def regression_deltas(report: RegressionReport) -> dict[str, dict[str, float]]:
    """Per scenario, the whole-scenario changes the comparison found beyond a threshold
    (regressions, improvements, and changes put down to noise), by metric."""
    deltas: dict[str, dict[str, float]] = {}
    for change in [*report.regressions, *report.improvements, *report.noise]:
        if change.turn is None and change.metric in _TABLE_METRICS:
            deltas.setdefault(change.scenario, {})[change.metric] = change.delta
    return deltas
