"""LLM configurations (`interactly_configs/llm.py`, `llm_group.py`).

Facts from the platform's models. Every single-LLM config shares `BaseLLMConfig` (`llm.py`): ids,
`provider` (nullable, `default_provider` unless the type says otherwise), `streaming`,
`max_retries`/`max_parse_retries` (3), `max_tokens`, `temperature` (0..1), `request_timeout_ms`,
`seed`, `model_kwargs`, `api_key` (a secret), `do_not_split_sentences` and
`truncated_max_recent_messages`. The `type` discriminates one class per provider (`openai_llm`,
`azure_openai_llm`, `google_llm`, `anthropic_llm`, `bedrock_llm`, `custom_llm`) plus two specials:
`global_default_llm` ("whatever the workflow uses") and `no_llm` (the workflow default). Groups
(`llm_group.py`) are not `BaseLLMConfig`s: `llm_group` lists single LLMs in preferred order,
`llm_group_with_backchannel` wraps a main group and a filler. `LLMOrGroupConfig` is the union a
node's or a workflow's `llms_config` holds.

Model names are plain strings here (the platform's enums change with every vendor release; the
platform validates them on import). A config whose `type` is unknown, or missing, loads as
`UnknownLLMConfig`, keeping every field, so it still round-trips.
"""

from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import uuid4

from pydantic import Discriminator, Field, SecretStr, Tag, field_serializer

from harness.models._factories import empty_list
from harness.models.api.base import JsonDict, PlatformModel, SelectionMode

__all__ = [
    "AnthropicLLMConfig",
    "AzureOpenAILLMConfig",
    "BaseLLMConfig",
    "BedrockLLMConfig",
    "CustomLLMConfig",
    "GoogleLLMConfig",
    "LLMConfig",
    "LLMGroupConfig",
    "LLMGroupWithBackchannelConfig",
    "LLMOrGroupConfig",
    "LLMProvider",
    "NoLLMConfig",
    "OpenAILLMConfig",
    "OperationMode",
    "UnknownLLMConfig",
    "WorkflowDefaultLLMConfig",
]


class LLMProvider(StrEnum):
    """The platform's provider names (`LLMProvider` in `llm.py`)."""

    DEFAULT_PROVIDER = "default_provider"
    AZURE_OPENAI = "azure_openai"
    OPENAI = "openai"
    GOOGLE = "google"
    ANTHROPIC = "anthropic"
    BEDROCK = "bedrock"
    CUSTOM = "custom"


class OperationMode(StrEnum):
    """How an `llm_group` races its members on the platform (not reproduced offline)."""

    PARALLEL_SELECT_ONE = "parallel_select_one"
    SEQUENTIAL_WITH_PROACTIVE = "sequential_with_proactive"


def _llm_id() -> str:
    return f"llm_{uuid4()}"


class BaseLLMConfig(PlatformModel):
    """Fields every single-LLM config shares."""

    logical_id: str | None = Field(default_factory=_llm_id)
    named_llm_config_id: str | None = Field(
        default=None, description="The saved named config this one was resolved from."
    )
    named_llm_config_name: str | None = None
    provider: str | None = Field(
        default=LLMProvider.DEFAULT_PROVIDER.value,
        description="A platform provider name (`LLMProvider`); mapped onto a configured endpoint.",
    )
    streaming: bool = False
    max_retries: int | None = 3
    max_parse_retries: int | None = 3
    max_tokens: int | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    request_timeout_ms: int | None = None
    seed: int | None = None
    model_kwargs: JsonDict = Field(default_factory=dict)
    api_key: SecretStr | None = Field(
        default=None, description="A provider key; never sent by the engine, never logged."
    )
    do_not_split_sentences: bool = False
    truncated_max_recent_messages: int | None = Field(
        default=None, description="Keep only this many recent history messages in a call."
    )

    @field_serializer("api_key")
    def _unmask_api_key(self, value: SecretStr | None) -> str | None:
        # Dumps must round-trip what was loaded (the platform's serializer unmasks too); the
        # SecretStr keeps the key out of reprs, logs and tracebacks.
        return value.get_secret_value() if value is not None else None


class OpenAILLMConfig(BaseLLMConfig):
    type: Literal["openai_llm"] = "openai_llm"
    provider: str | None = LLMProvider.OPENAI.value
    model: str | None = "gpt-5.4-mini"
    base_url: str | None = None
    organization: str | None = None
    reasoning_effort: str | None = "low"


class AzureOpenAILLMConfig(BaseLLMConfig):
    """Azure OpenAI; `model` is an Azure deployment name."""

    type: Literal["azure_openai_llm"] = "azure_openai_llm"
    provider: str | None = LLMProvider.AZURE_OPENAI.value
    model: str | None = "gpt-5-mini"
    endpoint: str | None = None
    api_version: str | None = None
    reasoning_effort: str | None = "low"


class GoogleLLMConfig(BaseLLMConfig):
    type: Literal["google_llm"] = "google_llm"
    provider: str | None = LLMProvider.GOOGLE.value
    model: str | None = "gemini-3-flash-preview"
    thinking_budget: int | None = 0


class AnthropicLLMConfig(BaseLLMConfig):
    type: Literal["anthropic_llm"] = "anthropic_llm"
    provider: str | None = LLMProvider.ANTHROPIC.value
    model: str | None = "claude-sonnet-4-6"
    thinking_budget: int | None = 0


