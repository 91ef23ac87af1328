"""`start_sandbox_early`: a batch whose workflow files name an inline-Python tool starts the
sandbox before it opens its reports; other batches start nothing."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.binding import start_sandbox_early
from harness.engine._sandbox_zygote import zygote_pids
from harness.engine.sandbox import stop_idle_workers
from harness.models.scenario import Mocks, Scenario

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
