"""The pytest plugin (`harness.pytest_plugin`), driven through `pytester` on real projects.

Each test writes a small harness project (a `harness.toml` makes it the project root) whose
scenarios run the intake workflow of tests/data/workflows. Start-only scenarios make no LLM call
and need no cassette; the regression-gate and JUnit tests record against the scripted model over
real HTTP first (`--harness-record-mode all`), then replay offline. The xdist test and the
import-time test run pytest in a subprocess.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy  # noqa: F401  (see below)
import pandas  # noqa: F401  numpy refuses a second import in one process, and pytester's
import pytest  # in-process runs drop the modules they imported: import them here, once
import yaml
from runner_helpers import HAPPY_TURNS, INTAKE, SCRIPT

from harness.pytest_plugin._collect import Collector
from harness.runner.suite import Selection, Suite, assign_shards
from harness.runner.workers import cpu_count
from harness.testing import ScriptedModel, serve_scripted_model

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
START_ONLY = HAPPY_TURNS[:1]
"""The intake workflow's start: a static welcome message, no LLM call (no cassette needed)."""
NO_NOISE = ("-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:randomly")
CONFTEST_MODEL = """
import os
from harness.config import HarnessSettings, ProviderConfig

def pytest_harness_run_options(config, options):
    provider = ProviderConfig(base_url=os.environ["SCRIPTED_URL"], model="scripted-model",
                              api_key_env=None)
    options.settings = options.settings.model_copy(
        update={"providers": {"default_provider": provider}, "max_retries": 0})
"""


def scenario(root: Path, relative: str, **fields: Any) -> Path:
    """A scenario file `root/relative` running the intake workflow (start only by default)."""
    data = {"version": 1, "name": Path(relative).stem, "workflow": INTAKE, **fields}
    data.setdefault("turns", START_ONLY)
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A harness project as pytester's folder; LLM calls go nowhere unless recorded."""
    root = pytester.path
    (root / "harness.toml").write_text("# the project root\n", encoding="utf-8")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("HARNESS_API_URL", raising=False)
    return root


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    with serve_scripted_model(ScriptedModel(SCRIPT)) as url:
        yield url


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*NO_NOISE, *args)


def collected_ids(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line]


# ------------------------------------------------------------------ collection and ids


def test_collects_the_scenarios_harness_run_selects_with_the_same_ids(
    pytester: pytest.Pytester, project: Path
) -> None:
    scenario(project, "scenarios/alpha.yaml")
    scenario(project, "scenarios/clinic/beta.yml")
    scenario(project, "scenarios/clinic/days.yaml", matrix={"day": ["mon", "tue"]})
    scenario(project, "elsewhere/gamma.scenario.yaml")
    # Not scenarios: defaults, workflows, cassettes, hidden folders, other YAML, data files.
    (project / "scenarios" / "_defaults.yaml").write_text("tags: [suite]\n")
    for relative in (
        "scenarios/workflows/flow.yaml",
        "scenarios/cassettes/engine/alpha.yaml",
        "scenarios/.hidden/x.yaml",
        "elsewhere/compose.yaml",
        "tests/data/model_script.yaml",
        ".github/workflows/ci.yml",
    ):
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text("not: a scenario\n")

    result = run(pytester, "--co", "-q", "scenarios", "elsewhere", "tests", ".github")

    expected = Suite.select(
        Selection(paths=("scenarios", "elsewhere/gamma.scenario.yaml")), cwd=project
    ).ids
    names = [line.split("::", 1)[1] for line in collected_ids(result)]
    assert sorted(names) == sorted(expected)
    assert "scenarios/clinic/days[day=tue]" in names
    assert "elsewhere/gamma" in names
    assert result.ret == 0


def test_a_folder_named_scenarios_outside_a_harness_project_is_not_collected(
    pytester: pytest.Pytester,
) -> None:
    scenario(pytester.path, "scenarios/alpha.yaml")  # no harness.toml: not a harness project
    scenario(pytester.path, "scenarios/beta.scenario.yaml")  # the distinctive suffix still counts

    result = run(pytester, "--co", "-q")

    assert [line.split("::")[1] for line in collected_ids(result)] == ["scenarios/beta"]


def test_the_scenario_roots_ini_option_replaces_the_default(
    pytester: pytest.Pytester, project: Path
) -> None:
    scenario(project, "suites/one.yaml")
    scenario(project, "scenarios/two.yaml")
    pytester.makeini("[pytest]\nharness_scenario_roots = suites\n")

    result = run(pytester, "--co", "-q", "suites", "scenarios")

    assert [line.split("::")[1] for line in collected_ids(result)] == ["suites/one"]


