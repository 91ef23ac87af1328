"""harness: test and evaluate runs of conversational LLM workflows."""

from harness.errors import HarnessError
from harness.models.api import WorkflowConfigFullyHydrated, WorkflowRun, WorkflowRunInput

__all__ = ["HarnessError", "WorkflowConfigFullyHydrated", "WorkflowRun", "WorkflowRunInput"]
__version__ = "0.1.0"
