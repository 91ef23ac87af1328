"""Where a batch comes from: git commit, branch and dirty flag, host, versions, command line.

Git is asked through the `git` program (2 s per call, no shell); outside a checkout, without git,
or when it hangs, the git fields are None: provenance never fails a batch.
"""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.models.result import BatchInfo

__all__ = ["GIT_TIMEOUT_SECONDS", "batch_info", "git_state"]

GIT_TIMEOUT_SECONDS = 2.0


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # no git, no folder, or too slow
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(folder: Path) -> dict[str, Any]:
    """`git_commit`, `git_branch` and `git_dirty` of the checkout holding `folder` (None each
    when it is not one). Dirty means uncommitted changes to tracked files (new untracked files,
    such as reports, do not count)."""
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_branch": None, "git_dirty": None}
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": commit,
        "git_branch": branch,
        "git_dirty": None if status is None else bool(status),
    }


def _harness_version() -> str:
    from harness import __version__

    return __version__


def batch_info(**fields: Any) -> BatchInfo:
    """A `BatchInfo` with every field given, and the rest collected here.

    Collected when not given: `batch_id` (new), `started_at` (now), git state of `project_root`
    (else the working folder), `harness_version`, `host`, `python`, `argv` (this process's).
    Give `backend`, `record_mode`, `selection` and `project_root`; `models` and `finished_at`
    are filled when the batch ends.
    """
    root = fields.get("project_root")
    folder = Path(root) if root else Path.cwd()
    collected: dict[str, Any] = {
        "started_at": datetime.now(UTC),
        "harness_version": _harness_version(),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "argv": [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else [],
    }
    if not {"git_commit", "git_branch", "git_dirty"} & fields.keys():
        collected.update(git_state(folder))
    if root is not None:
        fields["project_root"] = str(root)
    return BatchInfo.model_validate({**collected, **fields})
