"""harness: test and evaluate runs of conversational LLM workflows."""

import typing

from harness.errors import HarnessError

if typing.TYPE_CHECKING:
    from harness.models.api import WorkflowConfigFullyHydrated, WorkflowRun, WorkflowRunInput

__all__ = ["HarnessError", "WorkflowConfigFullyHydrated", "WorkflowRun", "WorkflowRunInput"]
__version__ = "0.1.0"

_LAZY = frozenset({"WorkflowConfigFullyHydrated", "WorkflowRun", "WorkflowRunInput"})


def __getattr__(name: str) -> typing.Any:
    # The platform models cost ~0.25 s to import (pydantic builds every schema); importing the
    # package must stay cheap, since the pytest plugin (harness.pytest_plugin) is loaded by every
    # pytest run of an environment that has harness installed.
    if name in _LAZY:
        from harness.models import api

        value = getattr(api, name)
        globals()[name] = value  # looked up once
        return value
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
