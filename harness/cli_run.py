"""`harness run` and `harness validate`: parse flags, build options and sinks, print, exit.

Selection, running and streaming live in `harness.runner.suite`; formatting in
`harness.runner.console`; report files and the history in `harness.results`; the baseline
comparison in `harness.regression`.

Exit codes of `harness run` (`harness.runner.suite.EXIT_*`):
0 every decided scenario passed and nothing regressed; 1 a scenario failed, or a metric regressed
with `--fail-on-regression`; 2 usage or file errors (bad flags, unreadable scenario or baseline
files, nothing selected); 3 infrastructure errors only (`error` verdicts, or a report or history
that could not be written), no failure; 130 stopped by Ctrl-C; 141 stopped because the reader of
stdout went away (`harness run ... | head`). After 130 and 141 every finished result is in the
reports and the scenarios not run are listed on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.models.result import RunSummary
    from harness.results.sinks import ReportFilesSink
    from harness.runner.suite import Suite

__all__ = ["add_run_commands", "collector_paused"]


def _path(value: str | None) -> Path | None:
    """A path flag as typed: relative to the working folder."""
    return Path(os.path.abspath(value)) if value else None


def _selection(args: argparse.Namespace) -> Any:
    from harness.runner.suite import Selection, Shard

    return Selection(
        paths=tuple(args.paths),
        tags=tuple(args.tag or ()),
        keywords=tuple(args.k or ()),
        shard=Shard.parse(args.shard) if args.shard else None,
        repeat=args.repeat,
    )


def _options(args: argparse.Namespace) -> Any:
    from harness.runner import RunOptions

    options = RunOptions(
        backend=args.backend,
        record_mode="all" if args.rerecord else args.record_mode,
        concurrency=args.concurrency,
        timeout_seconds=args.timeout,
        workers=args.workers,
    )
    # Relative roots are taken under the project root by the suite; flags given are absolute.
    options.cassettes_root = _path(args.cassettes) or Path("cassettes")
    options.scenarios_root = _path(args.scenarios_root) or Path("scenarios")
    return options


def _sinks(args: argparse.Namespace, files: ReportFilesSink, report_dir: Path) -> list[Any]:
    from harness.results.sinks import HistorySink
    from harness.runner.console import ConsoleSink

    sinks: list[Any] = [files]
    if not args.no_history:
        from harness.results.history import HistoryStore

        history = _path(args.history) or report_dir / "history.sqlite"
        sinks.append(HistorySink(HistoryStore(history), close=True))
    # Last, so a closed stdout is noticed after the durable sinks have the result.
    sinks.append(ConsoleSink(sys.stdout, quiet=args.json, live=False if args.plain else None))
    return sinks


def _baseline(args: argparse.Namespace, suite: Suite, report_dir: Path) -> Any:
    """The baseline to compare against, loaded before the run (a bad ref is exit 2 at once)."""
    if args.baseline is None:
        if args.fail_on_regression:
            from harness.errors import HarnessError

            raise HarnessError(
                "--fail-on-regression needs a --baseline to compare with",
                hint="add --baseline reports/baseline.json (or a batch id, latest, branch:NAME)",
            )
        return None
    from harness.regression import load_baseline

    history = _path(args.history) or report_dir / "history.sqlite"
    return load_baseline(args.baseline, history=history, root=suite.root)


def _print_end(args: argparse.Namespace, summary: RunSummary, report: Any, folder: Path) -> None:
    from harness.runner.console import format_summary, render_table
    from harness.runner.suite import regression_deltas

    if args.json:
        print(summary.model_dump_json(indent=1), flush=True)
        return
    deltas = regression_deltas(report) if report is not None else None
    print("\n" + render_table(summary, deltas))
    if report is not None:
        print("\n" + report.to_text().rstrip())
    from harness.clock import since_process_start

    print(format_summary(summary, wall_s=since_process_start()))
    print(f"reports: {folder}", flush=True)


def _print_problems(suite: Suite, summary: RunSummary) -> None:
    for failure in suite.sink_failures:
        print(
            f"error: the {failure.sink} could not {failure.call}: {failure.error}",
            file=sys.stderr,
        )
    if summary.not_run:
        why = suite.stopped.value if suite.stopped else "stopped"
        print(f"{why}: {len(summary.not_run)} scenario(s) not run:", file=sys.stderr)
        for sid in summary.not_run:
            print(f"  {sid}", file=sys.stderr)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection during start-up; what start-up built is then frozen out of it.

    Start-up (imports, pydantic schemas, the scenarios read) builds objects that live until exit:
    the collector would scan them in about 130 collections and free next to nothing (~45 ms of a
    0.5 s start). Frozen, the first collections after start-up skip them too (the batch unfreezes
    everything when it ends, `harness.runner.batch_gc`). Nothing is frozen if start-up fails.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        gc.enable()


def _cmd_run(args: argparse.Namespace) -> int:
    from harness import _git

    _start_git_status(args.paths)
    try:
        return _run(args)
    finally:
        _git.discard_pending()  # (a run that stopped before its batch began)


def _start_git_status(paths: list[str]) -> None:
    """Start the project root's `git status` for the batch's provenance, so that git reads the
    checkout while the models are imported and the files read (`harness._git`)."""
    from harness import _git
    from harness._project import project_root_for
    from harness.errors import HarnessError

    try:
        root = project_root_for(paths)
    except (HarnessError, OSError):  # (reading the scenarios reports it)
        return
    _git.start_status(root)


def _run(args: argparse.Namespace) -> int:
    with collector_paused():
        from harness.models.result import new_batch_id
        from harness.results.sinks import ReportFilesSink
        from harness.runner.suite import Stop, Suite, compare_to_baseline, exit_code

        options = _options(args)
        suite = Suite.select(_selection(args), options=options)
        report_dir = _path(args.report_dir) or suite.root / "reports"
        baseline = _baseline(args, suite, report_dir)
        batch_id = new_batch_id()
        files = ReportFilesSink(report_dir / batch_id)
        sinks = _sinks(args, files, report_dir)
    report: Any = None

    def compare(summary: RunSummary) -> None:
        nonlocal report
        if baseline is not None:
            report = compare_to_baseline(summary, baseline, suite)
            files.regression_markdown = report.to_markdown()

    summary = suite.run(options, sinks, batch_id=batch_id, before_finish=compare)
    _print_problems(suite, summary)
    if suite.stopped is not Stop.PIPE_CLOSED:
        try:
            _print_end(args, summary, report, files.batch_dir)
        except BrokenPipeError:
            suite.stopped = Stop.PIPE_CLOSED
    if suite.stopped is Stop.PIPE_CLOSED:
        # Nobody reads stdout: point it at devnull so the interpreter's last flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    regressed = bool(report is not None and args.fail_on_regression and report.has_regressions)
    return exit_code(
        summary, stopped=suite.stopped, regressed=regressed, sink_failed=bool(suite.sink_failures)
    )


def _cmd_validate(args: argparse.Namespace) -> int:
    from harness.scenarios import format_issues, validate

    report = validate(args.paths)
    if report.issues:
        print(format_issues(report.issues), file=sys.stderr)
        return 2
    workflows = len(report.workflow_files)
    print(f"{len(report.scenarios)} scenario(s) and {workflows} workflow file(s) valid")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _workers(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return _positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected auto or a whole number >= 1, got {text!r}"
        ) from None


def _add_selection(run: argparse.ArgumentParser) -> None:
    run.add_argument("paths", nargs="+", metavar="PATHS", help="scenario files or folders")
    run.add_argument("--tag", action="append", help="only scenarios with this tag (repeatable)")
    run.add_argument("-k", action="append", metavar="SUBSTR", help="only ids/names containing it")
    run.add_argument(
        "--shard", metavar="I/N", help="only shard I of N (deterministic by scenario id)"
    )
    run.add_argument(
        "--repeat", type=_positive, metavar="N", help="run each scenario N times (overrides runs)"
    )


def _add_backend(run: argparse.ArgumentParser) -> None:
    run.add_argument("--backend", choices=["engine", "api"], default="engine")
    run.add_argument(
        "--record-mode",
        choices=["none", "once", "new_episodes", "all"],
        default="none",
        help="cassette record mode (default none: replay only)",
    )
    run.add_argument("--rerecord", action="store_true", help="same as --record-mode all")
    run.add_argument(
        "--concurrency", type=_positive, default=4, help="scenarios at once (default 4)"
    )
    run.add_argument(
        "--workers",
        type=_workers,
        default="auto",
        metavar="N|auto",
        help="processes to run scenarios in, each with --concurrency (default auto: one per "
        "core but at most one per 32 scenarios, for engine replays; recording runs in one; "
        "without fork (Windows) always 1)",
    )
    run.add_argument("--timeout", type=float, default=300.0, help="seconds per run (default 300)")
    run.add_argument("--cassettes", help="cassettes folder (default <root>/cassettes)")
    run.add_argument(
        "--scenarios-root", help="folder mirrored in the cassettes (default <root>/scenarios)"
    )


def _add_outputs(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--report-dir", metavar="DIR", help="where reports go (default <root>/reports)"
    )
    run.add_argument(
        "--history", metavar="PATH", help="history database (default <report dir>/history.sqlite)"
    )
    run.add_argument("--no-history", action="store_true", help="do not record the batch in it")
    run.add_argument(
        "--baseline",
        metavar="REF",
        help="compare with a baseline: a file (reports/baseline.json), a batch id, latest, "
        "or branch:NAME",
    )
    run.add_argument(
        "--fail-on-regression", action="store_true", help="exit 1 when a metric regressed"
    )
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument(
        "--plain", action="store_true", help="plain verdict lines even on a terminal (no live view)"
    )


def add_run_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `run` and `validate` to the `harness` parser."""
    run = sub.add_parser(
        "run",
        help="run scenarios, print verdicts and a table, write reports and the history",
        description="Run scenarios (ids, cassettes and reports are relative to the project root: "
        "the folder of harness.toml or of a pyproject.toml with [tool.harness], found upward "
        "from PATHS). Exit codes: 0 all passed; 1 failures, or regressions with "
        "--fail-on-regression; 2 usage or file errors; 3 infrastructure errors only; 130 Ctrl-C; "
        "141 stdout closed.",
    )
    _add_selection(run)
    _add_backend(run)
    _add_outputs(run)
    run.set_defaults(handler=_cmd_run)
    validate = sub.add_parser(
        "validate", help="check scenario and workflow files; exit 2 on any problem"
    )
    validate.add_argument("paths", nargs="+", metavar="PATHS")
    validate.set_defaults(handler=_cmd_validate)
