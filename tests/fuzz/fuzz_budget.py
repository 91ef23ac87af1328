"""The fuzz tests' budget: how many inputs, and the time and memory bound on each.

The default run (`poe check`) generates `DEFAULT_EXAMPLES` inputs per target; the long run sets
`HARNESS_FUZZ_EXAMPLES` (docs/reliability.md gives the command and the figures it measured):

    HARNESS_FUZZ_EXAMPLES=10000 pytest -m fuzz tests/fuzz -p no:cacheprovider -s

Every input must end in the target's documented error or in success, within `SECONDS_PER_INPUT`,
and no input may raise the process's resident memory by `MAX_RSS_GROWTH_MB` or more.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings

__all__ = ["EXAMPLES", "FUZZ_SETTINGS", "Budget", "peak_mb", "reset_peak", "rss_mb"]

DEFAULT_EXAMPLES = 150
EXAMPLES = int(os.environ.get("HARNESS_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
SECONDS_PER_INPUT = 2.0
MAX_RSS_GROWTH_MB = 300.0

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,  # measured by `Budget` instead: hypothesis' deadline re-runs slow inputs
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,  # one `Budget` spans all the inputs of a test
    ],
)


def rss_mb() -> float:
    """The current resident set size (not the peak), from /proc."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) so the next reading is one input's peak."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def peak_mb() -> float:
    """The peak RSS since the last `reset_peak` (VmHWM)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Budget:
    """Counts inputs and outcomes; fails on an input over the time or memory bound.

    Memory is measured per input: the peak RSS while it runs (the kernel's VmHWM, reset before
    each input) less the RSS before it. The growth of the current RSS over the whole run is
    reported too (it includes hypothesis' own bookkeeping of the inputs it generated).
    """

    name: str
    start_rss: float = field(default_factory=rss_mb)
    inputs: int = 0
    slowest: float = 0.0
    largest: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)

    def run(self, call: Callable[[], str], shown: object = None) -> None:
        """`call` returns the outcome's name ("ok", "error"); any exception escaping it fails.
        `shown` is the input, named in the failure when it is over a bound."""
        before = rss_mb()
        reset_peak()
        started = time.perf_counter()
        outcome = call()
        elapsed = time.perf_counter() - started
        grown = peak_mb() - before
        self.inputs += 1
        self.slowest = max(self.slowest, elapsed)
        self.largest = max(self.largest, grown)
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        assert elapsed < SECONDS_PER_INPUT, (
            f"{self.name}: an input took {elapsed:.2f} s: {repr(shown)[:500]}"
        )
        assert grown < MAX_RSS_GROWTH_MB, (
            f"{self.name}: an input used {grown:.0f} MB: {repr(shown)[:500]}"
        )

    def summary(self) -> str:
        shown = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        return (
            f"{self.name}: {self.inputs} inputs ({shown}); slowest {self.slowest * 1000:.0f} ms; "
            f"largest peak RSS over the RSS before the input {self.largest:.1f} MB; "
            f"RSS growth over the run {rss_mb() - self.start_rss:.1f} MB"
        )
