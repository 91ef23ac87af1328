"""Where a batch comes from: git commit, branch and dirty flag, host, versions, command line.

Git is asked through the `git` program (`harness._git`: 2 s at most, no shell); outside a checkout,
without git, or when it hangs, the git fields are None: provenance never fails a batch.
"""

from __future__ import annotations

import platform
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness._git import GIT_TIMEOUT_SECONDS, status_of
from harness.models.result import BatchInfo

__all__ = ["GIT_TIMEOUT_SECONDS", "batch_info", "git_state"]


def git_state(folder: Path) -> dict[str, Any]:
    """`git_commit`, `git_branch` and `git_dirty` of the checkout holding `folder` (None each
    when it is not one, or has no commit yet). The branch is `HEAD` when detached. Dirty means
    uncommitted changes to tracked files (new untracked files, such as reports, do not count)."""
    # One `git status` answers all three (its `# branch.*` headers); `harness run` started it
    # for its project root with the command (`harness._git`).
    status = status_of(folder)
    lines = (status or "").splitlines()
    headers = dict(line[2:].partition(" ")[::2] for line in lines if line.startswith("# "))
    commit = headers.get("branch.oid")
    if commit is None or commit == "(initial)":
        return {"git_commit": None, "git_branch": None, "git_dirty": None}
    branch = headers.get("branch.head")
    return {
        "git_commit": commit,
        "git_branch": "HEAD" if branch == "(detached)" else branch,
        "git_dirty": any(not line.startswith("# ") for line in lines),
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
