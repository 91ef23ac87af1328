"""Scenario files as pytest nodes: a file, one item per scenario (per matrix case; a repeated
scenario is one item whose runs are decided together by its `repeat` rule), and one failing item
for a file that does not load. Imported only once a scenario file is collected."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.models.result import ScenarioResult, Verdict
from harness.models.scenario import Scenario
from harness.pytest_plugin._render import junit_properties, render_failure
from harness.scenarios import derive_scenario_id

__all__ = ["LoadErrorItem", "ScenarioFailure", "ScenarioFile", "ScenarioItem"]


class ScenarioFailure(Exception):
    """A scenario that failed or could not be decided; the message is its per-turn report."""

    def __init__(self, result: ScenarioResult, report: str) -> None:
        super().__init__(report)
        self.result = result
        self.report = report


def _state(config: pytest.Config) -> Any:
    from harness.pytest_plugin import plugin_state

    return plugin_state(config)


def _marker(config: pytest.Config, name: str) -> pytest.MarkDecorator:
    """`pytest.mark.<name>`, registered first (so `--strict-markers` accepts scenario tags)."""
    state = _state(config)
    if name not in state.registered_markers:
        config.addinivalue_line("markers", f"{name}: scenario tag (harness)")
        state.registered_markers.add(name)
    return getattr(pytest.mark, name)  # type: ignore[no-any-return]


class ScenarioFile(pytest.File):
    """A scenario file: its scenarios (matrix cases expanded) as items."""

    def collect(self) -> Iterator[pytest.Item]:
        state = _state(self.config)
        root = state.collector.project_root(self.path)
        try:
            scenarios = state.loader_for(root).load(self.path)
        except HarnessError as exc:  # one failing item; the other files still run
            name = derive_scenario_id(self.path, root)
            yield LoadErrorItem.from_parent(self, name=name, error=str(exc))
            return
        repeat = state.options.repeat
        if repeat is not None:
            from harness.runner.suite import with_repeat

            scenarios = [with_repeat(s, repeat) for s in scenarios]
        for scenario in scenarios:
            yield ScenarioItem.from_parent(
                self, name=scenario.id or scenario.name, scenario=scenario, root=root
            )


class ScenarioItem(pytest.Item):
    """One scenario: runs it on the session's backend and reports its verdict.

    Its name is the scenario id `harness run` gives it; its tags are markers; `skip:` in the file
    skips it (as `harness run` does) and `xfail:` marks it xfail.
    """

    harness_scenario = True
    """How the plugin's hooks tell its items apart without importing this module."""

    def __init__(self, *, scenario: Scenario, root: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.scenario_id = scenario.id or scenario.name
        self.root = root
        self.add_marker(_marker(self.config, "harness"))
        for tag in scenario.tags:
            self.add_marker(_marker(self.config, tag))
        if scenario.xfail is not None:
            # Only a scenario failure is the expected one: a crash of the plugin still fails.
            self.add_marker(pytest.mark.xfail(reason=scenario.xfail, raises=ScenarioFailure))
        self.extra_keyword_matches.add(scenario.name)  # -k matches the name, as `harness run -k`

    def runtest(self) -> None:
        state = _state(self.config)
        result = state.ahead_result(self)  # run by a worker meanwhile (`--harness-workers`)
        if result is None:
            result = state.runtime_for(self).run(self.scenario)
        state.finished(self, result)
        self.user_properties.extend(junit_properties(result))
        if result.verdict is Verdict.SKIPPED:
            pytest.skip(result.error or "skipped")
        if result.verdict in (Verdict.FAILED, Verdict.ERROR):
            file = self.path.relative_to(self.root) if self.path.is_relative_to(self.root) else None
            report = render_failure(result, nodeid=self.nodeid, file=str(file or self.path))
            raise ScenarioFailure(result, report)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        if (
            isinstance(excinfo.value, ScenarioFailure)
            and _state(self.config).options.tb != "native"
        ):
            return excinfo.value.report
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        # Line 0 (the file's first), not None: pytest reports a `skip` marker's skip at the
        # item's line and stops with an internal error when there is none.
        return self.path, 0, self.scenario_id


class LoadErrorItem(pytest.Item):
    """A scenario file that does not load: fails with the loader's problems (file:line:col)."""

    harness_scenario = True

    def __init__(self, *, error: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error
        self.scenario_id = self.name

    def runtest(self) -> None:
        raise HarnessError(self.error)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        if _state(self.config).options.tb == "native":
            return super().repr_failure(excinfo, style=style)
        return f"scenario file {self.path} does not load:\n{self.error}"

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"{self.name} (does not load)"  # 0: as `ScenarioItem.reportinfo`
