"""Comparing two batches of a big history: 1,000,000 `turn_usage` rows (and as many `llm_calls`).

Run: `python benchmarks/regression.py [--rows N] [--batches B] [--repeats R] [--db PATH]`. Prints
one JSON document. Target: comparing two batches in at most 2 s from process start (imports
included) on the 2-core development machine.

1. Creates a history database with `harness.results.history.HistoryStore` (so its schema and
   indexes are the real ones), then fills it with raw SQL: B batches of N / B turn rows each
   (scenarios x 5 attempts x 5 turns x 4 nodes, one LLM call per row with lognormal latency), the
   matching `llm_calls`, `attempt_results`, `scenario_results` and `batches` rows. The last batch
   carries regressions: +30% tokens on one node of every 50th scenario and +30% latency on every
   100th scenario.
2. Times `harness report compare`'s work in a fresh Python process, R times:
   `load_baseline(<previous batch>)`, `load_baseline(<last batch>)`, `compare(...)`, with the
   child's own split of the time (imports, each load, compare) and the wall time of the whole
   process from start to exit.
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.results.history import HistoryStore

ATTEMPTS, TURNS, NODES = 5, 5, 4
TARGET_SECONDS = 2.0

CHILD = r"""
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from harness.regression import compare, load_baseline
imported = time.perf_counter()
db, old, new = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
baseline = load_baseline(old, history=db, root=db.parent)
loaded_old = time.perf_counter()
current = load_baseline(new, history=db, root=db.parent)
loaded_new = time.perf_counter()
report = compare(current, baseline)
done = time.perf_counter()
print(json.dumps({
    "import_s": imported - started,
    "load_baseline_s": loaded_old - imported,
    "load_current_s": loaded_new - loaded_old,
    "compare_s": done - loaded_new,
    "inside_s": done - started,
    "groups_per_batch": len(current.usage.keys),
    "regressions": len(report.regressions),
    "improvements": len(report.improvements),
    "regressed_scenarios": len({c.scenario for c in report.regressions}),
}))
"""


def _batch_id(number: int) -> str:
    return f"20260101T{number // 60:02d}{number % 60:02d}00-000000"


def generate(path: Path, rows: int, batches: int) -> dict[str, float]:
    """Fill a new history database; returns how long it took."""
    started = time.perf_counter()
    HistoryStore(path).close()  # the real schema and indexes
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    per_batch = rows // batches
    scenarios = max(1, per_batch // (ATTEMPTS * TURNS * NODES))
    rng = np.random.default_rng(7)
    base_tokens = rng.integers(50, 2000, size=(scenarios, TURNS, NODES))
    base_latency = rng.uniform(200, 2000, size=(scenarios, TURNS, NODES))
    db.execute("BEGIN")
    for number in range(batches):
        last = number == batches - 1
        _one_batch(db, _batch_id(number), base_tokens, base_latency, rng, regress=last)
    db.execute("COMMIT")
    db.close()
    return {"generate_s": time.perf_counter() - started, "scenarios_per_batch": scenarios}


def _one_batch(
    db: sqlite3.Connection,
    batch_id: str,
    tokens: np.ndarray,  # type: ignore[type-arg]
    latency: np.ndarray,  # type: ignore[type-arg]
    rng: np.random.Generator,
    *,
    regress: bool,
) -> None:
    scenarios = tokens.shape[0]
    db.execute(
        "INSERT INTO batches (batch_id, started_at, finished_at, status, git_branch, backend) "
        "VALUES (?, ?, ?, 'finished', 'main', 'engine')",
        (batch_id, "2026-01-01T00:00:00", "2026-01-01T00:10:00"),
    )
    usage, calls, attempts, results = [], [], [], []
    noise = rng.lognormal(0.0, 0.2, size=(scenarios, ATTEMPTS, TURNS, NODES))
    for s in range(scenarios):
        scenario_id = f"suite/group_{s // 100:03d}/scenario_{s:05d}"
        token_scale = 1.3 if regress and s % 50 == 0 else 1.0
        latency_scale = 1.3 if regress and s % 100 == 0 else 1.0
        results.append((batch_id, scenario_id, scenario_id, "passed", ATTEMPTS, ATTEMPTS))
        for a in range(ATTEMPTS):
            attempts.append((batch_id, scenario_id, a, "passed"))
            for t in range(TURNS):
                for n in range(NODES):
                    total = int(tokens[s, t, n] * (token_scale if n == 0 else 1.0))
                    ms = float(latency[s, t, n] * noise[s, a, t, n] * latency_scale)
                    node = f"node_{n}"
                    usage.append(
                        (batch_id, scenario_id, a, t, node, node, "gpt-4o-mini", "openai",
                         total - total // 5, total // 5, total, 1, ms, total * 1.5e-7)
                    )  # fmt: skip
                    calls.append((batch_id, scenario_id, a, t, node, ms))
    db.executemany(
        "INSERT INTO scenario_results (batch_id, scenario_id, name, verdict, attempts, "
        "passed_attempts) VALUES (?, ?, ?, ?, ?, ?)",
        results,
    )
    db.executemany(
        "INSERT INTO attempt_results (batch_id, scenario_id, attempt, verdict) VALUES (?,?,?,?)",
        attempts,
    )
    db.executemany("INSERT INTO turn_usage VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", usage)
    db.executemany("INSERT INTO llm_calls VALUES (?,?,?,?,?,?)", calls)


def time_compare(path: Path, old: str, new: str) -> dict[str, float]:
    """One fresh process comparing two batches; its wall time and its own split."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), old, new],
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    figures: dict[str, float] = json.loads(done.stdout)
    figures["process_wall_s"] = wall
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="turn_usage rows in all")
    parser.add_argument("--batches", type=int, default=10, help="batches they are spread over")
    parser.add_argument("--repeats", type=int, default=3, help="timed comparisons")
    parser.add_argument("--db", help="keep the database here (reused when it exists)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="harness-regression-"))
    path = Path(args.db) if args.db else folder / "history.sqlite"
    generated: dict[str, float] = {}
    if not path.exists():
        generated = generate(path, args.rows, args.batches)
    with sqlite3.connect(path) as db:
        stored = db.execute("SELECT COUNT(*) FROM turn_usage").fetchone()[0]
        calls = db.execute("SELECT COUNT(*) FROM llm_calls").fetchone()[0]
        ids = [r[0] for r in db.execute("SELECT batch_id FROM batches ORDER BY batch_id")]
    runs = [time_compare(path, ids[-2], ids[-1]) for _ in range(args.repeats)]
    walls = [r["process_wall_s"] for r in runs]
    result = {
        "turn_usage_rows": stored,
        "llm_calls_rows": calls,
        "batches": len(ids),
        "rows_per_batch_compared": stored // max(len(ids), 1),
        "database_mb": round(path.stat().st_size / 1e6, 1),
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in generated.items()},
        "process_wall_s": {
            "min": round(min(walls), 3),
            "median": round(statistics.median(walls), 3),
            "max": round(max(walls), 3),
        },
        "split_of_best_s": {
            k: (round(v, 3) if isinstance(v, float) else v)
            for k, v in min(runs, key=lambda r: r["process_wall_s"]).items()
        },
        "target_s": TARGET_SECONDS,
        "met": statistics.median(walls) <= TARGET_SECONDS,
    }
    print(json.dumps(result, indent=1))
    if not math.isfinite(result["process_wall_s"]["median"]):  # pragma: no cover
        sys.exit(1)


if __name__ == "__main__":
    main()
