"""Which files are scenario files, and the plugin's options: cheap, stdlib only.

This module is imported in every pytest run of an environment that has harness installed, so it
imports nothing heavy: a file is only looked at further (and `harness.scenarios` imported) when
its name ends in `.scenario.yaml`/`.scenario.yml`, or when it is a YAML file with a `scenarios`
folder (or a configured scenario root) above it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

__all__ = [
    "ELSEWHERE_SUFFIXES",
    "Collector",
    "PluginOptions",
    "add_options",
    "scenario_nodeid_parts",
]

ELSEWHERE_SUFFIXES = (".scenario.yaml", ".scenario.yml")
"""Scenario files collected wherever they are (outside the scenario roots too)."""
_YAML = (".yaml", ".yml")
_DEFAULT_ROOT = "scenarios"
TB_STYLES = ("report", "native")

# (option, ini name, help); an option given on the command line wins over its ini value.
_OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("--harness-backend", "harness_backend", "engine", "backend: engine (default) or api"),
    (
        "--harness-record-mode",
        "harness_record_mode",
        "none",
        "cassette record mode: none (default: replay only), once, new_episodes, all",
    ),
    ("--harness-report-dir", "harness_report_dir", "", "report folder (default <root>/reports)"),
    ("--harness-history", "harness_history", "", "history database (default <report dir>/...)"),
    (
        "--harness-baseline",
        "harness_baseline",
        "",
        "compare with a baseline at the end: a file, a batch id, latest or branch:NAME",
    ),
    ("--harness-repeat", "harness_repeat", "", "run each scenario N times (overrides runs)"),
    ("--harness-timeout", "harness_timeout", "300", "seconds per run of a scenario (default 300)"),
    ("--harness-cassettes", "harness_cassettes", "", "cassettes folder (default <root>/cassettes)"),
    (
        "--harness-workers",
        "harness_workers",
        "auto",
        "processes that run the scenario items ahead of pytest: N, or auto (default: one per "
        "core for engine replays of 64 items or more; 1: in pytest's process)",
    ),
)


def add_options(parser: pytest.Parser) -> None:
    """The `--harness-*` options and their ini equivalents (none clash with pytest-recording's
    `--record-mode` or pytest-xdist's options)."""
    group = parser.getgroup("harness", "harness scenarios (docs/ci.md)")
    for option, ini, default, text in _OPTIONS:
        group.addoption(option, dest=ini, default=None, help=f"{text} (ini: {ini})")
        parser.addini(ini, text, default=default)
    group.addoption(
        "--harness-fail-on-regression",
        dest="harness_fail_on_regression",
        action="store_true",
        default=None,
        help="fail the session when a metric regressed against --harness-baseline",
    )
    parser.addini(
        "harness_fail_on_regression", "fail the session on a regression", type="bool", default=False
    )
    group.addoption(
        "--harness-shard",
        dest="harness_shard",
        default=None,
        metavar="I/N",
        help="run only shard I of N of the scenarios (the same split as `harness run --shard`)",
    )
    group.addoption(
        "--harness-no-history",
        dest="harness_no_history",
        action="store_true",
        default=False,
        help="do not record the batch in the history database",
    )
    group.addoption(
        "--harness-tb",
        dest="harness_tb",
        choices=TB_STYLES,
        default="report",
        help="a failing scenario shows: report (per-turn, default) or native (the traceback)",
    )
    parser.addini(
        "harness_scenario_roots",
        "folders whose YAML files are scenarios (default: the project's scenarios/)",
        type="paths",
        default=[],
    )


@dataclass(frozen=True)
class PluginOptions:
    """The plugin's options, command line over ini, as typed (paths not yet resolved)."""

    backend: str
    record_mode: str
    report_dir: str
    history: str
    no_history: bool
    baseline: str
    fail_on_regression: bool
    repeat: int | None
    timeout: float
    cassettes: str
    shard: str | None
    tb: str
    workers: int | Literal["auto"] = "auto"
    """A number of processes, or `auto` (`harness.runner.workers.plan_workers`)."""

    @classmethod
    def of(cls, config: pytest.Config) -> PluginOptions:
        """Read them from `config`.

        Raises:
            pytest.UsageError: a value is not valid.
        """

        def value(ini: str) -> Any:
            given = config.getoption(ini)
            return config.getini(ini) if given is None else given

        def path(ini: str) -> str:
            """Absolute: an option as typed is relative to the folder pytest was started in,
            an ini value to the ini file's folder."""
            given = config.getoption(ini)
            if given:
                return os.path.abspath(config.invocation_params.dir / str(given))
            text = str(config.getini(ini) or "")
            base = config.inipath.parent if config.inipath else config.rootpath
            return os.path.abspath(base / text) if text else ""

        backend = str(value("harness_backend"))
        if backend not in ("engine", "api"):
            raise pytest.UsageError(f"--harness-backend {backend!r}: use engine or api")
        mode = str(value("harness_record_mode"))
        if mode not in ("none", "once", "new_episodes", "all"):
            raise pytest.UsageError(
                f"--harness-record-mode {mode!r}: use none, once, new_episodes or all"
            )
        options = cls(
            backend=backend,
            record_mode=mode,
            report_dir=path("harness_report_dir"),
            history=path("harness_history"),
            no_history=bool(config.getoption("harness_no_history")),
            baseline=str(value("harness_baseline") or ""),
            fail_on_regression=bool(value("harness_fail_on_regression")),
            repeat=_number(value("harness_repeat"), "--harness-repeat", int),
            timeout=_number(value("harness_timeout"), "--harness-timeout", float) or 300.0,
            cassettes=path("harness_cassettes"),
            shard=config.getoption("harness_shard"),
            tb=str(config.getoption("harness_tb")),
            workers=_workers(value("harness_workers")),
        )
        if options.fail_on_regression and not options.baseline:
            raise pytest.UsageError(
                "--harness-fail-on-regression needs a baseline to compare with: add "
                "--harness-baseline reports/baseline.json (or a batch id, latest, branch:NAME)"
            )
        return options


def _number(text: Any, option: str, kind: type[int] | type[float]) -> Any:
    if text in (None, ""):
        return None
    try:
        number = kind(text)
    except ValueError:
        number = 0
    if number <= 0:
        raise pytest.UsageError(f"{option} {text!r}: expected a number above 0")
    return number


def _workers(text: Any) -> int | Literal["auto"]:
    value = str(text).strip()
    if value == "auto":
        return "auto"
    if not value.isdigit() or int(value) < 1:
        raise pytest.UsageError(f"--harness-workers {text!r}: expected auto or a number above 0")
    return int(value)


def scenario_nodeid_parts(nodeid: str) -> tuple[str, str] | None:
    """(file, item name) of a node id `file::name`, or None for a file-level id."""
    file, sep, name = nodeid.partition("::")
    return (file, name) if sep else None


@dataclass
class Collector:
    """Decides which files are scenario files, as `harness run` would find them.

    Under a scenario root (the `harness_scenario_roots` ini paths, else `<project root>/scenarios`
    of a harness project: a folder with `harness.toml` or `[tool.harness]` in pyproject.toml)
    every `.yaml`/`.yml` file is a scenario, except `_defaults.yaml` and files in `workflows/`,
    `cassettes/` and hidden folders (`harness.scenarios.SKIPPED_DIRS`); elsewhere only files
    named `*.scenario.yaml` are.
    """

    roots: list[Path]
    """Explicit scenario roots (absolute); empty: each project's `scenarios/`."""
    invocation_dir: Path
    _project_roots: dict[Path, Path | None] = field(default_factory=dict)

    @classmethod
    def of(cls, config: pytest.Config) -> Collector:
        """The collector of a pytest run."""
        roots = [Path(os.path.abspath(p)) for p in config.getini("harness_scenario_roots")]
        return cls(roots, config.invocation_params.dir)

    def collects(self, path: Path) -> bool:
        """Whether `path` is a scenario file."""
        name = path.name
        if not name.endswith(_YAML):
            return False
        elsewhere = name.endswith(ELSEWHERE_SUFFIXES)
        path = Path(os.path.abspath(path))
        if self.roots:
            under = next((r for r in self.roots if path.is_relative_to(r)), None)
        elif _DEFAULT_ROOT in path.parent.parts:
            under = self._default_root(path)
        else:
            under = None
        if under is None and not elsewhere:
            return False
        base = under or self.invocation_dir
        return self._allowed(path, base if path.is_relative_to(base) else path.parent)

    def project_root(self, path: Path) -> Path:
        """The project root of a scenario file (`harness.config.find_project_root`), else the
        folder pytest was started in (as `harness run` uses the working folder)."""
        folder = Path(os.path.abspath(path)).parent
        if folder not in self._project_roots:
            from harness.config import find_project_root

            self._project_roots[folder] = find_project_root(folder)
        return self._project_roots[folder] or self.invocation_dir

    def _default_root(self, path: Path) -> Path | None:
        folder = path.parent
        if folder not in self._project_roots:
            from harness.config import find_project_root

            self._project_roots[folder] = find_project_root(folder)
        root = self._project_roots[folder]
        if root is None:  # not a harness project: its scenarios/ folder is not ours
            return None
        base = root / _DEFAULT_ROOT
        return base if path.is_relative_to(base) else None

    @staticmethod
    def _allowed(path: Path, base: Path) -> bool:
        """Not `_defaults.yaml`, and no skipped or hidden folder between `base` and the file."""
        from harness.scenarios import DEFAULTS_FILE, SKIPPED_DIRS

        if path.name == DEFAULTS_FILE:
            return False
        folders = path.relative_to(base).parts[:-1]
        return not any(part in SKIPPED_DIRS or part.startswith(".") for part in folders)
