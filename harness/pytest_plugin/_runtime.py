"""What runs behind the items: per process one event loop, one backend factory and the run
options; in the process that owns the batch (without xdist, or xdist's controller) the batch
recorder with the report files and the history, and the regression gate at the end.

Everything here is the suite core's: `run_scenario` runs an item's scenario, `BatchRecorder`
writes the batch to the same sinks as `harness run`, `assign_shards` splits, and
`compare_to_baseline` is the gate.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.errors import HarnessError
from harness.models.result import RunSummary, ScenarioResult, new_batch_id
from harness.models.scenario import Scenario
from harness.pytest_plugin._collect import PluginOptions
from harness.results.history import HistoryStore
from harness.results.sinks import HistorySink, ReportFilesSink, ResultSink
from harness.runner import RunOptions, make_factory, run_scenario
from harness.runner.suite import BatchRecorder, Selection, Shard, Suite, assign_shards

if TYPE_CHECKING:
    from harness.backends.binding import BackendFactory
    from harness.regression import Baseline, RegressionReport

__all__ = ["Owner", "Runtime", "owner_scenarios", "run_options", "shard_items", "suite_selection"]


def run_options(config: pytest.Config, options: PluginOptions, root: Path) -> RunOptions:
    """The `RunOptions` of the session: the `--harness-*` options, settings loaded once from the
    project root (`Suite.options_for`), then the `pytest_harness_run_options` hooks."""
    run = RunOptions(
        backend=options.backend,
        record_mode=options.record_mode,
        concurrency=1,
        timeout_seconds=options.timeout,
    )
    if options.cassettes:
        run.cassettes_root = Path(options.cassettes)
    run = Suite(Selection(paths=()), root, []).options_for(run)
    config.hook.pytest_harness_run_options(config=config, options=run)
    return run


def suite_selection(config: pytest.Config, options: PluginOptions) -> Selection:
    """The batch's selection, for its provenance: the paths given to pytest, `-k`, the shard
    and the repeat count."""
    keyword = config.getoption("keyword", default="") or ""
    shard = Shard.parse(options.shard) if options.shard else None
    return Selection(
        paths=tuple(str(a) for a in config.args),
        keywords=(keyword,) if keyword else (),
        shard=shard,
        repeat=options.repeat,
    )


def shard_items(config: pytest.Config, items: list[pytest.Item], shard_text: str) -> None:
    """Keep this shard's scenario items (`assign_shards` over the selected ids: the same split
    as `harness run --shard`); a file that does not load stays on every shard."""
    try:
        shard = Shard.parse(shard_text)
    except HarnessError as exc:
        raise pytest.UsageError(f"--harness-shard: {exc}") from None
    ids = [
        str(getattr(i, "scenario_id", ""))
        for i in items
        if isinstance(getattr(i, "scenario", None), Scenario)
    ]
    shards = assign_shards(ids, shard.total)
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        sid = getattr(item, "scenario_id", None)
        mine = sid is None or sid not in shards or shards[sid] == shard.index
        (keep if mine else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


class Runtime:
    """Runs scenarios one at a time on one event loop (`asyncio.Runner`) with one backend
    factory, both kept for the whole session, so an item costs its scenario and little else.

    Ctrl-C while a scenario runs cancels it (its cassette and backend are released as on any
    cancellation) and then raises `KeyboardInterrupt`, as `asyncio.Runner.run` does; the handler
    that does so is installed once for the session rather than by `Runner.run` around every
    scenario (putting it in place and back cost ~0.5 ms a scenario: `signal.signal` formats the
    handler, and with it the task, in its enum lookup). Between scenarios Ctrl-C is pytest's
    plain `KeyboardInterrupt`.
    """

    def __init__(self, config: pytest.Config, options: PluginOptions, root: Path) -> None:
        self.root = root
        self.options = run_options(config, options, root)
        self._config = config
        self._loop: asyncio.Runner | None = None
        self._factory: BackendFactory | None = None
        self._task: asyncio.Task[ScenarioResult] | None = None
        self._interrupted = False
        self._installed: Any = None  # our SIGINT handler, while it is the installed one

    def run(self, scenario: Scenario) -> ScenarioResult:
        """The scenario's result (never raises for a failing scenario).

        Raises:
            KeyboardInterrupt: Ctrl-C while it ran (it was cancelled first).
        """
        if self._loop is None:
            self._loop = asyncio.Runner()
            self._factory = self._loop.run(self._make_factory())
            self._install_sigint()
        assert self._factory is not None
        loop = self._loop.get_loop()
        self._task = loop.create_task(run_scenario(scenario, self._factory, self.options))
        try:
            return loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            if self._interrupted:
                raise KeyboardInterrupt from None
            raise
        finally:
            self._task = None

    def _install_sigint(self) -> None:
        """Our Ctrl-C handler for the session, where `asyncio.Runner.run` would put its own (the
        main thread, the default handler in place)."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return
        self._installed = self._on_sigint
        signal.signal(signal.SIGINT, self._installed)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        task = self._task
        if task is not None and not task.done() and not self._interrupted:
            self._interrupted = True
            task.cancel()
            task.get_loop().call_soon_threadsafe(lambda: None)  # wake a loop blocked in select
            return
        raise KeyboardInterrupt

    async def _make_factory(self) -> BackendFactory:
        # Built inside the loop: an API client belongs to the loop that opened it.
        custom = self._config.hook.pytest_harness_backend_factory(
            config=self._config, options=self.options
        )
        if custom is not None:
            return custom  # type: ignore[no-any-return]
        return make_factory(self.options.backend, self.options.binding_config())

    def close(self) -> None:
        """Close the backend factory, then the loop; put the default Ctrl-C handler back."""
        if self._installed is not None and signal.getsignal(signal.SIGINT) is self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        self._installed = None
        if self._loop is None:
            return
        try:
            if self._factory is not None:
                self._loop.run(self._factory.aclose())
        finally:
            self._loop.close()
            self._loop = None


