"""Cost of the inline-Python sandbox: cold start, per layer, a warm-worker estimate, throughput.

Run: `python benchmarks/sandbox.py [--calls 40]`; prints one JSON document.

- `interpreter_start_ms`: `python -I -S -c pass`, the floor of any fresh child.
- `cold_call_ms`: `Sandbox.run_python` of a trivial tool, end to end, per policy.
- `warm_worker_estimate_ms`: the same child started ahead of time, timed from the moment the
  request is written (what a pool of pre-started one-shot workers would save at best).
- `throughput_calls_per_s`: trivial tools at concurrency 1 and at the CPU count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from harness.engine.sandbox import _CHILD_SCRIPT, Sandbox, SandboxPolicy

__all__ = ["main"]

TRIVIAL = "def ping(x):\n    return x + 1\n"


def _summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
        "min": round(ordered[0], 2),
    }


def interpreter_start(calls: int) -> dict[str, float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
        samples.append((time.perf_counter() - started) * 1000)
    return _summary(samples)


async def cold_calls(policy: SandboxPolicy, calls: int) -> dict[str, float]:
    sandbox = Sandbox(policy)
    samples = []
    for n in range(calls):
        started = time.perf_counter()
        outcome = await sandbox.run_python(TRIVIAL, {"x": n})
        assert outcome.result == n + 1, outcome
        samples.append((time.perf_counter() - started) * 1000)
    return _summary(samples)


def warm_estimate(calls: int) -> dict[str, float]:
    """Start the child, let it finish booting, then time only request -> result."""
    sandbox = Sandbox()
    samples = []
    for n in range(calls):
        base = tempfile.mkdtemp(prefix="harness-bench-")
        os.chmod(base, 0o711)
        uid = 2_050_000_000 + n if os.geteuid() == 0 else None
        request = sandbox._request(TRIVIAL, {"x": n}, None, base, uid, 10.0)
        child = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(_CHILD_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin"},
            start_new_session=True,
        )
        time.sleep(0.15)  # the interpreter is up and blocked reading stdin
        started = time.perf_counter()
        out, _ = child.communicate(request)
        samples.append((time.perf_counter() - started) * 1000)
        assert json.loads(out)["result"] == n + 1
        os.rmdir(base)
    return _summary(samples)


async def throughput(calls: int, concurrency: int) -> float:
    sandbox = Sandbox(max_concurrency=concurrency)
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(sandbox.run_python(TRIVIAL, {"x": n}) for n in range(calls)))
    assert all(o.success for o in outcomes)
    return round(calls / (time.perf_counter() - started), 1)


async def run(calls: int) -> dict[str, Any]:
    report = await Sandbox().probe()
    policies = {
        "all_layers": SandboxPolicy(),
        "no_audit_hook": SandboxPolicy(audit_hook=False),
        "no_namespaces": SandboxPolicy(isolate_network=False, isolate_filesystem=False),
        "process_and_rlimits_only": SandboxPolicy(
            isolate_network=False, isolate_filesystem=False, drop_privileges=False, audit_hook=False
        ),
    }
    cpus = os.cpu_count() or 1
    return {
        "benchmark": "sandbox",
        "python": platform.python_version(),
        "cpus": cpus,
        "layers": report.model_dump(),
        "calls_per_sample": calls,
        "interpreter_start_ms": interpreter_start(calls),
        "cold_call_ms": {
            name: await cold_calls(policy, calls) for name, policy in policies.items()
        },
        "warm_worker_estimate_ms": warm_estimate(calls),
        "throughput_calls_per_s": {
            "concurrency_1": await throughput(calls, 1),
            f"concurrency_{cpus}": await throughput(calls, cpus),
        },
    }


def main() -> None:
    """Run the benchmark and print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40, help="samples per measurement")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.calls)), indent=2))


if __name__ == "__main__":
    main()
