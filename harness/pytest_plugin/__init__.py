"""pytest plugin: scenario files as test items, with the history and the regression gate of
`harness run` (docs/ci.md).

```bash
pytest scenarios/                                   # every scenario an item, ids = scenario ids
pytest scenarios/ -n auto                           # pytest-xdist: one history, one batch
pytest scenarios/ -m smoke -k booking --harness-shard 1/2
pytest scenarios/ --harness-baseline reports/baseline.json --harness-fail-on-regression
```

Registered as the `harness` plugin (`pytest11` entry point; `-p no:harness` turns it off). It is
loaded by every pytest run of an environment that has harness installed, so this module imports
nothing heavy: the harness itself is imported once a scenario file is collected.

- Collected: every `.yaml`/`.yml` file under the scenario roots (ini `harness_scenario_roots`,
  default `<project root>/scenarios` of a harness project), except `_defaults.yaml` and files in
  `workflows/`, `cassettes/` or hidden folders, and any `*.scenario.yaml` file elsewhere.
- One item per scenario (per matrix case; a repeated scenario is one item, its runs decided by
  its `repeat` rule); the item's name is the scenario id of `harness run`; tags are markers
  (registered), `skip:` skips and `xfail:` marks xfail.
- Options `--harness-*` with ini equivalents `harness_*`; hooks in `harness.pytest_plugin.
  hookspecs` change the run options and backend from `conftest.py`.
- Scenario items of a large replay run in forked workers ahead of pytest (`_ahead`,
  `--harness-workers`); each item takes its own result when pytest runs it.
"""

from __future__ import annotations

import gc
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.pytest_plugin._collect import (
    Collector,
    PluginOptions,
    add_options,
    scenario_nodeid_parts,
)

if TYPE_CHECKING:
    from harness.models.result import ScenarioResult
    from harness.pytest_plugin._runtime import Owner, Runtime
    from harness.runner.workers import RunAhead
    from harness.scenarios import ScenarioFileLoader

__all__ = [
    "PluginState",
    "SessionHooks",
    "plugin_state",
    "pytest_addhooks",
    "pytest_addoption",
    "pytest_collect_file",
    "pytest_configure",
]

_RESULT_ATTRIBUTE = "harness_result"
"""The attribute of a worker's report that carries the scenario's result (JSON) to xdist's
controller."""


@dataclass
class PluginState:
    """The plugin's state in one pytest process (`config.stash`)."""

    config: pytest.Config
    options: PluginOptions
    collector: Collector
    worker: bool
    """An xdist worker: runs items, sends results to the controller, owns no batch."""
    registered_markers: set[str] = field(default_factory=set)
    runtime: Runtime | None = None
    owner: Owner | None = None
    pending: dict[str, ScenarioResult] = field(default_factory=dict)
    """Results of this process's items, until their report is logged (by node id)."""
    ahead: RunAhead | None = None
    """The workers running scenario items ahead of pytest, while the items run."""
    ahead_index: dict[Any, int] = field(default_factory=dict)
    """Each item the workers run: its index among their scenarios (taken once)."""
    ahead_workers: int = 0
    """How many workers ran items ahead (for the terminal summary)."""
    loaders: dict[Path, ScenarioFileLoader] = field(default_factory=dict)
    """One loader per project root for the session's scenario files (shared folder caches)."""
    git_started: bool = False
    """The project's `git status` was started for the batch's provenance."""
    frozen: bool = False
    """What existed when the items started is frozen out of garbage collection (`batch_gc`),
    until the session's last clean-up (`thaw`)."""

    def thaw(self) -> None:
        """Unfreeze what the items' run froze: the session's last clean-up, after pytest's own
        final garbage collections (which then skip the imports, the items and their scenarios:
        ~0.1 s each)."""
        if self.frozen:
            self.frozen = False
            gc.unfreeze()

    def ahead_result(self, item: Any) -> ScenarioResult | None:
        """The item's result from the workers, once; None when it runs in this process (not
        handed to them, or already taken: a second run, e.g. by a rerun plugin)."""
        index = self.ahead_index.pop(item, None)
        if index is None or self.ahead is None:
            return None
        return self.ahead.take(index)

    def loader_for(self, root: Path) -> ScenarioFileLoader:
        """The loader of the scenario files of project `root`."""
        loader = self.loaders.get(root)
        if loader is None:
            from harness.scenarios import ScenarioFileLoader

            loader = self.loaders[root] = ScenarioFileLoader(root)
        return loader

    def runtime_for(self, item: Any) -> Runtime:
        """The runtime (created on first use, for the project root of the first item)."""
        if self.runtime is None:
            from harness.pytest_plugin._runtime import Runtime

            self.runtime = Runtime(self.config, self.options, item.root)
        return self.runtime

    def finished(self, item: pytest.Item, result: ScenarioResult) -> None:
        """An item's scenario finished: keep its result for the owner (or the controller)."""
        if self.worker:
            # Sent with the report; the controller's sinks move run outputs to artifacts.
            item.stash[_RESULT_KEY] = result.model_dump_json()
        else:
            self.pending[item.nodeid] = result