class Owner:
    """The batch of a pytest session, in the one process that owns it: report files and history
    (as `harness run` writes them), the baseline comparison and the gate.

    Args:
        ids: the selected scenario ids, in item order.
        scenarios: the selected scenarios when this process collected them (their `regression:`
            thresholds); None under xdist's controller, which reads the files of the results.
    """

    def __init__(
        self,
        config: pytest.Config,
        options: PluginOptions,
        root: Path,
        ids: Sequence[str],
        scenarios: list[Scenario] | None,
    ) -> None:
        self.options = options
        self.root = root
        self.scenarios = scenarios
        self.report_dir = Path(options.report_dir) if options.report_dir else root / "reports"
        self.history_path = (
            Path(options.history) if options.history else self.report_dir / "history.sqlite"
        )
        self.baseline = self._load_baseline()
        self.selection = suite_selection(config, options)
        self.files = ReportFilesSink(self.report_dir / new_batch_id())
        self.history: HistoryStore | None = None
        sinks: list[ResultSink] = [self.files]
        if not options.no_history:
            self.history = HistoryStore(self.history_path)
            sinks.append(HistorySink(self.history))
        run = run_options(config, options, root)
        self.recorder = BatchRecorder(
            root=root,
            selection=self.selection,
            ids=ids,
            options=run,
            sinks=sinks,
            batch_id=self.files.batch_dir.name,
            argv=sys.argv,
        )
        self.summary: RunSummary | None = None
        self.report: RegressionReport | None = None
        self.recorder.start()

    def _load_baseline(self) -> Baseline | None:
        """Loaded before anything runs, so a bad ref stops the session at once (`harness run`
        exits 2 for it)."""
        if not self.options.baseline:
            return None
        from harness.regression import load_baseline

        try:
            return load_baseline(self.options.baseline, history=self.history_path, root=self.root)
        except HarnessError as exc:
            pytest.exit(
                f"harness: --harness-baseline: {exc}", returncode=pytest.ExitCode.USAGE_ERROR
            )

    def add(self, result: ScenarioResult) -> None:
        """One scenario finished: into the report files and the history at once."""
        self.recorder.add(result)

    def finish(self, *, interrupted: bool) -> RunSummary:
        """Write the final report files, finish the batch in the history, compare with the
        baseline (its section goes into `summary.md`)."""

        def compare(summary: RunSummary) -> None:
            if self.baseline is not None:
                from harness.runner.suite import compare_to_baseline

                suite = Suite(self.selection, self.root, self._threshold_scenarios(summary))
                self.report = compare_to_baseline(summary, self.baseline, suite)
                self.files.regression_markdown = self.report.to_markdown()

        try:
            self.summary = self.recorder.finish(interrupted=interrupted, before_finish=compare)
        finally:
            if self.history is not None:
                self.history.close()
        return self.summary

    def _threshold_scenarios(self, summary: RunSummary) -> list[Scenario]:
        if self.scenarios is not None:
            return self.scenarios
        from harness.scenarios import load_scenarios

        files = sorted({r.file for r in summary.results if r.file})
        paths = [f if os.path.isabs(f) else str(self.root / f) for f in files]
        try:
            return load_scenarios([p for p in paths if Path(p).is_file()], root=self.root)
        except HarnessError:
            return []  # a file that no longer loads keeps the project's thresholds

    @property
    def regressed(self) -> bool:
        """Whether the gate fails: a regression, with `--harness-fail-on-regression`."""
        return bool(self.report and self.options.fail_on_regression and self.report.has_regressions)

    def terminal_lines(self, verbose: bool) -> list[str]:
        """What the terminal summary shows: the totals, the table (verbose or with a baseline),
        the regression report, the gate's verdict, the reports folder and sink problems."""
        from harness.runner.console import format_summary, render_table
        from harness.runner.suite import regression_deltas

        summary = self.summary
        if summary is None:
            return []
        lines: list[str] = []
        if verbose or self.report is not None:
            deltas = regression_deltas(self.report) if self.report is not None else None
            lines += [render_table(summary, deltas), ""]
        if self.report is not None:
            lines += [self.report.to_text().rstrip(), ""]
            if self.options.fail_on_regression:
                count = len(self.report.regressions)
                verdict = f"FAILED: {count} regression(s)" if self.regressed else "passed"
                lines.append(f"regression gate (--harness-fail-on-regression): {verdict}")
        lines.append(format_summary(summary))
        lines.append(f"reports: {self.files.batch_dir}")
        for failure in self.recorder.failures:
            lines.append(f"error: the {failure.sink} could not {failure.call}: {failure.error}")
        return lines


def owner_scenarios(items: Sequence[Any]) -> list[Scenario]:
    """The scenarios of the collected items."""
    return [i.scenario for i in items if isinstance(getattr(i, "scenario", None), Scenario)]
