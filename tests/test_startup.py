"""What `harness run` imports: nothing heavy at start-up, nothing an engine replay does not use.

Each check runs in a fresh interpreter (this test process has imported everything already) and
reads `sys.modules` after the command returned. Speed itself is measured by `benchmarks/`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

NEVER = ("pandas", "numpy", "streamlit", "deepdiff", "uvicorn", "fastapi", "harness.dashboard.app")
"""Never imported by `harness run` on scenarios whose checks do not need them."""
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
    assert _heavy(modules, NEVER + API_ONLY) == []


def test_an_engine_replay_imports_nothing_heavy(tmp_path: Path) -> None:
    for name in ("scenarios", "cassettes"):
        shutil.copytree(ROOT / name, tmp_path / name)
    (tmp_path / "harness.toml").write_text("")
    scenario = "scenarios/clinic/pause_resume_stop.yaml"
    code, modules = _imported_by_run(tmp_path, scenario, "--no-history", "--plain")
    assert code == 0
    assert "harness.engine" in modules  # the scenario did run
    assert _heavy(modules, NEVER + API_ONLY) == []
