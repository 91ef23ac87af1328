"""Where a project's root is: found upward from the scenario paths by its settings file.

Apart from `harness.config` (which re-exports it) so that a command can know its project root
before it imports the models: `harness run` starts the root's `git status` first (`harness._git`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

__all__ = ["find_config_file", "find_project_root", "project_root_for"]


def find_config_file(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """The settings of the nearest folder, from `start` upward, that has any.

    In that folder `[tool.harness]` of pyproject.toml is read first and `harness.toml` is layered
    over it key by key. The path returned is the file that won (harness.toml when present).
    """
    for folder in [start, *start.parents]:
        data: dict[str, Any] = {}
        found: Path | None = None
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            table = _read_toml(pyproject).get("tool", {}).get("harness")
            if isinstance(table, dict):
                data, found = dict(table), pyproject
        candidate = folder / "harness.toml"
        if candidate.is_file():
            data.update(_read_toml(candidate))
            found = candidate
        if found is not None:
            return found, data
    return None


def find_project_root(start: Path) -> Path | None:
    """The project root: the nearest folder from `start` upward whose settings file exists
    (`harness.toml`, or a pyproject.toml with `[tool.harness]`); None when there is none.

    A file's search starts in its folder. Scenario ids, cassettes and reports are relative to
    the root, so they do not depend on the folder `harness` was started from.
    """
    start = Path(os.path.abspath(start))
    found = find_config_file(start.parent if start.is_file() else start)
    return found[0].parent if found is not None else None


def project_root_for(paths: Sequence[str | Path], *, cwd: Path | None = None) -> Path:
    """The project root of some scenario paths, found upward from the paths (not from the
    working folder); the working folder when no path is inside a project.

    Raises:
        ConfigError: the paths belong to different projects.
    """
    base = Path(os.path.abspath(cwd or Path.cwd()))
    roots: dict[Path, str] = {}
    for path in paths:
        root = find_project_root(base / path)
        if root is not None:
            roots.setdefault(root, str(path))
    if len(roots) > 1:
        named = "; ".join(f"{path} is in {root}" for root, path in roots.items())
        raise ConfigError(
            f"the scenario paths belong to different projects: {named}",
            hint="run each project's scenarios with its own `harness run`",
        )
    return next(iter(roots), base)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}", hint="fix the TOML syntax") from exc
