"""`harness cassettes check [--prune] [PATHS]`: cassettes that no longer earn their place.

It lists cassettes whose scenario no longer exists, interactions the last replay never used (from
the latest report's `stale` lists), cassettes written in an older format or kept in the old layout
(before each backend had its folder), unreadable ones, and temp files a killed write left behind;
`--prune` removes them (a stale cassette is rewritten without its unused interactions, an
old-layout one is moved to its place) and prints what it did. It asks nothing.

Exit codes: 0 nothing found (or everything found was pruned); 1 problems found (without
`--prune`); 2 usage errors (a path that does not exist).

The audit itself is `harness.recording.audit`; this module works out which cassettes the
scenarios use (through the runner's own cassette layout) and reads the latest report.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.models.scenario import Scenario
    from harness.recording.audit import StaleEntries

__all__ = ["register"]

# Each backend has its own cassettes (`harness.backends.binding.scenario_cassette_path`); a
# result without a backend is the engine's (older reports).
_DEFAULT_BACKEND = "engine"


def _path(value: str | None) -> Path | None:
    return Path(os.path.abspath(value)) if value else None


class _Layout:
    """Where a project's cassettes, scenarios and reports are, and which cassettes are in use."""

    def __init__(self, args: argparse.Namespace) -> None:
        from harness.config import project_root_for

        self.paths = [Path(os.path.abspath(p)) for p in args.paths]
        self.root = project_root_for(self.paths or [Path.cwd()])
        self.cassettes = _path(args.cassettes) or self.root / "cassettes"
        self.scenarios_root = _path(args.scenarios_root) or self.root / "scenarios"
        self.reports = _path(args.report_dir) or self.root / "reports"
        self.scenarios: dict[str, Scenario] = {}
        self._expected: set[Path] = set()
        self._unloadable: list[Path] = []
        self.moved: dict[Path, Path] = {}

    def cassette_of(self, scenario: Scenario, backend: str = _DEFAULT_BACKEND) -> Path:
        from harness.backends.binding import scenario_cassette_path

        path = scenario_cassette_path(
            scenario,
            backend=backend,
            cassettes_root=self.cassettes,
            scenarios_root=self.scenarios_root,
        )
        return path.absolute()

    def _uses(self, scenario: Scenario) -> list[str]:
        """The backends with a cassette for `scenario`: the engine runs a workflow file; the API
        backend records only the harness's own LLM calls."""
        from harness.backends.binding import needs_harness_llm

        uses = [_DEFAULT_BACKEND] if scenario.workflow is not None else []
        return uses + (["api"] if needs_harness_llm(scenario) else [])

    def load_scenarios(self) -> list[str]:
        """Load every scenario under the scenarios root; the files that failed, for a note."""
        from harness.backends.binding import CASSETTE_BACKENDS, legacy_cassette_path
        from harness.recording import cassette_path_for
        from harness.scenarios import (
            ScenarioLoadError,
            discover_scenario_files,
            load_scenario_file,
        )

        if not self.scenarios_root.is_dir():
            return []
        failed: list[str] = []
        for file in discover_scenario_files([self.scenarios_root]):
            try:
                loaded = load_scenario_file(file, root=self.root)
            except ScenarioLoadError:
                # Its cassettes are kept: a broken file is not a removed scenario.
                failed.append(str(file))
                for folder in [self.cassettes, *(self.cassettes / b for b in CASSETTE_BACKENDS)]:
                    base = cassette_path_for(
                        file, scenarios_root=self.scenarios_root, cassettes_root=folder
                    )
                    self._unloadable.append(base.absolute())
                continue
            for scenario in loaded:
                self.scenarios[scenario.id or scenario.name] = scenario
                self._expected.update(self.cassette_of(scenario, b) for b in self._uses(scenario))
                if scenario.workflow is not None:
                    old = legacy_cassette_path(
                        scenario, cassettes_root=self.cassettes, scenarios_root=self.scenarios_root
                    )
                    self.moved[old.absolute()] = self.cassette_of(scenario)
        return failed

    def in_use(self, path: Path) -> bool:
        if path in self._expected:
            return True
        return any(_variant_of(path, base) for base in self._unloadable)

    def old_layout(self, cassettes: list[Path]) -> dict[Path, Path]:
        """The engine cassettes of the old layout among `cassettes` (outside every backend's
        folder), each with its place now."""
        from harness.backends.binding import CASSETTE_BACKENDS

        folders = [(self.cassettes / b).absolute() for b in CASSETTE_BACKENDS]
        return {
            path: self.moved[path]
            for path in cassettes
            if path in self.moved and not any(path.is_relative_to(f) for f in folders)
        }

    def stale(self) -> dict[Path, StaleEntries]:
        """The stale lists of the latest report, by cassette (of the backend that ran it)."""
        from harness.backends.binding import CASSETTE_BACKENDS
        from harness.recording.audit import StaleEntries
        from harness.results import read_results, resolve_latest
        from harness.results.files import JSONL_NAME, RESULTS_NAME

        folder = resolve_latest(self.reports)
        if folder is None:
            return {}
        source = folder / RESULTS_NAME
        if not source.is_file():
            source = folder / JSONL_NAME
        summary = read_results(folder)
        found: dict[Path, StaleEntries] = {}
        for result in summary.results:
            scenario = self.scenarios.get(result.scenario_id)
            backend = result.backend or _DEFAULT_BACKEND
            if not result.stale or scenario is None or backend not in CASSETTE_BACKENDS:
                continue
            found[self.cassette_of(scenario, backend)] = StaleEntries(
                tuple(result.stale), source, source.stat().st_mtime
            )
        return found


