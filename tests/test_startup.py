"""What `harness run` imports: nothing heavy at start-up, nothing an engine replay does not use.

Each check runs in a fresh interpreter (this test process has imported everything already) and
reads `sys.modules` after the command returned. Speed itself is measured by `benchmarks/`.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

NEVER = ("pandas", "numpy", "streamlit", "deepdiff", "uvicorn", "fastapi", "harness.dashboard.app")
"""Never imported by `harness run` on scenarios whose checks do not need them."""
ON_DEMAND = ("jsonschema", "regex")
"""Imported where a run needs them (a workflow schema to check, a pattern to match), not at
start-up."""
HTTPX_COMMAND_LINE = ("httpx._main", "click", "rich", "pygments")
"""httpx's own command-line client: the `harness` command never imports it."""
OTHER_COMMANDS = ("harness.cli_report", "harness.cli_cassettes", "harness.dashboard")
"""The parsers of the other commands: `harness run` builds only its own."""
API_ONLY = (
    "harness.backends.api",
    "harness.backends.pull",
    "harness.backends.retry",
    "harness.server",
)
"""The API backend and `harness serve`: a run on the built-in engine never needs them."""


def _imported_by_run(cwd: Path, *args: str) -> tuple[int, set[str]]:
    """The exit code of `harness run ARGS` in a fresh interpreter, and the modules it imported."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from harness.cli import main
        code = main(["run", *{list(args)!r}])
        print("MODULES=" + json.dumps(sorted(sys.modules)))
        sys.exit(code)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("MODULES=")]
    assert lines, done.stdout + done.stderr
    return done.returncode, set(json.loads(lines[-1].removeprefix("MODULES=")))


def _example_project(folder: Path) -> None:
    """A project in `folder` with the example scenarios and their cassettes."""
    for name in ("scenarios", "cassettes"):
        shutil.copytree(ROOT / name, folder / name)
    (folder / "harness.toml").write_text("")


def _heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules for name in names if m == name or m.startswith(name + "."))


def test_start_up_imports_nothing_heavy(tmp_path: Path) -> None:
    # A usage error (no such file) ends the command right after start-up: arguments parsed,
    # the run's modules imported, the selection read.
    (tmp_path / "harness.toml").write_text("")
    code, modules = _imported_by_run(tmp_path, "missing.yaml", "--no-history")
    assert code == 2
    assert "harness.runner.suite" in modules  # start-up did happen
    assert _heavy(modules, NEVER + API_ONLY + ON_DEMAND + OTHER_COMMANDS) == []


def test_an_engine_replay_without_patterns_imports_no_regex_engine(tmp_path: Path) -> None:
    _example_project(tmp_path)
    scenario = "scenarios/clinic/pause_resume_stop.yaml"  # no `regex` check
    code, modules = _imported_by_run(tmp_path, scenario, "--no-history", "--plain")
    assert code == 0
    assert "harness.checks.regexes" in modules  # the checks were loaded
    assert _heavy(modules, ("regex", *HTTPX_COMMAND_LINE)) == []


def test_a_workflow_with_plain_schemas_is_validated_without_jsonschema(tmp_path: Path) -> None:
    # The clinic workflow's tool and condition `args_schema`s are plain (types, properties,
    # required): valid by their shape, no meta-schema check, so no jsonschema import.
    _example_project(tmp_path)
    scenario = "scenarios/clinic/pause_resume_stop.yaml"  # no `schema` check either
    code, modules = _imported_by_run(tmp_path, scenario, "--no-history", "--plain")
    assert code == 0
    assert "harness.engine.graph" in modules  # the workflow was validated
    assert _heavy(modules, ("jsonschema", "referencing", "attrs")) == []


def test_an_output_check_that_needs_deepdiff_imports_it_without_numpy_and_pandas(
    tmp_path: Path,
) -> None:
    _example_project(tmp_path)
    scenario = "scenarios/refill/refill_ready.yaml"  # an `output` check with a tolerance
    code, modules = _imported_by_run(tmp_path, scenario, "--no-history", "--plain")
    assert code == 0
    assert "deepdiff" in modules  # the values differ within the tolerance: deepdiff compared them
    assert _heavy(modules, ("numpy", "pandas", "polars")) == []


def _halve_tokens(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v // 2 if k == "tokens" else _halve_tokens(v) for k, v in value.items()}
    return value


def test_a_run_against_a_baseline_file_compares_without_pandas(tmp_path: Path) -> None:
    # The README's main job: the comparison needs numpy, not pandas (whose import alone was
    # most of a small suite's comparison). Here the token counts moved, so rows were compared.
    _example_project(tmp_path)
    baseline = json.loads((ROOT / "reports" / "baseline.json").read_text())
    (tmp_path / "baseline.json").write_text(json.dumps(_halve_tokens(baseline)))
    argv = ["run", "scenarios/clinic/pause_resume_stop.yaml", "--no-history", "--plain"]
    check = "print('PANDAS=' + str('pandas' in sys.modules)); sys.exit(code)"
    done = _run_then(tmp_path, [*argv, "--baseline", "baseline.json"], check)
    assert done.returncode == 0, done.stdout + done.stderr  # no --fail-on-regression
    # The halved baseline makes this run's tokens a regression (the scenario's and its node's).
    assert re.search(r"compared against .*: [1-9][0-9]* regression\(s\)", done.stdout)
    assert "PANDAS=False" in done.stdout


def test_a_run_against_a_batch_of_the_history_compares_without_pandas(tmp_path: Path) -> None:
    # `--baseline latest` (or branch:NAME, a batch id) reads the batch from the history: SQL
    # and numpy, not pandas (its import was most of what such a run paid for the comparison).
    _example_project(tmp_path)
    argv = ["run", "scenarios/clinic/pause_resume_stop.yaml", "--plain"]
    first = _run_then(tmp_path, argv, "sys.exit(code)")
    assert first.returncode == 0, first.stdout + first.stderr
    check = "print('PANDAS=' + str('pandas' in sys.modules)); sys.exit(code)"
    done = _run_then(tmp_path, [*argv, "--baseline", "latest", "--fail-on-regression"], check)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"1 scenario\(s\) compared against \d{8}T\d{6}-\d+", done.stdout)
    assert "PANDAS=False" in done.stdout


def test_the_console_entry_freezes_what_the_run_built_before_the_process_ends(
    tmp_path: Path,
) -> None:
    # The interpreter's last collection then has nothing to walk (~130 ms of exit after a run).
    # Called with arguments (a library caller, a test), the collector is left as it was.
    _example_project(tmp_path)
    args = ["run", "scenarios/clinic/pause_resume_stop.yaml", "--no-history", "--plain"]
    script = textwrap.dedent(
        f"""
        import gc, sys
        from harness.cli import main
        code = main({args!r})
        print("EXPLICIT", code, gc.get_freeze_count(), gc.isenabled())
        sys.argv = ["harness", *{args!r}]
        code = main()
        print("CONSOLE", code, gc.get_freeze_count() > 1000, gc.isenabled())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith(("EXPLICIT", "CONSOLE"))]
    assert lines == ["EXPLICIT 0 0 True", "CONSOLE 0 True True"]