def test_the_projects_own_tests_data_is_not_collected() -> None:
    """`pytest` in this repository (testpaths = tests) collects no scenario from tests/."""
    tests = Path(__file__).parent
    collector = Collector(roots=[], invocation_dir=tests.parent)
    yaml_files = [*tests.rglob("*.yaml"), *tests.rglob("*.yml")]
    assert yaml_files
    assert not [f for f in yaml_files if collector.collects(f)]


# ------------------------------------------------------------------ markers, skip, xfail


def test_tags_are_registered_markers_and_skip_and_xfail_come_from_the_file(
    pytester: pytest.Pytester, project: Path
) -> None:
    scenario(project, "scenarios/smoke.yaml", tags=["smoke", "fast"])
    scenario(project, "scenarios/slowish.yaml", tags=["nightly"])
    scenario(project, "scenarios/skipped.yaml", skip="the calendar API is being migrated")
    failing = [{"start": {}, "expect": {"says": {"contains": "Goodbye"}}}]
    scenario(project, "scenarios/known_bug.yaml", turns=failing, xfail="BUG-12: no goodbye yet")

    result = run(pytester, "--strict-markers", "-rsx", "-m", "not nightly")
    result.assert_outcomes(passed=1, skipped=1, xfailed=1, deselected=1)
    result.stdout.fnmatch_lines(["*skipped: the calendar API is being migrated*"])
    result.stdout.fnmatch_lines(["*XFAIL*known_bug*BUG-12: no goodbye yet*"])

    only = run(pytester, "--strict-markers", "-m", "smoke and fast")
    only.assert_outcomes(passed=1, deselected=3)
    keyword = run(pytester, "-k", "slowish")  # -k matches ids (and names)
    keyword.assert_outcomes(passed=1, deselected=3)


def test_a_skip_in_the_file_is_skipped_by_harness_run_too(project: Path) -> None:
    scenario(project, "scenarios/skipped.yaml", skip="not today")
    from harness.runner import RunOptions

    summary = Suite.select(Selection(paths=("scenarios",)), cwd=project).run(RunOptions())
    assert summary.skipped == 1
    assert summary.results[0].error == "skipped: not today"


# ------------------------------------------------------------------ options


def test_options_have_names_of_their_own_and_ini_equivalents(
    pytester: pytest.Pytester, project: Path
) -> None:
    help_text = run(pytester, "--help").stdout.str()
    for option in (
        "--harness-backend",
        "--harness-record-mode",
        "--harness-report-dir",
        "--harness-baseline",
        "--harness-fail-on-regression",
        "--harness-repeat",
        "--harness-shard",
        "--harness-tb",
        "harness_backend",
        "harness_record_mode",
        "harness_scenario_roots",
    ):
        assert option in help_text, option
    # pytest-recording owns --record-mode and --block-network, pytest-xdist -n/--dist.
    for foreign in ("  --record-mode", "  --block-network"):
        assert foreign not in help_text

    bad = run(pytester, "--harness-backend", "bogus")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "use engine or api" in bad.stderr.str()
    lonely = run(pytester, "--harness-fail-on-regression")
    assert "needs a baseline" in lonely.stderr.str()


def test_ini_options_and_a_conftest_hook_set_the_run_options(
    pytester: pytest.Pytester, project: Path
) -> None:
    scenario(project, "scenarios/alpha.yaml", repeat={"runs": 1})
    pytester.makeini("[pytest]\nharness_repeat = 3\nharness_report_dir = out/reports\n")
    pytester.makeconftest(
        "seen = []\n"
        "def pytest_harness_run_options(config, options):\n"
        "    options.timeout_seconds = 42\n"
        "    seen.append(options)\n"
        "def pytest_harness_backend_factory(config, options):\n"
        "    from harness.runner import make_factory\n"
        "    assert options.timeout_seconds == 42\n"
        "    return make_factory('engine', options.binding_config())\n"
    )

    result = run(pytester, "--harness-no-history")

    result.assert_outcomes(passed=1)
    results = json.loads(next((project / "out" / "reports").glob("*/results.json")).read_text())
    assert len(results["results"][0]["attempts"]) == 3  # harness_repeat from the ini
    assert results["batch"]["selection"]["repeat"] == 3


# ------------------------------------------------------------------ failures


