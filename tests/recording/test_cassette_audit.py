"""`harness cassettes check [--prune]`: orphaned, stale, old-format, old-layout cassettes and temp
files, in a project written into tmp_path (its scenarios use the workflows of tests/data/workflows).
Each backend has its cassettes folder: `cassettes/engine/`, `cassettes/api/`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.models.result import RunSummary, ScenarioResult, Verdict
from harness.recording import Interaction, load_cassette, save_cassette

INTAKE = str(Path(__file__).parents[1] / "data" / "workflows" / "intake.yaml")
URL = "http://127.0.0.1:1/v1/chat/completions"


def _interaction(text: str) -> Interaction:
    body = json.dumps({"messages": [{"role": "user", "content": text}]})
    return Interaction("POST", URL, body, {}, 200, "OK", {}, "{}")


def _scenario(root: Path, stem: str, **fields: object) -> None:
    path = root / "scenarios" / f"{stem}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"version": 1, "name": stem, "workflow": INTAKE, "turns": [{"start": {}}], **fields}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def _report(root: Path, *results: ScenarioResult) -> Path:
    folder = root / "reports" / "20260105T093000-000000"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(RunSummary.from_results(list(results)).model_dump_json())
    (root / "reports" / "latest").symlink_to(folder.name, target_is_directory=True)
    return folder / "results.json"


def _stale(scenario_id: str, *entries: str, backend: str = "engine") -> ScenarioResult:
    return ScenarioResult(
        scenario_id=scenario_id,
        name=scenario_id,
        verdict=Verdict.PASSED,
        backend=backend,
        stale=list(entries),
    )


def _age(path: Path, seconds: float = 60) -> None:
    """Make `path` older than a report written now."""
    then = path.stat().st_mtime - seconds
    os.utime(path, (then, then))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project: two scenarios (one a matrix), their engine cassettes, and the litter to find."""
    (tmp_path / "harness.toml").write_text("")
    _scenario(tmp_path, "kept")
    _scenario(tmp_path, "days", name="on ${day}", matrix=[{"day": "mon"}, {"day": "tue"}])
    cassettes = tmp_path / "cassettes" / "engine"
    for name in ("kept", "days[day=mon]", "days[day=tue]"):
        save_cassette(cassettes / f"{name}.json", [_interaction(name)], metadata={})
    save_cassette(cassettes / "days[day=sun].json", [_interaction("sun")])  # combination gone
    save_cassette(
        cassettes / "renamed.json",
        [_interaction("x")],
        metadata={"scenario": "../../scenarios/old.yaml"},
    )
    (cassettes.parent / ".gitkeep").write_text("")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_clean_project_has_nothing_to_prune(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("days[day=sun].json", "renamed.json"):
        (project / "cassettes" / "engine" / name).unlink()
    assert main(["cassettes", "check"]) == 0
    assert capsys.readouterr().out == "3 cassette(s) checked: nothing to prune\n"


def test_orphans_old_formats_and_temp_files_are_listed_then_pruned(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cassettes = project / "cassettes" / "engine"
    vcrpy = {"version": 1, "interactions": [_interaction("k").to_vcr()]}  # no harness metadata
    (cassettes / "kept.json").write_text(json.dumps(vcrpy))
    (cassettes / ".days[day=mon].json.x1y2.tmp").write_text("{")

    assert main(["cassettes", "check"]) == 1
    out = capsys.readouterr().out
    assert "5 cassette(s) checked: 4 problem(s)" in out
    assert "orphaned    cassettes/engine/days[day=sun].json: no scenario uses it\n" in out
    assert (
        "orphaned    cassettes/engine/renamed.json: no scenario uses it (recorded for scenarios/old.yaml)"
    ) in out
    assert "old format  cassettes/engine/kept.json: written by vcrpy or another tool" in out
    assert "temp file   cassettes/engine/.days[day=mon].json.x1y2.tmp: left by a write" in out
    assert "remove them with: harness cassettes check --prune" in out
    assert (cassettes / "renamed.json").exists()  # listing removes nothing

    assert main(["cassettes", "check", "--prune"]) == 0
    out = capsys.readouterr().out
    assert "removed cassettes/engine/days[day=sun].json (orphaned)" in out
    assert "removed cassettes/engine/kept.json (old format)" in out
    assert "--record-mode once" in out
    left = sorted(p.name for p in cassettes.iterdir())
    assert left == ["days[day=mon].json", "days[day=tue].json"]
    assert main(["cassettes", "check"]) == 0


def test_interactions_unused_by_the_last_replay_are_pruned_from_the_cassette(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "cassettes" / "engine" / "kept.json"
    save_cassette(path, [_interaction("a"), _interaction("b"), _interaction("c")])
    _age(path)
    report = _report(
        project,
        _stale("scenarios/kept", f"#1 POST {URL}  user: b", f"#2 POST {URL}  user: c"),
        _stale("scenarios/days[day=mon]", f"#0 POST {URL}  user: x", backend="api"),
    )
    (project / "cassettes" / "engine" / "days[day=sun].json").unlink()
    (project / "cassettes" / "engine" / "renamed.json").unlink()

    assert main(["cassettes", "check", "cassettes/engine/kept.json"]) == 1
    out = capsys.readouterr().out
    assert (
        "stale       cassettes/engine/kept.json: 2 interaction(s) never used by the last replay "
        f"({report.relative_to(project)}): #1 POST {URL}  user: b"
    ) in out

    assert main(["cassettes", "check", "--prune"]) == 0
    assert (
        "removed 2 stale interaction(s) from cassettes/engine/kept.json" in capsys.readouterr().out
    )
    assert [i.request_body for i in load_cassette(path) or []] == [_interaction("a").request_body]
    # The API backend's report does not speak for the engine's cassette (it was left alone).
    assert load_cassette(project / "cassettes" / "engine" / "days[day=mon].json")


def test_a_cassette_changed_since_the_report_is_not_pruned(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "cassettes" / "engine" / "kept.json"
    _report(project, _stale("scenarios/kept", f"#0 POST {URL}  user: kept"))
    save_cassette(path, [_interaction("re-recorded")])  # after the report
    main(["cassettes", "check", "--prune", "cassettes/engine/kept.json"])
    out = capsys.readouterr().out
    assert "but the cassette changed since: replay the suite again" in out
    assert "kept cassettes/engine/kept.json: its stale report does not match the file" in out
    assert load_cassette(path) == [_interaction("re-recorded")]


def test_cassettes_of_a_scenario_file_that_does_not_load_are_kept(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "scenarios" / "days.yaml").write_text("version: 1\nname: [broken\n")
    (project / "cassettes" / "engine" / "renamed.json").unlink()
    (project / "cassettes" / "engine" / "days[day=sun].json").unlink()
    assert main(["cassettes", "check"]) == 0
    out = capsys.readouterr().out
    assert "note: 1 scenario file(s) do not load, so their cassettes are kept" in out


def test_an_unreadable_cassette_is_reported_and_never_pruned(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "cassettes" / "engine" / "kept.json"
    path.write_text("{not json")
    assert main(["cassettes", "check", "--prune", "cassettes/engine/kept.json"]) == 0
    out = capsys.readouterr().out
    assert "unreadable  cassettes/engine/kept.json:" in out and "not a readable cassette" in out
    assert (
        "kept cassettes/engine/kept.json: unreadable (restore it from git, or re-record it)" in out
    )
    assert path.read_text() == "{not json"


def test_a_missing_path_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cassettes", "check", "cassettes/engine/nope.json"]) == 2
    assert "no such cassette file or folder" in capsys.readouterr().err


SIMULATE = {"persona": "a patient", "goal": "book", "max_turns": 1, "model": "m"}


def test_each_backend_has_its_cassettes_and_its_stale_lists(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "cassettes" / "engine" / "days[day=sun].json").unlink()
    (project / "cassettes" / "engine" / "renamed.json").unlink()
    _scenario(project, "talks", turns=[{"start": {}}, {"simulate": SIMULATE}])
    engine = project / "cassettes" / "engine" / "talks.json"
    api = project / "cassettes" / "api" / "talks.json"
    for path in (engine, api):
        save_cassette(path, [_interaction("a"), _interaction("b")], metadata={})
        _age(path)
    # A scenario without a simulated user or evaluator file has no API-backend cassette.
    save_cassette(project / "cassettes" / "api" / "kept.json", [_interaction("x")], metadata={})
    _report(project, _stale("scenarios/talks", f"#1 POST {URL}  user: b", backend="api"))
    before = engine.read_bytes()

    assert main(["cassettes", "check"]) == 1
    out = capsys.readouterr().out
    assert "orphaned    cassettes/api/kept.json: no scenario uses it" in out
    assert "stale       cassettes/api/talks.json: 1 interaction(s) never used" in out
    assert "cassettes/engine/talks.json" not in out

    assert main(["cassettes", "check", "--prune"]) == 0
    assert [i.request_body for i in load_cassette(api) or []] == [_interaction("a").request_body]
    assert engine.read_bytes() == before
    assert not (project / "cassettes" / "api" / "kept.json").exists()


def test_engine_cassettes_of_the_old_layout_are_moved_to_their_folder(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "cassettes" / "engine" / "days[day=sun].json").unlink()
    (project / "cassettes" / "engine" / "renamed.json").unlink()
    engine = project / "cassettes" / "engine"
    old = project / "cassettes" / "kept.json"
    (engine / "kept.json").rename(old)
    save_cassette(project / "cassettes" / "days[day=mon].json", [_interaction("older")])
    moved = old.read_bytes()

    assert main(["cassettes", "check"]) == 1
    out = capsys.readouterr().out
    assert (
        "old layout  cassettes/kept.json: in the old layout: runs look for it at "
        "cassettes/engine/kept.json"
    ) in out
    assert "old layout  cassettes/days[day=mon].json: an old-layout copy of " in out

    assert main(["cassettes", "check", "--prune"]) == 0
    out = capsys.readouterr().out
    assert "moved cassettes/kept.json to cassettes/engine/kept.json" in out
    assert "removed cassettes/days[day=mon].json (old layout; " in out
    assert (engine / "kept.json").read_bytes() == moved
    assert load_cassette(engine / "days[day=mon].json") == [_interaction("days[day=mon]")]
    assert sorted(p.name for p in (project / "cassettes").iterdir()) == [".gitkeep", "engine"]