def _variant_of(path: Path, base: Path) -> bool:
    """True for `base` itself or one of its matrix combinations (`name[a=1].json`)."""
    if path.parent != base.parent:
        return False
    return path.stem == base.stem or path.stem.startswith(f"{base.stem}[")


def _cmd_check(args: argparse.Namespace) -> int:
    from harness.recording.audit import (
        audit_cassettes,
        find_cassette_files,
        format_problems,
        prune,
    )

    layout = _Layout(args)
    targets = layout.paths or [layout.cassettes]
    missing = [str(p) for p in targets if not p.exists()]
    if missing:
        raise HarnessError(
            f"no such cassette file or folder: {', '.join(missing)}",
            hint="give cassette files or folders (default: the project's cassettes/ folder)",
        )
    cassettes, temps = find_cassette_files(targets)
    failed = layout.load_scenarios()
    problems = audit_cassettes(
        cassettes,
        temps,
        in_use=layout.in_use,
        stale=layout.stale(),
        moved=layout.old_layout(cassettes),
    )
    _print_notes(failed)
    print(format_problems(problems, len(cassettes)))
    if not problems:
        return 0
    if not args.prune:
        print("remove them with: harness cassettes check --prune")
        return 1
    for line in prune(problems):
        print(line)
    print("record what is missing with: harness run <scenario files> --record-mode once")
    return 0


def _print_notes(failed: list[str]) -> None:
    if failed:
        shown = ", ".join(failed[:5]) + (" ..." if len(failed) > 5 else "")
        print(
            f"note: {len(failed)} scenario file(s) do not load, so their cassettes are kept: "
            f"{shown} (`harness validate` explains why)"
        )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `harness cassettes check` to the `harness` command."""
    cassettes = sub.add_parser("cassettes", help="check (and prune) the recorded cassettes")
    inner = cassettes.add_subparsers(dest="cassettes_command", metavar="COMMAND")
    check = inner.add_parser(
        "check",
        help="list orphaned, stale and old-format cassettes; --prune removes them",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    check.add_argument(
        "paths", nargs="*", help="cassette files or folders (default <root>/cassettes)"
    )
    check.add_argument("--prune", action="store_true", help="remove what is found (asks nothing)")
    check.add_argument("--cassettes", help="cassettes folder (default <root>/cassettes)")
    check.add_argument(
        "--scenarios-root", help="folder mirrored in the cassettes (default <root>/scenarios)"
    )
    check.add_argument(
        "--report-dir", metavar="DIR", help="reports with the last replay (default <root>/reports)"
    )
    check.set_defaults(handler=_cmd_check)
    cassettes.set_defaults(handler=_usage(cassettes))


def _usage(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def show(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show