_STATE_KEY = pytest.StashKey[PluginState]()
_RESULT_KEY = pytest.StashKey[str]()


def plugin_state(config: pytest.Config) -> PluginState:
    """The plugin's state of this pytest run."""
    return config.stash[_STATE_KEY]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from harness.pytest_plugin import hookspecs

    pluginmanager.add_hookspecs(hookspecs)
    _rewrite_the_plugin_only(pluginmanager)


def _rewrite_the_plugin_only(pluginmanager: pytest.PytestPluginManager) -> None:
    """Keep pytest's assertion rewriting to this plugin's package, not all of `harness`.

    pytest marks every top-level package of a plugin's distribution for rewriting: installed
    from a wheel, all of `harness` (~130 modules once a scenario runs; from an editable install,
    only the entry point's package). A rewritten module is compiled again from its source, its
    bytecode cached only where pytest may write it: in a fresh CI environment, or with
    PYTHONDONTWRITEBYTECODE, each session paid 0.7-1.0 s for modules that hold no test
    assertions. pytest has no public call to narrow a mark; without these attributes (another
    pytest) nothing changes. Modules already imported (this one, `harness.errors`) stay as they
    are, and a `register_assert_rewrite("harness")` of the user's comes later and wins.
    """
    hook = getattr(pluginmanager, "rewrite_hook", None)
    marked = getattr(hook, "_must_rewrite", None)
    if not isinstance(marked, set) or "harness" not in marked:
        return
    marked.discard("harness")
    marked.add(__name__)  # what pytest marks for an editable install
    cache = getattr(hook, "_marked_for_rewrite_cache", None)
    if isinstance(cache, dict):
        cache.clear()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "harness: a scenario item of the harness plugin")
    state = PluginState(
        config=config,
        options=PluginOptions.of(config),
        collector=Collector.of(config),
        worker=hasattr(config, "workerinput"),
        registered_markers={"harness"},
    )
    config.stash[_STATE_KEY] = state
    config.pluginmanager.register(SessionHooks(state), "harness-session")
    # Clean-ups run last first: added before pytest's own plugins add theirs (this hook runs
    # before theirs), it comes after their final garbage collections.
    config.add_cleanup(state.thaw)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not file_path.name.endswith((".yaml", ".yml")):  # the common case: nothing imported
        return None
    state = plugin_state(parent.config)
    if not state.collector.collects(file_path):
        return None
    if not state.git_started and not state.worker:
        # The batch's provenance asks git for the project's state: it reads the checkout while
        # the other files are collected (`harness._git`; an xdist worker records no batch).
        state.git_started = True
        from harness import _git

        _git.start_status(state.collector.project_root(file_path))
        parent.config.add_cleanup(_git.discard_pending)
    from harness.pytest_plugin._items import ScenarioFile

    return ScenarioFile.from_parent(parent, path=file_path)


def _scenario_items(items: list[pytest.Item]) -> list[Any]:
    return [i for i in items if getattr(i, "harness_scenario", False)]


def _one_root(candidates: list[Path]) -> Path:
    """The project root of the scenarios (`harness run` refuses scenarios of two projects)."""
    roots = sorted({Path(c) for c in candidates})
    if len(roots) > 1:
        named = ", ".join(str(r) for r in roots)
        raise pytest.UsageError(
            f"harness: the scenario files belong to different projects ({named}): run each "
            "project's scenarios in its own pytest session"
        )
    return roots[0]


