"""Many scenarios at once: bounded concurrency, results handed over as they finish, Ctrl-C safe.

`Runner.run` returns a `RunSummary`. Each finished `ScenarioResult` goes to `on_result` at once
(the results writer appends it to disk), so an interrupted run loses nothing it finished; after an
interruption `Runner.summary(interrupted=True)` holds the finished results.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

from harness import __version__
from harness.backends.binding import BackendFactory, make_factory
from harness.models.result import RunSummary, ScenarioResult
from harness.models.scenario import Scenario
from harness.runner.options import RunOptions
from harness.runner.scenario import run_scenario

__all__ = ["ResultCallback", "Runner", "batch_gc", "run_scenarios"]

ResultCallback = Callable[[ScenarioResult], None]
"""Called with each scenario's result as soon as it is finished."""

_GC_THRESHOLD = 20_000


@contextlib.contextmanager
def batch_gc(*, freeze: bool = True, thaw: bool = True) -> Iterator[None]:
    """Fewer garbage collections while a batch runs; the previous settings come back after.

    A replayed turn allocates thousands of short-lived containers (events, models), and the
    results kept in memory grow, so with the default thresholds the collector rescans the heap
    again and again: ~10 % of a 1,000-scenario replay. What exists before the batch (scenarios,
    workflows, imports) is frozen out of collection (unless `freeze` is False: a frozen cycle
    is never collected, not even by `gc.collect()`, until it is unfrozen), and young
    collections happen less often.

    Args:
        freeze: freeze what exists when the block starts.
        thaw: unfreeze when the block ends; False leaves it frozen for the caller to unfreeze
            (`gc.unfreeze()`) later, e.g. after its host's last collections.
    """
    threshold = gc.get_threshold()
    if freeze:
        gc.freeze()
    gc.set_threshold(max(threshold[0], _GC_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if freeze and thaw:
            gc.unfreeze()


class Runner:
    """Runs scenarios on one backend with bounded concurrency.

    Args:
        options: backend, record mode, concurrency, timeout.
        factory: binds scenarios to a backend (default: the factory of `options.backend`).
        on_result: called with each result as it finishes (in completion order).
    """

    def __init__(
        self,
        options: RunOptions | None = None,
        *,
        factory: BackendFactory | None = None,
        on_result: ResultCallback | None = None,
    ) -> None:
        self.options = options or RunOptions()
        self._factory = factory
        self._on_result = on_result
        self._finished: dict[int, ScenarioResult] = {}
        self._started_at: datetime | None = None
        self._t0 = 0.0

    @property
    def results(self) -> list[ScenarioResult]:
        """The finished results, in run order."""
        return [self._finished[i] for i in sorted(self._finished)]

    def summary(self, *, interrupted: bool = False) -> RunSummary:
        """A summary of the results finished so far."""
        return RunSummary.from_results(
            self.results,
            harness_version=__version__,
            backend=self.options.backend,
            started_at=self._started_at,
            duration_ms=(time.perf_counter() - self._t0) * 1000 if self._t0 else 0.0,
            interrupted=interrupted,
        )

    async def run(self, scenarios: Sequence[Scenario]) -> RunSummary:
        """Run every scenario; a cancellation (Ctrl-C) propagates after the finished ones were
        handed to `on_result`.

        Raises:
            ConfigError: the backend cannot be set up from the settings.
        """
        self._started_at = datetime.now(UTC)
        self._t0 = time.perf_counter()
        factory = self._factory or make_factory(self.options.backend, self.options.binding_config())
        try:
            with batch_gc():
                await self._run_all(scenarios, factory)
        finally:
            if self._factory is None:
                await factory.aclose()
        return self.summary()

    async def _run_all(self, scenarios: Sequence[Scenario], factory: BackendFactory) -> None:
        # `concurrency` lanes take the scenarios in file order from one iterator: a task per lane,
        # not a task per scenario waiting on a semaphore (that costs more than the runner's own
        # work for a short replayed scenario).
        queue = iter(enumerate(scenarios))
        lanes = min(max(1, self.options.concurrency), len(scenarios))
        async with asyncio.TaskGroup() as group:
            for _ in range(lanes):
                group.create_task(self._lane(queue, factory))

    async def _lane(self, queue: Iterator[tuple[int, Scenario]], factory: BackendFactory) -> None:
        for index, scenario in queue:
            await self._one(index, scenario, factory)

    async def _one(self, index: int, scenario: Scenario, factory: BackendFactory) -> None:
        result = await run_scenario(scenario, factory, self.options)
        self._finished[index] = result
        if self._on_result is not None:
            self._on_result(result)


async def run_scenarios(
    scenarios: Sequence[Scenario],
    options: RunOptions | None = None,
    *,
    on_result: ResultCallback | None = None,
) -> RunSummary:
    """Run `scenarios` and summarise them (see `Runner`)."""
    return await Runner(options, on_result=on_result).run(scenarios)
