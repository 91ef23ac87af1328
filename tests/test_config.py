"""Settings: `[tool.harness]` in pyproject.toml < harness.toml < environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import (
    ENV_API_KEY,
    ENV_API_URL,
    ENV_TEAM_ID,
    HarnessSettings,
    ProviderConfig,
    find_config_file,
    load_settings,
)
from harness.errors import ConfigError

PYPROJECT = """
[project]
name = "someone-elses-project"

[tool.harness]
api_url = "https://from-pyproject.example/workflows"
team_id = "team-pyproject"
max_concurrency = 3
"""

HARNESS_TOML = """
api_url = "https://from-harness-toml.example/workflows"
team_id = "team-harness-toml"
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_config(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    assert settings.api_url is None
    assert settings.api_key is None
    assert settings.source is None
    assert settings.read_timeout_seconds >= 60  # LLM-length reads, not httpx's 5 s


def test_pyproject_tool_harness_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "pyproject.toml", PYPROJECT)
    settings = load_settings(tmp_path, env={})
    assert settings.api_url == "https://from-pyproject.example/workflows"
    assert (settings.team_id, settings.max_concurrency) == ("team-pyproject", 3)
    assert settings.source == str(path)


def test_harness_toml_beats_pyproject(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", PYPROJECT)
    path = write(tmp_path, "harness.toml", HARNESS_TOML)
    settings = load_settings(tmp_path, env={})
    assert settings.api_url == "https://from-harness-toml.example/workflows"
    assert settings.team_id == "team-harness-toml"
    assert settings.source == str(path)


def test_harness_toml_layers_over_pyproject_key_by_key(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", PYPROJECT)
    write(tmp_path, "harness.toml", HARNESS_TOML)
    # max_concurrency is set only in pyproject.toml.
    assert load_settings(tmp_path, env={}).max_concurrency == 3


def test_env_beats_every_file(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", PYPROJECT)
    write(tmp_path, "harness.toml", HARNESS_TOML)
    env = {
        ENV_API_URL: "http://127.0.0.1:8000/workflows",
        ENV_API_KEY: "sk-env",
        ENV_TEAM_ID: "team-env",
        "HARNESS_MAX_CONCURRENCY": "12",
    }
    settings = load_settings(tmp_path, env=env)
    assert settings.api_url == "http://127.0.0.1:8000/workflows"
    assert (settings.api_key, settings.team_id, settings.max_concurrency) == (
        "sk-env",
        "team-env",
        12,
    )


def test_empty_env_vars_do_not_override(tmp_path: Path) -> None:
    write(tmp_path, "harness.toml", HARNESS_TOML)
    settings = load_settings(tmp_path, env={ENV_API_URL: "", ENV_TEAM_ID: ""})
    assert settings.api_url == "https://from-harness-toml.example/workflows"
    assert settings.team_id == "team-harness-toml"


def test_the_nearest_config_upward_is_used(tmp_path: Path) -> None:
    write(tmp_path, "harness.toml", HARNESS_TOML)
    # A pyproject without [tool.harness] on the way up does not stop the search.
    write(tmp_path / "pkg", "pyproject.toml", '[project]\nname = "pkg"\n')
    deep = tmp_path / "pkg" / "src" / "deep"
    deep.mkdir(parents=True)
    found = find_config_file(deep)
    assert found is not None
    assert found[0] == tmp_path / "harness.toml"
    assert load_settings(deep, env={}).team_id == "team-harness-toml"


@pytest.mark.parametrize("name", ["pyproject.toml", "harness.toml"])
def test_a_bad_type_is_named_with_its_file(tmp_path: Path, name: str) -> None:
    text = 'max_concurrency = "lots"\n'
    if name == "pyproject.toml":
        text = "[tool.harness]\n" + text
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, env={})
    message = str(info.value)
    assert str(path) in message
    assert "max_concurrency" in message


def test_an_unknown_key_is_named_with_its_file(tmp_path: Path) -> None:
    path = write(tmp_path, "harness.toml", 'api_ulr = "https://typo.example"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, env={})
    assert str(path) in str(info.value)
    assert "api_ulr" in str(info.value)


def test_a_bad_env_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_concurrency"):
        load_settings(tmp_path, env={"HARNESS_MAX_CONCURRENCY": "many"})


def test_invalid_toml_is_named_with_its_file(tmp_path: Path) -> None:
    path = write(tmp_path, "harness.toml", "api_url = \n")
    with pytest.raises(ConfigError, match="invalid TOML") as info:
        load_settings(tmp_path, env={})
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name", ["pyproject.toml", "harness.toml"])
def test_an_api_key_in_a_file_is_refused(tmp_path: Path, name: str) -> None:
    text = 'api_key = "sk-committed-by-mistake"\n'
    if name == "pyproject.toml":
        text = "[tool.harness]\n" + text
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, env={ENV_API_KEY: "sk-env"})
    message = str(info.value)
    assert str(path) in message
    assert ENV_API_KEY in message
    assert "sk-committed-by-mistake" not in message


# ------------------------------------------------------------------ LLM providers


PROVIDERS = """
default_model = "gpt-4o-mini"

[providers.local]
base_url = "http://127.0.0.1:9000/v1/"
model = "llama-3"
api_key_env = "LOCAL_LLM_KEY"
headers = { "x-tenant" = "t1" }

[providers.keyless]
base_url = "http://127.0.0.1:9001/v1"
api_key_env = ""
"""


def test_a_named_provider_resolves_with_its_key_from_env(tmp_path: Path) -> None:
    write(tmp_path, "harness.toml", PROVIDERS)
    settings = load_settings(tmp_path, env={})
    local = settings.provider("local", env={"LOCAL_LLM_KEY": "sk-local"})
    assert local.base_url == "http://127.0.0.1:9000/v1"
    assert (local.model, local.api_key, local.headers) == (
        "llama-3",
        "sk-local",
        {"x-tenant": "t1"},
    )


def test_a_provider_without_a_model_uses_the_default_model(tmp_path: Path) -> None:
    write(tmp_path, "harness.toml", PROVIDERS)
    keyless = load_settings(tmp_path, env={}).provider("keyless", env={})
    assert (keyless.model, keyless.api_key) == ("gpt-4o-mini", None)
    override = load_settings(tmp_path, env={}).provider(
        "keyless", env={"HARNESS_DEFAULT_MODEL": "qwen"}
    )
    assert override.model == "qwen"


@pytest.mark.parametrize("name", [None, "default_provider", "default"])
def test_the_default_provider_falls_back_to_openai_env_vars(name: str | None) -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:7000/v1", "OPENAI_API_KEY": "sk-openai"}
    resolved = HarnessSettings().provider(name, env=env)
    assert resolved.base_url == "http://127.0.0.1:7000/v1"
    assert resolved.api_key == "sk-openai"
    assert resolved.model == "gpt-4o-mini"


def test_the_default_provider_can_point_at_a_configured_one(tmp_path: Path) -> None:
    write(tmp_path, "harness.toml", 'default_provider = "local"\n' + PROVIDERS)
    resolved = load_settings(tmp_path, env={}).provider("default_provider", env={})
    assert (resolved.name, resolved.model) == ("local", "llama-3")


def test_an_unknown_provider_names_the_table_to_add(tmp_path: Path) -> None:
    write(tmp_path, "harness.toml", PROVIDERS)
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, env={}).provider("azure", env={})
    message = str(info.value)
    assert "'azure'" in message
    assert "keyless, local" in message
    assert "[tool.harness.providers.azure]" in message


def test_a_provider_with_an_unknown_key_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, "harness.toml", '[providers.x]\nbase_url = "http://h/v1"\napi_key = "k"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, env={})
    assert str(path) in str(info.value)
    assert "providers.x.api_key" in str(info.value)


def test_api_key_is_not_in_the_settings_repr(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={ENV_API_KEY: "sk-canary-123"})
    assert settings.api_key == "sk-canary-123"
    assert "sk-canary-123" not in repr(settings)


# ------------------------------------------------------------------ the platform's provider names


@pytest.mark.parametrize(
    "name", ["openai", "anthropic", "google", "azure_openai", "bedrock", "custom"]
)
def test_a_platform_provider_without_a_block_is_served_by_the_default(
    tmp_path: Path, name: str
) -> None:
    write(tmp_path, "harness.toml", 'default_provider = "local"\n' + PROVIDERS)
    resolved = load_settings(tmp_path, env={}).provider(name, env={})
    assert (resolved.name, resolved.base_url) == ("local", "http://127.0.0.1:9000/v1")


def test_a_platform_provider_without_any_block_falls_back_to_openai_env_vars() -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:7000/v1", "OPENAI_API_KEY": "sk-openai"}
    resolved = HarnessSettings().provider("anthropic", env=env)
    assert (resolved.name, resolved.base_url) == ("default_provider", "http://127.0.0.1:7000/v1")


def test_a_platform_provider_with_a_block_uses_it(tmp_path: Path) -> None:
    write(
        tmp_path,
        "harness.toml",
        PROVIDERS
        + """
[providers.anthropic]
base_url = "http://127.0.0.1:9002/v1"
api_key_env = "ANTHROPIC_GATEWAY_KEY"
models = { "claude-haiku-4-5" = "local-haiku" }
""",
    )
    resolved = load_settings(tmp_path, env={}).provider(
        "anthropic", env={"ANTHROPIC_GATEWAY_KEY": "sk-gw"}
    )
    assert (resolved.name, resolved.base_url, resolved.api_key) == (
        "anthropic",
        "http://127.0.0.1:9002/v1",
        "sk-gw",
    )
    assert resolved.model_for("claude-haiku-4-5") == "local-haiku"
    assert resolved.model_for("claude-sonnet-4-6") == "claude-sonnet-4-6"  # not renamed: sent as is
    assert resolved.model_for(None) == "gpt-4o-mini"  # no model named: the block's, or the default


def test_a_star_model_rename_sends_every_model_as_one() -> None:
    config = ProviderConfig(base_url="http://x/v1", model="llama3", models={"*": "llama3"})
    resolved = HarnessSettings(providers={"default_provider": config}).provider("openai", env={})
    assert resolved.model_for("gpt-5.4-nano") == "llama3"
    assert resolved.model_for(None) == "llama3"


# ------------------------------------------------------------------ project root


def test_the_project_root_is_the_nearest_folder_with_settings(tmp_path: Path) -> None:
    from harness.config import find_project_root

    write(tmp_path, "harness.toml", "")
    nested = tmp_path / "scenarios" / "clinic"
    nested.mkdir(parents=True)
    scenario = write(nested, "booking.yaml", "version: 1\n")
    assert find_project_root(nested) == tmp_path
    assert find_project_root(scenario) == tmp_path  # a file's search starts in its folder
    assert find_project_root(nested / "not_written_yet.yaml") == tmp_path
    # A pyproject.toml without [tool.harness] is someone else's project: the search goes on.
    write(tmp_path / "scenarios", "pyproject.toml", '[project]\nname = "other"\n')
    assert find_project_root(nested) == tmp_path
    write(tmp_path / "scenarios", "pyproject.toml", PYPROJECT)
    assert find_project_root(nested) == tmp_path / "scenarios"


def test_the_root_of_scenario_paths_does_not_depend_on_the_working_folder(tmp_path: Path) -> None:
    from harness.config import project_root_for

    project = tmp_path / "project"
    write(project, "pyproject.toml", PYPROJECT)
    (project / "scenarios").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert project_root_for(["scenarios"], cwd=project) == project
    assert project_root_for(["."], cwd=project / "scenarios") == project
    assert project_root_for(["../project/scenarios"], cwd=elsewhere) == project
    # Outside any project: the working folder, as before.
    assert project_root_for(["x.yaml"], cwd=elsewhere) == elsewhere


def test_scenario_paths_of_two_projects_are_refused(tmp_path: Path) -> None:
    from harness.config import project_root_for

    write(tmp_path / "one", "harness.toml", "")
    write(tmp_path / "two", "harness.toml", "")
    with pytest.raises(ConfigError, match="belong to different projects") as raised:
        project_root_for(["one", "two"], cwd=tmp_path)
    assert "own `harness run`" in (raised.value.hint or "")
