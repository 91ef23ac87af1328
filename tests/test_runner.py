"""The runner end to end: scenarios in tmp_path over tests/data/workflows, recorded against the
scripted model over real HTTP, then replayed offline (the model's URL points nowhere)."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import (
    HAPPY_TURNS,
    JUDGE,
    SCRIPT,
    STOCK,
    UNREACHABLE,
    load,
    options,
    write_scenario,
)

from harness.engine import Engine
from harness.models.api import WorkflowRun
from harness.models.result import OutcomeStatus, RunSummary, ScenarioResult, Verdict
from harness.runner import Runner, run_scenarios
from harness.testing import ScriptedModel, serve_scripted_model


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    with serve_scripted_model(ScriptedModel(SCRIPT)) as url:
        yield url


async def record_and_replay(
    tmp_path: Path, model_url: str, *names: str, **fields: Any
) -> tuple[RunSummary, RunSummary]:
    scenarios = load(tmp_path, *names)
    recorded = await run_scenarios(scenarios, options(tmp_path, model_url, "once", **fields))
    replayed = await run_scenarios(scenarios, options(tmp_path, UNREACHABLE, **fields))
    return recorded, replayed


def failures(result: ScenarioResult) -> list[str]:
    return [f"{o.key}: {o.message}" for o in result.failures()]


async def test_a_recorded_scenario_replays_offline_after_the_model_stopped(tmp_path: Path) -> None:
    write_scenario(
        tmp_path,
        "happy",
        turns=HAPPY_TURNS,
        expect={"path": ["welcome", "ask_name", "ask_reason", "confirm", "goodbye"]},
    )
    scenarios = load(tmp_path, "happy")
    with serve_scripted_model(ScriptedModel(SCRIPT)) as url:
        recorded = await run_scenarios(scenarios, options(tmp_path, url, "once"))
    replayed = await run_scenarios(scenarios, options(tmp_path, url))  # the server is gone

    assert (tmp_path / "cassettes" / "engine" / "happy.json").is_file()
    for summary in (recorded, replayed):
        result = summary.results[0]
        assert result.verdict is Verdict.PASSED, failures(result)
        assert [t.status for t in result.attempts[0].turns][-1] == "completed"
    old, new = recorded.results[0].attempts[0], replayed.results[0].attempts[0]
    assert [t.said for t in new.turns] == [t.said for t in old.turns]
    assert new.tokens == old.tokens > 0
    assert new.latency_ms == pytest.approx(old.latency_ms)  # recorded latency comes back
    assert new.turns[1].said == "What brings you in today?"
    assert new.turns[2].path == ["confirm"]


async def test_every_fixed_turn_kind(tmp_path: Path, model_url: str) -> None:
    human = {"type": "human", "content": "I have a bad headache"}
    write_scenario(
        tmp_path,
        "kinds",
        turns=[
            {"start": {"user": "hello"}, "expect": {"says": {"contains": "Welcome"}}},
            {"user": ["My name", "is Ana Ruiz"], "expect": {"node": "ask_reason"}},
            {"pause": {}, "expect": {"status": "paused"}},
            {"resume": {}, "expect": {"status": "waiting_for_user_input"}},
            {
                "input": {
                    "command": "data",
                    "thread_to_node_inputs": {
                        "0": {"node_run_inputs": [{"type": "llm", "messages": [human]}]}
                    },
                },
                "expect": {"node": "confirm", "transitions": [{"edge": "reason_given"}]},
            },
            {"stop": None, "expect": {"status": "cancelled"}},
        ],
    )
    recorded, replayed = await record_and_replay(tmp_path, model_url, "kinds")
    for summary in (recorded, replayed):
        result = summary.results[0]
        assert result.verdict is Verdict.PASSED, failures(result)
        turns = result.attempts[0].turns
        assert [t.kind for t in turns] == ["start", "user", "pause", "resume", "input", "stop"]
        assert turns[4].input["command"] == "data"
        assert turns[4].input["workflow_run_id"] == result.attempts[0].workflow_run_id


async def test_a_simulated_user_talks_until_the_run_completes(
    tmp_path: Path, model_url: str
) -> None:
    write_scenario(
        tmp_path,
        "sim",
        turns=[
            {"start": {}},
            {
                "simulate": {"persona": "a calm patient", "goal": "check in", "max_turns": 5},
                "expect": {"status": "completed", "says": {"contains": "Goodbye"}},
            },
        ],
    )
    recorded, replayed = await record_and_replay(tmp_path, model_url, "sim")
    for summary in (recorded, replayed):
        result = summary.results[0]
        assert result.verdict is Verdict.PASSED, failures(result)
        simulated = [t for t in result.attempts[0].turns if t.kind == "simulate"]
        assert [
            t.input["thread_to_node_inputs"]["0"]["node_run_inputs"][0]["messages"][0]["content"]
            for t in simulated
        ] == [
            "My name is Ana Ruiz",
            "I have a bad headache",
            "Yes, that's right",
        ]
        assert "stopped: the run is completed" in simulated[-1].label


async def test_a_simulated_user_that_never_stops_fails_on_max_turns(
    tmp_path: Path, model_url: str
) -> None:
    write_scenario(
        tmp_path,
        "sim_limit",
        turns=[
            {"start": {}},
            {
                "simulate": {
                    "persona": "a patient",
                    "goal": "check in",
                    "max_turns": 1,
                    "fail_on_max_turns": True,
                    "first_message": "My name is Ana Ruiz",
                },
            },
        ],
    )
    _, replayed = await record_and_replay(tmp_path, model_url, "sim_limit")
    result = replayed.results[0]
    assert result.verdict is Verdict.FAILED
    assert failures(result) == [
        "turns[1].simulate.max_turns: simulated user: expected a stop condition within 1 "
        "message(s), got none after 1"
    ]


async def test_a_failing_check_names_the_key_expected_and_got(
    tmp_path: Path, model_url: str
) -> None:
    turns = [dict(t) for t in HAPPY_TURNS[:2]]
    turns[1] = {
        "user": "My name is Ana Ruiz",
        "expect": {"says": {"contains": "Tuesday"}, "node": "goodbye"},
    }
    write_scenario(tmp_path, "wrong", turns=turns)
    _, replayed = await record_and_replay(tmp_path, model_url, "wrong")
    result = replayed.results[0]
    assert result.verdict is Verdict.FAILED
    messages = failures(result)
    assert len(messages) == 2  # every failure is collected
    assert messages[0].startswith("turns[1].expect.says.contains: ")
    assert '"Tuesday"' in messages[0] and "What brings you in today?" in messages[0]
    assert "goodbye" in messages[1] and "ask_reason" in messages[1]


async def test_repeats_apply_the_pass_rule_and_report_pass_at_k(
    tmp_path: Path, model_url: str
) -> None:
    write_scenario(tmp_path, "rep", turns=HAPPY_TURNS, repeat={"runs": 3, "min_pass": 2, "k": 2})
    bad = [
        HAPPY_TURNS[0],
        {"user": "My name is Ana Ruiz", "expect": {"says": {"contains": "nope"}}},
    ]
    write_scenario(tmp_path, "rep_bad", turns=bad, repeat={"runs": 2})
    _, replayed = await record_and_replay(tmp_path, model_url, "rep", "rep_bad")
    good, failing = replayed.results
    assert good.verdict is Verdict.PASSED, failures(good)
    assert len(good.attempts) == 3
    assert good.repeat is not None
    assert (good.repeat.runs, good.repeat.passed, good.repeat.k) == (3, 3, 2)
    assert good.repeat.pass_at_k == 1.0 and good.repeat.pass_hat_k == 1.0
    assert len({a.workflow_run_id for a in good.attempts}) == 3  # one run per attempt
    assert failing.verdict is Verdict.FAILED
    rule = [o for o in failing.outcomes if o.check == "repeat.min_pass"]
    assert rule[0].message == "repeat: expected at least 2 of 2 runs to pass, got 0"


async def test_budgets_per_turn_and_per_scenario(tmp_path: Path, model_url: str) -> None:
    turns = [dict(t) for t in HAPPY_TURNS]
    turns[1] = {**turns[1], "budgets": {"tokens": {"max": 1}, "llm_calls": {"p95": 5}}}
    write_scenario(
        tmp_path,
        "budget",
        turns=turns,
        budgets={"llm_calls": {"max": 100, "p95": 0}, "latency_ms": {"max": 10**7}},
    )
    _, replayed = await record_and_replay(tmp_path, model_url, "budget")
    result = replayed.results[0]
    assert result.verdict is Verdict.FAILED
    failed = {o.key: o for o in result.failures()}
    assert set(failed) == {"turns[1].budgets.tokens.max", "budgets.llm_calls.p95"}
    assert "tokens of the turn" in failed["turns[1].budgets.tokens.max"].message
    passed = [o.key for o in result.outcomes if o.status is OutcomeStatus.PASSED]
    assert "turns[1].budgets.llm_calls.p95" in passed


async def test_tool_mocks_return_raise_and_match_arguments(tmp_path: Path, model_url: str) -> None:
    turns = [{"start": {}, "expect": {"status": "completed"}}]
    write_scenario(
        tmp_path,
        "mock_ok",
        workflow=STOCK,
        turns=[{**turns[0], "expect": {"says": {"contains": '"in_stock": true'}}}],
        mocks={
            "tools": {
                "check_stock": [
                    {"when": {"rx": "RX-2"}, "returns": "wrong"},
                    {"returns": {"in_stock": True}},
                ]
            }
        },
    )
    write_scenario(
        tmp_path,
        "mock_fail",
        workflow=STOCK,
        turns=[{**turns[0], "expect": {"says": {"contains": "error: pharmacy offline"}}}],
        mocks={"tools": {"check_stock": {"raises": "pharmacy offline"}}},
    )
    _, replayed = await record_and_replay(tmp_path, model_url, "mock_ok", "mock_fail")
    for result in replayed.results:
        assert result.verdict is Verdict.PASSED, failures(result)
    assert replayed.results[0].attempts[0].turns[0].tool_calls[0].result == {"in_stock": True}


async def test_a_slow_scenario_times_out_as_an_error_keeping_its_turns(
    tmp_path: Path, model_url: str
) -> None:
    write_scenario(
        tmp_path,
        "slow",
        workflow=STOCK,
        timeout_seconds=0.3,
        turns=[{"start": {}}],
        mocks={"tools": {"check_stock": {"returns": 1, "delay_seconds": 30}}},
    )
    started = time.perf_counter()
    summary = await run_scenarios(load(tmp_path, "slow"), options(tmp_path, model_url, "once"))
    assert time.perf_counter() - started < 5
    result = summary.results[0]
    assert result.verdict is Verdict.ERROR
    assert result.attempts[0].error == "timed out after 0.3 s during turn 1"


async def test_a_cassette_miss_names_scenario_turn_and_node(tmp_path: Path, model_url: str) -> None:
    write_scenario(tmp_path, "miss", turns=HAPPY_TURNS)
    await record_and_replay(tmp_path, model_url, "miss")
    changed = [dict(t) for t in HAPPY_TURNS]
    changed[2] = {"user": "I have a bad migraine"}
    write_scenario(tmp_path, "miss", turns=changed)
    summary = await run_scenarios(load(tmp_path, "miss"), options(tmp_path, UNREACHABLE))
    result = summary.results[0]
    assert result.verdict is Verdict.ERROR
    error = result.attempts[0].error or ""
    assert error.startswith("turn 3 (user: I have a bad migraine): cassette miss")
    assert "scenario 'miss', turn 3, node 'ask_reason'" in error
    assert "+messages[4].content: I have a bad migraine" in error
    assert "--rerecord" in error
    assert len(result.attempts[0].turns) == 3  # the turns before the miss are kept


async def test_the_workflows_own_evaluator_and_a_named_one(tmp_path: Path, model_url: str) -> None:
    start = [{"start": {}, "expect": {"status": "completed"}}]
    write_scenario(
        tmp_path,
        "own",
        workflow=STOCK,
        turns=start,
        evaluation={"expect": {"passed": True, "score": {"gte": 0.8}}},
    )
    write_scenario(
        tmp_path,
        "own_strict",
        workflow=STOCK,
        turns=start,
        evaluation={"expect": {"score": {"gte": 0.95}}},
    )
    write_scenario(
        tmp_path,
        "named",
        turns=HAPPY_TURNS,
        evaluation={"workflow": JUDGE, "expect": {"passed": True}},
    )
    _, replayed = await record_and_replay(tmp_path, model_url, "own", "own_strict", "named")
    own, strict, named = replayed.results
    assert own.verdict is Verdict.PASSED, failures(own)
    assert own.evaluation is not None and own.evaluation.evaluator == "own"
    assert own.evaluation.verdict["score"] == 0.9
    assert strict.verdict is Verdict.FAILED
    assert "0.95" in failures(strict)[0]
    assert named.verdict is Verdict.PASSED, failures(named)
    assert named.evaluation is not None and named.evaluation.verdict["passed"] is True


async def test_an_evaluator_named_by_id_runs_on_the_backend(tmp_path: Path, model_url: str) -> None:
    judge_id = hashlib.sha256(b"workflow_stock_judge").hexdigest()[:24]
    evaluation = {"workflow_id": judge_id, "expect": {"passed": True}}
    write_scenario(tmp_path, "by_id", turns=HAPPY_TURNS, evaluation=evaluation)
    _, replayed = await record_and_replay(tmp_path, model_url, "by_id")
    result = replayed.results[0]
    assert result.verdict is Verdict.PASSED, failures(result)
    assert result.evaluation is not None
    assert (result.evaluation.evaluator, result.evaluation.verdict["score"]) == (judge_id, 0.9)


async def test_asking_for_the_own_evaluator_of_a_workflow_without_one_is_an_error(
    tmp_path: Path, model_url: str
) -> None:
    write_scenario(tmp_path, "none", turns=HAPPY_TURNS, evaluation={"expect": {"passed": True}})
    _, replayed = await record_and_replay(tmp_path, model_url, "none")
    result = replayed.results[0]
    assert result.verdict is Verdict.ERROR
    assert result.evaluation is not None
    assert "the workflow has no evaluator" in (result.evaluation.error or "")


async def test_no_evaluation_when_the_run_did_not_complete_is_an_error(
    tmp_path: Path, model_url: str
) -> None:
    write_scenario(
        tmp_path,
        "no_eval",
        workflow=str(Path(STOCK).with_name("judged_waiting.yaml")),
        turns=[{"start": {}}, {"pause": {}}],
        evaluation={"expect": {"passed": True}},
    )
    _, replayed = await record_and_replay(tmp_path, model_url, "no_eval")
    result = replayed.results[0]
    assert result.verdict is Verdict.ERROR
    assert result.evaluation is not None
    assert "the run has no evaluation (status paused)" in (result.evaluation.error or "")


async def test_turns_after_the_run_ended_fail_the_scenario(tmp_path: Path, model_url: str) -> None:
    write_scenario(tmp_path, "ended", workflow=STOCK, turns=[{"start": {}}, {"user": "and more?"}])
    _, replayed = await record_and_replay(tmp_path, model_url, "ended")
    result = replayed.results[0]
    assert result.verdict is Verdict.FAILED
    assert failures(result) == [
        "turns[1]: turn 2 (user: and more?) was not sent: the run was already completed after turn 1"
    ]


async def test_an_engine_scenario_without_a_workflow_file_is_an_error(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, "by_id", turns=[{"start": {}}])
    path.write_text(
        path.read_text().replace(f"workflow: {path.parent.parent}", "x"), encoding="utf-8"
    )
    write_scenario(
        tmp_path,
        "by_id",
        workflow=None,
        workflow_id="65a1b2c3d4e5f60718293a4b",
        turns=[{"start": {}}],
    )
    summary = await run_scenarios(load(tmp_path, "by_id"), options(tmp_path, UNREACHABLE))
    result = summary.results[0]
    assert result.verdict is Verdict.ERROR
    assert "has no `workflow` file" in (result.error or "")


async def test_concurrent_scenarios_keep_run_order_and_report_as_they_finish(
    tmp_path: Path, model_url: str
) -> None:
    names = [f"c{i}" for i in range(6)]
    for name in names:
        write_scenario(tmp_path, name, turns=HAPPY_TURNS)
    await record_and_replay(tmp_path, model_url, *names)
    seen: list[str] = []
    runner = Runner(
        options(tmp_path, UNREACHABLE, concurrency=3),
        on_result=lambda r: seen.append(r.scenario_id),
    )
    summary = await runner.run(load(tmp_path, *names))
    assert [r.scenario_id for r in summary.results] == [f"scenarios/{n}" for n in names]
    assert sorted(seen) == sorted(r.scenario_id for r in summary.results)
    assert (summary.total, summary.passed) == (6, 6)


async def test_an_interrupted_batch_keeps_the_finished_results(
    tmp_path: Path, model_url: str
) -> None:
    quick: list[dict[str, Any]] = [{"start": {}}]
    write_scenario(
        tmp_path,
        "quick",
        workflow=STOCK,
        turns=quick,
        mocks={"tools": {"check_stock": {"returns": 1}}},
    )
    for i in range(3):
        write_scenario(
            tmp_path,
            f"slow{i}",
            workflow=STOCK,
            turns=quick,
            mocks={"tools": {"check_stock": {"returns": 1, "delay_seconds": 30}}},
        )
    scenarios = load(tmp_path, "quick", "slow0", "slow1", "slow2")
    await run_scenarios(scenarios[:1], options(tmp_path, model_url, "once"))
    finished = asyncio.Event()
    runner = Runner(
        options(tmp_path, UNREACHABLE, concurrency=4), on_result=lambda _: finished.set()
    )
    task = asyncio.create_task(runner.run(scenarios))
    await asyncio.wait_for(finished.wait(), 10)
    task.cancel()  # what Ctrl-C does to the main task under asyncio.run
    with pytest.raises(asyncio.CancelledError):
        await task
    summary = runner.summary(interrupted=True)
    assert [r.scenario_id for r in summary.results] == ["scenarios/quick"]
    assert summary.interrupted and summary.exit_code == 1


async def test_interactions_a_replay_never_used_are_reported_stale(
    tmp_path: Path, model_url: str
) -> None:
    write_scenario(tmp_path, "shrinks", turns=HAPPY_TURNS)
    recorded, replayed = await record_and_replay(tmp_path, model_url, "shrinks")
    assert recorded.results[0].stale == [] and replayed.results[0].stale == []
    # The scenario now stops after its first two turns: what the later turns recorded is stale.
    write_scenario(tmp_path, "shrinks", turns=HAPPY_TURNS[:2])
    shorter = await run_scenarios(load(tmp_path, "shrinks"), options(tmp_path, UNREACHABLE))
    result = shorter.results[0]
    assert result.verdict is Verdict.PASSED, failures(result)
    assert result.stale and all("/chat/completions" in entry for entry in result.stale)


async def test_tool_mocks_are_skipped_on_the_api_backend(tmp_path: Path) -> None:
    from harness.backends.binding import ApiFactory

    write_scenario(
        tmp_path,
        "mocked",
        workflow=STOCK,
        turns=[{"start": {}}],
        mocks={"tools": {"check_stock": {"returns": {"in_stock": True}}}},
    )
    import dataclasses

    base = options(tmp_path, UNREACHABLE)
    assert base.settings is not None
    api_settings = base.settings.model_copy(update={"api_url": "http://127.0.0.1:9/workflows"})
    opts = dataclasses.replace(base, backend="api", settings=api_settings)
    summary = await run_scenarios(load(tmp_path, "mocked"), opts)
    result = summary.results[0]
    assert result.verdict is Verdict.SKIPPED
    assert result.error is not None and "--backend engine" in result.error
    assert (summary.skipped, summary.exit_code) == (1, 0)
    assert ApiFactory.name == "api"


def test_backends_declare_what_they_can_do_as_data() -> None:
    from harness.backends import ApiBackend, Capability
    from harness.backends.binding import EngineFactory
    from harness.backends.engine import EngineBackend

    assert EngineBackend.capabilities == {Capability.TOOL_MOCKS}
    assert ApiBackend.capabilities == {Capability.EVALUATION_POLLING}
    assert EngineFactory.capabilities == EngineBackend.capabilities


async def test_secret_variables_come_from_the_environment_and_are_written_nowhere(
    tmp_path: Path, model_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "Clinic-7f3a9c2e1b"
    monkeypatch.setenv("HARNESS_TEST_CLINIC", secret)
    write_scenario(
        tmp_path,
        "secret",
        secret_variables={"clinic_name": {"env": "HARNESS_TEST_CLINIC"}},
        turns=HAPPY_TURNS[:2],
    )
    recorded, replayed = await record_and_replay(tmp_path, model_url, "secret")
    for summary in (recorded, replayed):
        result = summary.results[0]
        assert result.verdict is Verdict.PASSED, failures(result)
        said = result.attempts[0].turns[0].said or ""
        assert "{{clinic_name}}" not in said and secret not in said  # used, then masked
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" and "cassettes" in p.parts for p in written)
    for path in written:
        assert secret not in path.read_text(errors="replace"), path


async def test_a_secret_whose_environment_variable_is_unset_is_the_scenario_s_error(
    tmp_path: Path, model_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARNESS_TEST_UNSET", raising=False)
    write_scenario(
        tmp_path,
        "unset",
        secret_variables={"token": {"env": "HARNESS_TEST_UNSET"}},
        turns=HAPPY_TURNS[:1],
    )
    summary = await run_scenarios(load(tmp_path, "unset"), options(tmp_path, model_url, "once"))
    result = summary.results[0]
    assert result.verdict is Verdict.ERROR
    assert "token (env HARNESS_TEST_UNSET)" in (result.attempts[0].error or "")


async def test_a_start_turn_can_start_elsewhere_with_a_welcome_message(
    tmp_path: Path, model_url: str
) -> None:
    write_scenario(
        tmp_path,
        "elsewhere",
        dynamic_variables={"clinic_name": "Elm Clinic"},
        turns=[
            {
                "start": {"start_node_logical_id": "ask_reason", "welcome_message": "Hi there."},
                "expect": {"status": "waiting_for_user_input"},
            },
            {"user": "I have a bad headache", "expect": {"node": "confirm"}},
        ],
    )
    recorded, replayed = await record_and_replay(tmp_path, model_url, "elsewhere")
    for summary in (recorded, replayed):
        result = summary.results[0]
        assert result.verdict is Verdict.PASSED, failures(result)
        assert result.attempts[0].turns[1].path[0] != "welcome"


async def test_an_http_tool_that_cannot_be_reached_while_recording_is_the_turn_s_error(
    tmp_path: Path,
) -> None:
    from harness.testing import load_script

    root = Path(__file__).resolve().parents[1]
    write_scenario(
        tmp_path,
        "pharmacy_down",
        workflow=str(root / "scenarios" / "workflows" / "prescription_refill.json"),
        dynamic_variables={"patient_name": "Ana Ruiz", "pharmacy_api": UNREACHABLE},
        turns=[{"start": {}}, {"user": "I need to refill my lisinopril, last filled 28 days ago"}],
    )
    script = load_script(root / "scenarios" / "model" / "script.json")
    with serve_scripted_model(ScriptedModel(script)) as url:
        summary = await run_scenarios(
            load(tmp_path, "pharmacy_down"), options(tmp_path, url, "all")
        )
    result = summary.results[0]
    assert result.verdict is Verdict.ERROR
    turn = result.attempts[0].turns[1]
    assert turn.error is not None and turn.outcomes == []
    assert "turn 2 (user: I need to refill" in turn.error
    assert "infrastructure error: 1 call(s) failed" in turn.error
    assert (
        f"- GET {UNREACHABLE}/pharmacy/stock/lisinopril: ConnectError: " in turn.error
        and turn.error.endswith("(no answer to record)")
    )
    assert turn.tool_calls and turn.tool_calls[-1].error  # the run went on as the platform's does
    assert not (tmp_path / "cassettes" / "engine" / "pharmacy_down.json").exists()


async def test_a_provider_error_is_an_infrastructure_error_that_never_shows_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    key = "Kq~Z"  # 4 characters, echoed back by the provider in its error body
    monkeypatch.setenv("HARNESS_TEST_KEY", key)
    body = {"error": {"message": f"Incorrect API key provided: {key}", "type": "auth"}}
    script = {"rules": [], "default": {"error": {"status": 401, "body": body}}}
    write_scenario(tmp_path, "bad_key", turns=HAPPY_TURNS[:2])
    with serve_scripted_model(ScriptedModel(script)) as url:
        base = options(tmp_path, url, "all")
        assert base.settings is not None
        provider = base.settings.providers["default_provider"]
        block = provider.model_copy(update={"api_key_env": "HARNESS_TEST_KEY"})
        settings = base.settings.model_copy(update={"providers": {"default_provider": block}})
        summary = await run_scenarios(
            load(tmp_path, "bad_key"), dataclasses.replace(base, settings=settings)
        )
    result = summary.results[0]
    assert result.verdict is Verdict.ERROR
    error = result.attempts[0].error or ""
    assert "infrastructure error" in error and "failed with HTTP 401" in error
    assert key not in error and "Incorrect API key provided: **********" in error
    assert key not in result.model_dump_json()


async def test_an_engine_cassette_in_the_old_layout_is_not_taken_for_a_missing_one(
    tmp_path: Path, model_url: str
) -> None:
    write_scenario(tmp_path, "moved", turns=HAPPY_TURNS[:2])
    recorded, _ = await record_and_replay(tmp_path, model_url, "moved")
    assert recorded.results[0].verdict is Verdict.PASSED, failures(recorded.results[0])
    new = tmp_path / "cassettes" / "engine" / "moved.json"
    old = tmp_path / "cassettes" / "moved.json"
    new.rename(old)  # where cassettes lived before each backend had its folder
    summary = await run_scenarios(load(tmp_path, "moved"), options(tmp_path, UNREACHABLE))
    error = summary.results[0].error or ""
    assert summary.results[0].verdict is Verdict.ERROR
    assert f"cassette {old} is in the old layout" in error and f"this one at {new}" in error
    assert "harness cassettes check --prune" in error and f"git mv {old} {new}" in error
    assert not new.exists()  # nothing recorded or written beside it


async def test_a_finished_scenario_leaves_no_engine_to_the_garbage_collector(
    tmp_path: Path, model_url: str
) -> None:
    """A scenario's engine, with its runs and events, is freed when the scenario ends (no
    reference cycle holds it), so a long batch neither keeps it nor makes collections walk it."""
    write_scenario(tmp_path, "happy", turns=HAPPY_TURNS)
    scenarios = load(tmp_path, "happy")
    await run_scenarios(scenarios, options(tmp_path, model_url, "once"))
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds stays in gc.garbage to look at
    try:
        replayed = await run_scenarios(scenarios, options(tmp_path, UNREACHABLE))
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, Engine | WorkflowRun)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert replayed.passed == 1
    assert left == []


async def test_at_most_concurrency_scenarios_run_at_once_taken_in_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.runner import batch
    from harness.runner.scenario import base_result

    names = [f"c{i}" for i in range(7)]
    for name in names:
        write_scenario(tmp_path, name, turns=HAPPY_TURNS)
    scenarios = load(tmp_path, *names)
    started: list[str | None] = []
    running = most = 0

    async def run_scenario(scenario: Any, factory: Any, options: Any) -> ScenarioResult:
        nonlocal running, most
        started.append(scenario.id)
        running += 1
        most = max(most, running)
        for _ in range(len(started) % 3):  # uneven lengths: lanes free up out of order
            await asyncio.sleep(0)
        running -= 1
        return base_result(scenario, factory.name, options.project_root)

    monkeypatch.setattr(batch, "run_scenario", run_scenario)
    summary = await Runner(options(tmp_path, UNREACHABLE, concurrency=3)).run(scenarios)
    assert most == 3 and started == [s.id for s in scenarios]
    assert [r.scenario_id for r in summary.results] == [s.id for s in scenarios]