def test_a_failure_is_a_per_turn_report_and_native_shows_the_traceback(
    pytester: pytest.Pytester, project: Path
) -> None:
    turns = [
        {
            "start": {},
            "expect": {
                "says": {"contains": "Goodbye"},
                "dynamic_variables": {"clinic_name": "Southside"},
            },
        }
    ]
    scenario(
        project,
        "scenarios/wrong.yaml",
        turns=turns,
        dynamic_variables={"clinic_name": "Northside"},
        expect={"output": {"select": "dynamic_variables", "equals": {"clinic_name": "Eastside"}}},
    )

    result = run(pytester)

    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "scenario scenarios/wrong failed: 0 of 1 run(s) passed" in out
    assert "x turns[0] start -> waiting_for_user_input at ask_name" in out
    assert 'turns[0].expect.says.contains: said text: expected to contain "Goodbye"' in out
    assert "root['clinic_name']" in out  # the deepdiff path of the structured check
    assert "re-run it: pytest 'scenarios/wrong.yaml::scenarios/wrong'" in out
    assert "Traceback" not in out and "raise ScenarioFailure" not in out

    native = run(pytester, "--harness-tb", "native")
    assert "raise ScenarioFailure" in native.stdout.str()


def test_a_cassette_miss_shows_its_diff_and_the_re_record_command(
    pytester: pytest.Pytester, project: Path
) -> None:
    scenario(project, "scenarios/talks.yaml", turns=HAPPY_TURNS[:2])

    result = run(pytester)

    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "could not be decided (error)" in out
    assert "cassette" in out
    assert "pytest 'scenarios/talks.yaml::scenarios/talks' --harness-record-mode all" in out


def test_a_malformed_file_is_one_failing_item_and_the_others_run(
    pytester: pytest.Pytester, project: Path
) -> None:
    scenario(project, "scenarios/good.yaml")
    broken = project / "scenarios" / "broken.yaml"
    broken.write_text("version: 1\nname: broken\nturns: [\n  - start: {}\n")
    typo = project / "scenarios" / "typo.yaml"
    typo.write_text(f"version: 1\nname: typo\nworkflow: {INTAKE}\nturnz: []\n")

    result = run(pytester, "-v")

    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    assert "scenario file" in out and "does not load" in out
    assert "scenarios/broken.yaml:" in out  # the loader's file:line
    assert "scenarios/typo.yaml:4:1" in out and "turnz" in out


# ------------------------------------------------------------------ results, JUnit, gate


CONFTEST_NO_GIT_AFTER_THE_FIRST_FILE = """
import os


def pytest_collectstart(collector):
    if collector.path.suffix == ".yaml":  # from the first scenario file on, git cannot start
        os.environ["PATH"] = ""
"""


