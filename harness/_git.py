"""`git status` of a checkout, started early and read when the batch's provenance is recorded.

`git status` reads the metadata of every tracked file: 1-3 ms in a small checkout, ~150 ms in one
of 70,000 files, and a batch records it before its first scenario. `harness run` starts it as
the command starts (`start_status`), before the imports, and the batch takes the answer
(`status_of`): git works on another core meanwhile. A folder nobody started a status for is asked
then. This module imports nothing heavy, so starting costs only the `fork` of git (~1 ms).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

__all__ = ["GIT_TIMEOUT_SECONDS", "discard_pending", "start_status", "status_of"]

GIT_TIMEOUT_SECONDS = 2.0
"""How long git may take, from its start; without an answer by then the git fields are None."""

_STATUS = ("git", "status", "--porcelain=v2", "--branch", "--untracked-files=no")
_ONE_THREAD = ("-c", "core.preloadIndex=false")
"""For a status started early: git's threads reading the files' metadata would compete with the
imports for the cores (in a checkout of 70,000 files the run took ~40 ms longer than asking git
afterwards); on one thread it overlaps them (~140 ms shorter)."""


class _Status:
    """One `git status` of `folder`, running from construction."""

    def __init__(self, folder: str, *, early: bool = False) -> None:
        self._deadline = time.monotonic() + GIT_TIMEOUT_SECONDS
        self._process: subprocess.Popen[str] | None
        command = (_STATUS[0], *_ONE_THREAD, *_STATUS[1:]) if early else _STATUS
        try:
            self._process = subprocess.Popen(
                command,
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        except OSError:  # no git, or no such folder
            self._process = None

    def output(self) -> str | None:
        """git's answer; None without git, outside a checkout, on an error or past the time."""
        process, self._process = self._process, None
        if process is None:
            return None
        try:
            out, _ = process.communicate(timeout=max(0.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return None
        return out if process.returncode == 0 else None

    def discard(self) -> None:
        """Stop git if it still runs, and reap it."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.communicate()


_pending: dict[str, _Status] = {}
# A forked process (a worker) records no batch, and its parent's git is the parent's to reap.
os.register_at_fork(after_in_child=_pending.clear)


def start_status(folder: str | Path) -> None:
    """Start `git status` of `folder` now, for a later `status_of(folder)`."""
    key = os.path.abspath(folder)
    if key not in _pending:
        _pending[key] = _Status(key, early=True)


def status_of(folder: str | Path) -> str | None:
    """`git status --porcelain=v2 --branch --untracked-files=no` of `folder`: the one
    `start_status` started for that same folder if any (taken: a second call asks git again),
    else asked now. None without git, outside a checkout, on an error or past
    `GIT_TIMEOUT_SECONDS`."""
    key = os.path.abspath(folder)
    status = _pending.pop(key, None) or _Status(key)
    return status.output()


def discard_pending() -> None:
    """Stop and reap the statuses nobody took (a command that ended before its batch)."""
    while _pending:
        _pending.popitem()[1].discard()
