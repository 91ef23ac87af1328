"""Replay cost of the harness's indexed cassette transport vs plain vcrpy with body matching.

Run: `python benchmarks/replay.py` (about a minute on 2 cores). Prints one JSON document.

Both sides replay the same JSON cassettes (10, 100 and 1,000 chat-completion interactions, each
with a distinct body, written by `harness.recording.save_cassette`) through an
`httpx.AsyncClient`, requesting every interaction once in a fixed shuffled order. vcrpy 9 runs
with `match_on` including `body` (its built-in JSON-aware body matcher), `serializer="json"`
and `record_mode="none"`. Because vcrpy's cost grows with the cassette size, only the first
`VCRPY_CALLS[size]` requests are timed for it at the larger sizes (stated in the output).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import vcr

from harness.recording import Interaction, load_cassette, open_cassette, save_cassette

__all__ = ["build_cassette", "main"]

URL = "http://127.0.0.1:9/v1/chat/completions"
SIZES = (10, 100, 1000)
VCRPY_CALLS = {10: 10, 100: 100, 1000: 50}
HARNESS_ROUNDS = 5
LOAD_ROUNDS = 7
TARGETS = {
    "max_ms_per_call": 0.5,
    "min_speedup_at_100": 20.0,
    "min_speedup_at_1000": 200.0,
    "max_load_seconds_at_1000": 0.1,
}
_SYSTEM_PROMPT = "\n".join(
    f"Rule {i}: you are a careful clinic scheduling assistant; be brief and kind."
    for i in range(20)
)


def _request_body(i: int) -> str:
    messages = [
        {"role": "system", "content": _SYSTEM_PROMPT},
        {"role": "assistant", "content": "Hello, how can I help you today?"},
        {"role": "user", "content": f"I need a follow-up visit, request number {i}."},
    ]
    body = {"model": "gpt-4o-mini", "messages": messages, "temperature": 0, "max_tokens": 256}
    return json.dumps(body)


def _response_body(i: int) -> str:
    return json.dumps(
        {
            "id": f"chatcmpl-{i}",
            "object": "chat.completion",
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"Booked visit {i} for Tuesday."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 420, "completion_tokens": 9, "total_tokens": 429},
        }
    )


def build_cassette(path: Path, size: int) -> list[str]:
    """Write a cassette of `size` distinct interactions; return the request bodies."""
    bodies = [_request_body(i) for i in range(size)]
    save_cassette(path, _interactions(bodies))
    return bodies


def _interactions(bodies: list[str]) -> list[Interaction]:
    return [
        Interaction(
            method="POST",
            uri=URL,
            request_body=body,
            request_headers={"content-type": ["application/json"]},
            status=200,
            reason="OK",
            response_headers={
                "content-type": ["application/json"],
                "x-harness-recorded-latency-ms": ["812.5"],
            },
            response_body=_response_body(i),
        )
        for i, body in enumerate(bodies)
    ]


def _yaml_parse_seconds(folder: Path, size: int) -> float:
    """What the same cassette costs to parse as YAML (vcrpy's default serializer), for contrast."""
    path = folder / f"cassette_{size}.yaml"
    save_cassette(path, _interactions([_request_body(i) for i in range(size)]))
    started = time.perf_counter()
    load_cassette(path)
    return time.perf_counter() - started


async def _post_all(client: httpx.AsyncClient, bodies: list[str]) -> float:
    headers = {"content-type": "application/json"}
    started = time.perf_counter()
    for body in bodies:
        response = await client.post(URL, content=body, headers=headers)
        response.json()
    return time.perf_counter() - started


async def _harness_ms_per_call(path: Path, order: list[str]) -> float:
    rounds = []
    for _ in range(HARNESS_ROUNDS):
        session = open_cassette(path, "none")
        async with httpx.AsyncClient(transport=session.transport) as client:
            rounds.append(await _post_all(client, order) / len(order) * 1000)
    return statistics.median(rounds)


def _harness_load_seconds(path: Path) -> float:
    times = []
    for _ in range(LOAD_ROUNDS):
        started = time.perf_counter()
        open_cassette(path, "none")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def _vcrpy_ms_per_call(path: Path, order: list[str]) -> tuple[float, float]:
    recorder = vcr.VCR(
        serializer="json",
        record_mode="none",
        match_on=["method", "scheme", "host", "port", "path", "query", "body"],
    )
    started = time.perf_counter()
    with recorder.use_cassette(str(path)):
        loaded = time.perf_counter() - started
        async with httpx.AsyncClient() as client:
            elapsed = await _post_all(client, order)
    return elapsed / len(order) * 1000, loaded


async def _measure(folder: Path, size: int) -> dict[str, Any]:
    path = folder / f"cassette_{size}.json"
    bodies = build_cassette(path, size)
    order = bodies[:]
    random.Random(size).shuffle(order)
    ours = await _harness_ms_per_call(path, order)
    vcrpy_calls = min(VCRPY_CALLS[size], size)
    theirs, vcrpy_load = await _vcrpy_ms_per_call(path, order[:vcrpy_calls])
    return {
        "interactions": size,
        "cassette_bytes": path.stat().st_size,
        "harness_ms_per_call": round(ours, 4),
        "harness_calls_timed": size * HARNESS_ROUNDS,
        "vcrpy_ms_per_call": round(theirs, 3),
        "vcrpy_calls_timed": vcrpy_calls,
        "speedup": round(theirs / ours, 1),
        "harness_load_seconds": round(_harness_load_seconds(path), 4),
        "vcrpy_load_seconds": round(vcrpy_load, 4),
    }


async def _run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        results = [await _measure(Path(folder), size) for size in SIZES]
        yaml_seconds = _yaml_parse_seconds(Path(folder), SIZES[-1])
    by_size = {r["interactions"]: r for r in results}
    met = {
        "max_ms_per_call": all(
            r["harness_ms_per_call"] <= TARGETS["max_ms_per_call"] for r in results
        ),
        "min_speedup_at_100": by_size[100]["speedup"] >= TARGETS["min_speedup_at_100"],
        "min_speedup_at_1000": by_size[1000]["speedup"] >= TARGETS["min_speedup_at_1000"],
        "max_load_seconds_at_1000": by_size[1000]["harness_load_seconds"]
        <= TARGETS["max_load_seconds_at_1000"],
    }
    return {
        "benchmark": "cassette replay, per call through httpx.AsyncClient",
        "python": sys.version.split()[0],
        "vcrpy": vcr.__version__,
        "httpx": httpx.__version__,
        "note": (
            "every interaction requested once in a shuffled order; vcrpy timed on the first "
            f"{VCRPY_CALLS[1000]} requests at 1000 interactions (its cost per call is linear in "
            "the cassette size, so the mean over a random subset is representative); harness "
            f"timed on all requests, median of {HARNESS_ROUNDS} rounds; load = open_cassette "
            f"(parse + index), median of {LOAD_ROUNDS}"
        ),
        "results": results,
        "yaml_parse_seconds_at_1000": round(yaml_seconds, 3),
        "targets": TARGETS,
        "met": met,
    }


def main() -> None:
    """Run the benchmark and print its JSON report."""
    started = time.perf_counter()
    report = asyncio.run(_run())
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
