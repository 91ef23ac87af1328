"""The workflows `harness serve` knows: imported over the API or preloaded from a folder.

Ids *(chosen)*: an imported config gets 24 hex characters of the SHA-256 of its canonical JSON, so
importing the same config twice gives the same id (imports are idempotent). A preloaded file keeps
its name as the id when the name is 24 lowercase hex characters (`65a1b2c3d4e5f60718293a4b.json`);
otherwise the id is derived from the file name (stable when the file's content changes). Every
workflow has one version, 0; `?version=N` for another version is a 404.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from harness.engine.registry import workflow_id_of
from harness.errors import ConfigError
from harness.models.api import OBJECT_ID_PATTERN, WorkflowConfigFullyHydrated

__all__ = ["WORKFLOW_SUFFIXES", "WorkflowCatalog", "derived_workflow_id", "load_workflow_file"]

WORKFLOW_SUFFIXES = (".json", ".yaml", ".yml")
"""File suffixes `--workflows DIR` loads."""
_OBJECT_ID = re.compile(OBJECT_ID_PATTERN)


def derived_workflow_id(basis: str) -> str:
    """24 hex characters derived from `basis` (a canonical config, or a file name)."""
    return hashlib.sha256(basis.encode()).hexdigest()[:24]


def _content_id(workflow: WorkflowConfigFullyHydrated) -> str:
    canonical = json.dumps(workflow.model_dump(mode="json", by_alias=True), sort_keys=True)
    return derived_workflow_id(canonical)


def load_workflow_file(path: Path) -> WorkflowConfigFullyHydrated:
    """A hydrated workflow config from a JSON or YAML file (the scenario loader's reader).

    Raises:
        ConfigError: the file cannot be read, parsed or validated (file:line:col and the key).
    """
    from harness.scenarios import ScenarioLoadError
    from harness.scenarios import load_workflow_file as read_workflow_file

    try:
        return read_workflow_file(path)
    except ScenarioLoadError as exc:
        raise ConfigError(
            f"--workflows: {exc.message}",
            hint="each file must be a fully hydrated workflow config "
            "(GET /v1/workflows/{id}?fully_hydrate=true)",
        ) from exc


class WorkflowCatalog:
    """Workflows by id; also the engine's `WorkflowRegistry` (evaluator workflows resolve here)."""

    def __init__(self) -> None:
        self._workflows: dict[str, WorkflowConfigFullyHydrated] = {}

    def __len__(self) -> int:
        return len(self._workflows)

    def add(self, workflow: WorkflowConfigFullyHydrated, workflow_id: str | None = None) -> str:
        """Store a workflow (under `workflow_id`, else its content id); returns the id."""
        workflow_id = workflow_id or _content_id(workflow)
        existing = self._workflows.get(workflow_id)
        # Keep the stored object when the content is the same: the engine caches plans per object.
        if existing is None or existing != workflow:
            self._workflows[workflow_id] = workflow
        return workflow_id

    def get(self, workflow_id: str) -> WorkflowConfigFullyHydrated | None:
        """The workflow's latest (only) version, or None."""
        return self._workflows.get(workflow_id)

    def version(self, workflow_id: str, version: int | None) -> WorkflowConfigFullyHydrated | None:
        """The workflow at `version` (None = the latest), or None when unknown."""
        if version not in (None, 0):
            return None
        return self._workflows.get(workflow_id)

    def load_dir(self, folder: str | Path) -> list[str]:
        """Load every `*.json`/`*.yaml`/`*.yml` file of `folder` (sorted); returns their ids.

        Raises:
            ConfigError: the folder is missing, or a file is not a hydrated workflow config.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise ConfigError(
                f"--workflows {folder}: not a folder",
                hint="point --workflows at a folder of hydrated workflow configs (JSON/YAML)",
            )
        ids = []
        for path in sorted(folder.iterdir()):
            if path.suffix in WORKFLOW_SUFFIXES and path.is_file():
                workflow = load_workflow_file(path)
                # A 24-hex file name is the id; otherwise the same id the engine backend gives it,
                # so evaluator references resolve alike in-process and behind `harness serve`.
                stem = path.stem
                workflow_id = stem if _OBJECT_ID.match(stem) else workflow_id_of(workflow)
                ids.append(self.add(workflow, workflow_id))
        return ids
