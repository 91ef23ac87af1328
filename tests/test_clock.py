"""The `wall` that `harness run` prints is the real elapsed time since the process started."""

from __future__ import annotations

import subprocess
import sys
import time

from harness.clock import since_process_start
from harness.models.result import RunSummary
from harness.runner.console import format_summary


def test_since_process_start_counts_from_the_process_start_not_from_the_import() -> None:
    # A child that sleeps 0.3 s before importing harness: the clock must include that sleep.
    code = (
        "import time; time.sleep(0.3)\n"
        "from harness.clock import since_process_start\n"
        "print(since_process_start())"
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    outside = time.perf_counter() - started
    inside = float(done.stdout)
    assert 0.3 <= inside <= outside + 0.02  # /proc resolution is 10 ms


def test_a_process_that_was_a_shell_first_counts_from_the_interpreter() -> None:
    # `bash -c '... && harness run'` execs its last command: the process is as old as the shell,
    # which here waited 3.5 s first. The wall must not count the shell's time.
    code = "from harness.clock import since_process_start; print(since_process_start())"
    started = time.perf_counter()
    done = subprocess.run(
        ["bash", "-c", f"sleep 3.5; exec {sys.executable} -c '{code}'"],
        capture_output=True,
        text=True,
        check=True,
    )
    outside = time.perf_counter() - started
    inside = float(done.stdout)
    assert outside >= 3.5
    assert 0.0 < inside < 1.0


def test_since_process_start_grows() -> None:
    first = since_process_start()
    time.sleep(0.01)
    assert since_process_start() >= first + 0.01


def test_summary_line_says_what_its_wall_covers() -> None:
    summary = RunSummary(duration_ms=1500.0)
    assert format_summary(summary).endswith("wall 1.50 s")
    line = format_summary(summary, wall_s=2.25)
    assert line.endswith("wall 2.25 s since process start (scenarios 1.50 s)")