def test_the_batch_takes_the_git_status_started_with_the_first_scenario_file(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git reads the checkout while the other files are collected: the batch's provenance is
    the status started then (here nothing could start git afterwards)."""
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))  # restored after the session
    for args in (["init", "-q", "-b", "trunk"], ["add", "-A"], ["commit", "-q", "-m", "one"]):
        scenario(project, "scenarios/one.yaml")
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=project,
            check=True,
            capture_output=True,
        )
    scenario(project, "scenarios/two.yaml")
    (project / "conftest.py").write_text(CONFTEST_NO_GIT_AFTER_THE_FIRST_FILE, encoding="utf-8")
    run(pytester, "scenarios").assert_outcomes(passed=2)
    batch = json.loads((project / "reports" / "latest" / "results.json").read_text())["batch"]
    assert batch["git_branch"] == "trunk"
    assert batch["git_dirty"] is False  # (two.yaml and conftest.py are not tracked)


def test_junit_properties_and_results_in_the_history_of_harness_run(
    pytester: pytest.Pytester, project: Path, model_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRIPTED_URL", model_url)
    pytester.makeconftest(CONFTEST_MODEL)
    scenario(project, "scenarios/talks.yaml", turns=HAPPY_TURNS[:2], tags=["smoke"])
    scenario(project, "scenarios/quiet.yaml")
    run(pytester, "--harness-record-mode", "all").assert_outcomes(passed=2)

    result = run(pytester, "--junitxml", "junit.xml")

    result.assert_outcomes(passed=2)
    case = next(
        c
        for c in ET.parse(project / "junit.xml").iter("testcase")
        if c.get("name") == "scenarios/talks"
    )
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert int(properties["llm_calls"]) == 2 and int(properties["tokens"]) > 0
    assert float(properties["latency_ms"]) >= 0 and "latency_p95_ms" in properties
    assert case.get("classname") == "scenarios.talks.yaml"
    with sqlite3.connect(project / "reports" / "history.sqlite") as db:
        batches = db.execute("SELECT batch_id, status FROM batches ORDER BY batch_id").fetchall()
        rows = db.execute(
            "SELECT scenario_id, verdict, llm_calls FROM scenario_results WHERE batch_id = ?"
            " ORDER BY scenario_id",
            (batches[-1][0],),
        ).fetchall()
    assert [status for _, status in batches] == ["finished", "finished"]
    assert rows == [("scenarios/quiet", "passed", 0), ("scenarios/talks", "passed", 2)]
    summary = (project / "reports" / batches[-1][0] / "summary.md").read_text()
    assert "2 passed" in summary


def test_the_regression_gate_fails_the_session_with_a_summary_table(
    pytester: pytest.Pytester, project: Path, model_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRIPTED_URL", model_url)
    pytester.makeconftest(CONFTEST_MODEL)
    scenario(project, "scenarios/talks.yaml", turns=HAPPY_TURNS[:2])
    run(pytester, "--harness-record-mode", "all").assert_outcomes(passed=1)
    from harness.regression import write_baseline
    from harness.results import read_results

    write_baseline(read_results(project / "reports" / "latest"), project / "baseline.json")
    baseline = json.loads((project / "baseline.json").read_text())
    talks = baseline["scenarios"]["scenarios/talks"]
    for group in [talks["total"], *talks["nodes"].values()]:
        group["tokens"] = max(1, group["tokens"] // 2)  # the recorded run now uses twice as many
    (project / "baseline.json").write_text(json.dumps(baseline))

    passing = run(pytester, "--harness-baseline", "baseline.json")
    passing.assert_outcomes(passed=1)
    assert passing.ret == 0  # compared and shown, but not a gate
    gated = run(pytester, "--harness-baseline", "baseline.json", "--harness-fail-on-regression")

    gated.assert_outcomes(passed=1)
    assert gated.ret == pytest.ExitCode.TESTS_FAILED
    out = gated.stdout.str()
    assert "tokens/run" in out and "scenarios/talks" in out  # the table with its delta column
    assert "regression gate (--harness-fail-on-regression): FAILED" in out
    summary = (project / "reports" / "latest" / "summary.md").read_text()
    assert "Regressions" in summary


def test_a_bad_baseline_stops_the_session_before_anything_runs(
    pytester: pytest.Pytester, project: Path
) -> None:
    scenario(project, "scenarios/alpha.yaml")
    result = run(pytester, "--harness-baseline", "nowhere.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--harness-baseline" in result.stdout.str() + result.stderr.str()


def test_ctrl_c_cancels_the_running_scenario_and_keeps_the_batch(
    tmp_path: Path, project: Path
) -> None:
    # The platform's API never answers: the scenario waits in its execute call until Ctrl-C,
    # which cancels it (the plugin's handler, installed once for the session), ends the session
    # as interrupted, and the report files and history say so.
    scenario(project, "scenarios/a_hangs.yaml")
    scenario(project, "scenarios/b_never.yaml")
    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True).start()
    env = {**os.environ, "HARNESS_API_URL": f"http://127.0.0.1:{silent.getsockname()[1]}"}
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", *NO_NOISE, "-v", "--harness-backend", "api"]
    process = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not held and time.monotonic() < deadline:  # the execute call is in flight
            time.sleep(0.05)
        assert held, "the scenario never called the API"
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
        assert time.monotonic() - started < 10  # cancelled, not left to the 300 s timeout
    finally:
        process.kill()
        for connection in [*held, silent]:
            connection.close()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "KeyboardInterrupt" in out
    batch = json.loads((project / "reports" / "latest" / "results.json").read_text())
    assert batch["interrupted"] is True
    assert batch["results"] == [] and batch["not_run"] == ["scenarios/a_hangs", "scenarios/b_never"]


# ------------------------------------------------------------------ items run ahead in workers

TIMING_KEYS = {"duration_ms", "e2e_ms", "wall_ms", "started_at", "artifact"}


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _latest_batch(project: Path) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The latest batch's results.json, and the scenario ids of each artifact pack (by name)."""
    batch = (project / "reports" / "latest").resolve()
    packs = {
        pack.name.removeprefix(batch.name + "-"): [
            json.loads(line)["scenario_id"] for line in pack.read_text().splitlines()
        ]
        for pack in (batch / "artifacts").glob("*.jsonl")
    }
    return json.loads((batch / "results.json").read_text()), packs


def _suite_of(project: Path, count: int) -> list[str]:
    names = [f"s{index:03d}" for index in range(count)]
    for name in names:
        scenario(project, f"scenarios/{name}.yaml")
    failing = {"start": {}, "expect": {"node": "nope"}}
    scenario(project, "scenarios/zz_failing.yaml", turns=[failing])
    return [f"scenarios/{name}" for name in [*names, "zz_failing"]]


def test_scenario_items_run_ahead_in_workers_with_the_results_of_one_process(
    pytester: pytest.Pytester, project: Path
) -> None:
    ids = _suite_of(project, 40)

    alone = pytester.runpytest_subprocess(*NO_NOISE, "--harness-workers", "1")
    alone.assert_outcomes(passed=40, failed=1)
    in_one, packs_one = _latest_batch(project)
    ahead = pytester.runpytest_subprocess(*NO_NOISE, "--harness-workers", "2")

    ahead.assert_outcomes(passed=40, failed=1)
    in_workers, packs = _latest_batch(project)
    assert "scenario items ran in 2 worker processes" in ahead.stdout.str()
    assert "worker processes" not in alone.stdout.str()
    assert "x turns[0] start" in ahead.stdout.str()  # the per-turn report of a worker's result
    # Each worker moved its results' run outputs to a pack of its own; nothing ran in pytest's.
    assert set(packs) == {"w1.jsonl", "w2.jsonl"} and set(packs_one) == {"main.jsonl"}
    assert sorted(packs["w1.jsonl"] + packs["w2.jsonl"]) == ids
    assert _without_timings(in_workers["results"]) == _without_timings(in_one["results"])
    assert (in_workers["passed"], in_workers["failed"], in_workers["not_run"]) == (40, 1, [])
    with sqlite3.connect(project / "reports" / "history.sqlite") as db:
        rows = db.execute(
            "SELECT count(*) FROM scenario_results WHERE batch_id = ?",
            (in_workers["batch"]["batch_id"],),
        ).fetchone()[0]
    assert rows == 41


def test_run_ahead_stays_out_of_sessions_that_stop_at_a_failure_and_of_skipped_items(
    pytester: pytest.Pytester, project: Path
) -> None:
    ids = _suite_of(project, 3)
    scenario(
        project, "scenarios/a_first_failing.yaml", turns=[{"start": {}, "expect": {"node": "x"}}]
    )
    pytester.makeconftest(
        "import pytest\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        if item.name == 'scenarios/s001':\n"
        "            item.add_marker(pytest.mark.skip(reason='by conftest'))\n"
    )

    stopped = pytester.runpytest_subprocess(*NO_NOISE, "--harness-workers", "2", "-x")

    stopped.assert_outcomes(failed=1)  # -x: the first failure ends it, as in one process
    assert "worker processes" not in stopped.stdout.str()
    assert set(_latest_batch(project)[1]) == {"main.jsonl"}

    skipping = pytester.runpytest_subprocess(*NO_NOISE, "--harness-workers", "2")

    skipping.assert_outcomes(passed=2, failed=2, skipped=1)
    _, packs = _latest_batch(project)
    ran = sorted(packs["w1.jsonl"] + packs["w2.jsonl"])
    assert ran == sorted({*ids, "scenarios/a_first_failing"} - {"scenarios/s001"})

    pytester.makepyfile(test_broken="def test_broken(:\n")
    broken = pytester.runpytest_subprocess(*NO_NOISE, "--harness-workers", "2")

    assert broken.ret == pytest.ExitCode.INTERRUPTED  # pytest stops before the first item
    assert "error during collection" in broken.stdout.str()
    assert "worker processes" not in broken.stdout.str()


CONFTEST_CRASH = """
import os
import signal

from harness.backends.binding import make_factory


class CrashOn:
    def __init__(self, inner):
        self.inner, self.name, self.capabilities = inner, inner.name, inner.capabilities

    def bind(self, scenario):
        if scenario.name == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        return self.inner.bind(scenario)

    async def aclose(self):
        await self.inner.aclose()


def pytest_harness_backend_factory(config, options):
    with open("factories.txt", "a") as file:
        file.write(f"{os.getpid()}\\n")
    return CrashOn(make_factory(options.backend, options.binding_config()))
"""


def test_a_worker_that_dies_fails_its_item_and_the_others_run_on_a_new_one(
    pytester: pytest.Pytester, project: Path
) -> None:
    ids = _suite_of(project, 6)
    scenario(project, "scenarios/crash.yaml")
    pytester.makeconftest(CONFTEST_CRASH)

    result = pytester.runpytest_subprocess(*NO_NOISE, "--harness-workers", "2")

    result.assert_outcomes(passed=6, failed=2)
    out = result.stdout.str()
    assert "killed by SIGKILL" in out and "scenarios/crash" in out
    batch, packs = _latest_batch(project)
    verdicts = {r["scenario_id"]: r["verdict"] for r in batch["results"]}
    assert verdicts.pop("scenarios/crash") == "error"
    assert verdicts == {i: ("failed" if i.endswith("failing") else "passed") for i in ids}
    factories = (project / "factories.txt").read_text().split()
    assert len(set(factories)) == 3  # the hook ran in each worker: two, then the replacement
    assert not packs.get("main.jsonl")


def test_ctrl_c_stops_the_workers_and_keeps_the_batch(project: Path) -> None:
    # Both workers wait in an execute call the API never answers; Ctrl-C goes to pytest's
    # process alone (the workers ignore it), which stops them and ends the session as
    # interrupted, with the report files saying so.
    scenario(project, "scenarios/a_hangs.yaml")
    scenario(project, "scenarios/b_hangs.yaml")
    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(silent.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    env = {**os.environ, "HARNESS_API_URL": f"http://127.0.0.1:{silent.getsockname()[1]}"}
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", *NO_NOISE, "--harness-backend", "api"]
    command += ["--harness-workers", "2"]
    process = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while len(held) < 2 and time.monotonic() < deadline:  # both execute calls in flight
            time.sleep(0.05)
        assert len(held) == 2, "the workers never called the API"
        workers = subprocess.run(
            ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    finally:
        process.kill()
        for connection in [*held, silent]:
            connection.close()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, out
    assert len(workers) == 2 and not [w for w in workers if Path(f"/proc/{w}").exists()]
    batch = json.loads((project / "reports" / "latest" / "results.json").read_text())
    assert batch["interrupted"] is True
    assert batch["results"] == [] and batch["not_run"] == ["scenarios/a_hangs", "scenarios/b_hangs"]


def test_auto_uses_a_worker_per_core_for_64_items_alone_and_no_backend_hook(
    pytester: pytest.Pytester, project: Path
) -> None:
    _suite_of(project, 63)

    plain = pytester.runpytest_subprocess(*NO_NOISE)
    other = pytester.makepyfile(test_other="def test_other():\n    pass\n")
    mixed = pytester.runpytest_subprocess(*NO_NOISE)
    other.unlink()
    pytester.makeconftest("def pytest_harness_backend_factory(config, options):\n    return None\n")
    hooked = pytester.runpytest_subprocess(*NO_NOISE)

    plain.assert_outcomes(passed=63, failed=1)
    mixed.assert_outcomes(passed=64, failed=1)
    hooked.assert_outcomes(passed=63, failed=1)
    workers = min(cpu_count(), 2)  # one per core, at most one per 32 items
    if workers > 1:
        assert f"scenario items ran in {workers} worker processes" in plain.stdout.str()
    else:
        assert "worker processes" not in plain.stdout.str()
    assert "worker processes" not in mixed.stdout.str()
    assert "worker processes" not in hooked.stdout.str()
    assert set(_latest_batch(project)[1]) == {"main.jsonl"}


def test_the_example_suite_in_workers_leaves_no_sandbox_folder_behind(tmp_path: Path) -> None:
    # Its inline-Python tools run in each worker's sandbox; a worker with nothing left to run
    # is let end on its own, and so removes its sandbox's folders from the temp dir.
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "scenarios/"]
    command += ["--harness-workers", "2", "--harness-report-dir", str(tmp_path / "reports")]
    command += ["--harness-no-history"]  # (the project's own pytest settings apply)
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )

    assert done.returncode == 0, done.stdout[-2000:]
    assert "15 passed" in done.stdout and "ran in 2 worker processes" in done.stdout
    packs = sorted(
        p.name.rsplit("-", 1)[-1] for p in (tmp_path / "reports").glob("latest/artifacts/*")
    )
    assert packs == ["w1.jsonl", "w2.jsonl"]
    assert not list(temp.glob("harness-sandbox-*"))


def test_the_workers_option_is_checked_before_anything_runs(
    pytester: pytest.Pytester, project: Path
) -> None:
    scenario(project, "scenarios/a.yaml")

    wrong = run(pytester, "--harness-workers", "zero")
    recording = run(pytester, "--harness-workers", "2", "--harness-record-mode", "all")

    assert wrong.ret == pytest.ExitCode.USAGE_ERROR
    assert "--harness-workers 'zero': expected auto or a number above 0" in wrong.stderr.str()
    assert recording.ret == pytest.ExitCode.USAGE_ERROR
    assert "--workers 2 replays only" in recording.stdout.str() + recording.stderr.str()


# ------------------------------------------------------------------ shards, xdist, import cost


def test_shards_split_as_harness_run_shard(pytester: pytest.Pytester, project: Path) -> None:
    for name in ("a", "b", "c", "d", "e"):
        scenario(project, f"scenarios/{name}.yaml")
    ids = Suite.select(Selection(paths=("scenarios",)), cwd=project).ids
    split = assign_shards(ids, 2)

    for index in (1, 2):
        result = run(pytester, "--co", "-q", "--harness-shard", f"{index}/2")
        names = sorted(line.split("::")[1] for line in collected_ids(result))
        assert names == sorted(sid for sid, shard in split.items() if shard == index)


def test_xdist_workers_share_one_batch_in_the_history(
    pytester: pytest.Pytester, project: Path
) -> None:
    for name in ("a", "b", "c", "d"):
        scenario(project, f"scenarios/{name}.yaml", tags=["smoke"])
    scenario(project, "scenarios/failing.yaml", turns=[{"start": {}, "expect": {"node": "nope"}}])

    result = pytester.runpytest_subprocess(*NO_NOISE, "-n", "2", "--junitxml", "junit.xml")

    result.assert_outcomes(passed=4, failed=1)
    assert "x turns[0] start" in result.stdout.str()  # the report crosses from the worker
    with sqlite3.connect(project / "reports" / "history.sqlite") as db:
        batches = db.execute("SELECT batch_id, status FROM batches").fetchall()
        count = db.execute("SELECT count(*) FROM scenario_results").fetchone()[0]
    assert len(batches) == 1 and batches[0][1] == "finished" and count == 5
    results = json.loads((project / "reports" / batches[0][0] / "results.json").read_text())
    assert [r["scenario_id"] for r in results["results"]] == sorted(
        f"scenarios/{n}" for n in ("a", "b", "c", "d", "failing")
    )
    assert results["failed"] == 1 and results["not_run"] == []
    properties = [p.get("name") for p in ET.parse(project / "junit.xml").iter("property")]
    assert properties.count("tokens") == 5


CONFTEST_GC = """
import atexit
import gc
import json

import pytest

SEEN = {"collections": []}
collect = gc.collect


def counting_collect(*args):
    SEEN["collections"].append(gc.get_freeze_count())
    return collect(*args)


def pytest_configure(config):
    SEEN["before"] = [gc.get_threshold()[0], gc.get_freeze_count()]
    gc.collect = counting_collect


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    SEEN[item.name] = [gc.get_threshold()[0], gc.get_freeze_count()]
    return (yield)


def pytest_sessionfinish(session):
    SEEN["after"] = [gc.get_threshold()[0], gc.get_freeze_count()]
    SEEN["collections"].clear()  # from here on: pytest's last collections


@atexit.register
def write():  # after pytest.main() returned: every clean-up has run
    SEEN["exit"] = [gc.get_threshold()[0], gc.get_freeze_count()]
    with open("gc_seen.json", "w", encoding="utf-8") as file:
        json.dump(SEEN, file)
"""


@pytest.mark.parametrize("with_a_plain_test", [False, True])
def test_scenario_items_run_with_the_batch_gc_settings_frozen_through_pytests_last_collections(
    pytester: pytest.Pytester, project: Path, with_a_plain_test: bool
) -> None:
    """As `harness run`'s batches: rarer young collections, and what exists when the items
    start frozen out of collection, unless another test shares the session. pytest's
    `unraisableexception` plugin collects garbage twice as a session ends (~0.1 s each after
    the example suite: the imports, the items, their scenarios): the freeze lasts through them,
    until the session's last clean-up."""
    from harness.runner.batch import _GC_THRESHOLD

    scenario(project, "scenarios/one.yaml")
    scenario(project, "scenarios/two.yaml")
    (project / "conftest.py").write_text(CONFTEST_GC, encoding="utf-8")
    if with_a_plain_test:
        (project / "test_plain.py").write_text("def test_plain():\n    pass\n")
    paths = ["scenarios", *(["test_plain.py"] if with_a_plain_test else [])]
    # A process of its own: pytester's in-process runs skip the last collections.
    result = pytester.runpytest_subprocess(*NO_NOISE, *paths)
    result.assert_outcomes(passed=3 if with_a_plain_test else 2)
    seen = json.loads((project / "gc_seen.json").read_text(encoding="utf-8"))
    before, after, at_exit = seen.pop("before"), seen.pop("after"), seen.pop("exit")
    collections = seen.pop("collections")
    items = {name: values for name, values in seen.items() if name != "test_plain"}
    assert len(items) == 2
    for threshold, frozen in items.values():
        assert threshold >= _GC_THRESHOLD
        assert (frozen > before[1]) is not with_a_plain_test
    assert after[0] == before[0]  # the session's own thresholds are back
    assert len(collections) == 2
    for frozen in [after[1], *collections]:
        assert (frozen > before[1]) is not with_a_plain_test
    assert at_exit == before


CONFTEST_RELEASED = """
import pytest

from harness.pytest_plugin import plugin_state


def pytest_terminal_summary(config):
    with open("held.txt", "a", encoding="utf-8") as file:
        file.write(f"summary {plugin_state(config).owner is not None}\\n")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    with open("held.txt", "a", encoding="utf-8") as file:
        file.write(f"unconfigure {plugin_state(config).owner is not None}\\n")
"""


def test_the_batch_is_let_go_before_pytests_last_garbage_collection(
    pytester: pytest.Pytester, project: Path
) -> None:
    """pytest's `unraisableexception` plugin collects garbage once more at the end: the batch's
    results are no longer held by then (on the 1,000 x 5 suite that pass took 0.57-0.64 s with
    them, 0.33-0.35 s without)."""
    scenario(project, "scenarios/one.yaml")
    (project / "conftest.py").write_text(CONFTEST_RELEASED, encoding="utf-8")
    run(pytester, "scenarios").assert_outcomes(passed=1)
    held = (project / "held.txt").read_text(encoding="utf-8").split()
    assert held == ["summary", "True", "unconfigure", "False"]


AS_FROM_A_WHEEL = """
import sys

import _pytest.config
import pytest
from _pytest.assertion.rewrite import AssertionRewritingHook

listed = _pytest.config._iter_rewritable_modules


def as_from_a_wheel(files):
    # A wheel lists harness/__init__.py among its files, so pytest marks all of `harness` (this
    # checkout is an editable install, whose files pytest cannot see).
    files = list(files)
    names = list(listed(files))
    if any(f.startswith("harness-") and ".dist-info/" in f for f in files):
        names.append("harness")
    return iter(names)


_pytest.config._iter_rewritable_modules = as_from_a_wheel
code = pytest.main(sys.argv[1:])
rewritten = sorted(
    name
    for name, module in sys.modules.items()
    if name.startswith("harness") and isinstance(module.__loader__, AssertionRewritingHook)
)
print("REWRITTEN=" + ",".join(rewritten))
sys.exit(code)
"""


def test_pytest_rewrites_the_plugin_not_the_whole_harness(project: Path) -> None:
    """Installed from a wheel, pytest would rewrite every harness module a session imports,
    compiling each again from source where it cannot cache bytecode: the plugin narrows that
    to its own package."""
    import _pytest.config

    if not hasattr(_pytest.config, "_iter_rewritable_modules"):
        pytest.skip("this pytest marks plugins for rewriting another way")
    scenario(project, "scenarios/start.yaml")
    (project / "as_from_a_wheel.py").write_text(AS_FROM_A_WHEEL, encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, "as_from_a_wheel.py", "-q", *NO_NOISE, "-p", "no:xdist"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "1 passed" in completed.stdout
    line = next(x for x in completed.stdout.splitlines() if x.startswith("REWRITTEN="))
    rewritten = set(line.removeprefix("REWRITTEN=").split(","))
    assert "harness.errors" in rewritten  # imported before the plugin loaded: the mark was there
    assert "harness.runner.scenario" not in rewritten
    assert rewritten <= {"harness", "harness.errors"} | {
        name for name in rewritten if name.startswith("harness.pytest_plugin")
    }, rewritten


def test_the_plugin_imports_nothing_heavy_in_a_project_that_does_not_use_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_plain.py").write_text("def test_one():\n    pass\n")
    (tmp_path / "config.yaml").write_text("a: 1\n")
    completed = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "pytest",
            "--co",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    imported = [
        line.split("|")[-1].strip() for line in completed.stderr.splitlines() if "|" in line
    ]
    assert completed.returncode == 0, completed.stdout
    assert "harness.pytest_plugin._collect" in imported  # the plugin was loaded
    harness_modules = {m for m in imported if m.startswith("harness")}
    assert harness_modules <= {
        "harness",
        "harness.errors",
        "harness.pytest_plugin",
        "harness.pytest_plugin._collect",
        "harness.pytest_plugin.hookspecs",
    }, harness_modules
    assert not {"pydantic", "yaml", "httpx", "numpy"} & set(imported)
