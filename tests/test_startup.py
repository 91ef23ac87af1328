"""What `harness run` imports: nothing heavy at start-up, nothing an engine replay does not use.

Each check runs in a fresh interpreter (this test process has imported everything already) and
reads `sys.modules` after the command returned. Speed itself is measured by `benchmarks/`.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

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
    for name in ("scenarios", "cassettes"):
        shutil.copytree(ROOT / name, tmp_path / name)
    (tmp_path / "harness.toml").write_text("")
    scenario = "scenarios/clinic/pause_resume_stop.yaml"  # no `regex` check
    code, modules = _imported_by_run(tmp_path, scenario, "--no-history", "--plain")
    assert code == 0
    assert "harness.checks.regexes" in modules  # the checks were loaded
    assert _heavy(modules, ("regex", *HTTPX_COMMAND_LINE)) == []


def test_an_output_check_that_needs_deepdiff_imports_it_without_numpy_and_pandas(
    tmp_path: Path,
) -> None:
    for name in ("scenarios", "cassettes"):
        shutil.copytree(ROOT / name, tmp_path / name)
    (tmp_path / "harness.toml").write_text("")
    scenario = "scenarios/refill/refill_ready.yaml"  # an `output` check with a tolerance
    code, modules = _imported_by_run(tmp_path, scenario, "--no-history", "--plain")
    assert code == 0
    assert "deepdiff" in modules  # the values differ within the tolerance: deepdiff compared them
    assert _heavy(modules, ("numpy", "pandas", "polars")) == []


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
    for name in ("scenarios", "cassettes"):
        shutil.copytree(ROOT / name, tmp_path / name)
    (tmp_path / "harness.toml").write_text("")
    scenario = "scenarios/clinic/pause_resume_stop.yaml"
    code, modules = _imported_by_run(tmp_path, scenario, "--no-history", "--plain")
    assert code == 0
    assert "harness.engine" in modules  # the scenario did run
    assert _heavy(modules, NEVER + API_ONLY) == []
