"""Which LLM a node uses: its own `llms_config` fields over the workflow's.

A node with no `llms_config` uses the workflow's. A node's `llms_config` overrides the workflow's
field by field, for the fields it sets (`model`, `provider`, `temperature`, `max_tokens`,
`streaming`; `model_kwargs` are merged, the node's winning). `type: global_default_llm` with no
field set therefore means "the workflow's LLM", as on the platform.
"""

from __future__ import annotations

from typing import Any

from harness.models.api import LLMConfig, NodeConfig, WorkflowConfigFullyHydrated

__all__ = ["effective_llm", "request_options"]

_OVERRIDABLE = ("provider", "model", "temperature", "max_tokens", "streaming")


def effective_llm(workflow: WorkflowConfigFullyHydrated, node: NodeConfig | None) -> LLMConfig:
    """The LLM settings a node's calls use."""
    base = workflow.workflow_config.llms_config
    own: LLMConfig | None = getattr(node, "llms_config", None) if node is not None else None
    if own is None:
        return base
    updates: dict[str, Any] = {
        key: getattr(own, key) for key in _OVERRIDABLE if key in own.model_fields_set
    }
    if own.model_kwargs:
        updates["model_kwargs"] = {**base.model_kwargs, **own.model_kwargs}
    return base.model_copy(update=updates) if updates else base


def request_options(llm: LLMConfig) -> dict[str, Any]:
    """`ChatRequest` keyword arguments for `llm` (model None: the provider's default)."""
    return {
        "model": llm.model,
        "temperature": llm.temperature,
        "max_tokens": llm.max_tokens,
        "model_kwargs": dict(llm.model_kwargs),
        "stream": llm.streaming,
    }
