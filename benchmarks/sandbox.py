"""What a sandboxed inline-Python tool call costs a user, next to the interpreter-start floor.

Run: `python benchmarks/sandbox.py [--calls 40] [--gap-ms 50]`; prints one JSON document.

Every call goes through the engine's real tool path (`ToolRunner.run` of an `inline_python`
tool, as a tool node or an LLM tool call runs it) and runs a trivial tool (`return x + 1`, a few
microseconds), so the time of a call is our own overhead. Figures in ms (p50 / p95 / min):

- `interpreter_start_ms`: `python -I -S -c pass`, spawn to exit: the floor of any fresh process.
- `zygote_boot_ms`: the zygote (one per interpreter and harness process) from spawn until it
  forked its first child: interpreter, the child script and the modules a child needs, the fork.
  Once per run.
- `worker_boot_ms`: one worker from the request until it reported ready (forked by the running
  zygote, then every isolation layer): what a call waits on top when no worker is idle.
- `worker_boot_without_zygote_ms`: the same, booted as its own interpreter (the fallback where
  no zygote can run).
- `call_ms`: call start to result with pre-started workers idle, per policy, calls `--gap-ms`
  apart (a workflow's LLM and engine work spaces its tool calls): what a user waits for.
- `first_call_ms`: the first call of a fresh pool, no zygote running (nothing started ahead):
  zygote boot, fork, isolation and the call, once per run (`Sandbox.start_ahead` starts the
  zygote and a first worker earlier, when a run binds its first scenario with inline Python).
- `back_to_back_ms`: calls at concurrency 1 with no gap: the pool runs dry, so this is bounded
  by how fast workers boot.
- `throughput_calls_per_s`: trivial tools at concurrency 1 and at the CPU count, no gap.
- `cpu_ms_per_call`: CPU time of every process (harness, zygote, children: `getrusage` of this
  process and its reaped descendants) per call, calls `--gap-ms` apart, the children started for
  later calls included: steadier than the walls on a busy machine, where waits stretch but CPU
  time barely does.
- `overhead_over_floor_ms`: `call_ms` p50 (all layers) minus `interpreter_start_ms` p50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx

from harness.engine import _sandbox_workers, _sandbox_zygote
from harness.engine._sandbox_pool import stop_idle_workers
from harness.engine._sandbox_workers import start_worker
from harness.engine.sandbox import Sandbox, SandboxPolicy
from harness.engine.tools import ToolRunner
from harness.models.api.tools import InlinePythonTool

__all__ = ["main"]

TOOL = InlinePythonTool(name="ping", code="def ping(x):\n    return x + 1\n")
POLICIES = {
    "all_layers": SandboxPolicy(),
    "no_audit_hook": SandboxPolicy(audit_hook=False),
    "no_namespaces": SandboxPolicy(isolate_network=False, isolate_filesystem=False),
    "process_and_rlimits_only": SandboxPolicy(
        isolate_network=False,
        isolate_filesystem=False,
        isolate_pids=False,
        drop_privileges=False,
        seccomp=False,
        audit_hook=False,
    ),
}


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


def zygote_boot(calls: int) -> dict[str, float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        zygote = _sandbox_zygote.Zygote(sys.executable)
        child = zygote.fork(b"")  # no set-up line: the child exits at once
        samples.append((time.perf_counter() - started) * 1000)
        zygote.close(kill=True)
        for pipe in (child.stdin, child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()
        child.close()
    return _summary(samples)


def worker_boot(calls: int, *, zygote: bool = True) -> dict[str, float]:
    """Start a worker and read its ready frame (the worker is then stopped unused)."""
    stop_idle_workers(reap=False)
    if zygote:
        start_worker(sys.executable, SandboxPolicy().model_dump()).discard()  # boots the zygote
    else:  # as where no zygote can run
        _sandbox_workers.fork_from_zygote = lambda python, first_input: None  # type: ignore[assignment]
    try:
        return _boot_samples(calls)
    finally:
        _sandbox_workers.fork_from_zygote = _sandbox_zygote.fork_from_zygote


def _boot_samples(calls: int) -> dict[str, float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        worker = start_worker(sys.executable, SandboxPolicy().model_dump())
        assert worker.process.stdout is not None
        ready = worker.process.stdout.readline()
        samples.append((time.perf_counter() - started) * 1000)
        assert json.loads(ready)["ready"], ready
        worker.discard()
    return _summary(samples)


async def _timed_call(runner: ToolRunner, n: int) -> float:
    started = time.perf_counter()
    outcome = await runner.run(TOOL, {"x": n}, dynamic={}, runtime={})
    elapsed = (time.perf_counter() - started) * 1000
    assert outcome.success and outcome.result == n + 1, outcome
    return elapsed


async def calls_with_gap(policy: SandboxPolicy, calls: int, gap_s: float) -> dict[str, float]:
    async with httpx.AsyncClient() as http:
        runner = ToolRunner(http=http, sandbox=Sandbox(policy))
        await _timed_call(runner, -1)  # creates the pool; later calls find workers started
        samples = []
        for n in range(calls):
            await asyncio.sleep(gap_s)
            samples.append(await _timed_call(runner, n))
    return _summary(samples)


async def first_calls(policy: SandboxPolicy, calls: int) -> dict[str, float]:
    samples = []
    async with httpx.AsyncClient() as http:
        for n in range(calls):
            stop_idle_workers(reap=False)  # a fresh pool: nothing started ahead
            runner = ToolRunner(http=http, sandbox=Sandbox(policy))
            samples.append(await _timed_call(runner, n))
    return _summary(samples)


async def back_to_back(calls: int) -> dict[str, float]:
    async with httpx.AsyncClient() as http:
        runner = ToolRunner(http=http, sandbox=Sandbox())
        return _summary([await _timed_call(runner, n) for n in range(calls)])


async def throughput(calls: int, concurrency: int) -> float:
    sandbox = Sandbox(max_concurrency=concurrency)
    started = time.perf_counter()
    outcomes = await asyncio.gather(
        *(sandbox.run_python(TOOL.code or "", {"x": n}) for n in range(calls))
    )
    assert all(o.success for o in outcomes)
    return round(calls / (time.perf_counter() - started), 1)


def _cpu_seconds() -> float:
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _stop_everything() -> None:
    """Stop idle workers and the zygote, and reap them (their CPU time then counts)."""
    stop_idle_workers(reap=False)
    _sandbox_zygote.stop_zygotes(kill=True)


async def cpu_per_call(calls: int, gap_s: float) -> float:
    sandbox = Sandbox()
    await sandbox.run_python(TOOL.code or "", {"x": 0})
    _stop_everything()
    before = _cpu_seconds()
    for n in range(calls):
        assert (await sandbox.run_python(TOOL.code or "", {"x": n})).success
        await asyncio.sleep(gap_s)
    _stop_everything()
    return round((_cpu_seconds() - before) * 1000 / calls, 2)


async def run(calls: int, gap_s: float) -> dict[str, Any]:
    report = await Sandbox().probe()
    cpus = os.cpu_count() or 1
    floor = interpreter_start(calls)
    zygote = zygote_boot(min(calls, 20))
    boot = worker_boot(min(calls, 20))
    booted = worker_boot(min(calls, 20), zygote=False)
    call_ms = {name: await calls_with_gap(p, calls, gap_s) for name, p in POLICIES.items()}
    first = {name: await first_calls(p, min(calls, 10)) for name, p in POLICIES.items()}
    stop_idle_workers(reap=False)
    result = {
        "benchmark": "sandbox",
        "python": platform.python_version(),
        "cpus": cpus,
        "layers": report.model_dump(),
        "calls_per_sample": calls,
        "gap_ms": round(gap_s * 1000),
        "interpreter_start_ms": floor,
        "zygote_boot_ms": zygote,
        "worker_boot_ms": boot,
        "worker_boot_without_zygote_ms": booted,
        "call_ms": call_ms,
        "first_call_ms": first,
        "back_to_back_ms": await back_to_back(calls),
        "throughput_calls_per_s": {
            "concurrency_1": await throughput(calls, 1),
            f"concurrency_{cpus}": await throughput(calls, cpus),
        },
        "cpu_ms_per_call": await cpu_per_call(calls, gap_s),
        "overhead_over_floor_ms": round(call_ms["all_layers"]["p50"] - floor["p50"], 2),
    }
    stop_idle_workers(reap=False)
    return result


def main() -> None:
    """Run the benchmark and print the JSON report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=40, help="samples per measurement")
    parser.add_argument("--gap-ms", type=float, default=50, help="pause between calls of `call_ms`")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.calls, args.gap_ms / 1000)), indent=2))


if __name__ == "__main__":
    main()
