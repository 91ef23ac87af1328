"""What the workers' coordination costs: one batch through `harness run --workers auto` against
the same scenarios run as shards in separate processes at once, which share nothing.

Run: `python benchmarks/shards.py [--scenarios 1000] [--rounds 3] [--keep DIR]`. Prints one JSON
document.

On the single-turn suite of `peers.py` (one replayed LLM call a scenario), alternating in the same
minutes, each a fresh process tree timed from spawn to exit (report files and history written):
- `one_process`: `harness run scenarios --workers 1`;
- `workers_auto`: `harness run scenarios` (the default `--workers auto`);
- `shards`: `harness run scenarios --workers 1 --shard I/N` for I = 1..N (N = the usable cores),
  all started at once, timed until the last exits: what a CI matrix on one machine does. Each shard is a
  whole run (its own start-up, reading of every file, report folder), and they write the one
  history database, as they would in one checkout;
- `one_scenario`: the first scenario alone, subtracted for the per-scenario figures, as in
  `peers.py` (`(wall - one_scenario) / (N - 1)`).

The shards need no parent reading every file before the first fork, no result sent through a
pipe and validated again, and write their report files in parallel: their wall bounds what any
split of one batch over these cores could give this workload (the shards still read every
file, to select theirs: a split that read only its own would save that much more).
`--concurrency 1` throughout, as in `peers.py`.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import compare  # noqa: E402  (the console script's entry, as `compare.RUN`)
import e2e  # noqa: E402  (the environment of a replay: the model unreachable)
import peers  # noqa: E402  (the single-turn suite)

from harness.runner.workers import cpu_count  # noqa: E402  (what `--workers auto` counts)


def _env() -> dict[str, str]:
    env = {**os.environ, "OPENAI_BASE_URL": e2e.UNREACHABLE, "OPENAI_API_KEY": "sk-none"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _wall(suite: Path, commands: list[list[str]]) -> float:
    """Start every command at once in `suite`; seconds until the last one exited."""
    started = time.perf_counter()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", compare.RUN, "run", *command],
            cwd=suite,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for command in commands
    ]
    outputs = [child.communicate() for child in children]
    wall = time.perf_counter() - started
    for child, command, (out, err) in zip(children, commands, outputs, strict=True):
        if child.returncode != 0:
            tail = "\n".join((out + err).decode(errors="replace").splitlines()[-15:])
            raise SystemExit(f"harness run {' '.join(command)} exited {child.returncode}:\n{tail}")
    for batch in (suite / "reports").glob("[0-9]*T*"):  # the history stays, as for a user
        shutil.rmtree(batch, ignore_errors=True)
    return wall


def _figures(walls: list[float], small: list[float], count: int) -> dict[str, float]:
    per = [(w - s) / (count - 1) * 1000 for w, s in zip(walls, small, strict=True)]
    return {
        "wall_s_min": round(min(walls), 3),
        "wall_s_median": round(statistics.median(walls), 3),
        "per_scenario_ms_min": round(min(per), 2),
        "per_scenario_ms_median": round(statistics.median(per), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate the suite here and keep it")
    args = parser.parse_args()
    if args.rounds < 1 or args.scenarios < 2:
        parser.error("--rounds must be at least 1 and --scenarios at least 2")
    scratch = Path(tempfile.mkdtemp(prefix="harness-shards-"))
    try:
        folder = args.keep or scratch / "suite"
        if not (folder / "scenarios").is_dir():
            peers._single_turn_suite(folder, args.scenarios)
        count = len(list((folder / "scenarios").glob("*.yaml")))
        first = sorted((folder / "scenarios").glob("*.yaml"))[0].relative_to(folder)
        cores = cpu_count()
        base = ["--concurrency", "1"]
        setups = {
            "one_scenario": [[str(first), *base]],
            "one_process": [["scenarios", *base, "--workers", "1"]],
            "workers_auto": [["scenarios", *base]],
            "shards": [
                ["scenarios", *base, "--workers", "1", "--shard", f"{i}/{cores}"]
                for i in range(1, cores + 1)
            ],
        }
        walls: dict[str, list[float]] = {name: [] for name in setups}
        for _ in range(args.rounds):  # alternating, so every setup sees the same minutes
            for name, commands in setups.items():
                walls[name].append(_wall(folder, commands))
        small = walls.pop("one_scenario")
        report = {
            "benchmark": "one batch over the cores: workers against shards that share nothing",
            "scenarios": count,
            "cores": cores,
            "rounds": args.rounds,
            "one_scenario_s_min": round(min(small), 3),
            **{name: _figures(values, small, count) for name, values in walls.items()},
        }
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
