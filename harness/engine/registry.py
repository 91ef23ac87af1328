"""A workflow registry over a mapping: resolves hydrated workflows by id."""

from __future__ import annotations

from collections.abc import Mapping

from harness.models.api import WorkflowConfigFullyHydrated

__all__ = ["MappingWorkflowRegistry"]


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
