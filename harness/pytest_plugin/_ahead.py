"""Scenario items run ahead of pytest in worker processes (`--harness-workers`, default auto).

pytest runs items one after another in one process, so a large suite of replayed scenarios used
one core. Here, once the items are collected, forked workers (`harness.runner.workers.RunAhead`,
the machinery of `harness run --workers`) run the scenario items in item order, and each item
takes its own result when pytest runs it: pytest's own work for an item (its hooks, reports,
terminal) overlaps with the scenarios the workers run meanwhile. An item's report, its failure
text, the batch's report files and history are the same as in one process; only pytest's
`--durations` of an item then show the wait for its result, not the scenario's run.

Workers are never used where they would change what a session does: `-x`/`--maxfail`, `--pdb`,
`--trace`, `--stepwise` (they stop or pause at a failure, which a worker would have run past),
`--setup-only`/`--setup-plan` (no item runs), errors during collection (pytest stops before the
first item), `--collect-only`, inside an xdist worker. `auto` also follows `harness run`'s rule
(engine replays, one per core, at most one per 32 items) and stays in one process with a
`pytest_harness_backend_factory` hook (a number given explicitly calls it in each worker, as
xdist's workers do) or other tests in the session (their fixtures may set up what a scenario
counts on after the workers started; a number given explicitly forks anyway). Items with a
pytest `skip`/`skipif` marker or `xfail(run=False)` (added by a conftest) run in pytest's
process if at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from harness.errors import HarnessError
from harness.runner.workers import FactoryMaker, RunAhead, auto_count, can_fork, plan_workers

if TYPE_CHECKING:
    from harness.pytest_plugin import PluginState

__all__ = ["start_ahead"]


def start_ahead(session: pytest.Session, state: PluginState, items: list[Any]) -> int:
    """Start the workers for `items` (the session's scenario items) when the session allows it;
    the number of workers started (0: every item runs in pytest's process)."""
    config = session.config
    owner = state.owner
    if owner is None or state.worker or config.option.collectonly or not can_fork():
        return 0
    if _not_every_item_runs(config) or state.options.workers == 1:
        return 0
    if session.testsfailed and not config.option.continue_on_collection_errors:
        return 0  # pytest stops before the first item (errors during collection)
    ahead = [i for i in items if getattr(i, "scenario", None) is not None and _runs(i)]
    if not ahead:
        return 0
    custom = bool(config.hook.pytest_harness_backend_factory.get_hookimpls())
    if state.options.workers == "auto":
        # Other tests in the session may set up, in their fixtures, what a scenario counts on:
        # `auto` forks only for a session of scenario items alone.
        mixed = len(items) != len(session.items)
        if custom or mixed or auto_count(len(ahead)) < 2:
            return 0  # (before the run options hook: it runs at the first item, as ever)
    options = state.runtime_for(ahead[0]).options
    try:
        plan = plan_workers(state.options.workers, len(ahead), options)
    except HarnessError as exc:
        pytest.exit(f"harness: --harness-workers: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
    if plan.count < 2:
        return 0
    factory: FactoryMaker | None = None
    if custom:

        def factory() -> Any:
            return config.hook.pytest_harness_backend_factory(config=config, options=options)

    state.ahead = RunAhead(plan.count, [i.scenario for i in ahead], options, [owner.files], factory)
    state.ahead_index = {item: index for index, item in enumerate(ahead)}
    return plan.count


def _not_every_item_runs(config: pytest.Config) -> bool:
    """Whether pytest may stop or pause at a failure, or never call the items' `runtest`:
    `-x`/`--maxfail`, `--pdb`, `--trace`, `--stepwise`, `--setup-only`, `--setup-plan`."""
    names = ("maxfail", "usepdb", "trace", "stepwise", "stepwise_skip", "setuponly", "setupplan")
    return any(getattr(config.option, name, None) for name in names)


def _runs(item: pytest.Item) -> bool:
    """Whether pytest calls the item's `runtest` as far as its markers say (no `skip`,
    `skipif` or `xfail(run=False)`; their conditions are pytest's to evaluate)."""
    if item.get_closest_marker("skip") or item.get_closest_marker("skipif"):
        return False
    return all(mark.kwargs.get("run", True) for mark in item.iter_markers("xfail"))
