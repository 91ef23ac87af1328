"""The real elapsed time since this process started, for the `wall` that `harness run` prints.

`since_process_start()` counts from the moment the kernel started the process (interpreter
start-up and every import included), read once from `/proc/self/stat` when this module is first
imported; where `/proc` is missing it counts from that import instead (the interpreter start and
earlier imports left out).
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


_STARTED = time.perf_counter() - _seconds_alive()


def since_process_start() -> float:
    """Seconds since the process started (see the module docstring for what it covers)."""
    return time.perf_counter() - _STARTED
