"""Before a recording: every LLM provider the recorded scenarios call must be configured
(`harness.backends.preflight`); replay, and scenarios that will not record, need none."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.backends.binding import BindingConfig, check_recording, scenario_cassette_path
from harness.config import HarnessSettings, ProviderConfig
from harness.errors import ConfigError
from harness.models.scenario import Scenario
from harness.scenarios import load_scenarios

STOCK = Path(__file__).parents[1] / "data" / "workflows" / "stock_lookup.yaml"
SIMULATE = {"persona": "a patient", "goal": "book", "max_turns": 1, "provider": "persona_llm"}


def _scenarios(tmp_path: Path, **files: dict[str, object]) -> list[Scenario]:
    paths = []
    for name, fields in files.items():
        path = tmp_path / "scenarios" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": 1, "name": name, "workflow": str(STOCK), "turns": [{"start": {}}]}
        path.write_text(yaml.safe_dump({**data, **fields}))
        paths.append(path)
    return load_scenarios(paths, root=tmp_path)


def _config(tmp_path: Path, mode: str, **providers: ProviderConfig) -> BindingConfig:
    return BindingConfig(
        settings=HarnessSettings(providers=providers),
        record_mode=mode,
        cassettes_root=tmp_path / "cassettes",
        scenarios_root=tmp_path / "scenarios",
    )


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "HARNESS_DEFAULT_MODEL", "CLINIC_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_a_provider_block_needs_its_key_unless_it_is_on_this_machine(tmp_path: Path) -> None:
    scenarios = _scenarios(tmp_path, a={})
    remote = ProviderConfig(base_url="https://llm.example.test/v1", api_key_env="CLINIC_KEY")
    with pytest.raises(ConfigError) as refused:
        check_recording(scenarios, "engine", _config(tmp_path, "all", default_provider=remote))
    assert "its key variable CLINIC_KEY (api_key_env of [tool.harness.providers." in str(
        refused.value
    )
    assert "export CLINIC_KEY, or set api_key_env" in str(refused.value)
    local = ProviderConfig(base_url="http://127.0.0.1:8765/v1", api_key_env="CLINIC_KEY")
    check_recording(scenarios, "engine", _config(tmp_path, "all", default_provider=local))
    keyless = ProviderConfig(base_url="https://llm.example.test/v1", api_key_env="")
    check_recording(scenarios, "engine", _config(tmp_path, "all", default_provider=keyless))


def test_only_scenarios_that_will_record_need_a_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenarios = _scenarios(tmp_path, a={}, b={})
    check_recording(scenarios, "engine", _config(tmp_path, "none"))  # replay: nothing to check
    with pytest.raises(ConfigError, match=r"called by scenarios/a .*node chat"):
        check_recording(scenarios, "engine", _config(tmp_path, "once"))
    for scenario in scenarios:  # both recorded already: `once` replays them
        path = scenario_cassette_path(
            scenario, cassettes_root=tmp_path / "cassettes", scenarios_root=tmp_path / "scenarios"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    check_recording(scenarios, "engine", _config(tmp_path, "once"))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8765/v1")
    check_recording(scenarios, "engine", _config(tmp_path, "all"))


def test_the_api_backend_needs_only_the_providers_the_harness_itself_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # the workflow's provider is configured
    plain = _scenarios(tmp_path, plain={})
    check_recording(plain, "api", _config(tmp_path, "all"))
    simulated = _scenarios(tmp_path, sim={"turns": [{"start": {}}, {"simulate": SIMULATE}]})
    with pytest.raises(ConfigError) as refused:
        check_recording(simulated, "api", _config(tmp_path, "all"))
    message = str(refused.value)
    assert "provider 'persona_llm': unknown LLM provider 'persona_llm'" in message
    assert "called by scenarios/sim (a simulated user)" in message
    assert "add [tool.harness.providers.persona_llm] with base_url" in message
