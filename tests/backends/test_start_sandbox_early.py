"""`EarlySandbox`: a batch whose workflow files name an inline-Python tool starts the sandbox
while its files are read (or, given the whole batch, before it opens its reports); other batches
start nothing."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.binding import (
    _EARLY_LOOK_FILES,
    EarlySandbox,
    make_factory,
    start_sandbox_early,
)
from harness.engine._sandbox_zygote import zygote_pids
from harness.engine.sandbox import stop_idle_workers
from harness.models.scenario import Mocks, Scenario
from harness.runner import RunOptions
from harness.runner.suite import Selection, Suite
from harness.runner.workers import worker_factory

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox's children are forked (POSIX)"
)

WORKFLOWS = Path(__file__).resolve().parents[2] / "scenarios" / "workflows"
WITH_PYTHON = WORKFLOWS / "clinic_scheduling.json"  # two inline-Python tools
WITHOUT = WORKFLOWS / "patient_intake.json"


def _scenario(workflow: Path | str) -> Scenario:
    return Scenario.model_validate(
        {"name": "s", "workflow": str(workflow), "turns": [{"start": {}}]}
    )


@pytest.fixture(autouse=True)
def no_sandbox() -> Iterator[None]:
    stop_idle_workers()
    yield
    stop_idle_workers()


def _zygote_started(seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sys.executable in zygote_pids():
            return True
        time.sleep(0.01)
    return False


def test_a_workflow_with_inline_python_starts_the_sandbox() -> None:
    assert b"inline_python" in WITH_PYTHON.read_bytes()
    scenarios = [_scenario(WITHOUT), _scenario(WITH_PYTHON)]
    assert start_sandbox_early("engine", scenarios)
    assert _zygote_started()


def test_other_batches_start_nothing() -> None:
    assert b"inline_python" not in WITHOUT.read_bytes()
    missing = Path("no/such/workflow.json")
    assert not start_sandbox_early("engine", [_scenario(WITHOUT), _scenario(missing)])
    assert not start_sandbox_early("engine", [_scenario("clinic\x00.json")])  # left to the binding
    mocked = _scenario(WITH_PYTHON)
    mocked.mocks = Mocks.model_validate({"tools": {"find_slots": {"returns": []}}})
    skipped = _scenario(WITH_PYTHON)
    skipped.skip = "not today"
    assert not start_sandbox_early("engine", [mocked, skipped])  # it may mock the inline tools
    assert not start_sandbox_early("api", [_scenario(WITH_PYTHON)])  # the platform runs its tools
    time.sleep(0.2)  # a start would be on its way by now
    assert zygote_pids() == {}


def _project(folder: Path, workflows: list[Path]) -> Path:
    for number, workflow in enumerate(workflows):
        text = f"version: 1\nname: s{number}\nworkflow: {workflow}\nturns:\n- start: {{}}\n"
        (folder / "scenarios").mkdir(exist_ok=True)
        (folder / "scenarios" / f"s{number:02d}.yaml").write_text(text)
    (folder / "harness.toml").write_text("# test project\n")
    return folder


def test_reading_a_suite_that_calls_inline_python_starts_the_sandbox(tmp_path: Path) -> None:
    project = _project(tmp_path, [WITHOUT, WITH_PYTHON, WITHOUT])
    selection = Selection(paths=("scenarios",))
    suite = Suite.select(selection, cwd=project, options=RunOptions(backend="engine"))
    # Started while the files were read, before any run (the zygote boots meanwhile).
    assert suite.early_sandbox is not None and suite.early_sandbox.started
    assert _zygote_started()


def test_reading_starts_nothing_for_other_suites_or_forked_workers(tmp_path: Path) -> None:
    project = _project(tmp_path, [WITH_PYTHON])
    selection = Selection(paths=("scenarios",))
    assert Suite.select(selection, cwd=project).early_sandbox is None  # no options: no look
    for options in (RunOptions(backend="api"), RunOptions(backend="engine", workers=2)):
        suite = Suite.select(selection, cwd=project, options=options)
        assert not (suite.early_sandbox and suite.early_sandbox.started)
    # Read, but not selected: the scenario that would call inline Python is left out by -k.
    (project / "scenarios" / "s01.yaml").write_text(
        f"version: 1\nname: other\nworkflow: {WITHOUT}\nturns:\n- start: {{}}\n"
    )
    only_other = Selection(paths=("scenarios",), keywords=("other",))
    suite = Suite.select(only_other, cwd=project, options=RunOptions(backend="engine"))
    assert [s.name for s in suite.scenarios] == ["other"]
    assert suite.early_sandbox is not None and not suite.early_sandbox.started
    time.sleep(0.2)  # a start would be on its way by now
    assert zygote_pids() == {}


def test_the_look_stops_after_a_few_workflow_files(tmp_path: Path) -> None:
    # Sixteen workflow files without inline Python, then one with: too far to be looked at.
    others = []
    for number in range(_EARLY_LOOK_FILES):
        copy = tmp_path / f"w{number}.json"
        copy.write_bytes(WITHOUT.read_bytes())
        others.append(copy)
    early = EarlySandbox("engine")
    for scenario in [_scenario(path) for path in others] + [_scenario(WITH_PYTHON)]:
        early.look([scenario])
    assert not early.started
    early = EarlySandbox("engine")
    early.look([_scenario(others[0]), _scenario(others[0]), _scenario(WITH_PYTHON)])
    assert early.started  # the same file twice is looked at once


async def test_binding_starts_the_sandbox_ahead_except_in_a_worker(tmp_path: Path) -> None:
    # The workflow has inline-Python tools; binding the scenario calls none of them.
    options = RunOptions(backend="engine", project_root=tmp_path, cassettes_root=tmp_path)
    async with worker_factory(options).bind(_scenario(WITH_PYTHON)):
        pass
    time.sleep(0.2)  # a start would be on its way by now
    assert zygote_pids() == {}
    async with make_factory("engine", options.binding_config()).bind(_scenario(WITH_PYTHON)):
        pass
    assert _zygote_started()
