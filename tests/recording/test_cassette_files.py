"""Cassette files: vcrpy's format, atomic writes, versions, readable errors, paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.recording import (
    CassetteFormatError,
    Interaction,
    cassette_path_for,
    load_cassette,
    save_cassette,
)


def _interaction(n: int) -> Interaction:
    return Interaction(
        method="POST",
        uri="http://127.0.0.1:1/v1/chat/completions",
        request_body=json.dumps(
            {"messages": [{"role": "user", "content": f"héllo {n}"}]}, ensure_ascii=False
        ),
        request_headers={"content-type": ["application/json"]},
        status=200,
        reason="OK",
        response_headers={
            "content-type": ["application/json"],
            "x-harness-recorded-latency-ms": ["12.5"],
        },
        response_body=json.dumps({"n": n}),
    )


@pytest.mark.parametrize("name", ["c.json", "c.yaml"])
def test_save_then_load_round_trips(tmp_path: Path, name: str) -> None:
    path = tmp_path / "deep" / name
    save_cassette(path, [_interaction(1), _interaction(2)])
    assert load_cassette(path) == [_interaction(1), _interaction(2)]
    assert [p.name for p in path.parent.iterdir()] == [name]  # no temp file left behind


def test_the_file_is_vcrpy_version_1_with_our_metadata(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    save_cassette(path, [_interaction(1)])
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == 1
    assert data["metadata"] == {"harness": {"format": 1}}
    assert set(data["interactions"][0]) == {"request", "response"}
    assert "héllo" in path.read_text(encoding="utf-8")  # readable in a diff, not \\u-escaped


@pytest.mark.parametrize("text", ["", "   \n"])
def test_missing_or_empty_files_mean_no_cassette(tmp_path: Path, text: str) -> None:
    assert load_cassette(tmp_path / "absent.json") is None
    (tmp_path / "empty.json").write_text(text)
    assert load_cassette(tmp_path / "empty.json") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a readable cassette"),
        ('{"version": 1}', "no `interactions` list"),
        ('{"version": 2, "interactions": []}', "version 2 is not supported"),
        (
            '{"version": 1, "interactions": [], "metadata": {"harness": {"format": 99}}}',
            "written by a newer harness",
        ),
        ('{"version": 1, "interactions": [{"request": {}}]}', "interaction #0"),
    ],
)
def test_unreadable_cassettes_name_the_file_and_the_fix(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CassetteFormatError, match=message) as caught:
        load_cassette(path)
    assert str(path) in str(caught.value)
    assert caught.value.hint


def test_old_vcrpy_cassettes_with_string_headers_load(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    interaction = _interaction(1).to_vcr()
    interaction["response"]["headers"] = {"content-type": "application/json"}
    path.write_text(json.dumps({"version": 1, "interactions": [interaction]}))
    loaded = load_cassette(path)
    assert loaded is not None and loaded[0].response_headers == {
        "content-type": ["application/json"]
    }


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("scenarios/booking.yaml", "cassettes/booking.json"),
        ("scenarios/clinic/follow_up.scenario.yaml", "cassettes/clinic/follow_up.json"),
        ("elsewhere/x.yml", "cassettes/elsewhere/x.json"),
    ],
)
def test_cassette_paths_mirror_scenario_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cassette_path_for(scenario) == Path(expected)


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("linked/a.yaml", "cassettes/real/a.json"),  # a linked folder: its target inside
        ("scenarios/b.yaml", "cassettes/real/a.json"),  # a linked file: its target
        ("scenarios/real/../real/a.yaml", "cassettes/real/a.json"),
        ("scenarios", "cassettes/.json"),  # the root itself, as `Path.relative_to` has it
    ],
)
def test_cassette_paths_follow_symlinks_to_the_scenario_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenarios" / "real").mkdir(parents=True)
    (tmp_path / "scenarios" / "real" / "a.yaml").touch()
    (tmp_path / "linked").symlink_to(tmp_path / "scenarios" / "real")
    (tmp_path / "scenarios" / "b.yaml").symlink_to(tmp_path / "scenarios" / "real" / "a.yaml")
    assert cassette_path_for(scenario) == Path(expected)
