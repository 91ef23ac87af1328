"""`harness run` exactly as the console script runs it, with a split of where the time went.

Used by `benchmarks/e2e.py`: `python benchmarks/_timed_run.py OUT.json run ARGS...` runs
`harness.cli.main(ARGS)` in this fresh process and writes to OUT.json the seconds since the
process started at each point (`harness.clock`), plus the runner's phase totals. Nothing is
mocked: the only additions are timers around the report sinks and the cassette transport.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path
from typing import Any

from harness.clock import since_process_start

MARKS: dict[str, float] = {"interpreter_and_harness_package": since_process_start()}
SINKS = {"reports": 0.0, "history": 0.0, "console": 0.0}
SANDBOX_CALLS_MS: list[float] = []  # each inline-Python call, start to result, in call order


class _FirstScenario:
    """Marks the moment the first scenario starts loading (end of start-up)."""

    seen = False


def _timed(method: Any, bucket: str) -> Any:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            SINKS[bucket] += time.perf_counter() - started

    return wrapper


def _instrument() -> tuple[Any, Any]:
    import httpx

    from harness import cli_run
    from harness.results.sinks import HistorySink, ReportFilesSink
    from harness.runner import PhaseTimings
    from harness.runner.console import ConsoleSink
    from harness.runner.suite import Suite

    select = Suite.select.__func__  # type: ignore[attr-defined]

    def timed_select(cls: Any, *args: Any, **kwargs: Any) -> Any:
        MARKS["reading_starts"] = since_process_start()
        try:
            return select(cls, *args, **kwargs)
        finally:
            MARKS["reading_ends"] = since_process_start()

    Suite.select = classmethod(timed_select)  # type: ignore[assignment]

    from harness.runner import workers

    in_workers = workers.run_in_workers

    def timed_workers(*args: Any, **kwargs: Any) -> Any:
        # With --workers the scenarios start in the workers: start-up ends at the first fork.
        MARKS.setdefault("first_scenario_starts", since_process_start())
        return in_workers(*args, **kwargs)

    workers.run_in_workers = timed_workers

    from harness.engine.sandbox import Sandbox

    call = Sandbox._call

    async def timed_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await call(self, *args, **kwargs)
        finally:
            SANDBOX_CALLS_MS.append(round((time.perf_counter() - started) * 1000, 2))

    Sandbox._call = timed_call  # type: ignore[method-assign]

    for cls, bucket in (
        (ReportFilesSink, "reports"),
        (HistorySink, "history"),
        (ConsoleSink, "console"),
    ):
        for name in ("start", "add", "finish"):
            setattr(cls, name, _timed(getattr(cls, name), bucket))

    class Timings(PhaseTimings):
        def measure(self, phase: str) -> Any:
            if not _FirstScenario.seen:
                _FirstScenario.seen = True
                MARKS["first_scenario_starts"] = since_process_start()
            return super().measure(phase)

    class TimedTransport(httpx.AsyncBaseTransport):
        seconds = 0.0

        def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
            self.inner = inner

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            started = time.perf_counter()
            try:
                return await self.inner.handle_async_request(request)
            finally:
                TimedTransport.seconds += time.perf_counter() - started

        def __getattr__(self, name: str) -> Any:
            # The LLM client's in-process replay (`answer_in_process`), when the cassette's
            # transport has it, is replay time too.
            if name != "answer_in_process":
                raise AttributeError(name)
            answer = getattr(self.inner, name)

            def timed_answer(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return answer(*args, **kwargs)
                finally:
                    TimedTransport.seconds += time.perf_counter() - started

            return timed_answer

        async def aclose(self) -> None:
            await self.inner.aclose()

    timings = Timings()
    build = cli_run._options

    def options(args: Any) -> Any:
        built = build(args)
        built.timings = timings
        built.wrap_transport = TimedTransport
        return built

    cli_run._options = options  # type: ignore[assignment]
    return timings, TimedTransport


def _peak_rss_mb() -> float | None:
    """This process's own peak RSS (`VmHWM`). Not getrusage: its `ru_maxrss` (ours, or the
    parent's RUSAGE_CHILDREN) keeps the peak of the memory a process replaced at exec, i.e. the
    benchmark parent's, which is larger than a run after it recorded the suite in-process."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def main() -> int:
    out, argv = Path(sys.argv[1]), sys.argv[2:]
    from harness.cli import main as harness_main

    MARKS["cli_imported"] = since_process_start()
    from harness._imports import HTTPX_COMMAND_LINE, own_process, without_modules
    from harness.cli_run import collector_paused

    # The instrumentation imports what `harness run` imports at start-up: under the same terms
    # (the harness's own process: httpx without its command-line client, no pydantic plugin
    # lookup; no garbage collection), or the split would differ.
    with own_process(), without_modules(HTTPX_COMMAND_LINE), collector_paused():
        timings, transport = _instrument()
    MARKS["instrumented"] = since_process_start()
    sys.argv = ["harness", *argv]
    code = harness_main()  # without arguments, as the console script calls it
    MARKS["main_returned"] = since_process_start()
    data = {
        "exit_code": code,
        "marks": MARKS,
        "instrumenting_s": MARKS["instrumented"] - MARKS["cli_imported"],
        "phases": {
            "loading": timings.loading,
            "execute": timings.execute,
            "replay": transport.seconds,
            "checks": timings.checks,
            "calls": timings.calls,
        },
        "sinks": SINKS,
        "sandbox_calls_ms": SANDBOX_CALLS_MS,
        "peak_rss_mb": _peak_rss_mb(),
    }
    out.write_text(json.dumps(data))
    return code


if __name__ == "__main__":
    sys.exit(main())
