"""The `Backend` seam: what the runner drives, whether the platform's API or the built-in engine.

The runner never knows which backend it drives: it hands over a `RunTarget` (which workflow) and a
`WorkflowRunInput` (one turn) and gets the whole `WorkflowRun` back. What differs between backends
is declared as data (`Backend.capabilities`), never found out by asking for a backend's name.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.models.api import WorkflowConfigFullyHydrated, WorkflowRun, WorkflowRunInput

__all__ = ["Backend", "Capability", "RunTarget"]


class Capability(StrEnum):
    """Something a backend can do that another cannot; the runner asks for these, not for names."""

    TOOL_MOCKS = "tool_mocks"
    """Applies a scenario's tool `mocks` (the run's tools are replaced in-process)."""
    EVALUATION_POLLING = "evaluation_polling"
    """The workflow's own evaluator may finish after the turn answered: poll `get_run` for it."""


class RunTarget(BaseModel):
    """Which workflow a run executes: a stored one by id (API) and/or a hydrated config (engine).

    The API backend needs `workflow_id`, or a `workflow` it can import first; the engine backend
    needs `workflow`.
    """

    model_config = ConfigDict(extra="forbid")

    workflow_id: str | None = Field(default=None, description="DB id of the stored workflow.")
    version: int | None = Field(default=None, ge=0, description="Version; None = active one.")
    workflow: WorkflowConfigFullyHydrated | None = Field(
        default=None, description="The hydrated config, for backends that execute it themselves."
    )
    name: str = Field(default="workflow", description="A label for messages and reports.")

    @model_validator(mode="after")
    def _names_a_workflow(self) -> RunTarget:
        if self.workflow_id is None and self.workflow is None:
            raise ValueError(f"run target {self.name!r} needs a workflow_id or a workflow config")
        return self

    @property
    def label(self) -> str:
        """`name (workflow_id)` when both are known, for messages."""
        return f"{self.name} ({self.workflow_id})" if self.workflow_id else self.name


@runtime_checkable
class Backend(Protocol):
    """Executes turns of workflow runs. Implementations: `ApiBackend`, the engine backend."""

    capabilities: ClassVar[frozenset[Capability]]
    """What this backend can do beyond executing turns and reading runs."""

    async def execute(self, target: RunTarget, run_input: WorkflowRunInput) -> WorkflowRun:
        """Run one turn (start, data, pause, resume or stop) and return the whole run after it."""
        ...

    async def get_run(self, run_id: str) -> WorkflowRun:
        """The stored run with this id."""
        ...

    async def aclose(self) -> None:
        """Release connections and other resources; the backend is unusable afterwards."""
        ...
