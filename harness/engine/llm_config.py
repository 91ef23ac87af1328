"""Which LLM a call uses, from the node's and the workflow's `llms_config`.

Rules (docs/engine.md, "Which LLM a node uses"):
- A provider config (`openai_llm`, `anthropic_llm`, ..., `custom_llm`, or a type this version does
  not know) is used as it is: its `provider` picks the endpoint (see `HarnessSettings.provider`),
  its `model` is sent.
- `global_default_llm` (and a null `llms_config`) means the workflow's `llms_config`; when that is
  `no_llm`, null or `global_default_llm` too, the platform's default LLM, which offline is the
  harness's default provider with its model. The node's own non-null options (`temperature`,
  `max_tokens`, `seed`, `request_timeout_ms`, `truncated_max_recent_messages`, `streaming`,
  `model_kwargs` merged) apply over it.
- `llm_group` runs its first member; `llm_group_with_backchannel` runs its `main_llm_config` group.
- `no_llm` on a node that calls an LLM is an error naming the node and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from harness.errors import EngineError
from harness.models.api import (
    BaseLLMConfig,
    LLMGroupConfig,
    LLMGroupWithBackchannelConfig,
    NodeConfig,
    NoLLMConfig,
    WorkflowConfigFullyHydrated,
    WorkflowDefaultLLMConfig,
)

__all__ = ["EffectiveLLM", "NoLLMConfiguredError", "effective_llm", "request_options"]


class NoLLMConfiguredError(EngineError):
    """A node needs an LLM and its configuration names none (`no_llm`, an empty group)."""


@dataclass(frozen=True)
class EffectiveLLM:
    """The LLM settings one call uses, resolved from the configs."""

    provider: str | None = None
    """A provider name mapped by the settings; None: the default provider."""
    model: str | None = None
    """The model asked for; None: the provider's model."""
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    reasoning_effort: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    streaming: bool = False
    request_timeout_ms: int | None = None
    max_retries: int | None = None
    truncated_max_recent_messages: int | None = None
    named_llm_config_id: str | None = None
    """The saved named config the settings came from (outermost wins), for `llm_usage_info`."""
    named_llm_config_name: str | None = None


_PLATFORM_DEFAULT = EffectiveLLM()


def effective_llm(workflow: WorkflowConfigFullyHydrated, node: NodeConfig | None) -> EffectiveLLM:
    """The LLM a node's calls use (node None: a workflow-level call, e.g. a condition judge).

    Raises:
        NoLLMConfiguredError: the node's config is `no_llm`, or a group without members.
    """
    own = getattr(node, "llms_config", None) if node is not None else None
    if own is None or isinstance(own, WorkflowDefaultLLMConfig):
        return _named(_overlay(_workflow_llm(workflow), own), own)
    where = f"node {node.label}" if node is not None else "the workflow"
    return _resolve(own, workflow, where, "llms_config")


def _workflow_llm(workflow: WorkflowConfigFullyHydrated) -> EffectiveLLM:
    config = workflow.settings.llms_config
    if config is None or isinstance(config, NoLLMConfig):
        return _PLATFORM_DEFAULT  # the platform's own default LLM stands in for "none"
    if isinstance(config, WorkflowDefaultLLMConfig):
        return _named(_overlay(_PLATFORM_DEFAULT, config), config)
    return _resolve(config, workflow, "the workflow", "workflow_config.llms_config")


def _resolve(
    config: object, workflow: WorkflowConfigFullyHydrated, where: str, path: str
) -> EffectiveLLM:
    if isinstance(config, LLMGroupWithBackchannelConfig):
        if config.main_llm_config is None:
            raise _none(where, f"{path} (llm_group_with_backchannel) has no main_llm_config")
        main = _resolve(config.main_llm_config, workflow, where, f"{path}.main_llm_config")
        return _named(main, config)
    if isinstance(config, LLMGroupConfig):
        if not config.llms:
            raise _none(where, f"{path} (llm_group) lists no llms")
        return _named(_resolve(config.llms[0], workflow, where, f"{path}.llms[0]"), config)
    if isinstance(config, NoLLMConfig):
        raise _none(where, f"{path} is no_llm")
    if isinstance(config, WorkflowDefaultLLMConfig):
        return _named(_overlay(_workflow_llm(workflow), config), config)
    assert isinstance(config, BaseLLMConfig)  # every other member of the union
    return _named(_single(config), config)


def _named(llm: EffectiveLLM, config: object) -> EffectiveLLM:
    """`llm` marked with `config`'s saved named config, if it came from one (outer wins)."""
    named_id = getattr(config, "named_llm_config_id", None)
    named_name = getattr(config, "named_llm_config_name", None)
    if named_id is None and named_name is None:
        return llm
    return replace(llm, named_llm_config_id=named_id, named_llm_config_name=named_name)


def _single(config: BaseLLMConfig) -> EffectiveLLM:
    return EffectiveLLM(
        provider=config.provider,
        model=getattr(config, "model", None),
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        seed=config.seed,
        reasoning_effort=getattr(config, "reasoning_effort", None),
        model_kwargs=dict(config.model_kwargs),
        streaming=config.streaming,
        request_timeout_ms=config.request_timeout_ms,
        max_retries=config.max_retries,
        truncated_max_recent_messages=config.truncated_max_recent_messages,
    )


def _overlay(base: EffectiveLLM, own: WorkflowDefaultLLMConfig | None) -> EffectiveLLM:
    """`base` with the options a `global_default_llm` sets itself (non-null) applied over it."""
    if own is None:
        return base
    updates: dict[str, Any] = {
        key: getattr(own, key)
        for key in (
            "temperature",
            "max_tokens",
            "seed",
            "request_timeout_ms",
            "truncated_max_recent_messages",
        )
        if getattr(own, key) is not None
    }
    if own.model_kwargs:
        updates["model_kwargs"] = {**base.model_kwargs, **own.model_kwargs}
    if own.streaming:
        updates["streaming"] = True
    return replace(base, **updates) if updates else base


def _none(where: str, what: str) -> NoLLMConfiguredError:
    return NoLLMConfiguredError(
        f"{where} calls an LLM but {what}: no LLM is configured for it",
        hint="set its llms_config to global_default_llm (the workflow's LLM) or to a provider "
        "config such as openai_llm, or give the group a model",
    )


def request_options(llm: EffectiveLLM) -> dict[str, Any]:
    """`ChatRequest` keyword arguments for `llm` (model None: the provider's model)."""
    return {
        "model": llm.model,
        "temperature": llm.temperature,
        "max_tokens": llm.max_tokens,
        "seed": llm.seed,
        "reasoning_effort": llm.reasoning_effort,
        "model_kwargs": dict(llm.model_kwargs),
        "stream": llm.streaming,
        "timeout_ms": llm.request_timeout_ms,
        "max_retries": llm.max_retries,
        "named_llm_config_id": llm.named_llm_config_id,
        "named_llm_config_name": llm.named_llm_config_name,
    }
