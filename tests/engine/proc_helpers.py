"""What `/proc` says about processes, for the sandbox tests (Linux)."""

from __future__ import annotations

import os

__all__ = ["descendants", "parent_pid", "running"]


def _stat_fields(pid: int) -> list[str]:
    """The fields of `/proc/<pid>/stat` after the command name (state, parent pid, ...)."""
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()


def parent_pid(pid: int) -> int | None:
    """The parent of `pid`, or None once it is gone."""
    try:
        return int(_stat_fields(pid)[1])
    except (OSError, ValueError, IndexError):
        return None


def running(pid: int) -> bool:
    """Whether `pid` runs (a zombie or a dead process does not)."""
    try:
        return _stat_fields(pid)[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def descendants(root: int) -> set[int]:
    """Every process below `root`, at any depth."""
    parents = {int(name): parent_pid(int(name)) for name in os.listdir("/proc") if name.isdigit()}
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found
