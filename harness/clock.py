"""The real elapsed time since this process started, for the `wall` that `harness run` prints.

`since_process_start()` counts from the moment the kernel started the process (interpreter
start-up and every import included), read once from `/proc/self/stat` when this module is first
imported (`harness.cli` imports it first thing); where `/proc` is missing it counts from that
import instead (the interpreter start and earlier imports left out).

A process the kernel started long before its interpreter ran was another program first, which
then became the interpreter: `bash -c 'pip install ... && harness run ...'` execs its last
command, so the kernel's start time is the shell's. Then the CPU time used so far, about what
the interpreter's start cost, stands in for the time since the exec.
"""

from __future__ import annotations

import os
import time

__all__ = ["since_process_start"]


def _seconds_alive() -> float:
    """How long this process has existed, per the kernel (10 ms resolution); 0.0 without /proc."""
    try:
        with open("/proc/self/stat", "rb") as stat, open("/proc/uptime", "rb") as uptime:
            # Field 22 (starttime, clock ticks after boot); split after the `(comm)` field,
            # which may itself contain spaces.
            started_ticks = int(stat.read().rsplit(b")", 1)[1].split()[19])
            booted_seconds = float(uptime.read().split()[0])
        return max(0.0, booted_seconds - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


_EXEC_BOUND_SECONDS = 3.0
"""Longer than any interpreter start up to this module's import: a process alive longer than
this at the import started as another program (see the module docstring)."""


def _since_interpreter_start() -> float:
    alive = _seconds_alive()
    return time.process_time() if alive > _EXEC_BOUND_SECONDS else alive


_STARTED = time.perf_counter() - _since_interpreter_start()


def since_process_start() -> float:
    """Seconds since the process started (see the module docstring for what it covers)."""
    return time.perf_counter() - _STARTED
