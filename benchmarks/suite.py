"""The whole replay path at suite scale: 1,000 five-turn scenarios over the example workflows.

Run: `python benchmarks/suite.py [--scenarios N] [--concurrency C] [--keep DIR]`. Prints one JSON
document. Target: the offline replay of 1,000 scenarios x 5 turns in at most 10 s on 2 cores.

1. Generates N scenario files in a temp folder from three five-turn templates over
   scenarios/workflows/ (clinic scheduling: start/pause/resume/user/stop; patient intake:
   start/pause/resume/user/user, judged by its own evaluator; prescription refill:
   start/user/pause/resume/user), each with its own patient name, so every scenario has its own
   prompts and its own cassette. Tools are mocked (the sandbox is not what this measures).
2. Records every cassette once against the scripted model of scenarios/model/script.json, served
   over real HTTP on 127.0.0.1 (`--record-mode once`).
3. Replays them all offline (the model's URL points nowhere) and splits the time per turn into:
   - `loading`: parsing the scenario files, opening cassettes (parse + index), loading workflows;
   - `engine`: inside `Backend.execute`, minus the time in the cassette transport;
   - `replay`: inside the cassette transport (matching and serving recorded responses);
   - `checks`: views, turn results, expectations, budgets, run-level checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from harness.config import HarnessSettings, ProviderConfig
from harness.models.result import RunSummary
from harness.runner import PhaseTimings, Runner, RunOptions
from harness.scenarios import load_scenarios
from harness.testing import ScriptedModel, serve_scripted_model

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "scenarios" / "workflows"
SCRIPT = ROOT / "scenarios" / "model" / "script.json"
UNREACHABLE = "http://127.0.0.1:9/v1"

FIRST = ["Ana", "Bo", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun"]
LAST = ["Ruiz", "Chen", "Okafor", "Novak", "Silva", "Haddad", "Berg", "Tanaka", "Moreau", "Singh"]


def _clinic(name: str) -> dict[str, Any]:
    return {
        "workflow": str(WORKFLOWS / "clinic_scheduling.json"),
        "dynamic_variables": {"clinic_name": "Northside Family Clinic", "patient_name": name},
        "mocks": {
            "tools": {"find_slots": {"returns": {"day": "tuesday", "slots": ["09:30", "11:00"]}}}
        },
        "turns": [
            {
                "start": {},
                "expect": {"status": "waiting_for_user_input", "says": {"contains": name}},
            },
            {"pause": {}, "expect": {"status": "paused"}},
            {"resume": {}, "expect": {"status": "waiting_for_user_input"}},
            {
                "user": "I need a follow-up visit next Tuesday morning",
                "expect": {"node": "confirm_slot", "tool_calls": [{"name": "find_slots"}]},
            },
            {"stop": {}, "expect": {"status": "cancelled"}},
        ],
        "expect": {"no_errors": True, "events": {"counts": {"pause_event": 1}}},
        "budgets": {"llm_calls": {"max": 6}},
    }


def _intake(name: str) -> dict[str, Any]:
    return {
        "workflow": str(WORKFLOWS / "patient_intake.json"),
        "dynamic_variables": {"clinic_name": f"Riverside Clinic ({name})"},
        "turns": [
            {"start": {}},
            {"pause": {}, "expect": {"status": "paused"}},
            {"resume": {}},
            {
                "user": "Hi, I'm Maria Lopez, born 1984-07-12. I've had a sore throat and a fever for 3 days.",
                "expect": {"node": "summarize", "says": {"contains": "Is that correct?"}},
            },
            {"user": "Yes, that's correct", "expect": {"status": "completed"}},
        ],
        "expect": {"status": "completed", "path": {"contains": ["welcome", "done"]}},
        "evaluation": {"expect": {"passed": True}},
    }


def _refill(name: str) -> dict[str, Any]:
    eligibility = {
        "medication": "lisinopril",
        "eligible": True,
        "days_left": 2,
        "days_until_eligible": 0,
    }
    stock = {
        "medication": "lisinopril",
        "in_stock": True,
        "store": "Main Street Pharmacy",
        "quantity": 90,
        "ready_after": "16:00",
        "reference": "RF-lisinopril-0412",
        "price_usd": 12.5,
        "alternatives": ["generic", "brand"],
    }
    return {
        "workflow": str(WORKFLOWS / "prescription_refill.json"),
        "dynamic_variables": {"patient_name": name, "pharmacy_api": "http://127.0.0.1:9"},
        "mocks": {
            "tools": {
                "check_refill_eligibility": {"returns": eligibility},
                "pharmacy_stock": {"returns": stock},
            }
        },
        "turns": [
            {"start": {}, "expect": {"says": {"contains": "refill line"}}},
            {
                "user": "I need to refill my lisinopril, last filled 28 days ago",
                "expect": {"node": "confirm_pickup", "tool_calls": {"count": 2}},
            },
            {"pause": {}},
            {"resume": {}},
            {
                "user": "Yes please, for pickup today",
                "expect": {"status": "completed", "says": {"contains": "RF-lisinopril-0412"}},
            },
        ],
        "expect": {"path": {"contains": ["check_stock", "refill_placed"]}},
    }


TEMPLATES = [_clinic, _intake, _refill]


def generate(folder: Path, count: int) -> list[Path]:
    """Write `count` scenario files under `folder/scenarios`."""
    paths = []
    for index in range(count):
        name = f"{FIRST[index % 10]} {LAST[(index // 10) % 10]} {index // 100}"
        data = {"version": 1, "name": f"bench {index:04d}", **TEMPLATES[index % 3](name)}
        path = folder / "scenarios" / f"bench_{index:04d}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


class TimedTransport(httpx.AsyncBaseTransport):
    """Adds the time spent in the wrapped (cassette) transport to `seconds`."""

    seconds = 0.0
    calls = 0

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            return await self.inner.handle_async_request(request)
        finally:
            TimedTransport.seconds += time.perf_counter() - started
            TimedTransport.calls += 1

    async def aclose(self) -> None:
        await self.inner.aclose()


def _settings(url: str) -> HarnessSettings:
    provider = ProviderConfig(base_url=url, model="scripted-model", api_key_env=None)
    return HarnessSettings(providers={"default_provider": provider}, max_retries=0)


def _options(folder: Path, url: str, mode: str, concurrency: int, **extra: Any) -> RunOptions:
    return RunOptions(
        record_mode=mode,
        concurrency=concurrency,
        settings=_settings(url),
        cassettes_root=folder / "cassettes",
        scenarios_root=folder / "scenarios",
        **extra,
    )


def _problems(summary: RunSummary) -> list[str]:
    lines = []
    for result in summary.results:
        if result.verdict.value != "passed":
            reasons = [o.message for o in result.failures()][:2]
            reasons += [*[a.error for a in result.attempts if a.error][:1], result.error or ""]
            lines.append(
                f"{result.scenario_id}: {result.verdict.value}: {'; '.join(filter(None, reasons))[:300]}"
            )
    return lines


def run(count: int, concurrency: int, folder: Path) -> dict[str, Any]:
    generate(folder, count)
    with serve_scripted_model(ScriptedModel(SCRIPT)) as url:
        started = time.perf_counter()
        scenarios = load_scenarios([folder / "scenarios"], root=folder)
        recorded = asyncio.run(Runner(_options(folder, url, "once", 8)).run(scenarios))
        record_s = time.perf_counter() - started
    if recorded.passed != recorded.total:
        raise SystemExit("recording failed:\n" + "\n".join(_problems(recorded)[:10]))

    timings = PhaseTimings()
    TimedTransport.seconds, TimedTransport.calls = 0.0, 0
    started = time.perf_counter()
    scenarios = load_scenarios([folder / "scenarios"], root=folder)
    parse_s = time.perf_counter() - started
    options = _options(
        folder, UNREACHABLE, "none", concurrency, timings=timings, wrap_transport=TimedTransport
    )
    summary = asyncio.run(Runner(options).run(scenarios))
    wall_s = time.perf_counter() - started

    turns = timings.calls
    per_turn = {
        "loading": (parse_s + timings.loading) / turns * 1000,
        "engine": (timings.execute - TimedTransport.seconds) / turns * 1000,
        "replay": TimedTransport.seconds / turns * 1000,
        "checks": timings.checks / turns * 1000,
    }
    accounted = sum(per_turn.values()) * turns / 1000
    return {
        "scenarios": summary.total,
        "passed": summary.passed,
        "problems": _problems(summary)[:5],
        "turns": turns,
        "replayed_http_calls": TimedTransport.calls,
        "record_wall_s": round(record_s, 2),
        "replay_wall_s": round(wall_s, 2),
        "target_s": 10.0,
        "per_turn_ms": {k: round(v, 3) for k, v in per_turn.items()},
        "phase_totals_s": {
            "loading": round(parse_s + timings.loading, 3),
            "of_which_scenario_files": round(parse_s, 3),
            "engine": round(timings.execute - TimedTransport.seconds, 3),
            "replay": round(TimedTransport.seconds, 3),
            "checks": round(timings.checks, 3),
            "other": round(wall_s - accounted, 3),
        },
        "concurrency": concurrency,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="harness-suite-"))
    try:
        report = run(args.scenarios, args.concurrency, folder)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
