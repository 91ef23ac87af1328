"""Workflow files: the strict check of `harness validate` against the platform's field names.

Loading stays tolerant (a platform export runs as it is); the check reports every key the models do
not declare with file:line:col and a did-you-mean, objects without the `type` that picks their
model, type errors, and the engine's graph rules. Every real platform config passes it unchanged.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.scenarios import (
    check_workflow_file,
    find_workflow_files,
    load_workflow_file,
    validate,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "platform" / "corpus"
CORPUS_FILES = sorted(CORPUS.glob("wf_*.json"))
QUICKSTART = json.loads((CORPUS / "wf_00.json").read_text())
EXAMPLE_1 = json.loads((CORPUS / "wf_01.json").read_text())  # say_llm x2, say_static, two edges


def write(folder: Path, data: Any, name: str = "flow.json") -> Path:
    path = folder / name
    text = json.dumps(data, indent=2) if name.endswith(".json") else yaml.safe_dump(data)
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_every_real_platform_config_has_no_undeclared_key(path: Path) -> None:
    issues = check_workflow_file(path)
    assert not [i for i in issues if "unknown key" in i.message or "missing key" in i.message]


def _misspell(data: dict[str, Any], where: list[Any], good: str, bad: str) -> None:
    holder = data
    for step in where:
        holder = holder[step]
    holder[bad] = holder.pop(good)


@pytest.mark.parametrize(
    "where, good, bad, model",
    [
        (["workflow_config"], "name", "nmae", "WorkflowConfig"),
        (["node_configs", 0], "main_response_config", "main_respons_config", "SayLLMNodeConfig"),
        (["node_configs", 2], "static_messages_config", "static_message_config", "SayStatic"),
        (["edge_configs", 0], "destination_node_logical_id", "destination_node_id", "Edge"),
        (["node_configs", 0, "main_response_config"], "prompt", "promt", "PromptConfig"),
    ],
)
def test_a_misspelt_key_is_reported_where_it_is_with_the_platform_name(
    tmp_path: Path, where: list[Any], good: str, bad: str, model: str
) -> None:
    data = copy.deepcopy(EXAMPLE_1)
    node_types = [n["type"] for n in data["node_configs"]]
    assert node_types == ["say_llm", "say_llm", "say_static"]
    _misspell(data, where, good, bad)
    path = write(tmp_path, data)
    issues = [i for i in check_workflow_file(path) if "unknown key" in i.message]
    assert len(issues) == 1, issues
    [issue] = issues
    assert (issue.line, issue.file) == (line_of(path, f'"{bad}"'), str(path))
    assert issue.column is not None and issue.column > 1
    assert f"unknown key `{bad}`" in issue.message and model in issue.message
    assert issue.hint == f"did you mean `{good}`?"
    assert issue.key is not None and issue.key.endswith(bad)


def test_keys_of_tools_and_llm_configs_are_checked_by_their_type(tmp_path: Path) -> None:
    data = copy.deepcopy(QUICKSTART)
    data["workflow_config"]["llms_config"]["temprature"] = 0.2
    tool = {"type": "external_api", "name": "stock", "api_endpont": "https://x.example"}
    data["workflow_config"]["tools_config"] = {"tools": [tool]}
    issues = check_workflow_file(write(tmp_path, data))
    hints = {i.key: i.hint for i in issues}
    assert hints["workflow_config.llms_config.temprature"] == "did you mean `temperature`?"
    assert hints["workflow_config.tools_config.tools[0].api_endpont"] == (
        "did you mean `api_endpoint`?"
    )


def test_an_object_without_its_type_is_reported(tmp_path: Path) -> None:
    data = copy.deepcopy(QUICKSTART)
    del data["workflow_config"]["llms_config"]["type"]
    path = write(tmp_path, data)
    [issue] = check_workflow_file(path)
    assert issue.key == "workflow_config.llms_config"
    assert issue.line == line_of(path, '"llms_config"')
    assert "missing key `type`" in issue.message
    assert issue.hint is not None and "`openai_llm`" in issue.hint and "`no_llm`" in issue.hint


def test_loading_stays_tolerant_of_undeclared_keys(tmp_path: Path) -> None:
    data = copy.deepcopy(QUICKSTART)
    data["workflow_config"]["from_a_newer_platform"] = {"kept": True}
    path = write(tmp_path, data)
    config = load_workflow_file(path)
    assert config.workflow_config is not None
    assert config.workflow_config.model_extra == {"from_a_newer_platform": {"kept": True}}
    assert "unknown key `from_a_newer_platform`" in check_workflow_file(path)[0].message


def test_an_unknown_node_type_is_not_runnable_not_a_parse_error(tmp_path: Path) -> None:
    data = copy.deepcopy(QUICKSTART)
    data["node_configs"][1].update(type="send_sms", phone_number="{{phone}}", sms_body="Hi")
    issues = check_workflow_file(write(tmp_path, data))
    assert len(issues) == 1, issues
    message = issues[0].message
    assert "'send_sms'" in message and "engine cannot run" in message and "Goodbye" in message
    assert "unknown key" not in message and "not a workflow config" not in message


def test_type_errors_have_file_line_col(tmp_path: Path) -> None:
    data = copy.deepcopy(QUICKSTART)
    data["node_configs"][0]["is_start"] = "sometimes"
    path = write(tmp_path, data)
    [issue] = check_workflow_file(path)
    assert issue.line == line_of(path, '"is_start"') and issue.key == "node_configs[0].is_start"
    assert "not a workflow config" in issue.message and "'sometimes'" in issue.message


def test_yaml_workflow_files_are_checked_alike(tmp_path: Path) -> None:
    data = copy.deepcopy(QUICKSTART)
    _misspell(data, ["node_configs", 0], "is_start", "is_strat")
    path = write(tmp_path, data, "flow.yaml")
    unknown = [i for i in check_workflow_file(path) if "unknown key" in i.message]
    assert [(i.line, i.hint) for i in unknown] == [
        (line_of(path, "is_strat:"), "did you mean `is_start`?")
    ]


def test_validate_finds_workflow_folders_and_workflow_files_given(tmp_path: Path) -> None:
    folder = tmp_path / "scenarios" / "workflows"
    folder.mkdir(parents=True)
    good = write(folder, QUICKSTART, "good.json")
    bad_data = copy.deepcopy(QUICKSTART)
    _misspell(bad_data, ["workflow_config"], "name", "title")
    bad = write(folder, bad_data, "bad.yaml")
    (folder / "notes.txt").write_text("not a workflow")
    assert find_workflow_files([tmp_path / "scenarios"]) == [bad, good]
    report = validate([tmp_path / "scenarios"])
    assert report.scenarios == [] and sorted(report.workflow_files) == [bad, good]
    assert [i.key for i in report.issues] == ["workflow_config.title"]
    alone = validate([good])  # a workflow file given as a path is never read as a scenario
    assert (alone.issues, alone.workflow_files) == ([], [good])
