"""One error tree for the harness.

Every message answers three questions: what went wrong, where (file, scenario, turn, node, URL),
and how to fix it (the next command to run or the setting to change).
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "CassetteMissError",
    "ConfigError",
    "EngineError",
    "GraphValidationError",
    "HarnessError",
    "RunConflictError",
    "ScenarioError",
    "ToolError",
]


class HarnessError(Exception):
    """Base of every error the harness raises on purpose.

    Attributes:
        hint: how to fix it, shown on its own line after the message.
    """

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n  hint: {hint}")


class ConfigError(HarnessError):
    """A setting in pyproject.toml, harness.toml or the environment is missing or wrong."""


class ScenarioError(HarnessError):
    """A scenario file cannot be loaded (YAML syntax, unknown key, wrong type)."""


class EngineError(HarnessError):
    """The built-in engine cannot execute the request."""


class GraphValidationError(EngineError):
    """A workflow graph has problems; `problems` lists all of them, each naming a node or edge."""

    def __init__(self, problems: list[str], *, workflow: str = "workflow") -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{workflow} has {len(problems)} graph problem(s):\n{lines}",
            hint="fix the node and edge configs listed above",
        )


class RunConflictError(EngineError):
    """A command was sent to a run that cannot take it (e.g. a terminal run); HTTP 409."""


class ToolError(HarnessError):
    """A tool failed, timed out or was killed; becomes a tool error for the LLM, never a crash."""


class CassetteMissError(HarnessError):
    """In replay, a request has no recorded response."""


class ApiError(HarnessError):
    """The platform API answered with an error, or could not be reached.

    Attributes:
        status_code: the HTTP status, or None when no response arrived.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, hint: str | None = None
    ) -> None:
        self.status_code = status_code
        super().__init__(message, hint=hint)
