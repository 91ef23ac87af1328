"""The example suite in scenarios/: it loads cleanly and, together, uses every turn kind, every
check kind, and every scenario feature the format has (so the README's coverage table stays true)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.models.api import WorkflowConfigFullyHydrated
from harness.models.expect import Expect
from harness.models.scenario import Scenario
from harness.models.turns import TurnKind
from harness.scenarios import format_issues, load_scenarios, validate_paths
from harness.testing import load_script

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "scenarios"


@pytest.fixture(scope="module")
def scenarios() -> list[Scenario]:
    return load_scenarios([SUITE], root=ROOT)


def _expects(scenario: Scenario) -> list[Expect]:
    found = [turn.expect for turn in scenario.turns if turn.expect is not None]
    return found + ([scenario.expect] if scenario.expect is not None else [])


def test_the_suite_validates() -> None:
    issues = validate_paths([SUITE], root=ROOT)
    assert not issues, format_issues(issues)


def test_at_least_twelve_scenarios_over_three_workflows(scenarios: list[Scenario]) -> None:
    assert len(scenarios) >= 12
    assert len({s.workflow for s in scenarios}) >= 3


def test_every_turn_kind_is_used(scenarios: list[Scenario]) -> None:
    used = {kind for s in scenarios for turn in s.turns for kind in TurnKind if getattr(turn, kind)}
    assert used == set(TurnKind)
    lists = [t.user for s in scenarios for t in s.turns if isinstance(t.user, list)]
    assert lists, "no turn sends a list of user messages"


def test_every_check_kind_is_used(scenarios: list[Scenario]) -> None:
    used = {key for s in scenarios for e in _expects(s) for key in e.model_fields_set}
    assert set(Expect.model_fields) <= used, sorted(set(Expect.model_fields) - used)


def test_every_scenario_feature_is_used(scenarios: list[Scenario]) -> None:
    mocks = [m for s in scenarios for ms in s.mocks.tools.values() for m in ms]
    assert any(m.raises for m in mocks) and any("returns" in m.model_fields_set for m in mocks)
    assert any(m.delay_seconds for m in mocks) and any(m.when for m in mocks)
    assert any(s.source and s.source.parameters for s in scenarios), "no matrix scenario"
    assert any(s.repeat.runs > 1 for s in scenarios), "no repeat scenario"
    assert any(s.budgets for s in scenarios) and any(t.budgets for s in scenarios for t in s.turns)
    assert any(s.evaluation and s.evaluation.workflow for s in scenarios)
    assert any(s.evaluation and not s.evaluation.workflow for s in scenarios)
    assert sorted(p.parent.name for p in SUITE.rglob("_defaults.yaml"))


def test_workflows_load_and_one_names_the_evaluator() -> None:
    workflows: dict[str, WorkflowConfigFullyHydrated] = {}
    for path in sorted((SUITE / "workflows").glob("*.json")):
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        workflows[path.stem] = WorkflowConfigFullyHydrated.model_validate(data)
    assert len(workflows) >= 4
    configs = [w.workflow_config.evaluation_config for w in workflows.values()]
    assert any(c is not None and c.evaluator_workflow_id for c in configs)


def test_the_model_script_loads_and_serves_the_pharmacy() -> None:
    script = load_script(SUITE / "model" / "script.json")
    assert any(route.path.startswith("/pharmacy/") for route in script.routes)
    assert script.default is not None


def test_the_suite_passes_offline_from_its_cassettes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    monkeypatch.chdir(ROOT)  # scenario ids, hence cassette paths, are relative to the root
    # A dead endpoint: replay (record mode none) must never need it.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused")
    code = main(["run", "scenarios/", "--report-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 failed, 0 error(s)" in out
