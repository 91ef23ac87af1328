"""Reading results back: version 2, version 1 migrated, unknown versions refused, a batch cut
short by a kill read from its lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from results_factory import llm_event, scenario

from harness.errors import HarnessError
from harness.models.result import BatchInfo, RunSummary, Verdict
from harness.results import JSONL_NAME, RESULTS_NAME, read_results


def v1_summary() -> dict[str, Any]:
    """A results.json as harness 0.1 wrote it (format 1): no batch, no usage rows, events inline."""
    events = [
        llm_event("greet", "r1", 100, 10, 20),
        {**llm_event("greet", "r1", 100, 10, 20), "type": "assistant_response"},  # same call
        llm_event("greet", "r2", 150, 5, 30),
        llm_event("route", "r3", 80, 2, 7),
    ]
    turn = {
        "index": 0,
        "turn": 0,
        "kind": "start",
        "tokens": 347,
        "llm_calls": 3,
        "latency_ms": 57,
        "wall_ms": 90,
        "run_output": {"events": events},
    }
    bare_turn = {"index": 1, "turn": 1, "kind": "user", "tokens": 40, "llm_calls": 1}
    attempt = {
        "attempt": 0,
        "verdict": "passed",
        "turns": [turn, bare_turn],
        "tokens": 387,
        "llm_calls": 4,
        "latency_ms": 57,
        "evaluation": {"evaluator": "own", "verdict": {"passed": True, "score": 0.8}},
    }
    result = {
        "format_version": 1,
        "scenario_id": "scenarios/a",
        "name": "a",
        "verdict": "passed",
        "attempts": [attempt],
    }
    return {
        "format_version": 1,
        "harness_version": "0.1.0",
        "backend": "engine",
        "started_at": "2026-01-05T09:00:00Z",
        "total": 1,
        "passed": 1,
        "results": [result],
    }


def test_version_1_results_are_migrated(tmp_path: Path) -> None:
    folder = tmp_path / "20260105T090000-123456"
    folder.mkdir()
    (folder / RESULTS_NAME).write_text(json.dumps(v1_summary()), encoding="utf-8")
    summary = read_results(folder)
    assert summary.format_version == 2
    assert summary.batch.batch_id == "20260105T090000-123456"  # the folder names the batch
    assert (summary.batch.backend, summary.batch.harness_version) == ("engine", "0.1.0")
    [result] = summary.results
    attempt = result.attempts[0]
    first, bare = attempt.turns
    # usage rebuilt from the inline events: per node, each call once, latencies in call order
    assert [(u.node, u.llm_calls, u.latencies_ms) for u in first.usage] == [
        ("greet", 2, [20.0, 30.0]),
        ("route", 1, [7.0]),
    ]
    assert [(m.model, m.provider) for m in summary.batch.models] == [("gpt-4o-mini", "openai")]
    assert bare.usage == [] and bare.cost_usd is None  # calls of unknown models: no cost
    assert (attempt.tokens, attempt.prompt_tokens, attempt.llm_calls) == (387, 330, 4)
    assert attempt.latencies_ms == [20.0, 30.0, 7.0] and attempt.e2e_ms == 90
    assert attempt.evaluation is not None
    assert attempt.evaluation.scores == {"passed": 1.0, "score": 0.8}
    assert result.tokens == 387 and result.cost_usd is None


def test_version_1_lines_of_an_unfinished_batch_are_migrated(tmp_path: Path) -> None:
    header = {"format_version": 1, "kind": "harness-results"}
    line = v1_summary()["results"][0]
    (tmp_path / JSONL_NAME).write_text(f"{json.dumps(header)}\n{json.dumps(line)}\n")
    summary = read_results(tmp_path)
    assert summary.interrupted and summary.results[0].attempts[0].llm_calls == 4


def test_unknown_versions_are_refused_with_a_hint(tmp_path: Path) -> None:
    data = v1_summary() | {"format_version": 7}
    (tmp_path / RESULTS_NAME).write_text(json.dumps(data))
    with pytest.raises(HarnessError, match="format version 7 is not readable") as caught:
        read_results(tmp_path)
    assert caught.value.hint is not None and "re-run the scenarios" in caught.value.hint
    data = RunSummary.from_results([scenario("a")]).model_dump(mode="json")
    data["results"][0]["format_version"] = 8
    (tmp_path / RESULTS_NAME).write_text(json.dumps(data))
    with pytest.raises(HarnessError, match="format version 8"):
        read_results(tmp_path)


def test_a_line_cut_short_by_a_kill_is_left_out_but_a_broken_line_is_an_error(
    tmp_path: Path,
) -> None:
    batch = BatchInfo(batch_id="b1")
    header = {
        "format_version": 2,
        "kind": "harness-results",
        "batch": batch.model_dump(mode="json"),
        "selected": ["a", "b", "c"],
    }
    good = scenario("a").model_dump_json()
    cut = scenario("b", Verdict.FAILED).model_dump_json()[:150]
    path = tmp_path / JSONL_NAME
    path.write_text(f"{json.dumps(header)}\n{good}\n{cut}")
    summary = read_results(path)
    assert [r.scenario_id for r in summary.results] == ["a"]
    assert summary.batch.batch_id == "b1" and summary.interrupted
    assert summary.not_run == ["b", "c"]
    path.write_text(f"{json.dumps(header)}\n{cut}\n{good}\n")
    with pytest.raises(HarnessError, match="not a readable results file"):
        read_results(path)
