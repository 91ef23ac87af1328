"""`harness run` and `harness validate`: load, run, print verdicts, write reports (a thin front end).

Exit codes: 0 every scenario passed; 1 a scenario failed or errored (or the run was interrupted:
130); 2 usage or file errors (the loader's problems are printed with file:line:col).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from harness.models.result import RunSummary, ScenarioResult, Verdict

__all__ = ["add_run_commands", "format_result", "format_summary"]

_MARK = {
    Verdict.PASSED: "PASS",
    Verdict.FAILED: "FAIL",
    Verdict.ERROR: "ERROR",
    Verdict.SKIPPED: "SKIP",
}
_LIMIT = 10


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
        lines.append(
            f"      ~ {len(result.stale)} recorded interaction(s) never used (stale); "
            f"re-record: harness run {result.file or result.scenario_id} --rerecord"
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


def format_summary(summary: RunSummary) -> str:
    """The totals line: passed, failed, errors, tokens, LLM latency and wall time."""
    attempts = [a for r in summary.results for a in r.attempts]
    tokens = sum(a.tokens for a in attempts)
    latency = sum(a.latency_ms for a in attempts)
    calls = sum(a.llm_calls for a in attempts)
    note = " (interrupted)" if summary.interrupted else ""
    return (
        f"{summary.total} scenario(s): {summary.passed} passed, {summary.failed} failed, "
        f"{summary.errored} error(s), {summary.skipped} skipped{note}; {tokens} tokens in {calls} LLM call(s), "
        f"LLM latency {latency:.0f} ms; wall {summary.duration_ms / 1000:.2f} s"
    )


def _load(paths: list[str], tags: list[str], substrings: list[str]) -> list[Any]:
    from harness.scenarios import load_scenarios

    scenarios = load_scenarios(paths)  # ScenarioLoadError: printed by `main`, exit code 2
    if tags:
        scenarios = [s for s in scenarios if set(tags) & set(s.tags)]
    if substrings:
        scenarios = [
            s for s in scenarios if any(k in (s.id or "") or k in s.name for k in substrings)
        ]
    return scenarios


def _cmd_run(args: argparse.Namespace) -> int:
    from harness.runner import Runner, RunOptions
    from harness.store import ResultsWriter

    scenarios = _load(args.paths, args.tag or [], args.k or [])
    if not scenarios:
        print("error: no scenario matches", file=sys.stderr)
        return 2
    options = RunOptions(
        backend=args.backend,
        record_mode="all" if args.rerecord else args.record_mode,
        concurrency=args.concurrency,
        timeout_seconds=args.timeout,
        cassettes_root=Path(args.cassettes),
        scenarios_root=Path(args.scenarios_root),
    )
    writer = ResultsWriter(args.report_dir)

    def finished(result: ScenarioResult) -> None:
        writer.add(result)
        if not args.json:
            print(format_result(result), flush=True)

    runner = Runner(options, on_result=finished)
    interrupted = False
    try:
        summary = asyncio.run(runner.run(scenarios))
    except KeyboardInterrupt:
        interrupted = True
        summary = runner.summary(interrupted=True)
    path = writer.finish(summary)
    if args.json:
        print(summary.model_dump_json(indent=1))
    else:
        print(format_summary(summary))
        print(f"results: {path}")
    if interrupted:
        return 130
    return summary.exit_code


def _cmd_validate(args: argparse.Namespace) -> int:
    from harness.scenarios import format_issues, validate

    report = validate(args.paths)
    if report.issues:
        print(format_issues(report.issues), file=sys.stderr)
        return 2
    workflows = len(report.workflow_files)
    print(f"{len(report.scenarios)} scenario(s) and {workflows} workflow file(s) valid")
    return 0


def add_run_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `run` and `validate` to the `harness` parser."""
    run = sub.add_parser("run", help="run scenarios and print a verdict per scenario")
    run.add_argument("paths", nargs="+", metavar="PATHS", help="scenario files or folders")
    run.add_argument("--backend", choices=["engine", "api"], default="engine")
    run.add_argument(
        "--record-mode",
        choices=["none", "once", "new_episodes", "all"],
        default="none",
        help="cassette record mode (default none: replay only)",
    )
    run.add_argument("--rerecord", action="store_true", help="same as --record-mode all")
    run.add_argument("--concurrency", type=int, default=4, help="scenarios at once (default 4)")
    run.add_argument("--timeout", type=float, default=300.0, help="seconds per run (default 300)")
    run.add_argument("--tag", action="append", help="only scenarios with this tag (repeatable)")
    run.add_argument("-k", action="append", metavar="SUBSTR", help="only ids/names containing it")
    run.add_argument("--report-dir", default="reports", help="where reports go (default reports)")
    run.add_argument("--cassettes", default="cassettes", help="cassettes folder")
    run.add_argument("--scenarios-root", default="scenarios", help="root mirrored in cassettes/")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.set_defaults(handler=_cmd_run)
    validate = sub.add_parser(
        "validate", help="check scenario and workflow files; exit 2 on any problem"
    )
    validate.add_argument("paths", nargs="+", metavar="PATHS")
    validate.set_defaults(handler=_cmd_validate)
