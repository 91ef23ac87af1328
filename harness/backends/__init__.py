"""Backends the runner drives: the platform's API (`ApiBackend`) and, later, the built-in engine."""

from harness.backends.api import ApiBackend, PlatformClient
from harness.backends.api_errors import ExecuteOutcomeUnknownError
from harness.backends.base import Backend, RunTarget
from harness.backends.pull import PulledWorkflow, pull_workflow
from harness.backends.retry import RetryPolicy

__all__ = [
    "ApiBackend",
    "Backend",
    "ExecuteOutcomeUnknownError",
    "PlatformClient",
    "PulledWorkflow",
    "RetryPolicy",
    "RunTarget",
    "pull_workflow",
]
