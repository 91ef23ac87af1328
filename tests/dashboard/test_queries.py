"""The dashboard's data layer over a real history: the example suite's batch and an injected one.

The figures are checked against the results themselves (numpy's quantiles over every call, sums
of the stored results) and the regressions against `harness report compare` on the same history:
the dashboard uses the CLI's functions, so the two must agree row for row.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from histories import CHANGED_ANSWER, FLAKY, IMPROVED, REGRESSED, REGRESSED_NODE, History

from harness.cli import main
from harness.dashboard import queries, runs
from harness.errors import HarnessError
from harness.models.result import AttemptResult, NodeUsage, TurnResult, Verdict
from harness.results import HistoryStore, read_results


def test_check_history_states(tmp_path: Path, history: History) -> None:
    assert queries.check_history(history.path).status == "ok"
    missing = queries.check_history(tmp_path / "nothing.sqlite")
    assert missing.status == "missing" and "harness run scenarios/" in missing.message
    assert not (tmp_path / "nothing.sqlite").exists(), "checking must not create a database"
    HistoryStore(tmp_path / "empty.sqlite").close()
    empty = queries.check_history(tmp_path / "empty.sqlite")
    assert empty.status == "empty" and "harness run scenarios/" in empty.message
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes(x)")
    assert "not a harness history" in queries.check_history(foreign).message
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")
    check = queries.check_history(newer)
    assert check.status == "incompatible" and "newer" in check.message
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    assert queries.check_history(garbage).status == "incompatible"


def test_batches_and_kpis_match_the_results(history: History) -> None:
    frame = queries.batches_frame(history.path)
    assert list(frame["batch_id"]) == [history.current, history.baseline]
    summary = read_results(history.reports / history.current)
    kpis = queries.batch_kpis(history.path, history.current)
    assert kpis["tokens"] == summary.tokens
    assert kpis["llm_calls"] == summary.llm_calls
    assert kpis["scenarios"] == summary.total and kpis["failed"] == summary.failed == 1
    attempts = [a for r in summary.results for a in r.attempts]
    assert kpis["pass_rate"] == pytest.approx(
        sum(a.verdict is Verdict.PASSED for a in attempts) / len(attempts)
    )
    calls = summary.latencies_ms
    assert kpis["latency_p50"] == pytest.approx(np.quantile(calls, 0.5))
    assert kpis["latency_p95"] == pytest.approx(np.quantile(calls, 0.95))
    assert kpis["cost_usd"] is None, "the scripted model has no price: unknown, not 0"
    row = frame.iloc[0]
    assert row["tokens"] == summary.tokens and row["pass_rate"] == pytest.approx(kpis["pass_rate"])
    assert queries.default_baseline(frame, history.current) == history.baseline
    assert queries.default_baseline(frame, history.baseline) is None


def test_regressions_are_the_clis(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    report, notes = queries.regression_report(history.path, history.current, history.baseline)
    assert notes == []
    code = main(
        ["report", "compare", history.baseline, history.current, "--format", "json",
         "--history", str(history.path)]
    )  # fmt: skip
    assert code == 1
    cli = json.loads(capsys.readouterr().out)
    table = queries.changes_frame(report.regressions)
    assert list(table["scenario"]) == [c["scenario"] for c in cli["regressions"]]
    assert list(table["metric"]) == [c["metric"] for c in cli["regressions"]]
    tokens = table[(table["scenario"] == REGRESSED) & (table["node"] == REGRESSED_NODE)]
    assert tokens.iloc[0]["metric"] == "tokens" and tokens.iloc[0]["delta"] == 200
    assert {c.scenario for c in report.improvements} == {IMPROVED}
    assert table.iloc[0]["scenario"] == FLAKY, "a pass-rate drop (any change counts) comes first"


def test_flaky_scenarios(history: History) -> None:
    flaky = queries.flaky_frame(history.path, history.current)
    assert list(flaky["scenario"]) == [FLAKY]
    assert flaky.iloc[0]["pass rate"] == pytest.approx(2 / 3)
    assert queries.flaky_frame(history.path, history.baseline).empty


def test_trends_per_scenario_and_node(history: History) -> None:
    batches = [history.baseline, history.current]
    trend = queries.scenario_trend(history.path, batches, [REGRESSED])
    tokens = dict(zip(trend["batch_id"], trend["tokens"], strict=True))
    assert tokens[history.current] - tokens[history.baseline] == 200
    summary = read_results(history.reports / history.current)
    result = next(r for r in summary.results if r.scenario_id == REGRESSED)
    now = trend[trend["batch_id"] == history.current].iloc[0]
    assert now["latency_p95"] == pytest.approx(np.quantile(result.latencies_ms, 0.95))
    nodes = queries.node_trend(history.path, batches, [REGRESSED])
    node = nodes[(nodes["node"] == REGRESSED_NODE)].set_index("batch_id")["tokens"]
    assert node[history.current] - node[history.baseline] == 200
    every = queries.node_trend(history.path, batches)
    assert set(nodes["node"]) <= set(every["node"])
    assert (
        queries.node_trend(history.path, batches, models=["no-such-model"])["tokens"].isna().all()
    )


def test_filters_and_scatter(history: History) -> None:
    options = queries.filter_options(history.path)
    assert options["branches"] and options["backends"] == ["engine"]
    assert "clinic" in options["tags"] and options["models"] == ["scripted-model"]
    clinic = queries.scenarios_in(history.path, [history.current], ["clinic"])
    assert REGRESSED in clinic and IMPROVED not in clinic
    scatter = queries.scatter_frame(history.path, history.current)
    assert len(scatter) == 15 and set(scatter.columns) >= {"tokens", "latency_p50", "verdict"}


def test_run_loading_and_transcript(history: History) -> None:
    result = queries.load_result(history.path, history.current, REGRESSED)
    info = queries.batch_info(history.path, history.current)
    outputs, note = runs.run_outputs(history.path, info, result)
    assert note is None and outputs
    views = runs.transcript(result.attempts[0], outputs)
    assert views[0].action is not None and views[0].action.startswith("started the run")
    assert views[1].user == ["I need a follow-up visit next Tuesday morning"]
    assert views[1].events is not None
    assert any(e["type"] == "user_messages" for e in views[1].events)
    assert views[1].turn.tool_calls[0].arguments == {"day": "tuesday"}
    dot = runs.path_dot(result.attempts[0])
    assert '"greet" -> "collect_need"' in dot
    with pytest.raises(HarnessError, match="no result of scenario"):
        queries.load_result(history.path, history.current, "scenarios/none")


def test_two_runs_side_by_side(history: History) -> None:
    now = queries.load_result(history.path, history.current, REGRESSED).attempts[0]
    before = queries.load_result(history.path, history.baseline, REGRESSED).attempts[0]
    rows = runs.usage_diff_rows(before, now)
    changed = [r for r in rows if r["tokens Δ"]]
    assert [(r["turn"], r["node"], r["tokens Δ"]) for r in changed] == [(1, REGRESSED_NODE, 200)]
    diff = runs.said_diff(before.turns, now.turns)
    assert (
        f"+[2] assistant: Thank you Ana Ruiz, see you on tuesday at 09:30. Goodbye! {CHANGED_ANSWER}"
        in diff
    )
    assert runs.said_diff(before.turns, before.turns) == ""


def test_missing_artifacts_degrade(tmp_path: Path, history: History) -> None:
    result = queries.load_result(history.path, history.current, REGRESSED)
    info = queries.batch_info(history.path, history.current).model_copy(
        update={"project_root": None}
    )
    elsewhere = tmp_path / "history.sqlite"  # its batch folders are not beside it
    outputs, note = runs.run_outputs(elsewhere, info, result)
    assert outputs == {} and note is not None and "not there any more" in note
    views = runs.transcript(result.attempts[0], outputs)
    assert all(v.events is None for v in views) and views[1].turn.said


def test_run_outputs_from_a_pack_line_and_from_a_per_scenario_file(
    tmp_path: Path, history: History
) -> None:
    result = queries.load_result(history.path, history.current, REGRESSED)
    info = queries.batch_info(history.path, history.current)
    assert result.artifact is not None and ".jsonl#" in result.artifact
    outputs, note = runs.run_outputs(history.path, info, result)
    assert note is None and outputs and all(isinstance(o, dict) for o in outputs.values())
    # a report folder written before packs: one file per scenario, its path as the reference
    old = tmp_path / "reports" / info.batch_id
    document = {
        "format_version": 2,
        "kind": "harness-artifact",
        "scenario_id": result.scenario_id,
        "turns": [
            {"attempt": a, "index": i, "turn": 0, "run_output": o} for (a, i), o in outputs.items()
        ],
    }
    (old / "artifacts" / "scenarios").mkdir(parents=True)
    (old / "artifacts" / "scenarios" / "regressed.json").write_text(json.dumps(document))
    earlier = result.model_copy(deep=True)
    earlier.artifact = "artifacts/scenarios/regressed.json"
    for turn in earlier.attempts[0].turns:
        turn.artifact = earlier.artifact
    elsewhere = info.model_copy(update={"project_root": None})
    assert runs.run_outputs(tmp_path / "reports" / "history.sqlite", elsewhere, earlier) == (
        outputs,
        None,
    )
    # a reference the pack does not hold says why
    wrong = result.model_copy(update={"artifact": result.artifact.split("#")[0] + "#3"})
    outputs, note = runs.run_outputs(history.path, info, wrong)
    assert outputs == {} and note is not None and "not the start of a line" in note


def test_user_messages_and_events_of_odd_inputs() -> None:
    assert runs.user_messages({}) == []
    parts = {"thread_to_node_inputs": {"0": {"node_run_inputs": [
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
                      {"role": "assistant", "content": "no"}]}]}}}  # fmt: skip
    assert runs.user_messages(parts) == ["hi"]
    rows = runs.event_rows([{"type": "conditional_edge", "edge_logical_id": "e",
                             "source_node_logical_id": "a", "destination_node_logical_id": "b"},
                            "not an event"])  # fmt: skip
    assert rows == [{"type": "conditional_edge", "node": "", "summary": "e: a -> b"}]
    turn = TurnResult(index=0, turn=0, kind="pause", input={"command": "pause"})
    attempt = AttemptResult(attempt=0, verdict=Verdict.PASSED, turns=[turn])
    assert runs.transcript(attempt, {})[0].action == "paused the run"
    assert runs.path_dot(attempt).count("->") == 0
    row = NodeUsage(node="n", total_tokens=5, llm_calls=1, latencies_ms=[10.0])
    other = AttemptResult(
        attempt=0,
        verdict=Verdict.PASSED,
        turns=[TurnResult(index=0, turn=0, kind="user", usage=[row])],
    )
    diff = runs.usage_diff_rows(attempt, other)
    assert diff == [{"turn": 0, "node": "n", "tokens A": 0, "tokens B": 5, "tokens Δ": 5,
                     "calls A": 0, "calls B": 1, "latency A (ms)": 0.0, "latency B (ms)": 10.0,
                     "latency Δ (ms)": 10.0}]  # fmt: skip
