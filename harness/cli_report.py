"""`harness report compare|merge` and `harness baseline update`: a thin front end over
`harness.regression` and `harness.results` (docs/regressions.md).

Exit codes: 0 done (compare: no regression); 1 compare found a regression; 2 usage or file
errors (a baseline or batch that cannot be found or read).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]

_FORMATS = ("text", "markdown", "json")


def _root() -> Path:
    from harness.config import find_project_root

    return find_project_root(Path.cwd()) or Path.cwd()


def _history(args: argparse.Namespace) -> Path | None:
    return Path(args.history) if args.history else None


def _cmd_compare(args: argparse.Namespace) -> int:
    from harness.config import load_settings
    from harness.regression import compare, load_baseline, thresholds_for

    root = _root()
    history = _history(args)
    baseline = load_baseline(args.baseline, history=history, root=root)
    current = load_baseline(args.current, history=history, root=root)
    thresholds, note = thresholds_for(current, root, load_settings(root).regression)
    if note:
        print(f"note: {note}", file=sys.stderr)
    report = compare(current, baseline, thresholds)
    rendered = {"text": report.to_text, "markdown": report.to_markdown, "json": report.to_json}
    print(rendered[args.format]().rstrip("\n"))
    return 1 if report.has_regressions else 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from harness.results.merge import merge_into

    summary, folder = merge_into(args.batches, args.output)
    print(
        f"merged {len(args.batches)} batch(es) into {folder}: {summary.total} scenario(s), "
        f"{summary.passed} passed, {summary.failed} failed, {summary.errored} error(s), "
        f"{summary.skipped} skipped"
    )
    return 0


def _cmd_baseline_update(args: argparse.Namespace) -> int:
    from harness.regression import load_baseline, write_baseline

    root = _root()
    baseline = load_baseline(args.source, history=_history(args), root=root)
    output = Path(args.output) if args.output else root / "reports" / "baseline.json"
    write_baseline(baseline, output)
    compared = sum(s.compared for s in baseline.scenarios.values())
    commit = baseline.source.get("git_commit")
    where = f" (commit {str(commit)[:10]})" if commit else ""
    print(
        f"wrote {output}: {len(baseline.scenarios)} scenario(s) ({compared} with metrics) "
        f"from {baseline.label}{where}"
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `report` (compare, merge) and `baseline` (update) to the `harness` parser."""
    report = sub.add_parser("report", help="compare batches, merge shard reports")
    report_sub = report.add_subparsers(dest="report_command", metavar="SUBCOMMAND", required=True)

    compare = report_sub.add_parser(
        "compare",
        help="print the regressions of batch CURRENT against BASELINE; exit 1 if any",
        description="BASELINE and CURRENT are each a baseline file, a report folder "
        "(reports/<batch>) or results file, a batch id of the history, `latest` or "
        "`branch:NAME`. Thresholds: [tool.harness.regression] and the scenarios' `regression:`.",
    )
    compare.add_argument("baseline", metavar="BASELINE", help="e.g. reports/baseline.json")
    compare.add_argument("current", metavar="CURRENT", help="e.g. latest")
    compare.add_argument("--format", choices=_FORMATS, default="text", help="default text")
    compare.add_argument("--history", metavar="PATH", help="default reports/history.sqlite")
    compare.set_defaults(handler=_cmd_compare)

    merge = report_sub.add_parser(
        "merge", help="combine the report folders of shards into one batch folder"
    )
    merge.add_argument("batches", nargs="+", metavar="DIR", help="reports/<batch> of each shard")
    merge.add_argument(
        "-o", "--output", metavar="DIR", help="default reports/<merged batch id> beside the first"
    )
    merge.set_defaults(handler=_cmd_merge)

    baseline = sub.add_parser("baseline", help="the committed regression baseline")
    baseline_sub = baseline.add_subparsers(
        dest="baseline_command", metavar="SUBCOMMAND", required=True
    )
    update = baseline_sub.add_parser(
        "update", help="write the baseline file from a batch (default: the latest)"
    )
    update.add_argument(
        "--from",
        dest="source",
        default="latest",
        metavar="BATCH",
        help="a batch id, `latest`, `branch:NAME`, or a report folder (default latest)",
    )
    update.add_argument(
        "-o", "--output", metavar="FILE", help="default reports/baseline.json at the project root"
    )
    update.add_argument("--history", metavar="PATH", help="default reports/history.sqlite")
    update.set_defaults(handler=_cmd_baseline_update)