def test_the_console_entry_leaves_httpx_importable_for_the_process(tmp_path: Path) -> None:
    # Skipping httpx's command-line module is for the command's own import of httpx only:
    # afterwards the module imports as usual (a library user's httpx is untouched).
    (tmp_path / "harness.toml").write_text("")
    script = textwrap.dedent(
        """
        import sys
        from harness.cli import main
        main(["run", "missing.yaml", "--no-history"])
        assert "httpx" in sys.modules and "httpx._main" not in sys.modules
        import httpx._main
        print("IMPORTED")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert "IMPORTED" in done.stdout, done.stderr


def test_the_collector_is_paused_during_start_up_and_resumed_after() -> None:
    from harness.cli_run import collector_paused

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        with collector_paused():
            assert not gc.isenabled()
            kept = [[] for _ in range(10)]  # long-lived start-up objects
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(kept)  # frozen out of later collections
    finally:
        gc.unfreeze()


def test_a_failed_start_up_freezes_nothing() -> None:
    from harness.cli_run import collector_paused

    frozen = gc.get_freeze_count()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("no such file")
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_the_collector_stays_off_when_it_was_off() -> None:
    from harness.cli_run import collector_paused

    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["run", "-h"],
        ["run", "x", "--bogus"],
        ["run", "--workers", "0", "x"],
        ["validate", "-h"],
        ["report", "compare", "-h"],
        ["baseline"],
        ["cassettes", "check", "-h"],
        ["dashboard", "-h"],
        ["schema"],
        ["model", "serve", "-h"],
        ["serve", "-h"],
        ["pull", "-h"],
    ],
)
def test_a_command_parses_the_same_with_only_its_own_parser(argv: list[str]) -> None:
    from harness.cli import build_parser

    def parse(command: str | None) -> tuple[object, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                outcome: object = vars(build_parser(command).parse_args(argv))
            except SystemExit as exc:
                outcome = exc.code
        return outcome, out.getvalue(), err.getvalue()

    assert parse(argv[0]) == parse(None)


def test_an_engine_replay_imports_nothing_heavy(tmp_path: Path) -> None:
    _example_project(tmp_path)
    scenario = "scenarios/clinic/pause_resume_stop.yaml"
    code, modules = _imported_by_run(tmp_path, scenario, "--no-history", "--plain")
    assert code == 0
    assert "harness.engine" in modules  # the scenario did run
    assert _heavy(modules, NEVER + API_ONLY) == []


BUILT_ON_FIRST_USE = (
    "harness.engine.llm:ChatRequest",
    "harness.engine.sandbox:ToolOutcome",
    "harness.engine.sandbox:SandboxReport",
    "harness.engine.tools:ToolMock",
    "harness.evaluation:EvaluationOutcome",
    "harness.models.api:LLMUsageInfo",
    "harness.models.api:SayLLMNodeConfig",
    "harness.models.api:DirectEdgeConfig",
    "harness.models.api:InlinePythonTool",
    "harness.models.expect:Expect",
    "harness.models.turns:Turn",
)
"""Models whose own schemas a replay without tools, mocks or evaluators never needs: built when
first used, not at start-up (nodes, edges and tools are validated inside their workflow, turns and
expectations inside their scenario)."""


def _run_then(cwd: Path, argv: list[str], check: str) -> subprocess.CompletedProcess[str]:
    """`harness ARGV` in a fresh interpreter, then the Python statements `check`."""
    script = f"import sys\nfrom harness.cli import main\ncode = main({argv!r})\n" + check
    return subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_a_replay_without_tools_builds_no_model_it_does_not_use(tmp_path: Path) -> None:
    _example_project(tmp_path)
    scenario = "scenarios/intake/intake_complete.yaml"  # no tool, mock or evaluator
    check = textwrap.dedent(
        f"""
        import importlib
        assert code == 0, code
        for spec in {list(BUILT_ON_FIRST_USE)!r}:
            module, name = spec.split(":")
            model = getattr(importlib.import_module(module), name)
            assert not model.__pydantic_complete__, spec
        print("NOT BUILT")
        """
    )
    done = _run_then(tmp_path, ["run", scenario, "--no-history", "--plain"], check)
    assert "NOT BUILT" in done.stdout, done.stdout + done.stderr


def test_a_model_built_on_first_use_validates_and_serialises_as_usual() -> None:
    from harness.engine.sandbox import ToolOutcome
    from harness.models.api import DirectEdgeConfig, LLMUsageInfo

    assert ToolOutcome.ok({"a": 1}).model_dump()["result"] == {"a": 1}
    with pytest.raises(ValueError, match="extra"):
        ToolOutcome.model_validate({"success": True, "bogus": 1})
    usage = LLMUsageInfo.model_validate({"prompt_tokens": 3, "extra_key": "kept"})
    assert usage.model_dump()["extra_key"] == "kept"  # platform models keep unknown keys
    assert DirectEdgeConfig.model_json_schema()["title"] == "DirectEdgeConfig"


def _plugins_seen(cwd: Path, code: str) -> str:
    """After `code` in a fresh interpreter: `PYDANTIC_DISABLE_PLUGINS` ("-": unset) and whether
    pydantic looked for plugins (its loader keeps what it found; None until it looks)."""
    show = (
        "\nimport os\nfrom pydantic.plugin import _loader\n"
        "print('PLUGINS=' + os.environ.get('PYDANTIC_DISABLE_PLUGINS', '-')"
        " + (' looked' if _loader._plugins is not None else ' not-looked'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code + show], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("PLUGINS=")]
    assert lines, done.stdout + done.stderr
    return lines[-1].removeprefix("PLUGINS=")


def test_the_console_entry_skips_pydantic_plugins_unless_the_user_chose(tmp_path: Path) -> None:
    # Looking plugins up reads every installed distribution's entry points, and the harness's own
    # process validates only its own models. A user's setting is kept, a user's process untouched,
    # and the switch does not outlive the command (`main` called from a user's code).
    (tmp_path / "harness.toml").write_text("")
    command = "from harness.cli import main\nmain(['run', 'missing.yaml', '--no-history'])"
    assert _plugins_seen(tmp_path, command) == "- not-looked"
    chosen = "import os\nos.environ['PYDANTIC_DISABLE_PLUGINS'] = 'logfire'\n" + command
    assert _plugins_seen(tmp_path, chosen) == "logfire looked"
    assert _plugins_seen(tmp_path, "import harness.models, harness.engine") == "- looked"


def test_the_console_entry_does_not_import_the_plugin_lookup(tmp_path: Path) -> None:
    # With plugins off, pydantic's loader would still import importlib.metadata (and email,
    # zipfile, csv) for nothing: the command puts a stand-in that finds no plugins in its place.
    (tmp_path / "harness.toml").write_text("")
    code, modules = _imported_by_run(tmp_path, "missing.yaml", "--no-history")
    assert code == 2
    assert "harness.runner.suite" in modules  # start-up did happen: models were built
    assert _heavy(modules, ("importlib.metadata",)) == []


def test_the_plugin_lookup_stand_in_covers_what_pydantic_uses() -> None:
    # The stand-in offers `get_plugins` only: pydantic must import nothing else from its loader,
    # and only where it builds a validator (so that after the command the real one loads).
    import pydantic

    package = Path(pydantic.__file__).parent
    uses = {
        f"{path.relative_to(package)}: {line.strip()}"
        for path in package.rglob("*.py")
        if path.name != "_loader.py"
        for line in path.read_text(encoding="utf-8").splitlines()
        if "_loader" in line and not line.lstrip().startswith("#")
    }
    assert uses == {"plugin/_schema_validator.py: from ._loader import get_plugins"}


def test_the_plugin_lookup_stand_in_ends_with_the_command() -> None:
    from harness._imports import PYDANTIC_PLUGIN_LOADER

    script = textwrap.dedent(
        f"""
        import os, sys
        os.environ.pop("PYDANTIC_DISABLE_PLUGINS", None)
        from harness._imports import own_process
        with own_process():
            from pydantic.plugin._loader import get_plugins
            assert list(get_plugins()) == [] and "importlib.metadata" not in sys.modules
        assert {PYDANTIC_PLUGIN_LOADER!r} not in sys.modules
        from pydantic.plugin import _loader
        assert "importlib.metadata" in sys.modules and _loader.get_plugins is not get_plugins
        print("REAL")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert "REAL" in done.stdout, done.stdout + done.stderr
