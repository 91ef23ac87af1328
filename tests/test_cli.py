"""`harness run` and `harness validate`: verdict lines, summaries, reports and exit codes.

(`harness pull` is tested in test_pull.py, against `harness serve`; selection, shards, identity
across working folders and baselines in test_suite.py.)

The CLI runs in-process on scenarios written in tmp_path (the working folder), recording against
the scripted model over real HTTP and replaying with `OPENAI_BASE_URL` pointing nowhere; Ctrl-C is
a real SIGINT to a `harness run` subprocess, and a closed pipe a real `| head -1`; parity runs the
same file on `harness serve`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from runner_helpers import HAPPY_TURNS, INTAKE, SCRIPT, STOCK, UNREACHABLE, write_scenario

from harness.cli import main
from harness.models.result import Verdict
from harness.results import read_results
from harness.testing import ScriptedModel, serve_asgi_in_thread, serve_scripted_model


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    with serve_scripted_model(ScriptedModel(SCRIPT)) as url:
        yield url


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_BASE_URL", UNREACHABLE)
    monkeypatch.delenv("HARNESS_API_URL", raising=False)
    return tmp_path


def record(monkeypatch: pytest.MonkeyPatch, url: str, *paths: str) -> int:
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    try:
        return main(["run", *paths, "--record-mode", "once"])
    finally:
        monkeypatch.setenv("OPENAI_BASE_URL", UNREACHABLE)


def test_run_records_then_replays_and_exits_0(
    workdir: Path,
    model_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_scenario(workdir, "happy", turns=HAPPY_TURNS)
    assert record(monkeypatch, model_url, "scenarios") == 0
    capsys.readouterr()
    assert main(["run", "scenarios", "--report-dir", "out"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS  scenarios/happy  (")
    assert (
        "1 scenario(s): 1 passed, 0 failed, 0 error(s), 0 skipped; 515 tokens in 5 LLM call(s)"
        in out
    )
    # The final table: one row per scenario with its verdict and tokens per run.
    table = out[out.index("\nscenario ") :].splitlines()
    assert table[1].split()[:3] == ["scenario", "verdict", "tokens/run"]
    assert table[3].split()[:3] == ["scenarios/happy", "passed", "515"]
    run_dir = (workdir / "out" / "latest").resolve()
    assert f"reports: {run_dir}" in out
    summary = read_results(run_dir)
    assert summary.passed == 1 and not summary.interrupted and summary.not_run == []
    assert summary.batch.project_root == str(workdir) and summary.batch.backend == "engine"
    assert (run_dir / "junit.xml").read_text().count("<testcase") == 1
    assert read_results(run_dir / "results.jsonl").results == summary.results
    assert (workdir / "out" / "history.sqlite").is_file()


def test_a_failing_scenario_prints_its_checks_and_exits_1(
    workdir: Path,
    model_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    turns = [
        HAPPY_TURNS[0],
        {"user": "My name is Ana Ruiz", "expect": {"says": {"contains": "Tuesday"}}},
    ]
    write_scenario(workdir, "bad", turns=turns)
    record(monkeypatch, model_url, "scenarios")
    capsys.readouterr()
    assert main(["run", "scenarios"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("FAIL  scenarios/bad  (")
    assert out[1] == (
        '      - turns[1].expect.says.contains: said text: expected to contain "Tuesday", '
        'got "What brings you in today?"'
    )
    junit = (workdir / "reports" / "latest" / "junit.xml").read_text()
    assert "turns[1].expect.says.contains" in junit and "<failure " in junit


def test_a_cassette_miss_is_an_error_with_its_report(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_scenario(workdir, "never", turns=HAPPY_TURNS[:1])
    assert main(["run", "scenarios"]) == 0  # start says a static message: no LLM call
    write_scenario(workdir, "never", turns=HAPPY_TURNS[:2])
    capsys.readouterr()
    assert main(["run", "scenarios/never.yaml"]) == 3  # infrastructure errors only
    out = capsys.readouterr().out
    assert out.startswith("ERROR scenarios/never")
    assert "where: scenario 'never', turn 2, node 'ask_name'" in out
    assert "0 passed, 0 failed, 1 error(s)" in out


def test_json_output_tags_and_substring_selection(
    workdir: Path,
    model_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_scenario(workdir, "alpha", turns=HAPPY_TURNS[:1], tags=["smoke"])
    write_scenario(workdir, "beta", turns=HAPPY_TURNS[:1])
    assert main(["run", "scenarios", "--json", "--tag", "smoke"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["scenario_id"] for r in data["results"]] == ["scenarios/alpha"]
    assert data["format_version"] == 2
    assert data["batch"]["selection"]["tags"] == ["smoke"]
    assert main(["run", "scenarios", "--json", "-k", "bet"]) == 0
    assert [r["scenario_id"] for r in json.loads(capsys.readouterr().out)["results"]] == [
        "scenarios/beta"
    ]
    assert main(["run", "scenarios", "-k", "gamma"]) == 2


def test_usage_and_file_errors_exit_2(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_scenario(workdir, "typo", turns=HAPPY_TURNS[:1])
    path.write_text(path.read_text().replace("turns:", "turnz:"), encoding="utf-8")
    assert main(["run", "scenarios"]) == 2
    err = capsys.readouterr().err
    assert "scenarios/typo.yaml:" in err and "turnz" in err
    assert main(["validate", "scenarios"]) == 2
    assert "did you mean `turns`?" in capsys.readouterr().err
    assert main(["run", "missing_folder"]) == 2
    for flags in (["--backend", "nope"], ["--repeat", "0"], ["--concurrency", "x"]):
        with pytest.raises(SystemExit) as exited:
            main(["run", "scenarios", *flags])
        assert exited.value.code == 2
    capsys.readouterr()
    write_scenario(workdir, "typo", turns=HAPPY_TURNS[:1])
    assert main(["run", "scenarios", "--shard", "3/2"]) == 2
    assert "shard 3/2 does not exist" in capsys.readouterr().err
    assert main(["run", "scenarios", "--shard", "one/two"]) == 2
    assert main(["run", "scenarios", "--fail-on-regression"]) == 2
    assert "needs a --baseline" in capsys.readouterr().err
    assert main(["run", "scenarios", "--baseline", "no_such_baseline.json"]) == 2
    assert "no baseline 'no_such_baseline.json'" in capsys.readouterr().err
    assert not (workdir / "reports").exists()  # usage errors are found before anything runs


QUICKSTART = Path(__file__).resolve().parents[2] / "shared" / "platform" / "corpus" / "wf_00.json"
"""The platform's quickstart workflow as the platform stores it (CI has ../shared beside us)."""


