"""`pytest scenarios/` with the plugin's items run ahead in workers, next to one process.

Run: `python benchmarks/pytest_workers.py [--workload five-turn|single-turn] [--scenarios N]
[--rounds R] [--keep DIR]`. Prints one JSON document.

Each round runs, in fresh processes timed from spawn to exit, alternating (so a busy minute hits
all three alike): `pytest -q scenarios/` with `--harness-workers 1` (every item in pytest's
process), with the default `--harness-workers auto`, and `harness run scenarios/` (its own
default, workers auto) for reference. All three write their report files and history as a user's
run does (each command its own history, kept across rounds); plugins of the development
environment that a scenario suite does not use are turned off (`-p no:...`), as in
`benchmarks/pytest_overhead.py`. The suites are those of `benchmarks/compare.py` (the five-turn
suite of `e2e.py`, the single-turn suite of `peers.py`), recorded once before the timed runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import compare  # noqa: E402  (the suites, a timed run)

from harness.runner.workers import auto_count  # noqa: E402

ROOT = HERE.parent
UNRELATED_PLUGINS = ("hypothesispytest", "schemathesis", "anyio", "asyncio", "xdist", "timeout")


def _commands() -> dict[str, list[str]]:
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    for plugin in UNRELATED_PLUGINS:
        pytest += ["-p", f"no:{plugin}"]
    harness = [sys.executable, "-c", compare.RUN, "run", "scenarios", "--plain"]
    return {
        "pytest_one_process": [*pytest, "--harness-workers", "1", "scenarios"],
        "pytest_workers_auto": [*pytest, "scenarios"],
        "harness_run": harness,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("five-turn", "single-turn"), default="five-turn")
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate the suite here and keep it")
    args = parser.parse_args()
    if auto_count(args.scenarios) < 2:
        raise SystemExit("pytest's default (--harness-workers auto) would use one process here")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="harness-pytest-workers-"))
    try:
        suite = compare._make_suite(args.workload, args.scenarios, folder)
        commands = _commands()
        walls: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                # Fresh processes, each command its own reports and history (compare.py's).
                walls[name].append(compare._one_run(name, ROOT, suite, command))
        figures = {
            name: {
                "min_s": round(min(values), 3),
                "median_s": round(statistics.median(values), 3),
                "each_s": [round(v, 3) for v in values],
            }
            for name, values in walls.items()
        }
        one, ahead = walls["pytest_one_process"], walls["pytest_workers_auto"]
        result: dict[str, Any] = {
            "workload": args.workload,
            "scenarios": args.scenarios,
            "rounds": args.rounds,
            "covers": "process spawn to exit: interpreter, imports, collection, the items, "
            "report files and history",
            "walls": figures,
            "one_process_over_workers_median": round(
                statistics.median(one) / statistics.median(ahead), 2
            ),
        }
        print(json.dumps(result, indent=2))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
