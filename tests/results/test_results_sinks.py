"""Report files of a batch: results.jsonl as results finish, artifacts, results.json, junit.xml,
summary.md, reports/latest; atomic, with ordinary permissions. The history sink."""

from __future__ import annotations

import itertools
import json
import os
import re
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from results_factory import scenario

from harness.errors import HarnessError
from harness.models.result import BatchInfo, ModelPrice, RunSummary, Verdict
from harness.results import (
    HistorySink,
    HistoryStore,
    ReportFilesSink,
    ResultSink,
    files,
    read_results,
    read_run_outputs,
    resolve_latest,
)
from harness.results.files import file_mode, write_atomic

SELECTED = ["scenarios/a", "scenarios/b", "scenarios/c", "scenarios/d"]


def umask() -> int:
    found = re.search(r"^Umask:\s*([0-7]+)$", Path("/proc/self/status").read_text(), re.M)
    assert found is not None
    return int(found.group(1), 8)


def run_batch(reports: Path, batch_id: str, regression: str | None = None) -> RunSummary:
    """a passes, b fails a check, c cannot run (infrastructure), d is never run."""
    batch = BatchInfo(batch_id=batch_id, backend="engine", git_commit="abc123def456")
    file_sink = ReportFilesSink(reports / batch_id)
    history = HistorySink(HistoryStore(reports / "history.sqlite"))
    sinks: list[ResultSink] = [file_sink, history]
    for sink in sinks:
        sink.start(batch, SELECTED)
    results = [
        scenario("scenarios/a"),
        scenario("scenarios/b", Verdict.FAILED),
        scenario("scenarios/c", Verdict.ERROR, error="turn 1 (start): cassette miss: POST /chat"),
    ]
    results[0].total_up({"gpt-4o-mini": ModelPrice(input=0.15, output=0.6)})
    for result in results:
        for sink in sinks:
            sink.add(result)
        # durable as soon as it is added: on disk and in the history
        assert result.scenario_id in (reports / batch_id / "results.jsonl").read_text()
    summary = RunSummary.from_results(results, batch=batch, interrupted=True)
    file_sink.regression_markdown = regression
    for sink in sinks:
        sink.finish(summary)
    return summary


