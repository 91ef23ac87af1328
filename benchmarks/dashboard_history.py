"""A big history for the dashboard: 100,000 stored scenario results, and the time to first render.

Run: `python benchmarks/dashboard_history.py [--results N] [--batches B] [--db PATH] [--no-time]`.
Prints one JSON document. Target: the dashboard's first render at most 3 s with
100,000 stored scenario results.

1. Creates a history with `harness.results.history.HistoryStore` (its real schema and indexes),
   then fills it with raw SQL: B batches of N / B scenarios (default 100 x 1,000), each scenario
   3 turns x 2 nodes with one or two LLM calls per node, every 20th scenario repeated 3 times
   (some of those flaky), a stored `result_json` per scenario that `ScenarioResult` reads back
   (so the drill-down works on it; no artifact files: the drill-down says so). Batches spread
   over two branches, two backends and two models, one per hour. The last batch carries
   regressions: +30% tokens on node 0 of every 50th scenario, +60% latency on every 100th, and
   improvements: -20% tokens on every 70th.
2. Times the dashboard's first render in a fresh process (imports included) with Streamlit's
   `AppTest` (the Overview, cache cold), twice: `first_render_s` is the first.
3. With `--browser`: starts `harness dashboard` on a free port and times, in headless Chromium
   through Playwright (Debian's chromium, the NOTES.md flags), opening the Overview until its six
   figures, the regression table and both charts are in the page: three loads in a fresh browser
   (the first with the server's cache cold), then three in another fresh browser.

`generate()` is also used by tests/dashboard with small sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from harness.models.result import ScenarioResult
from harness.results.history import HistoryStore

__all__ = ["generate"]

TURNS, NODES = 3, 2
TARGET_SECONDS = 3.0
NODE_NAMES = ("greet", "collect_need", "check_slots", "confirm_slot", "triage", "goodbye")
TAGS = ("clinic", "refill", "intake", "smoke", "scheduling", "billing")
START = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)

CHILD = r"""
import sys, time
started = time.perf_counter()
from streamlit.testing.v1 import AppTest
import os
os.environ["HARNESS_DASHBOARD_HISTORY"] = sys.argv[1]
app = AppTest.from_file(sys.argv[2], default_timeout=120)
begin = time.perf_counter()
app.run()
first = time.perf_counter()
assert not app.exception, [e.value for e in app.exception]
app.run()
second = time.perf_counter()
print(f"{begin - started} {first - begin} {second - first} {len(app.dataframe)}")
"""


def batch_id(number: int) -> str:
    """The sortable id of the `number`-th batch (one per hour)."""
    return (START + timedelta(hours=number)).strftime("%Y%m%dT%H%M%S-000000")


def generate(path: Path, results: int = 100_000, batches: int = 100, seed: int = 7) -> float:
    """Fill a new history database at `path`; returns how long it took, in seconds."""
    started = time.perf_counter()
    HistoryStore(path).close()  # the real schema and indexes
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    scenarios = max(1, results // batches)
    rng = np.random.default_rng(seed)
    shape = (scenarios, TURNS, NODES)
    plan = {
        "tokens": rng.integers(80, 1500, size=shape),
        "latency": rng.uniform(150, 1500, size=shape),
        "calls": rng.integers(1, 3, size=shape),
    }
    db.execute("BEGIN")
    for number in range(batches):
        _one_batch(db, number, plan, rng, last=number == batches - 1)
    db.execute("COMMIT")
    db.close()
    return time.perf_counter() - started


def _provenance(number: int, last: bool) -> dict[str, Any]:
    branch = "main" if last or number % 5 else "feature/shorter-prompts"
    model = "gpt-4o-mini" if number % 3 else "claude-3-5-haiku"
    started = START + timedelta(hours=number)
    return {
        "batch_id": batch_id(number),
        "started_at": started.isoformat(),
        "finished_at": (started + timedelta(minutes=9)).isoformat(),
        "git_commit": f"{number:04x}c0ffee{number:04x}",
        "git_branch": branch,
        "git_dirty": False,
        "backend": "api" if number % 7 == 3 else "engine",
        "record_mode": "none",
        "harness_version": "0.1.0",
        "host": "bench",
        "models": [{"model": model, "provider": "openai"}],
    }


def _one_batch(
    db: sqlite3.Connection,
    number: int,
    plan: dict[str, Any],
    rng: np.random.Generator,
    *,
    last: bool,
) -> None:
    info = _provenance(number, last)
    bid, model = info["batch_id"], info["models"][0]["model"]
    db.execute(
        "INSERT INTO batches VALUES (?,?,?,'finished',?,?,?,?,?,?,?,?,?)",
        (
            bid,
            info["started_at"],
            info["finished_at"],
            info["git_commit"],
            info["git_branch"],
            0,
            info["backend"],
            info["record_mode"],
            info["harness_version"],
            info["host"],
            json.dumps(info),
            None,
        ),
    )
    rows: dict[str, list[tuple[Any, ...]]] = {k: [] for k in ("s", "a", "u", "c", "x")}
    scenarios = plan["tokens"].shape[0]
    noise = rng.lognormal(0.0, 0.15, size=(scenarios, 3, TURNS, NODES, 2))
    for s in range(scenarios):
        _one_scenario(rows, bid, model, s, plan, noise[s], last=last, number=number)
    db.executemany(
        "INSERT INTO scenario_results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows["s"]
    )
    db.executemany("INSERT INTO attempt_results VALUES (?,?,?,?,?,?,?,?,?)", rows["a"])
    db.executemany("INSERT INTO turn_usage VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows["u"])
    db.executemany("INSERT INTO llm_calls VALUES (?,?,?,?,?,?)", rows["c"])
    db.executemany("INSERT INTO scores VALUES (?,?,?,?,?)", rows["x"])


def _one_scenario(
    rows: dict[str, list[tuple[Any, ...]]],
    bid: str,
    model: str,
    s: int,
    plan: dict[str, Any],
    noise: np.ndarray,  # type: ignore[type-arg]
    *,
    last: bool,
    number: int,
) -> None:
    sid = f"scenarios/group_{s // 100:03d}/scenario_{s:05d}"
    tags = [TAGS[s % len(TAGS)], TAGS[(s // 7) % len(TAGS)]]
    runs = 3 if s % 20 == 0 else 1
    flaky = s % 40 == 0 and number % 2 == 0
    token_scale = 1.3 if last and s % 50 == 0 else 0.8 if last and s % 70 == 0 else 1.0
    latency_scale = 1.6 if last and s % 100 == 0 else 1.0
    attempts = []
    for a in range(runs):
        verdict = "failed" if flaky and a == 0 else "passed"
        turns = []
        for t in range(TURNS):
            usage = []
            for n in range(NODES):
                node = NODE_NAMES[(t * NODES + n + s) % len(NODE_NAMES)]
                total = int(plan["tokens"][s, t, n] * (token_scale if n == 0 else 1.0))
                calls = int(plan["calls"][s, t, n])
                lat = [
                    round(float(plan["latency"][s, t, n] * noise[a, t, n, c] * latency_scale), 1)
                    for c in range(calls)
                ]
                prompt, completion = total - total // 5, total // 5
                cost = (prompt * 0.15 + completion * 0.6) / 1e6
                usage.append(
                    {"node": node, "node_name": node.replace("_", " "), "model": model,
                     "provider": "openai", "prompt_tokens": prompt,
                     "completion_tokens": completion, "total_tokens": total,
                     "llm_calls": calls, "latencies_ms": lat, "cost_usd": cost}
                )  # fmt: skip
                rows["u"].append(
                    (bid, sid, a, t, node, node, model, "openai", prompt, completion, total,
                     calls, sum(lat), cost)
                )  # fmt: skip
                rows["c"].extend((bid, sid, a, t, node, ms) for ms in lat)
            turns.append(_turn(t, usage))
        attempt = _attempt(a, verdict, turns)
        attempts.append(attempt)
        rows["a"].append(
            (bid, sid, a, verdict, attempt["tokens"], attempt["llm_calls"],
             attempt["latency_ms"], attempt["e2e_ms"], attempt["cost_usd"])
        )  # fmt: skip
        rows["x"].append((bid, sid, a, "score", 0.6 if verdict == "failed" else 0.9))
    passed = sum(a["verdict"] == "passed" for a in attempts)
    verdict = "passed" if passed == runs else "failed"
    result = _result(sid, tags, verdict, attempts)
    rows["s"].append(
        (bid, sid, result["name"], result["file"], json.dumps(tags), verdict, runs, passed,
         result["duration_ms"], result["tokens"], result["prompt_tokens"],
         result["completion_tokens"], result["llm_calls"], result["latency_ms"],
         result["e2e_ms"], result["cost_usd"], None, json.dumps(result))
    )  # fmt: skip


def _turn(t: int, usage: list[dict[str, Any]]) -> dict[str, Any]:
    said = f"Answer {t}: here is what I found for you."
    nodes = [u["node"] for u in usage]
    return {
        "index": t,
        "turn": t,
        "kind": "start" if t == 0 else "user",
        "label": "start" if t == 0 else f"user: question {t}",
        "input": {
            "command": "start" if t == 0 else "data",
            "thread_to_node_inputs": {}
            if t == 0
            else {"0": {"node_run_inputs": [{"messages": [{"role": "user", "content": f"q{t}"}]}]}},
        },
        "status": "completed" if t == TURNS - 1 else "waiting_for_user_input",
        "said": said,
        "path": nodes,
        "node": nodes[-1],
        "tool_calls": [{"name": "find_slots", "arguments": {"day": "tuesday"}}] if t == 1 else [],
        "tokens": sum(u["total_tokens"] for u in usage),
        "llm_calls": sum(u["llm_calls"] for u in usage),
        "latency_ms": sum(sum(u["latencies_ms"]) for u in usage),
        "usage": usage,
        "wall_ms": sum(sum(u["latencies_ms"]) for u in usage) + 15.0,
        "outcomes": [
            {"check": "says.contains", "status": "passed", "message": "said text: ok",
             "key": f"turns[{t}].expect.says.contains"}
        ],
    }  # fmt: skip


def _attempt(a: int, verdict: str, turns: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [u for t in turns for u in t["usage"]]
    outcomes = [
        {"check": "says.contains", "status": "failed", "key": "turns[2].expect.says.contains",
         "message": "said text: expected to contain 'confirmed', got 'Answer 2: ...'"}
    ] if verdict == "failed" else []  # fmt: skip
    return {
        "attempt": a,
        "verdict": verdict,
        "status": "completed",
        "turns": turns,
        "outcomes": outcomes,
        "evaluation": {"evaluator": "own", "verdict": {"score": 0.9}, "scores": {"score": 0.9}},
        "tokens": sum(u["total_tokens"] for u in rows),
        "prompt_tokens": sum(u["prompt_tokens"] for u in rows),
        "completion_tokens": sum(u["completion_tokens"] for u in rows),
        "llm_calls": sum(u["llm_calls"] for u in rows),
        "latency_ms": sum(t["latency_ms"] for t in turns),
        "latencies_ms": [ms for u in rows for ms in u["latencies_ms"]],
        "e2e_ms": sum(t["wall_ms"] for t in turns),
        "cost_usd": sum(u["cost_usd"] for u in rows),
        "duration_ms": sum(t["wall_ms"] for t in turns) + 5.0,
    }


def _result(sid: str, tags: list[str], verdict: str, attempts: list[dict[str, Any]]) -> Any:
    def total(key: str) -> Any:
        return sum(a[key] for a in attempts)

    return {
        "format_version": 2,
        "scenario_id": sid,
        "name": sid.rsplit("/", 1)[-1].replace("_", " "),
        "file": f"{sid}.yaml",
        "tags": tags,
        "backend": "engine",
        "verdict": verdict,
        "attempts": attempts,
        "duration_ms": total("duration_ms"),
        "tokens": total("tokens"),
        "prompt_tokens": total("prompt_tokens"),
        "completion_tokens": total("completion_tokens"),
        "llm_calls": total("llm_calls"),
        "latency_ms": total("latency_ms"),
        "latencies_ms": [ms for a in attempts for ms in a["latencies_ms"]],
        "e2e_ms": total("e2e_ms"),
        "cost_usd": total("cost_usd"),
    }


def time_first_render(path: Path) -> dict[str, float]:
    """The Overview's first render in a fresh process (AppTest, cache cold)."""
    app = Path(__file__).resolve().parents[1] / "harness" / "dashboard" / "app.py"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(app)],
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    imports, first, second, tables = done.stdout.split()
    return {
        "process_wall_s": round(wall, 3),
        "imports_s": round(float(imports), 3),
        "first_render_s": round(float(first), 3),
        "second_render_s": round(float(second), 3),
        "tables_shown": int(tables),
    }


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
DRAWN = """() => document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length >= 2
    && document.querySelectorAll('table[role=grid]').length >= 1
    && document.querySelectorAll('[data-testid=stMetric]').length == 6"""


