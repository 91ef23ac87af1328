"""Backends the runner drives: the platform's API (`ApiBackend`) and the built-in engine.

Each declares what it can do as data (`Backend.capabilities`, a set of `Capability`).
"""

from harness.backends.api import ApiBackend, PlatformClient
from harness.backends.api_errors import ExecuteOutcomeUnknownError
from harness.backends.base import Backend, Capability, RunTarget
from harness.backends.pull import PulledWorkflow, pull_workflow
from harness.backends.retry import RetryPolicy

__all__ = [
    "ApiBackend",
    "Backend",
    "Capability",
    "ExecuteOutcomeUnknownError",
    "PlatformClient",
    "PulledWorkflow",
    "RetryPolicy",
    "RunTarget",
    "pull_workflow",
]
