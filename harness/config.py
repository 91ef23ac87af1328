"""Settings: `[tool.harness]` in pyproject.toml or a `harness.toml`, overridden by env vars.

Precedence (highest first): environment variables, `harness.toml`, `[tool.harness]` of the nearest
pyproject.toml, defaults. Secrets (API keys) are read from the environment only, so that no key is
ever committed in a config file.

LLM providers: `[tool.harness.providers.NAME]` maps a provider name onto an OpenAI-compatible
endpoint (base URL, the env var of its key, a default model, model renames). NAME is one of the
platform's provider names (`openai`, `azure_openai`, `anthropic`, `google`, `bedrock`, `custom`,
`default_provider`) or a name of your own. A platform name without a block is served by the
default provider (`default_provider`, itself a block or the `OPENAI_BASE_URL`/`OPENAI_API_KEY`
environment); any other name without a block is an error.

Prices: `[tool.harness.prices."MODEL"]` with `input` and `output` in USD per million tokens; the
results' costs use them (an unknown model costs None, never a guess; docs/results.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness._project import find_config_file, find_project_root, project_root_for
from harness.errors import ConfigError
from harness.models.api.llm import LLMProvider
from harness.models.regression import RegressionSettings
from harness.models.result import ModelPrice

__all__ = [
    "ANY_MODEL",
    "DEFAULT_PROVIDER",
    "ENV_API_KEY",
    "ENV_API_URL",
    "ENV_TEAM_ID",
    "PLATFORM_PROVIDERS",
    "HarnessSettings",
    "ProviderConfig",
    "ResolvedProvider",
    "find_config_file",
    "find_project_root",
    "load_settings",
    "project_root_for",
]

ENV_API_URL = "HARNESS_API_URL"
ENV_API_KEY = "HARNESS_API_KEY"
ENV_TEAM_ID = "HARNESS_TEAM_ID"
DEFAULT_PROVIDER = "default_provider"
PLATFORM_PROVIDERS = frozenset(p.value for p in LLMProvider)
"""The platform's provider names: without a block of their own they use the default provider."""
ANY_MODEL = "*"


class ProviderConfig(BaseModel):
    """An OpenAI-compatible LLM provider, by name (`[tool.harness.providers.NAME]`)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="Base URL ending before /chat/completions, e.g. .../v1.")
    model: str | None = Field(default=None, description="Model used when a node names none.")
    api_key_env: str | None = Field(
        default="OPENAI_API_KEY", description="Env var holding the key (never the key itself)."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    models: dict[str, str] = Field(
        default_factory=dict,
        description=f"Model renames: a workflow's model name -> the model sent; {ANY_MODEL!r} "
        "renames every model.",
    )


class ResolvedProvider(BaseModel):
    """A provider with its key looked up: what the LLM client uses for one call."""

    name: str
    base_url: str
    model: str
    api_key: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    models: dict[str, str] = Field(default_factory=dict)

    def model_for(self, requested: str | None) -> str:
        """The model sent for `requested` (None: this provider's model), after the renames."""
        if requested is None:
            return self.models.get(ANY_MODEL, self.model)
        return self.models.get(requested) or self.models.get(ANY_MODEL) or requested


class HarnessSettings(BaseModel):
    """Every setting of the harness, validated once at start-up."""

    model_config = ConfigDict(extra="forbid")

    api_url: str | None = Field(default=None, description="Platform base URL (.../workflows).")
    api_key: str | None = Field(
        default=None, repr=False, description=f"Platform API key; from {ENV_API_KEY}."
    )
    team_id: str | None = Field(default=None, description="Sent as the `teamid` header.")
    user_id: str | None = Field(default=None, description="Sent as the optional `uuid` header.")
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    read_timeout_seconds: float = Field(default=180.0, gt=0, description="LLM-length reads.")
    deadline_seconds: float = Field(default=600.0, gt=0, description="Total per API call.")
    max_concurrency: int = Field(default=8, ge=1, description="Concurrent API requests.")
    max_retries: int = Field(default=4, ge=0)
    default_model: str = Field(default="gpt-4o-mini", description="Model when none is configured.")
    default_provider: str = Field(
        default=DEFAULT_PROVIDER, description="Provider used by `global_default_llm` nodes."
    )
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict,
        description='[tool.harness.prices."MODEL"] input/output: USD per million tokens; a model '
        "missing here costs None (docs/results.md).",
    )
    regression: RegressionSettings = Field(
        default_factory=RegressionSettings,
        description="[tool.harness.regression]: thresholds and tests (docs/regressions.md).",
    )
    source: str | None = Field(default=None, description="The file these settings came from.")

    def provider(self, name: str | None, env: Mapping[str, str] | None = None) -> ResolvedProvider:
        """Resolve a provider by name (the returned `name` is the block that serves it).

        A block named `name` wins. Otherwise a platform provider name (`openai`, `anthropic`, ...)
        and None are served by the default provider, which falls back to the OPENAI_* env vars.

        Raises:
            ConfigError: the name is neither configured nor a platform provider name.
        """
        env = os.environ if env is None else env
        name = name or self.default_provider
        if name not in self.providers and (name in PLATFORM_PROVIDERS or name == "default"):
            name = self.default_provider
        config = self.providers.get(name)
        if config is None and name == self.default_provider:
            base = env.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
            config = ProviderConfig(base_url=base, model=env.get("HARNESS_DEFAULT_MODEL"))
        if config is None:
            known = ", ".join(sorted(self.providers)) or "none configured"
            raise ConfigError(
                f"unknown LLM provider {name!r} (configured: {known}; platform names: "
                f"{', '.join(sorted(PLATFORM_PROVIDERS))})",
                hint=f"add [tool.harness.providers.{name}] with base_url to pyproject.toml",
            )
        key = env.get(config.api_key_env) if config.api_key_env else None
        return ResolvedProvider(
            name=name,
            base_url=config.base_url.rstrip("/"),
            model=config.model or env.get("HARNESS_DEFAULT_MODEL") or self.default_model,
            api_key=key,
            headers=dict(config.headers),
            models=dict(config.models),
        )


def load_settings(
    start: Path | None = None, env: Mapping[str, str] | None = None
) -> HarnessSettings:
    """Load settings from the nearest config file, then apply env var overrides.

    Raises:
        ConfigError: a config value has the wrong type or an unknown key (file and key named).
    """
    env = os.environ if env is None else env
    found = find_config_file((start or Path.cwd()).resolve())
    data: dict[str, Any] = {}
    where = "defaults"
    if found is not None:
        path, data = found
        data = dict(data)
        where = f"{path} [tool.harness]" if path.name == "pyproject.toml" else str(path)
        if "api_key" in data:
            raise ConfigError(
                f"{where}: `api_key` must not be stored in a file",
                hint=f"remove it and export {ENV_API_KEY} instead",
            )
        data["source"] = str(path)
    for key, var in (("api_url", ENV_API_URL), ("api_key", ENV_API_KEY), ("team_id", ENV_TEAM_ID)):
        if env.get(var):
            data[key] = env[var]
    if env.get("HARNESS_MAX_CONCURRENCY"):
        data["max_concurrency"] = env["HARNESS_MAX_CONCURRENCY"]
    try:
        return HarnessSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"{where}: invalid settings: {problems}",
            hint="see README.md 'Configuration' for every key",
        ) from exc