class SessionHooks:
    """The hooks of one pytest run, bound to its `PluginState` (registered by
    `pytest_configure` as the `harness-session` plugin)."""

    def __init__(self, state: PluginState) -> None:
        self.state = state

    @pytest.hookimpl(trylast=True)  # after -k and -m deselected: the shard splits what is left
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if self.state.options.shard and _scenario_items(items):
            from harness.pytest_plugin._runtime import shard_items

            shard_items(config, items, self.state.options.shard)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        state = self.state
        mine = _scenario_items(session.items)
        if state.worker or not mine or session.config.option.collectonly:
            return
        from harness.pytest_plugin._runtime import Owner, owner_scenarios

        root = _one_root([state.collector.project_root(i.path) for i in mine])
        ids = [i.scenario_id for i in mine]
        state.owner = Owner(session.config, state.options, root, ids, owner_scenarios(mine))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        """The items run with the garbage-collector settings of `harness run`'s batches
        (`batch_gc`). A replayed scenario allocates thousands of short-lived objects, and a
        pytest session's heap (its nodes, the collected scenarios) was rescanned at every full
        collection. The thresholds are restored when the items end. What exists when the items
        start is frozen out of collection only when every item is a scenario (another test may
        count on `gc.collect()`), and stays frozen until the session's last clean-up
        (`PluginState.thaw`): pytest's own last two collections then skip it. A session without
        scenario items is left as it is."""
        mine = _scenario_items(session.items)
        if not mine:
            return (yield)
        from harness.runner.batch import batch_gc

        state = self.state
        freeze = len(mine) == len(session.items)
        with batch_gc(freeze=freeze, thaw=False):
            state.frozen = state.frozen or freeze
            if state.owner is not None and state.options.workers != 1:
                from harness.pytest_plugin._ahead import start_ahead

                state.ahead_workers = start_ahead(session, state, mine)
            try:
                return (yield)
            finally:
                if state.ahead is not None:
                    state.ahead.close()  # results never taken (an early stop) are dropped
                state.ahead = None
                state.ahead_index.clear()

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """xdist's controller: the batch starts once the first worker has collected (every
        worker collects the same items, in the same order)."""
        state = self.state
        if state.owner is not None or state.worker:
            return
        config = state.config
        selected: list[str] = []
        files: set[Path] = set()
        for nodeid in ids:
            parts = scenario_nodeid_parts(nodeid)
            if parts is None:
                continue
            path = config.rootpath / parts[0]
            if path in files or state.collector.collects(path):
                files.add(path)
                selected.append(parts[1])
        if not selected:
            return
        from harness.pytest_plugin._runtime import Owner

        root = _one_root([state.collector.project_root(p) for p in files])
        state.owner = Owner(config, state.options, root, selected, None)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when == "call" and _RESULT_KEY in item.stash:
            setattr(report, _RESULT_ATTRIBUTE, item.stash[_RESULT_KEY])
            del item.stash[_RESULT_KEY]
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        owner = self.state.owner
        if report.when != "call" or owner is None:
            return
        result = self.state.pending.pop(report.nodeid, None)
        if result is None:
            text = getattr(report, _RESULT_ATTRIBUTE, None)
            if not isinstance(text, str):
                return
            from harness.models.result import ScenarioResult

            result = ScenarioResult.model_validate_json(text)
        owner.add(result)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        state = self.state
        if state.runtime is not None:
            state.runtime.close()
            state.runtime = None
        owner = state.owner
        if owner is None:
            return
        stopped = bool(session.shouldstop or session.shouldfail)
        owner.finish(interrupted=stopped or exitstatus == pytest.ExitCode.INTERRUPTED)
        if owner.regressed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if owner.recorder.failures and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR  # a report could not be written

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        owner = self.state.owner
        if owner is None or owner.summary is None:
            return
        terminalreporter.section("harness")
        for line in owner.terminal_lines(verbose=config.get_verbosity() > 0):
            terminalreporter.write_line(line)
        if self.state.ahead_workers:
            terminalreporter.write_line(
                f"scenario items ran in {self.state.ahead_workers} worker processes "
                "(--harness-workers; 1 runs them in pytest's process)"
            )

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Let go of the batch (its results, the summary) once the terminal has shown it: pytest
        ends a session with a full garbage collection (its `unraisableexception` plugin), which
        traverses whatever is still alive."""
        self.state.owner = None
        self.state.pending.clear()
