"""`harness run` and `harness validate`: verdict lines, summaries, reports and exit codes.

(`harness pull` is tested in test_pull.py, against `harness serve`.)

The CLI runs in-process on scenarios written in tmp_path (the working folder), recording against
the scripted model over real HTTP and replaying with `OPENAI_BASE_URL` pointing nowhere; Ctrl-C is
a real SIGINT to a `harness run` subprocess; parity runs the same file on `harness serve`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from runner_helpers import HAPPY_TURNS, SCRIPT, STOCK, UNREACHABLE, write_scenario

from harness.cli import main
from harness.models.result import Verdict
from harness.store import read_results
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
    run_dir = next((workdir / "out").iterdir())
    summary = read_results(run_dir)
    assert summary.passed == 1 and not summary.interrupted
    assert (run_dir / "junit.xml").read_text().count("<testcase") == 1
    assert read_results(run_dir / "results.jsonl").results == summary.results


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
    junit = next((workdir / "reports").iterdir()) / "junit.xml"
    assert '<failure message="said text: expected to contain' in junit.read_text()


def test_a_cassette_miss_is_an_error_with_its_report(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_scenario(workdir, "never", turns=HAPPY_TURNS[:1])
    assert main(["run", "scenarios"]) == 0  # start says a static message: no LLM call
    write_scenario(workdir, "never", turns=HAPPY_TURNS[:2])
    capsys.readouterr()
    assert main(["run", "scenarios/never.yaml"]) == 1
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
    assert data["format_version"] == 1
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
    with pytest.raises(SystemExit) as exited:
        main(["run", "scenarios", "--backend", "nope"])
    assert exited.value.code == 2


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


def test_ctrl_c_keeps_the_finished_results(workdir: Path, model_url: str) -> None:
    write_scenario(workdir, "a_quick", workflow=STOCK, turns=[{"start": {}}])
    slow = {"tools": {"check_stock": {"returns": 1, "delay_seconds": 60}}}
    write_scenario(workdir, "b_slow", workflow=STOCK, turns=[{"start": {}}], mocks=slow)
    env = {**os.environ, "OPENAI_BASE_URL": model_url}
    command = [sys.executable, "-m", "harness.cli", "run", "scenarios", "--record-mode", "once"]
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # the quick scenario's verdict: it has finished
    assert first.startswith("PASS  scenarios/a_quick")
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "(interrupted)" in out
    summary = read_results(next((workdir / "reports").iterdir()))
    assert summary.interrupted
    assert [(r.scenario_id, r.verdict) for r in summary.results] == [
        ("scenarios/a_quick", Verdict.PASSED)
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
