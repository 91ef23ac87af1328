"""`pytest` on the example suite as a user has it: the harness installed from its wheel.

Run: `python benchmarks/pytest_install.py [--rounds 5] [--base REV]`. Prints one JSON document.

The project's own venv installs the harness in editable mode, where pytest sees none of its files
and so rewrites the assertions of the plugin's package only. Installed from a wheel, pytest
marks every package of a plugin's distribution for rewriting (all of `harness`), and a rewritten
module is compiled again from its source unless pytest can cache the result: a fresh CI
environment, a read-only site-packages or `PYTHONDONTWRITEBYTECODE=1` pay that in every session.

1. Builds the wheel of this checkout (and of `--base REV`, from a temporary git worktree) and
   installs each into its own venv under /tmp/harness-bench-wheel/ (with pytest; the harness's
   dependencies come from the package index or pip's cache).
2. Runs `pytest -q scenarios/` (the example suite, replayed offline from the committed
   cassettes, its tools really run) in a copy of the project, from process start to exit, R
   rounds, the trees alternating, three sessions a round:
   - `no_cached_bytecode`: pytest's rewritten bytecode deleted and `PYTHONDONTWRITEBYTECODE=1`
     (what every session pays where bytecode is not written);
   - `first_session`: no rewritten bytecode yet, written by this session (a fresh CI machine);
   - `cached`: the session after it (a developer's machine).
3. Counts the harness modules pytest rewrote (its `*-pytest-*.pyc` files after a cached run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENVS = Path("/tmp/harness-bench-wheel")
PYTEST_ARGS = ["-q", "-p", "no:cacheprovider", "scenarios"]


def _wheel(source: Path, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("harness-*.whl"))


def _venv(name: str, wheel: Path) -> Path:
    """A venv with `wheel` (reinstalled each time: the code under test) and pytest."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = [str(python), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps"]
    subprocess.run([*install, str(wheel)], check=True, capture_output=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel), "pytest"],
        check=True,
        capture_output=True,
    )
    return python


def _project(folder: Path) -> Path:
    """A copy of the example project: its scenarios and cassettes."""
    folder.mkdir(parents=True)
    for name in ("scenarios", "cassettes"):
        shutil.copytree(ROOT / name, folder / name)
    (folder / "harness.toml").write_text("# benchmark copy of the example project\n")
    return folder


def _site_harness(python: Path) -> Path:
    code = "import harness, pathlib; print(pathlib.Path(harness.__file__).parent)"
    isolated = [str(python), "-I", "-c", code]  # -I: not this checkout's `harness` (the cwd)
    done = subprocess.run(isolated, capture_output=True, text=True, check=True)
    return Path(done.stdout.strip())


def _rewritten(package: Path) -> list[Path]:
    return list(package.rglob("*-pytest-*.pyc"))


def _run(python: Path, project: Path, session: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTHONPATH")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if session != "cached":
        for pyc in _rewritten(_site_harness(python)):
            pyc.unlink()
    if session == "no_cached_bytecode":
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    shutil.rmtree(project / "reports", ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run(
        [str(python), "-m", "pytest", *PYTEST_ARGS],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise SystemExit(f"pytest failed in {project} with {python}:\n{tail}")
    return wall


def _figures(walls: list[float]) -> dict[str, Any]:
    return {
        "wall_s_min": round(min(walls), 3),
        "wall_s_median": round(statistics.median(walls), 3),
        "each": [round(w, 3) for w in walls],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--base", help="also measure the wheel of this earlier commit")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pytest-install-"))
    trees = {"new": ROOT}
    try:
        if args.base:
            worktree = work / "base-tree"
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(ROOT),
                    "worktree",
                    "add",
                    "-q",
                    "--detach",
                    str(worktree),
                    args.base,
                ],
                check=True,
            )
            trees = {"base": worktree, **trees}
        pythons = {
            name: _venv(name, _wheel(tree, work / f"wheel-{name}")) for name, tree in trees.items()
        }
        projects = {name: _project(work / f"project-{name}") for name in trees}
        sessions = ("no_cached_bytecode", "first_session", "cached")  # in this order
        walls = {name: {session: [] for session in sessions} for name in trees}
        for name in trees:  # untimed: the installed bytecode is read once from the disk
            _run(pythons[name], projects[name], "cached")
        for _ in range(args.rounds):
            for name in trees:
                for session in sessions:
                    walls[name][session].append(_run(pythons[name], projects[name], session))
        report: dict[str, Any] = {
            "suite": "scenarios/ (the example suite), pytest -q, harness installed from its wheel",
            "rounds": args.rounds,
            "base": args.base,
        }
        for name in trees:
            report[name] = {
                "harness_modules_rewritten": len(_rewritten(_site_harness(pythons[name]))),
                **{kind: _figures(w) for kind, w in walls[name].items()},
            }
        print(json.dumps(report, indent=1))
    finally:
        if args.base:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "base-tree")],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
