"""Find (and prune) cassettes that no longer earn their place: `harness cassettes check`.

A cassette is reported when

- **orphaned**: no scenario uses it any more (its file was removed or renamed, a matrix
  combination is gone);
- **stale**: the last replay of its scenario never used some of its interactions (the runner
  reports them per scenario in `results.json`, `stale`);
- **old format**: it was written by vcrpy or by an older harness (no or an older
  `metadata.harness.format`);
- **unreadable**: it cannot be parsed (reported only: restore it from git, or re-record);
- **temp file**: a `.NAME.*.tmp` file that a kill during a write left behind;
- **old layout**: an engine cassette where it lived before cassettes were kept apart by backend
  (`cassettes/<scenario path>.json`, now `cassettes/engine/<scenario path>.json`).

This module knows files, not scenarios: the caller (the CLI) says which cassettes the scenarios
use and what the last report found stale, so the audit follows whatever layout the runner uses.
`prune` removes orphans, old-format cassettes and temp files, moves old-layout cassettes to their
place, and rewrites a stale cassette without its unused interactions; it never touches an
unreadable one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from harness.recording.cassette import (
    HARNESS_CASSETTE_FORMAT,
    CassetteFormatError,
    Interaction,
    is_temp_file,
    load_cassette,
    read_metadata,
    save_cassette,
)
from harness.recording.misses import display_path
from harness.recording.transport import is_recordable_status

__all__ = [
    "CASSETTE_SUFFIXES",
    "CassetteProblem",
    "ProblemKind",
    "StaleEntries",
    "audit_cassettes",
    "find_cassette_files",
    "format_problems",
    "prune",
]

CASSETTE_SUFFIXES = (".json", ".yaml", ".yml")
_STALE_ENTRY = re.compile(r"^#(\d+) (\S+) (\S+)")


class ProblemKind(StrEnum):
    """Why a cassette (or a file beside them) is reported."""

    ORPHANED = "orphaned"
    STALE = "stale"
    OLD_FORMAT = "old format"
    UNREADABLE = "unreadable"
    TEMP_FILE = "temp file"
    OLD_LAYOUT = "old layout"


@dataclass(frozen=True)
class StaleEntries:
    """What the last report said about one cassette: the interactions its replay never used.

    Attributes:
        entries: the report's lines, `#POSITION METHOD URI  summary` (`ScenarioResult.stale`).
        report: the results file they come from.
        reported_at: when that file was written (a cassette changed since is not pruned).
    """

    entries: tuple[str, ...]
    report: Path
    reported_at: float


@dataclass(frozen=True)
class CassetteProblem:
    """One finding of the audit.

    Attributes:
        kind: what is wrong.
        path: the cassette (or temp file).
        detail: the explanation shown to the user.
        positions: for `stale`, the unused interactions' positions that can be pruned.
        target: for `old layout`, where the cassette belongs now.
    """

    kind: ProblemKind
    path: Path
    detail: str
    positions: tuple[int, ...] = ()
    target: Path | None = None

    def __str__(self) -> str:
        return f"{self.kind.value:<11} {display_path(self.path)}: {self.detail}"


def find_cassette_files(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """The cassettes under `paths` (files as given, folders searched), and leftover temp files.

    Hidden files other than temp files (e.g. `.gitkeep`) are ignored.
    """
    cassettes: set[Path] = set()
    temps: set[Path] = set()
    for path in paths:
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in candidates:
            if is_temp_file(file):
                temps.add(file.absolute())
            elif not file.name.startswith(".") and file.suffix in CASSETTE_SUFFIXES:
                cassettes.add(file.absolute())
    return sorted(cassettes), sorted(temps)


def audit_cassettes(
    cassettes: Sequence[Path],
    temp_files: Sequence[Path] = (),
    *,
    in_use: Callable[[Path], bool],
    stale: Mapping[Path, StaleEntries] | None = None,
    moved: Mapping[Path, Path] | None = None,
) -> list[CassetteProblem]:
    """Every problem of `cassettes` (and the `temp_files` found beside them).

    Args:
        in_use: True when some scenario uses the cassette at this (absolute) path; a cassette
            whose scenario could not be loaded should count as in use (it is not an orphan).
        stale: per cassette (absolute path), what the last report found unused.
        moved: cassettes of an old layout (absolute path), each with where it belongs now.
    """
    stale = stale or {}
    moved = moved or {}
    problems: list[CassetteProblem] = []
    for path in cassettes:
        if path in moved:
            problems.append(_old_layout(path, moved[path]))
            continue
        metadata, error = _metadata(path)
        if not in_use(path):
            detail = _orphan_detail(path, metadata)
            problems.append(CassetteProblem(ProblemKind.ORPHANED, path, detail))
            continue
        if error is not None:
            problems.append(CassetteProblem(ProblemKind.UNREADABLE, path, error))
            continue
        old = _old_format(path, metadata)
        if old is not None:
            problems.append(CassetteProblem(ProblemKind.OLD_FORMAT, path, old))
            continue
        if path in stale:
            problem = _stale_problem(path, stale[path])
            if problem is not None:
                problems.append(problem)
    problems += [
        CassetteProblem(ProblemKind.TEMP_FILE, temp, "left by a write that was killed midway")
        for temp in temp_files
    ]
    return problems


def _old_layout(path: Path, target: Path) -> CassetteProblem:
    if target.exists():
        detail = f"an old-layout copy of {display_path(target)}, which runs use instead"
    else:
        detail = f"in the old layout: runs look for it at {display_path(target)}"
    return CassetteProblem(ProblemKind.OLD_LAYOUT, path, detail, target=target)


def _metadata(path: Path) -> tuple[dict[str, object], str | None]:
    try:
        return read_metadata(path), None
    except CassetteFormatError as exc:
        return {}, str(exc).splitlines()[0]


def _orphan_detail(path: Path, metadata: Mapping[str, object]) -> str:
    scenario = metadata.get("scenario")  # relative to the cassette's folder
    if isinstance(scenario, str) and scenario:
        where = Path(os.path.normpath(path.parent / scenario))
        return f"no scenario uses it (recorded for {display_path(where)})"
    return "no scenario uses it"


def _old_format(path: Path, metadata: Mapping[str, object]) -> str | None:
    found = metadata.get("format")
    if not isinstance(found, int):
        return (
            "written by vcrpy or another tool (no harness format); "
            f"this harness writes format {HARNESS_CASSETTE_FORMAT}"
        )
    if found < HARNESS_CASSETTE_FORMAT:
        return f"cassette format {found}; this harness writes format {HARNESS_CASSETTE_FORMAT}"
    return None


def _stale_problem(path: Path, report: StaleEntries) -> CassetteProblem | None:
    if not report.entries:
        return None
    source = display_path(report.report)
    if path.stat().st_mtime > report.reported_at:
        detail = (
            f"{len(report.entries)} interaction(s) unused in {source}, but the cassette changed "
            "since: replay the suite again before pruning"
        )
        return CassetteProblem(ProblemKind.STALE, path, detail)
    positions = _checked_positions(path, report.entries)
    detail = f"{len(report.entries)} interaction(s) never used by the last replay ({source}): "
    detail += "; ".join(report.entries[:3]) + (" ..." if len(report.entries) > 3 else "")
    return CassetteProblem(ProblemKind.STALE, path, detail, positions)


def _checked_positions(path: Path, entries: Sequence[str]) -> tuple[int, ...]:
    """The positions the report names, kept only where the cassette still has that request."""
    interactions = _replayable(path)
    positions: list[int] = []
    for entry in entries:
        match = _STALE_ENTRY.match(entry)
        if match is None:
            continue
        position, method, uri = int(match[1]), match[2], match[3]
        if position < len(interactions):
            found = interactions[position]
            if (found.method, found.uri) == (method, uri):
                positions.append(position)
    return tuple(positions)


def _replayable(path: Path) -> list[Interaction]:
    # Positions in a stale report count the interactions replay serves (429/5xx left out).
    return [i for i in load_cassette(path) or [] if is_recordable_status(i.status)]


def prune(problems: Iterable[CassetteProblem]) -> list[str]:
    """Remove what `problems` found; one line per action taken (or skipped, and why).

    Orphans, old-format cassettes and temp files are deleted; an old-layout cassette is moved to
    its place (deleted when a cassette is already there); a stale cassette is rewritten without
    the unused interactions (deleted when none is left). Unreadable cassettes, and stale ones
    changed since their report, are left alone.
    """
    done: list[str] = []
    for problem in problems:
        shown = display_path(problem.path)
        if problem.kind is ProblemKind.STALE:
            done.append(_prune_stale(problem))
        elif problem.kind is ProblemKind.OLD_LAYOUT and problem.target is not None:
            done.append(_move(problem.path, problem.target))
        elif problem.kind is ProblemKind.UNREADABLE:
            done.append(f"kept {shown}: unreadable (restore it from git, or re-record it)")
        else:
            problem.path.unlink(missing_ok=True)
            done.append(f"removed {shown} ({problem.kind.value})")
    return done


def _move(path: Path, target: Path) -> str:
    if target.exists():
        path.unlink(missing_ok=True)
        return f"removed {display_path(path)} (old layout; {display_path(target)} is used)"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    return f"moved {display_path(path)} to {display_path(target)}"


def _prune_stale(problem: CassetteProblem) -> str:
    shown = display_path(problem.path)
    if not problem.positions:
        return f"kept {shown}: its stale report does not match the file any more"
    interactions = _replayable(problem.path)
    drop = set(problem.positions)
    kept = [i for position, i in enumerate(interactions) if position not in drop]
    if not kept:
        problem.path.unlink(missing_ok=True)
        return f"removed {shown} (stale: none of its interactions was used)"
    metadata = {k: v for k, v in read_metadata(problem.path).items() if k != "format"}
    save_cassette(problem.path, kept, metadata=metadata)
    return f"removed {len(drop)} stale interaction(s) from {shown}"


def format_problems(problems: Collection[CassetteProblem], checked: int) -> str:
    """The audit's report: one line per problem, or that all is well."""
    if not problems:
        return f"{checked} cassette(s) checked: nothing to prune"
    lines = [f"{checked} cassette(s) checked: {len(problems)} problem(s)"]
    lines += [f"  {problem}" for problem in problems]
    return "\n".join(lines)