def time_browser(path: Path) -> dict[str, Any]:
    """Page loads of the Overview in Chromium, in seconds, from a freshly started server."""
    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    harness = Path(sys.executable).with_name("harness")
    server = subprocess.Popen(
        [str(harness), "dashboard", "--history", str(path), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as answer:
                    if answer.read() == b"ok":
                        break
            except OSError:
                time.sleep(0.1)
        figures: dict[str, Any] = {"server_up_s": round(time.perf_counter() - started, 2)}
        with sync_playwright() as playwright:
            for name in ("fresh_browser_cold_server_s", "fresh_browser_warm_server_s"):
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS
                )
                loads = []
                for _ in range(3):
                    page = browser.new_page(viewport={"width": 1400, "height": 1600})
                    begin = time.perf_counter()
                    page.goto(url + "/")
                    page.wait_for_function(DRAWN, polling="raf", timeout=120_000)
                    loads.append(round(time.perf_counter() - begin, 2))
                    page.close()
                browser.close()
                figures[name] = loads
        return figures
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=100_000, help="stored scenario results")
    parser.add_argument("--batches", type=int, default=100, help="batches they are spread over")
    parser.add_argument("--db", help="keep the database here (reused when it exists)")
    parser.add_argument("--no-time", action="store_true", help="generate only")
    parser.add_argument("--browser", action="store_true", help="also time it in Chromium")
    args = parser.parse_args()
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "history.sqlite"
    figures: dict[str, Any] = {"db": str(path)}
    if not path.exists():
        figures["generate_s"] = round(generate(path, args.results, args.batches), 1)
    with sqlite3.connect(path) as db:
        figures["scenario_results"] = db.execute(
            "SELECT COUNT(*) FROM scenario_results"
        ).fetchone()[0]
        figures["turn_usage_rows"] = db.execute("SELECT COUNT(*) FROM turn_usage").fetchone()[0]
        figures["llm_calls_rows"] = db.execute("SELECT COUNT(*) FROM llm_calls").fetchone()[0]
        sample = db.execute("SELECT result_json FROM scenario_results LIMIT 1").fetchone()[0]
    ScenarioResult.model_validate_json(sample)  # the stored results are readable
    figures["database_mb"] = round(path.stat().st_size / 1e6, 1)
    if not args.no_time:
        runs = [time_first_render(path) for _ in range(2)]
        figures["renders"] = runs
        figures["target_s"] = TARGET_SECONDS
        figures["met"] = max(r["first_render_s"] for r in runs) <= TARGET_SECONDS
    if args.browser:
        figures["browser"] = time_browser(path)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
