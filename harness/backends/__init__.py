"""Backends the runner drives: the platform's API (`ApiBackend`) and the built-in engine.

Each declares what it can do as data (`Backend.capabilities`, a set of `Capability`).

The API backend's modules (its client, retries, `harness pull`) are imported on first use of
their names: a run on the built-in engine imports `harness.backends.base` and never needs them.
"""

import importlib
import typing

from harness.backends.base import Backend, Capability, RunTarget

if typing.TYPE_CHECKING:
    from harness.backends.api import ApiBackend, PlatformClient
    from harness.backends.api_errors import ExecuteOutcomeUnknownError
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

_LAZY = {
    "ApiBackend": "harness.backends.api",
    "PlatformClient": "harness.backends.api",
    "ExecuteOutcomeUnknownError": "harness.backends.api_errors",
    "PulledWorkflow": "harness.backends.pull",
    "pull_workflow": "harness.backends.pull",
    "RetryPolicy": "harness.backends.retry",
}


def __getattr__(name: str) -> typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.backends' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value
