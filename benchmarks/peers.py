"""The harness and its peers side by side, measured in one run, with the ratios.

Run: `python benchmarks/peers.py [--tests N] [--rounds R] [--skip vcrpy,tavern,promptfoo]`.
Prints one JSON document (a `table` of rows: work, peer, peer figure, harness figure, ratio).
A peer that cannot be installed here is skipped with the reason; nothing else changes.

- vcrpy 9.4 (in the project's venv): replaying one recorded call from a 1,000-interaction
  cassette. Runs `benchmarks/replay.py` in a subprocess and takes its figures.
- Tavern (its own virtualenv under /tmp, installed on first use): one single-request YAML test
  against `harness serve` vs the same request as a single-turn scenario through the pytest
  plugin. Runs `benchmarks/pytest_overhead.py` in a subprocess (it installs Tavern).
- promptfoo (npm package under /tmp/harness-bench-promptfoo, installed on first use; node 20):
  N single-turn `contains` tests answered from its cache vs N single-turn replayed scenarios
  (the static greeting, then one user message answered by one replayed LLM call, checked with
  `says: contains`) through `harness run`. Both from process
  start, per test = (wall(N) - wall(1)) / (N - 1), min and median over R interleaved rounds;
  also wall / N. promptfoo asks a local stub OpenAI-compatible server once (to fill its cache)
  before the timed runs; the harness replays cassettes recorded once before its timed runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import e2e  # noqa: E402  (fresh-process `harness run` with its timings)
import suite as suite_bench  # noqa: E402  (scenario templates, recording options)

PROMPTFOO_DIR = Path("/tmp/harness-bench-promptfoo")
PROMPTFOO_VERSION = "0.115"
ANSWER = "Hello, this is the pharmacy refill line. Which medication do you need?"


def _run_json(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return {"skipped": f"{script} failed: {(done.stderr or done.stdout)[-500:]}"}
    return dict(json.loads(done.stdout))


# --- harness: N single-turn replayed scenarios ---------------------------------------------


def _single_turn_suite(folder: Path, count: int) -> Path:
    """`count` single-turn scenarios over the clinic workflow: its static greeting (`start`, no
    LLM call), then one user message answered by one LLM call, checked with `says: contains`;
    recorded once against the scripted model. Refuses a workload that does not make exactly
    one LLM call per scenario (every example workflow greets with a static node)."""
    from harness.runner import Runner
    from harness.scenarios import load_scenarios
    from harness.testing import ScriptedModel, serve_scripted_model

    for index in range(count):
        name = f"{suite_bench.FIRST[index % 10]} {suite_bench.LAST[(index // 10) % 10]} {index}"
        data = suite_bench._clinic(name)
        data["turns"] = [{"start": {}}, {"user": "Hello", "expect": {"says": {"contains": "?"}}}]
        for key in ("expect", "budgets"):
            data.pop(key, None)
        path = folder / "scenarios" / f"s{index:04d}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"version": 1, "name": f"single {index}", **data}))
    (folder / "harness.toml").write_text("# benchmark project\n")
    with serve_scripted_model(suite_bench.ScriptedModel(suite_bench.SCRIPT)) as url:
        scenarios = load_scenarios([folder / "scenarios"], root=folder)
        done = asyncio.run(Runner(suite_bench._options(folder, url, "once", 8)).run(scenarios))
    if done.passed != done.total:
        raise SystemExit("recording failed:\n" + "\n".join(suite_bench._problems(done)[:5]))
    calls = sum(result.llm_calls for result in done.results)
    if calls != count:
        raise SystemExit(f"the single-turn workload made {calls} LLM calls, not {count}")
    del ScriptedModel, serve_scripted_model
    return folder


def _per_test(small: list[float], large: list[float], count: int) -> dict[str, float]:
    per = sorted((b - s) / (count - 1) * 1000 for b, s in zip(large, small, strict=True))
    return {
        "per_test_ms_min": round(per[0], 2),
        "per_test_ms_median": round(statistics.median(per), 2),
        "wall_1_s_min": round(min(small), 3),
        "wall_n_s_min": round(min(large), 3),
        "wall_over_n_ms": round(min(large) / count * 1000, 2),
    }


# --- promptfoo -------------------------------------------------------------------------------


class _Stub(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint that answers every request with ANSWER."""

    def do_POST(self) -> None:  # http.server calls it by this name
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps(
            {
                "id": "stub",
                "object": "chat.completion",
                "created": 0,
                "model": "stub",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": ANSWER},
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _promptfoo_bin() -> tuple[Path | None, str]:
    binary = PROMPTFOO_DIR / "node_modules" / ".bin" / "promptfoo"
    if binary.exists():
        return binary, "found"
    if shutil.which("npm") is None:
        return None, "npm is not installed"
    PROMPTFOO_DIR.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", f"promptfoo@{PROMPTFOO_VERSION}"],
            cwd=PROMPTFOO_DIR,
            # An optional dependency downloads a browser in its install script: not needed here.
            env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"},
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"promptfoo could not be installed through npm: {exc}"
    return (binary, "installed") if binary.exists() else (None, "no promptfoo binary after install")


def _promptfoo_config(folder: Path, count: int, base: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "prompts": ["{{question}}"],
        "providers": [
            {"id": "openai:chat:stub", "config": {"apiBaseUrl": base, "apiKey": "sk-stub"}}
        ],
        "tests": [
            {
                "vars": {"question": f"I need a refill, patient {index}"},
                "assert": [{"type": "contains", "value": "refill line"}],
            }
            for index in range(count)
        ],
    }
    path = folder / "promptfooconfig.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _promptfoo_wall(binary: Path, config: Path, env: dict[str, str]) -> float:
    command = [str(binary), "eval", "-c", str(config), "-j", "4", "--no-progress-bar"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=config.parent, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).decode(errors="replace")[-800:]
        raise RuntimeError(f"promptfoo eval failed ({done.returncode}): {tail}")
    return wall


def _promptfoo(work: Path, count: int, rounds: int) -> dict[str, Any]:
    binary, how = _promptfoo_bin()
    if binary is None:
        return {"skipped": how}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    env = {
        **os.environ,
        "PROMPTFOO_CONFIG_DIR": str(work / "promptfoo-home"),
        "PROMPTFOO_CACHE_PATH": str(work / "promptfoo-cache"),
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
    }
    try:
        configs = [_promptfoo_config(work / f"promptfoo{n}", n, base) for n in (1, count)]
        for config in configs:  # fills the cache (the live calls are not timed)
            _promptfoo_wall(binary, config, env)
        small, large = [], []
        for _ in range(rounds):
            small.append(_promptfoo_wall(binary, configs[0], env))
            large.append(_promptfoo_wall(binary, configs[1], env))
    except RuntimeError as exc:
        return {"skipped": str(exc)}
    finally:
        server.shutdown()
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout
    return {"version": version.strip(), "how": how, **_per_test(small, large, count)}


def _harness_single_turn(work: Path, count: int, rounds: int) -> dict[str, Any]:
    """Per single-turn scenario, from process start, at `--workers 1` (one process: its split
    gives the per-scenario cost after start-up) and at the default `--workers auto`."""
    folders = [_single_turn_suite(work / f"harness{n}", n) for n in (1, count)]
    small: list[float] = []
    large: dict[str, list[float]] = {"1": [], "auto": []}
    splits = []
    for _ in range(rounds):
        small.append(e2e.run_once(folders[0], ["scenarios"])["wall_s"])
        for workers, walls in large.items():
            args = ["scenarios", "--concurrency", "1", "--workers", workers]
            run = e2e.run_once(folders[1], args)
            walls.append(run["wall_s"])
            if workers == "1":
                splits.append(run)
    best = min(splits, key=lambda r: r["wall_s"])
    # Per scenario: everything that grows with the suite (reading its file included); the
    # imports, opening the report folder and history, and interpreter exit are paid once.
    once = ("imports", "opening", "exit")
    in_scenarios = sum(v for k, v in best["split_s"].items() if k not in once)
    return {
        **_per_test(small, large["1"], count),
        "workers_auto": _per_test(small, large["auto"], count),
        "start_up_s_of_fastest": round(e2e._start_up(best["split_s"]), 3),
        "per_scenario_ms_after_start_up_of_fastest": round(in_scenarios / count * 1000, 2),
    }


def _row(work: str, peer: str, peer_ms: float, ours_ms: float) -> dict[str, Any]:
    return {
        "work": work,
        "peer": peer,
        "peer_ms": peer_ms,
        "harness_ms": ours_ms,
        "peer_over_harness": round(peer_ms / ours_ms, 1) if ours_ms > 0 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000, help="promptfoo/harness tests")
    parser.add_argument("--tavern-tests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated: vcrpy,tavern,promptfoo")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="harness-peers-"))
    report: dict[str, Any] = {"rounds": args.rounds}
    table: list[dict[str, Any]] = []
    try:
        if "vcrpy" not in skip:
            replay = _run_json("replay.py")
            report["vcrpy"] = replay
            size = next(
                (s for s in replay.get("results", []) if s.get("interactions") == 1000), None
            )
            if size:
                table.append(
                    _row(
                        "replay one call, 1,000-interaction cassette",
                        "vcrpy",
                        size["vcrpy_ms_per_call"],
                        size["harness_ms_per_call"],
                    )
                )
        if "tavern" not in skip:
            tavern = _run_json(
                "pytest_overhead.py",
                "--tests",
                str(args.tavern_tests),
                "--rounds",
                str(args.rounds),
            )
            report["tavern"] = tavern
            if "per_test_ms_median" in tavern.get("tavern", {}):
                table.append(
                    _row(
                        "single-request test via pytest, start-up subtracted (median)",
                        "tavern",
                        tavern["tavern"]["per_test_ms_median"],
                        tavern["plugin"]["per_test_ms_median"],
                    )
                )
        # The harness side of the single-turn rows runs even when promptfoo is skipped.
        ours = _harness_single_turn(work, max(2, args.tests), args.rounds)
        report["harness_single_turn"] = ours
        if "promptfoo" not in skip:
            peer = _promptfoo(work, max(2, args.tests), args.rounds)
            report["promptfoo"] = peer
            if "per_test_ms_median" in peer:
                for what, key in (
                    ("single-turn test, start-up subtracted (median)", "per_test_ms_median"),
                    ("single-turn test, whole wall / N", "wall_over_n_ms"),
                ):
                    table.append(
                        _row(f"{what}, --workers 1", "promptfoo (cached)", peer[key], ours[key])
                    )
                    auto = ours["workers_auto"][key]
                    table.append(
                        _row(f"{what}, --workers auto", "promptfoo (cached)", peer[key], auto)
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["table"] = table
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
