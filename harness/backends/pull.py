"""`harness pull`: a workflow's fully hydrated config from the platform API into a workflow file.

The file holds the config exactly as the platform sent it (`GET /v1/workflows/{id}?fully_hydrate=
true[&version=N]`, unwrapped from its envelope, keys and nulls kept), as pretty JSON: what the
engine backend runs as is and `harness serve --workflows DIR` serves. Choices:

- The default file is `<WORKFLOW_ID>.json` in the working folder: `harness serve` keeps a 24-hex file
  name as the workflow's id, so a pulled file is served under the platform's id.
- An existing file is never overwritten without `force` (a pulled file is often edited by hand
  afterwards); the write is atomic (a temporary file in the same folder, then a rename), so an
  interrupted pull never leaves half a file.
- Node types the engine does not run are not an error: the file is a faithful export; the problems
  the engine would refuse it for are returned so the command can say so.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.backends.api import PlatformClient
from harness.config import HarnessSettings
from harness.errors import HarnessError
from harness.models.api import WorkflowConfigFullyHydrated

__all__ = ["STDOUT", "PulledWorkflow", "default_pull_path", "pull_workflow", "write_new_file"]

STDOUT = "-"
"""`output` value that prints the config instead of writing a file."""


@dataclass(frozen=True)
class PulledWorkflow:
    """What `pull_workflow` fetched and where it went.

    Attributes:
        workflow_id: the platform's id of the workflow.
        version: the version asked for (None: the active one).
        name: the workflow's name, if it has one.
        nodes: how many node configs it has.
        edges: how many edge configs it has.
        text: the file's content (pretty JSON, ending in a newline).
        path: the file written, or None when printed to stdout.
        engine_problems: why the built-in engine would refuse it (empty: it runs).
    """

    workflow_id: str
    version: int | None
    name: str | None
    nodes: int
    edges: int
    text: str
    path: Path | None
    engine_problems: list[str] = field(default_factory=list)


def default_pull_path(workflow_id: str) -> Path:
    """`<WORKFLOW_ID>.json`: `harness serve --workflows DIR` serves it under the same id."""
    return Path(f"{workflow_id}.json")


def pull_workflow(
    workflow_id: str,
    *,
    version: int | None = None,
    output: str | Path | None = None,
    force: bool = False,
    settings: HarnessSettings | None = None,
) -> PulledWorkflow:
    """Fetch a workflow's hydrated config and write it as a workflow file.

    Args:
        workflow_id: the platform's id of the workflow (24 lowercase hex characters).
        version: the version to fetch; None = the active one.
        output: the file to write; `-` = only return the text (the caller prints it); None =
            `default_pull_path(workflow_id)`.
        force: overwrite an existing file.
        settings: API URL, key and team (`load_settings()` when omitted).

    Raises:
        ConfigError: no or a bad API URL is configured.
        ApiError: the platform refused or could not be reached (401, 404, network, bad envelope).
        HarnessError: the file exists (without `force`) or cannot be written.
    """
    target = None if output == STDOUT else Path(output or default_pull_path(workflow_id))
    if target is not None and not force:
        _refuse_existing(target)  # before the network call: fail fast on the common mistake
    raw, config = asyncio.run(_fetch(workflow_id, version, settings))
    text = json.dumps(raw, indent=2, ensure_ascii=False) + "\n"
    if target is not None:
        write_new_file(target, text, force=force)
    return PulledWorkflow(
        workflow_id=workflow_id,
        version=version,
        name=config.workflow_config.name if config.workflow_config else None,
        nodes=len(config.node_configs),
        edges=len(config.edge_configs),
        text=text,
        path=target,
        engine_problems=_engine_problems(config),
    )


async def _fetch(
    workflow_id: str, version: int | None, settings: HarnessSettings | None
) -> tuple[dict[str, Any], WorkflowConfigFullyHydrated]:
    async with PlatformClient(settings) as client:
        raw = await client.get_workflow_json(workflow_id, version=version)
    return raw, WorkflowConfigFullyHydrated.model_validate(raw)


def _engine_problems(config: WorkflowConfigFullyHydrated) -> list[str]:
    from harness.engine.graph import validate_graph

    return validate_graph(config)


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise HarnessError(
            f"{path} already exists; not overwriting it",
            hint="pass --force to replace it, or -o to write another file (-o - prints it)",
        )


def write_new_file(path: Path, text: str, *, force: bool) -> None:
    """Write `text` to `path` atomically; without `force`, never replace an existing file.

    Raises:
        HarnessError: the file exists (without `force`), or the folder cannot be written.
    """
    folder = path.parent if str(path.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        _publish(Path(temporary), path, force=force)
    except OSError as exc:
        raise _write_error(path, exc) from None
    finally:
        Path(temporary).unlink(missing_ok=True)


def _publish(temporary: Path, path: Path, *, force: bool) -> None:
    if force:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # fails if `path` exists: no check-then-write race
    except FileExistsError:
        _refuse_existing(path)
    except OSError:  # a filesystem without hard links
        _refuse_existing(path)
        os.replace(temporary, path)


def _write_error(path: Path, exc: OSError) -> HarnessError:
    reason = exc.strerror or str(exc)
    return HarnessError(
        f"cannot write {path}: {reason}",
        hint="check that its folder exists and is writable, or choose another file with -o",
    )