def test_a_batch_writes_every_report_file_atomically_with_ordinary_permissions(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "reports"
    summary = run_batch(reports, "20260105T090000-000001", regression="| node | +30% |")
    folder = reports / "20260105T090000-000001"
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert names == {
        "results.jsonl",
        "results.json",
        "junit.xml",
        "summary.md",
        "artifacts/20260105T090000-000001-main.jsonl",  # one pack: a line per scenario
    }
    for path in folder.rglob("*"):
        if path.is_file():  # what open() would give, not mkstemp's 0600
            assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask() == file_mode()
    assert resolve_latest(reports) == folder.resolve()
    assert (reports / "latest").is_symlink()
    # the summary lists the scenario never run; the results keep no events, only the artifact
    assert summary.not_run == ["scenarios/d"]
    read = read_results(folder)
    assert read == summary
    turn = read.results[0].attempts[0].turns[0]
    pack = "artifacts/20260105T090000-000001-main.jsonl"
    assert turn.run_output is None and turn.artifact == read.results[0].artifact == f"{pack}#0"
    second = read.results[1].artifact
    assert second is not None and second.startswith(f"{pack}#") and second != f"{pack}#0"
    outputs = read_run_outputs(str(folder), f"{pack}#0")
    events = outputs[(0, 0)]["events"]
    assert isinstance(events, list) and events[0]["type"] == "say_llm"
    # the history has the same batch
    with HistoryStore(reports / "history.sqlite") as store:
        assert store.load_summary("20260105T090000-000001") == summary


def test_junit_keeps_failures_and_infrastructure_errors_apart(tmp_path: Path) -> None:
    run_batch(tmp_path, "b1")
    suite = ET.parse(tmp_path / "b1" / "junit.xml").getroot()
    assert suite.attrib | {"time": "x"} == {
        "name": "harness",
        "tests": "4",
        "failures": "1",
        "errors": "1",
        "skipped": "1",
        "time": "x",
        "id": "b1",
    }
    cases = {c.attrib["name"]: c for c in suite.iter("testcase")}
    failure = cases["scenarios/b"].find("failure")
    assert failure is not None
    assert failure.attrib["message"].startswith("turns[1].expect.says.contains: said text")
    error = cases["scenarios/c"].find("error")
    assert error is not None and error.attrib["type"] == "infrastructure"
    assert "cassette miss" in error.attrib["message"]
    assert cases["scenarios/c"].find("failure") is None
    skipped = cases["scenarios/d"].find("skipped")
    assert skipped is not None and "not run" in skipped.attrib["message"]
    properties = {
        p.attrib["name"]: p.attrib["value"] for p in cases["scenarios/a"].iter("property")
    }
    assert properties["tokens"] == "220" and properties["llm_calls"] == "2"
    assert properties["latency_p50_ms"] == "25" and properties["latency_p95_ms"] == "29.5"
    assert float(properties["cost_usd"]) == pytest.approx((200 * 0.15 + 20 * 0.6) / 1e6)
    assert "cost_usd" not in {p.attrib["name"] for p in cases["scenarios/b"].iter("property")}


def test_summary_markdown_has_totals_failures_with_keys_and_the_regression_section(
    tmp_path: Path,
) -> None:
    run_batch(tmp_path, "b1", regression="**1 regression**\n\n| node | metric |")
    text = (tmp_path / "b1" / "summary.md").read_text(encoding="utf-8")
    assert text.startswith("## ❌ Harness: 1 passed, 1 failed, 1 error(s), 1 not run of 4")
    assert "`abc123def456`" in text
    assert "| `scenarios/b` | `turns[1].expect.says.contains` | said text: expected" in text
    assert "### Errors (1)\n\n- `scenarios/c`: turn 1 (start): cassette miss" in text
    assert "### Not run (1)\n\n- `scenarios/d`" in text
    assert "### Regressions\n\n**1 regression**" in text
    run_batch(tmp_path, "b2")
    assert "Regressions" not in (tmp_path / "b2" / "summary.md").read_text(encoding="utf-8")
    assert resolve_latest(tmp_path) == (tmp_path / "b2").resolve()


def test_latest_is_a_text_file_where_symlinks_cannot_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise OSError("symbolic links are not supported here")

    monkeypatch.setattr(Path, "symlink_to", refuse)
    run_batch(tmp_path, "b1")
    assert (tmp_path / "LATEST").read_text() == "b1\n"
    assert resolve_latest(tmp_path) == tmp_path / "b1"


def test_run_outputs_stay_inline_when_asked_and_a_finished_sink_takes_no_more(
    tmp_path: Path,
) -> None:
    sink = ReportFilesSink(tmp_path / "b1", inline_run_output=True, latest=False)
    sink.start(BatchInfo(batch_id="b1"), ["scenarios/a"])
    result = scenario("scenarios/a")
    sink.add(result)
    sink.finish(RunSummary.from_results([result]))
    line = (tmp_path / "b1" / "results.jsonl").read_text().splitlines()[1]
    assert json.loads(line)["attempts"][0]["turns"][0]["run_output"]["events"]
    assert not (tmp_path / "b1" / "artifacts").exists() and not (tmp_path / "latest").exists()
    with pytest.raises(HarnessError, match="already finished"):
        sink.add(result)
    assert not [p for p in os.listdir(tmp_path / "b1") if p.endswith(".tmp")]


def test_results_json_is_the_summary_with_each_result_as_results_jsonl_holds_it(
    tmp_path: Path,
) -> None:
    added = [scenario("scenarios/a"), scenario("scenarios/b", Verdict.FAILED)]
    elsewhere = scenario("scenarios/c")  # in the summary, never given to `add`
    sink = ReportFilesSink(tmp_path / "b1", latest=False)
    sink.start(BatchInfo(batch_id="b1"), ["scenarios/a", "scenarios/b", "scenarios/c"])
    for result in added:
        sink.add(result)
    summary = RunSummary.from_results([added[1], elsewhere, added[0]])
    sink.finish(summary)
    text = (tmp_path / "b1" / "results.json").read_text()
    assert text == summary.model_dump_json()  # `elsewhere` got its artifact at finish
    assert elsewhere.artifact is not None
    lines = (tmp_path / "b1" / "results.jsonl").read_text().splitlines()[1:]
    results = json.loads(text)["results"]
    assert [r["scenario_id"] for r in results] == ["scenarios/b", "scenarios/c", "scenarios/a"]
    assert [json.loads(line) for line in lines] == [results[2], results[0]]


def test_junit_properties_keep_any_text_of_the_provenance(tmp_path: Path) -> None:
    branch = 'fix/"a & b" <x>\tend'
    batch = BatchInfo(batch_id="b1", git_branch=branch)
    sink = ReportFilesSink(tmp_path / "b1", latest=False)
    sink.start(batch, ["scenarios/a"])
    sink.add(scenario("scenarios/a"))
    sink.finish(RunSummary.from_results([scenario("scenarios/a")], batch=batch))
    suite = ET.parse(tmp_path / "b1" / "junit.xml").getroot()
    properties = suite.find("properties")
    assert properties is not None
    values = {p.attrib["name"]: p.attrib["value"] for p in properties.iter("property")}
    assert values["git_branch"] == branch


def test_junit_keeps_any_text_of_a_message_as_written(tmp_path: Path) -> None:
    text = 'said "a & b" <x>\n\ttab\r\nend é'
    result = scenario("scenarios/odd & <one>", Verdict.ERROR, error=text)
    sink = ReportFilesSink(tmp_path / "b1", latest=False)
    sink.start(BatchInfo(batch_id="b1"), [result.scenario_id, 'not "run" & <x>'])
    sink.add(result)
    sink.finish(RunSummary.from_results([result]))
    suite = ET.parse(tmp_path / "b1" / "junit.xml").getroot()
    cases = {c.attrib["name"]: c for c in suite.iter("testcase")}
    error = cases["scenarios/odd & <one>"].find("error")
    assert error is not None and error.attrib["message"] == text
    assert error.text == text.replace("\r\n", "\n")  # XML reads a line break in text as \n
    assert cases['not "run" & <x>'].find("skipped") is not None


def test_an_atomic_write_makes_its_folder_and_steps_over_a_leftover_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "new" / "folder" / "a.json"
    write_atomic(target, "one", durable=False)
    assert target.read_text() == "one"
    # a killed process with this process id left the temp file the next write would take
    monkeypatch.setattr(files, "_temp_numbers", itertools.count())
    leftover = target.parent / f".a.json.{os.getpid()}-0.tmp"
    leftover.write_text("left over")
    write_atomic(target, "two")
    assert target.read_text() == "two" and leftover.read_text() == "left over"
    assert stat.S_IMODE(target.stat().st_mode) == file_mode()
    assert {p.name for p in target.parent.iterdir()} == {"a.json", leftover.name}
