"""A workflow registry over a mapping: resolves hydrated workflows by id."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping

from harness.models.api import WorkflowConfigFullyHydrated

__all__ = ["MappingWorkflowRegistry", "workflow_id_of"]


class MappingWorkflowRegistry:
    """Workflows by id, e.g. the evaluator workflows a suite declares."""

    def __init__(self, workflows: Mapping[str, WorkflowConfigFullyHydrated] | None = None) -> None:
        self._workflows: dict[str, WorkflowConfigFullyHydrated] = dict(workflows or {})

    def add(self, workflow_id: str, workflow: WorkflowConfigFullyHydrated) -> None:
        """Register (or replace) a workflow."""
        self._workflows[workflow_id] = workflow

    def get(self, workflow_id: str) -> WorkflowConfigFullyHydrated | None:
        """The workflow, or None."""
        return self._workflows.get(workflow_id)


def workflow_id_of(workflow: WorkflowConfigFullyHydrated) -> str:
    """The 24-hex id a workflow answers to when nobody gave it one.

    SHA-256 of its logical id (else its name), so the id survives edits of prompts and nodes: an
    `evaluation_config.evaluator_workflow_id` written once keeps pointing at the same evaluator on
    the engine backend, in `harness serve --workflows` and in every run's `workflow_id`.
    """
    return _hashed_id(workflow.settings.logical_id or workflow.settings.name or "workflow")


@functools.lru_cache(maxsize=256)
def _hashed_id(basis: str) -> str:
    # Every new run asks for it: hashed once per workflow.
    return hashlib.sha256(basis.encode()).hexdigest()[:24]