def test_validate_accepts_good_files(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_scenario(workdir, "fine", workflow=str(QUICKSTART), turns=[{"start": {}}])
    assert main(["validate", "scenarios"]) == 0
    assert capsys.readouterr().out == "1 scenario(s) and 1 workflow file(s) valid\n"
    assert main(["validate", str(QUICKSTART)]) == 0
    assert capsys.readouterr().out == "0 scenario(s) and 1 workflow file(s) valid\n"


def test_validate_checks_workflow_files_against_the_platforms_fields(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = workdir / "scenarios" / "workflows"
    folder.mkdir(parents=True)
    config = json.loads(QUICKSTART.read_text())
    config["node_configs"][0]["static_messages_confg"] = config["node_configs"][0].pop(
        "static_messages_config"
    )
    (folder / "greeting.json").write_text(json.dumps(config, indent=2))
    assert main(["validate", "scenarios"]) == 2
    err = capsys.readouterr().err
    assert "scenarios/workflows/greeting.json:" in err
    assert "`node_configs[0].static_messages_confg`: unknown key `static_messages_confg`" in err
    assert "did you mean `static_messages_config`?" in err


def _quick_and_slow(workdir: Path, *, quick: int = 1) -> None:
    """`quick` scenarios that finish at once, then one that waits 60 s in a mocked tool."""
    for number in range(quick):
        write_scenario(workdir, f"a_quick{number}", workflow=STOCK, turns=[{"start": {}}])
    slow = {"tools": {"check_stock": {"returns": 1, "delay_seconds": 60}}}
    write_scenario(workdir, "b_slow", workflow=STOCK, turns=[{"start": {}}], mocks=slow)


def test_ctrl_c_keeps_the_finished_results_and_lists_the_rest(
    workdir: Path, model_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _quick_and_slow(workdir)
    env = {**os.environ, "OPENAI_BASE_URL": model_url}
    command = [sys.executable, "-m", "harness.cli", "run", "scenarios", "--record-mode", "once"]
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # the quick scenario's verdict: it has finished
    assert first.startswith("PASS  scenarios/a_quick0")
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "(interrupted: 1 not run)" in out
    assert re.search(r"\nscenarios/b_slow +not run\n", out)  # its row in the final table
    assert "interrupted: 1 scenario(s) not run:\n  scenarios/b_slow\n" in err
    assert "Traceback" not in err
    summary = read_results(workdir / "reports" / "latest")
    assert summary.interrupted and summary.not_run == ["scenarios/b_slow"]
    assert [(r.scenario_id, r.verdict) for r in summary.results] == [
        ("scenarios/a_quick0", Verdict.PASSED)
    ]
    # The finished scenario's cassette is written (in the engine's folder), the interrupted one's
    # is not, and nothing half-written is left; `--record-mode once` then records only it.
    engine = workdir / "cassettes" / "engine"
    assert sorted(_files(engine)) == ["a_quick0.json"]
    quick = (engine / "a_quick0.json").read_bytes()
    write_scenario(workdir, "b_slow", workflow=STOCK, turns=[{"start": {}}])
    monkeypatch.setenv("OPENAI_BASE_URL", model_url)
    assert main(["run", "scenarios", "--record-mode", "once"]) == 0
    assert sorted(_files(engine)) == ["a_quick0.json", "b_slow.json"]
    assert (engine / "a_quick0.json").read_bytes() == quick


def test_a_reader_closing_the_pipe_stops_the_batch_cleanly(workdir: Path, model_url: str) -> None:
    _quick_and_slow(workdir, quick=2)
    env = {**os.environ, "OPENAI_BASE_URL": model_url}
    command = f"{sys.executable} -m harness.cli run scenarios --record-mode once --concurrency 1"
    started = time.perf_counter()
    done = subprocess.run(
        f'{command} | head -1; echo "status ${{PIPESTATUS[0]}}"',
        shell=True,
        executable="/bin/bash",
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The slow scenario would take 60 s: the batch stopped when `head` went away.
    assert time.perf_counter() - started < 30
    lines = done.stdout.splitlines()
    assert lines[0].startswith("PASS  scenarios/a_quick0") and lines[-1] == "status 141"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    assert "pipe closed: " in done.stderr and "  scenarios/b_slow" in done.stderr
    summary = read_results(workdir / "reports" / "latest")
    assert summary.interrupted and "scenarios/b_slow" in summary.not_run
    finished = [r.scenario_id for r in summary.results]
    assert finished[0] == "scenarios/a_quick0" and "scenarios/b_slow" not in finished
    assert sorted(finished + summary.not_run) == [
        "scenarios/a_quick0",
        "scenarios/a_quick1",
        "scenarios/b_slow",
    ]


def test_parity_api_backend_on_harness_serve_agrees_with_the_engine(
    workdir: Path,
    model_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from runner_helpers import settings_for

    from harness.server import create_app

    turns = [dict(t) for t in HAPPY_TURNS]
    write_scenario(
        workdir,
        "parity",
        turns=turns,
        expect={"path": ["welcome", "ask_name", "ask_reason", "confirm", "goodbye"]},
    )
    assert record(monkeypatch, model_url, "scenarios") == 0
    app = create_app(settings_for(model_url))
    with serve_asgi_in_thread(app) as served:
        monkeypatch.setenv("HARNESS_API_URL", served)
        capsys.readouterr()
        assert main(["run", "scenarios", "--backend", "api", "--json"]) == 0
    api = json.loads(capsys.readouterr().out)["results"][0]
    assert main(["run", "scenarios", "--json"]) == 0
    engine = json.loads(capsys.readouterr().out)["results"][0]
    assert api["backend"] == "api" and engine["backend"] == "engine"
    assert api["verdict"] == engine["verdict"] == "passed"
    for key in ("said", "path", "node", "status", "tokens"):
        assert [t[key] for t in api["attempts"][0]["turns"]] == [
            t[key] for t in engine["attempts"][0]["turns"]
        ], key


def test_a_reader_closing_the_pipe_early_is_not_an_error() -> None:
    import subprocess
    import sys

    cmd = f"{sys.executable} -m harness.cli schema WorkflowRun | head -1"
    done = subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "{"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


SIMULATED_TURNS: list[dict[str, Any]] = [
    {"start": {}},
    {
        "simulate": {"persona": "a calm patient", "goal": "check in", "max_turns": 5},
        "expect": {"status": "completed", "says": {"contains": "Goodbye"}},
    },
]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_an_api_backend_rerecord_leaves_the_engine_cassettes_byte_identical(
    workdir: Path,
    model_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from runner_helpers import settings_for

    from harness.server import create_app

    write_scenario(workdir, "plain", turns=HAPPY_TURNS)
    write_scenario(workdir, "sim", turns=SIMULATED_TURNS)
    assert record(monkeypatch, model_url, "scenarios") == 0
    engine = workdir / "cassettes" / "engine"
    before = _files(engine)
    assert sorted(before) == ["plain.json", "sim.json"]
    app = create_app(settings_for(model_url))
    with serve_asgi_in_thread(app) as served:
        monkeypatch.setenv("HARNESS_API_URL", served)
        monkeypatch.setenv("OPENAI_BASE_URL", model_url)  # the simulated user's LLM, recorded
        capsys.readouterr()
        assert main(["run", "scenarios", "--backend", "api", "--rerecord", "--json"]) == 0
        recorded = json.loads(capsys.readouterr().out)["results"]
        monkeypatch.setenv("OPENAI_BASE_URL", UNREACHABLE)
        assert main(["run", "scenarios", "--backend", "api", "--json"]) == 0  # replays its own
        replayed = json.loads(capsys.readouterr().out)["results"]
    assert _files(engine) == before
    # Only the harness's own calls (the simulated user's) are in the API backend's cassette.
    api = workdir / "cassettes" / "api"
    assert sorted(_files(api)) == ["sim.json"]
    cassette = json.loads((api / "sim.json").read_text())
    assert cassette["metadata"]["harness"]["backend"] == "api"
    assert {i["request"]["body"].count("role-playing") > 0 for i in cassette["interactions"]} == {
        True
    }
    for results in (recorded, replayed):  # nothing of the engine's is flagged stale
        assert [(r["backend"], r["verdict"], r["stale"]) for r in results] == [
            ("api", "passed", []),
            ("api", "passed", []),
        ]
    assert main(["run", "scenarios"]) == 0  # the engine still replays its own cassettes
    assert "stale" not in capsys.readouterr().out


def test_recording_without_a_provider_exits_2_naming_the_settings(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_scenario(workdir, "happy", turns=HAPPY_TURNS)
    write_scenario(workdir, "sim", workflow=STOCK, turns=SIMULATED_TURNS)
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("HARNESS_DEFAULT_MODEL", raising=False)
    assert main(["run", "scenarios", "--rerecord"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: recording needs LLM providers that are not configured:\n")
    assert (
        "  provider 'default_provider': neither OPENAI_BASE_URL nor OPENAI_API_KEY is set, so its "
        "calls would go to https://api.openai.com/v1 without a key; called by scenarios/happy "
        "(node ask_name"
    ) in err
    assert "scenarios/sim (node chat (chat) of " in err  # the STOCK workflow's LLM node
    assert "export OPENAI_BASE_URL" in err and "OPENAI_API_KEY" in err
    assert "[tool.harness.providers.default_provider]" in err
    assert "HARNESS_DEFAULT_MODEL names the model of nodes that name none (now gpt-4o-mini)" in err
    assert not (workdir / "cassettes").exists()
    assert not list((workdir / "reports").glob("2*"))  # no batch was started
    # A provider name that is neither configured nor the platform's is named with its block.
    custom = yaml.safe_load(Path(STOCK).read_text())
    custom["workflow_config"]["llms_config"]["provider"] = "clinic_proxy"
    (workdir / "custom.yaml").write_text(yaml.safe_dump(custom))
    write_scenario(workdir, "custom", workflow=str(workdir / "custom.yaml"), turns=[{"start": {}}])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert main(["run", "scenarios/custom.yaml", "--record-mode", "once"]) == 2
    err = capsys.readouterr().err
    assert "provider 'clinic_proxy': unknown LLM provider 'clinic_proxy'" in err
    assert "add [tool.harness.providers.clinic_proxy] with base_url" in err
    # Replay needs no provider: the missing cassette is the scenario's (loud) miss, exit 3.
    monkeypatch.delenv("OPENAI_API_KEY")
    assert main(["run", "scenarios/happy.yaml"]) == 3


def test_an_llm_call_that_fails_while_recording_is_an_infrastructure_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_scenario(workdir, "down", turns=HAPPY_TURNS[:2])
    (workdir / "harness.toml").write_text("max_retries = 0\n")  # fail at once, no back-off
    # OPENAI_BASE_URL points at a port nothing listens on: configured, but down.
    assert main(["run", "scenarios", "--rerecord", "--plain"]) == 3  # an error, not a failure
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("ERROR scenarios/down")
    assert lines[1] == (
        "      ! turn 2 (user: My name is Ana Ruiz): infrastructure error: 1 call(s) failed, so "
        "the run went on without their answers (an LLM node says its default_error_message) "
        "and the turn's checks were not run:"
    )
    assert lines[2].startswith(
        "          - LLM call to default_provider (scripted-model) for node ask_name "
        "(main_response) could not connect: "
    )
    assert "expected to contain" not in out  # no check judged the fallback text
    assert "0 passed, 0 failed, 1 error(s)" in out
    result = read_results(workdir / "reports" / "latest").results[0]
    turn = result.attempts[0].turns[1]
    assert turn.error is not None and "could not connect" in turn.error
    assert turn.said == "I am sorry, there seems to be an issue. Could you please repeat?"
    assert turn.outcomes == []
    assert not (workdir / "cassettes" / "engine" / "down.json").exists()


CANARY = "Xq~Z"  # a 4-character key: scrubbed wherever it appears, however short


def test_a_4_character_canary_key_reaches_no_cassette_report_or_log(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The model echoes the canary back (in a reply, and in an error body, as providers do with
    # a bad key); the canary is the provider's key and the scenarios' secret variable.
    echo = [
        {
            "when": {"system": "what brings them in", "last_user": "Ana Ruiz"},
            "reply": {"text": f"What brings you in today? ({CANARY})"},
        },
        {
            "when": {"system": "pharmacy question"},
            "reply": {"error": {"status": 401, "body": {"error": {"message": f"key {CANARY}"}}}},
        },
    ]
    script = {**SCRIPT, "rules": [*echo, *SCRIPT["rules"]]}
    # The intake prompts and welcome use {{clinic_name}}: here a secret, not a dynamic variable.
    intake = yaml.safe_load(Path(INTAKE).read_text())
    del intake["dynamic_variables"]["clinic_name"]
    (workdir / "intake.yaml").write_text(yaml.safe_dump(intake))
    secret = {"clinic_name": {"env": "HARNESS_CANARY"}}
    write_scenario(
        workdir,
        "intake",
        workflow=str(workdir / "intake.yaml"),
        turns=HAPPY_TURNS,
        secret_variables=secret,
    )
    write_scenario(workdir, "stock", workflow=STOCK, turns=[{"start": {}}], secret_variables=secret)
    monkeypatch.setenv("HARNESS_CANARY", CANARY)
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    with serve_scripted_model(ScriptedModel(script)) as url:
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        code = main(["run", "scenarios", "--rerecord", "--plain"])
    out, err = capsys.readouterr()
    assert code == 3, out  # the 401 is an infrastructure error; the intake scenario passed
    assert "PASS  scenarios/intake" in out and "ERROR scenarios/stock" in out
    assert "failed with HTTP 401" in out and "key **********" in out
    said = read_results(workdir / "reports" / "latest").results[0].attempts[0].turns[0].said
    assert said == "Welcome to **********. What is your full name?"  # used, then masked
    written = [p for p in workdir.rglob("*") if p.is_file()]
    files = [p for p in written if not p.is_relative_to(workdir / "scenarios")]
    names = {p.relative_to(workdir).as_posix() for p in files}
    report = next(p for p in (workdir / "reports").iterdir() if p.name.startswith("2"))
    batch = f"reports/{report.name}"
    for expected in ("results.json", "results.jsonl", "junit.xml", "summary.md"):
        assert f"{batch}/{expected}" in names
    assert {"cassettes/engine/intake.json", "reports/history.sqlite"} <= names
    assert any(name.startswith(f"{batch}/artifacts/") for name in names)
    cassette = (workdir / "cassettes" / "engine" / "intake.json").read_text()
    assert "<REDACTED>" in cassette  # it was there to scrub
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path
    for text in (out, err, caplog.text):
        assert CANARY not in text


def test_a_piped_run_leaves_its_whole_batch_in_the_history_file(
    workdir: Path, model_url: str
) -> None:
    """With stdout a pipe (CI, `| tee`), the run still closes the history: the write-ahead log is
    copied into `history.sqlite` and removed, so a cache that keeps only that file has it all."""
    import sqlite3

    for number in range(3):
        write_scenario(workdir, f"s{number}", workflow=STOCK, turns=[{"start": {}}])
    env = {**os.environ, "OPENAI_BASE_URL": model_url}
    command = [sys.executable, "-m", "harness.cli", "run", "scenarios", "--record-mode", "once"]
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    history = workdir / "reports" / "history.sqlite"
    assert not history.with_name("history.sqlite-wal").exists()
    alone = workdir / "alone.sqlite"
    alone.write_bytes(history.read_bytes())  # the main file only, as a cache restores it
    with sqlite3.connect(alone) as db:
        assert db.execute("SELECT count(*) FROM scenario_results").fetchone()[0] == 3
        assert db.execute("SELECT status FROM batches").fetchall() == [("finished",)]