class BedrockLLMConfig(BaseLLMConfig):
    """Amazon Bedrock; the AWS credentials are secrets like `api_key`."""

    type: Literal["bedrock_llm"] = "bedrock_llm"
    provider: str | None = LLMProvider.BEDROCK.value
    model: str | None = "zai.glm-4.7-flash"
    region: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None

    @field_serializer("aws_secret_access_key")
    def _unmask_aws_secret(self, value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None


class CustomLLMConfig(BaseLLMConfig):
    """Any OpenAI-compatible gateway (on the platform: its own `base_url`)."""

    type: Literal["custom_llm"] = "custom_llm"
    provider: str | None = LLMProvider.CUSTOM.value
    model: str | None = None
    reasoning_effort: str | None = None
    base_url: str | None = None
    default_headers: JsonDict | None = None
    rewrite_base_url: bool = False
    verify_ssl: bool = True
    response_unwrap_key: str | None = None
    integration_auth: JsonDict | None = None
    use_responses_api: bool = False


class WorkflowDefaultLLMConfig(BaseLLMConfig):
    """Use the workflow's LLM (or the platform's default when the workflow has none)."""

    type: Literal["global_default_llm"] = "global_default_llm"


class NoLLMConfig(BaseLLMConfig):
    """Explicitly no LLM: the platform's default of a workflow's `llms_config`."""

    type: Literal["no_llm"] = "no_llm"


class UnknownLLMConfig(BaseLLMConfig):
    """An LLM config whose `type` this version does not know (or that has none): kept as is.

    The engine runs it as a single LLM by its `provider` and `model`.
    """

    type: str | None = None
    model: str | None = None


# `LLMConfig` comes before the groups that list it: a model naming a class or alias defined later
# is left unbuilt, and every model around it then generates its schema again, inline.
_UNKNOWN = "unknown"
_SINGLE_TYPES = frozenset(
    {
        "openai_llm",
        "azure_openai_llm",
        "google_llm",
        "anthropic_llm",
        "bedrock_llm",
        "custom_llm",
        "global_default_llm",
        "no_llm",
    }
)
_GROUP_TYPES = frozenset({"llm_group", "llm_group_with_backchannel"})


def _type_of(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    # A fuzzed or broken config may carry a non-string type (a list, a dict): not a known type.
    return kind if isinstance(kind, str) else None


def _single_tag(value: Any) -> str:
    kind = _type_of(value)
    return kind if kind in _SINGLE_TYPES else _UNKNOWN


def _any_tag(value: Any) -> str:
    kind = _type_of(value)
    return kind if kind in _SINGLE_TYPES or kind in _GROUP_TYPES else _UNKNOWN


LLMConfig = Annotated[
    Annotated[OpenAILLMConfig, Tag("openai_llm")]
    | Annotated[AzureOpenAILLMConfig, Tag("azure_openai_llm")]
    | Annotated[GoogleLLMConfig, Tag("google_llm")]
    | Annotated[AnthropicLLMConfig, Tag("anthropic_llm")]
    | Annotated[BedrockLLMConfig, Tag("bedrock_llm")]
    | Annotated[CustomLLMConfig, Tag("custom_llm")]
    | Annotated[WorkflowDefaultLLMConfig, Tag("global_default_llm")]
    | Annotated[NoLLMConfig, Tag("no_llm")]
    | Annotated[UnknownLLMConfig, Tag(_UNKNOWN)],
    Discriminator(_single_tag),
]
"""One LLM (the platform's `LLMConfig` union), discriminated by `type`; unknown types kept."""


class LLMGroupConfig(PlatformModel):
    """Several LLMs in preferred order; the first is the main one."""

    type: Literal["llm_group"] = "llm_group"
    named_llm_config_id: str | None = None
    named_llm_config_name: str | None = None
    logical_id: str | None = Field(default_factory=lambda: f"llm_group_{uuid4()}")
    llms: list[LLMConfig] = Field(default_factory=empty_list)
    operation_mode: OperationMode | None = OperationMode.SEQUENTIAL_WITH_PROACTIVE
    min_patience_time_ms: int | None = 1500
    max_patience_time_ms: int | None = None


class LLMGroupWithBackchannelConfig(PlatformModel):
    """A main group, and a filler said when the main one is slow (not reproduced offline)."""

    type: Literal["llm_group_with_backchannel"] = "llm_group_with_backchannel"
    named_llm_config_id: str | None = None
    named_llm_config_name: str | None = None
    id: str | None = Field(default_factory=lambda: f"llm_group_with_backchannel_{uuid4()}")
    main_llm_config: LLMGroupConfig | None = None
    non_backchannel_response_prefix: str | None = None
    backchannel_llm_config: LLMGroupConfig | None = None
    backchannel_static_responses: list[str] = Field(default_factory=empty_list)
    backchannel_static_responses_selection_mode: SelectionMode | None = SelectionMode.RANDOM
    backchannel_min_patience_time_ms: int | None = 2000


LLMOrGroupConfig = Annotated[
    Annotated[OpenAILLMConfig, Tag("openai_llm")]
    | Annotated[AzureOpenAILLMConfig, Tag("azure_openai_llm")]
    | Annotated[GoogleLLMConfig, Tag("google_llm")]
    | Annotated[AnthropicLLMConfig, Tag("anthropic_llm")]
    | Annotated[BedrockLLMConfig, Tag("bedrock_llm")]
    | Annotated[CustomLLMConfig, Tag("custom_llm")]
    | Annotated[WorkflowDefaultLLMConfig, Tag("global_default_llm")]
    | Annotated[NoLLMConfig, Tag("no_llm")]
    | Annotated[LLMGroupConfig, Tag("llm_group")]
    | Annotated[LLMGroupWithBackchannelConfig, Tag("llm_group_with_backchannel")]
    | Annotated[UnknownLLMConfig, Tag(_UNKNOWN)],
    Discriminator(_any_tag),
]
"""What an `llms_config` holds: one LLM or a group, discriminated by `type`; unknown types kept."""
