"""Old and new code side by side in the same minute: `harness run` from an earlier commit and from
this checkout, alternating, each run a fresh process timed from spawn to exit.

Run: `python benchmarks/compare.py --base REV [--workload single-turn|five-turn|examples]
[--scenarios N] [--rounds R] [--startup] [--keep DIR] [-- HARNESS_RUN_ARGS...]`
(default arguments: `--concurrency 1 --workers 1`). Prints one JSON document.

This machine's speed drifts by up to 30% within the hour, so a figure measured an hour ago is no
baseline: this script is how docs/performance.md's "This round" tables were made. The earlier
commit is checked out into a temporary git worktree and put first on `PYTHONPATH`, so both run
with this venv's interpreter and packages (`harness_from` in the output shows which code each
run imported). The workloads are generated, and recorded, once by this checkout's code:
- `single-turn`: `peers.py`'s N single-turn scenarios (one replayed LLM call each);
- `five-turn`: `e2e.py`'s N x 5-turn suite;
- `examples`: a copy of `scenarios/` and `cassettes/` (its tools really run), and of
  `reports/baseline.json` as `baseline.json` (`-- --baseline baseline.json --fail-on-regression`
  is the README's main job).
Each tree keeps its own `reports/` (history included) between its runs, as a user's repeated
runs do; each run's report folder is deleted after it. `--startup` times the start-up instead
(the `reading_starts` mark of each tree's `benchmarks/_timed_run.py`: process start until the
scenario files are read), on a one-scenario suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import e2e  # noqa: E402  (the five-turn suite, the example suite)
import peers  # noqa: E402  (the single-turn suite)

RUN = "import sys; from harness.cli import main; sys.exit(main())"  # as the console script


def _make_suite(workload: str, count: int, folder: Path) -> Path:
    if (folder / "scenarios").is_dir() and (folder / "cassettes").is_dir():
        return folder  # --keep: made by an earlier run
    folder.mkdir(parents=True, exist_ok=True)
    if workload == "single-turn":
        return peers._single_turn_suite(folder, count)
    if workload == "five-turn":
        e2e._record(folder, count)
        return folder
    e2e._examples(folder)
    shutil.copy(ROOT / "reports" / "baseline.json", folder / "baseline.json")  # for --baseline
    return folder


def _worktree(rev: str, into: Path) -> Path:
    tree = into / "base"
    done = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(tree), rev],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"--base {rev}: git could not check it out: {done.stderr.strip()}")
    # Bytecode compiled now, as an installed package has it: the first timed run would pay it.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "harness")], check=True)
    return tree


def _env(tree: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "OPENAI_BASE_URL": e2e.UNREACHABLE}
    env.setdefault("OPENAI_API_KEY", "sk-none")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _harness_from(tree: Path, suite: Path) -> str:
    """Where the runs in `suite` import `harness` from: refuses a tree that is not the one asked."""
    probe = "import harness; print(harness.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=suite,
        env=_env(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    found = Path(done.stdout.strip())
    if not found.is_relative_to(tree):
        raise SystemExit(f"runs meant for {tree} would import harness from {found}")
    return str(found)


def _one_run(name: str, tree: Path, suite: Path, command: list[str]) -> float:
    """One fresh process in `suite` with `tree`'s code: its wall, spawn to exit (seconds)."""
    reports, own = suite / "reports", suite / f"reports.{name}"
    shutil.rmtree(reports, ignore_errors=True)
    if own.is_dir():
        own.rename(reports)  # this tree's history from its earlier runs
    started = time.perf_counter()
    done = subprocess.run(command, cwd=suite, env=_env(tree), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise SystemExit(f"{tree}: {' '.join(command[2:])} exited {done.returncode}:\n{tail}")
    if reports.is_dir():  # (a run given --report-dir elsewhere writes none here)
        for batch in reports.glob("[0-9]*T*"):
            shutil.rmtree(batch, ignore_errors=True)
        (reports / "latest").unlink(missing_ok=True)
        reports.rename(own)
    return wall


def _start_up_ms(name: str, tree: Path, suite: Path) -> float:
    script = tree / "benchmarks" / "_timed_run.py"
    if not script.is_file():
        raise SystemExit(f"{tree} has no benchmarks/_timed_run.py: --startup needs it in both")
    out = suite / "timings.json"
    _one_run(name, tree, suite, [sys.executable, str(script), str(out), "run", "scenarios"])
    return float(json.loads(out.read_text())["marks"]["reading_starts"]) * 1000


def _figures(values: list[float], digits: int) -> dict[str, Any]:
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "each": [round(value, digits) for value in values],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the earlier commit (any git revision)")
    parser.add_argument(
        "--workload", choices=("single-turn", "five-turn", "examples"), default="single-turn"
    )
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--startup", action="store_true", help="time the start-up only")
    parser.add_argument(
        "--keep", type=Path, help="generate the suite here and keep it (reused by a later run)"
    )
    parser.add_argument("run_args", nargs="*", help="after --: `harness run` arguments")
    args = parser.parse_args()
    if args.rounds < 1 or args.scenarios < 1:
        parser.error("--rounds and --scenarios must be at least 1")
    run_args = args.run_args or ["--concurrency", "1", "--workers", "1"]
    scratch = Path(tempfile.mkdtemp(prefix="harness-compare-"))
    base: Path | None = None
    try:
        base = _worktree(args.base, scratch)
        count = 1 if args.startup else args.scenarios
        folder = args.keep or scratch / "suite"
        suite = _make_suite("single-turn" if args.startup else args.workload, count, folder)
        trees = {"base": base, "new": ROOT}
        sources = {name: _harness_from(tree, suite) for name, tree in trees.items()}
        figures: dict[str, list[float]] = {name: [] for name in trees}
        command = [sys.executable, "-c", RUN, "run", "scenarios", *run_args]
        for _ in range(args.rounds):  # alternating, so both see the same minutes
            for name, tree in trees.items():
                if args.startup:
                    value = _start_up_ms(name, tree, suite)
                else:
                    value = _one_run(name, tree, suite, command)
                figures[name].append(value)
        unit, digits = ("start_up_ms", 1) if args.startup else ("wall_s", 3)
        medians = {name: statistics.median(values) for name, values in figures.items()}
        report = {
            "base": args.base,
            "workload": "start-up" if args.startup else args.workload,
            "scenarios": count,
            "harness_run_args": [] if args.startup else run_args,
            "rounds": args.rounds,
            "harness_from": sources,
            unit: {name: _figures(values, digits) for name, values in figures.items()},
            "new_over_base_median": round(medians["new"] / medians["base"], 3),
        }
        print(json.dumps(report, indent=2))
    finally:
        if base is not None:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False
            )
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
