"""Shared pieces of the runner and CLI tests: the scripted model's script, scenario files, options.

Scenarios are written into tmp_path and run against the workflows of tests/data/workflows; they
record against the scripted model over real HTTP, then replay offline with the server stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.config import HarnessSettings, ProviderConfig
from harness.models.scenario import Scenario
from harness.runner import RunOptions
from harness.scenarios import load_scenarios

WORKFLOWS = Path(__file__).parent / "data" / "workflows"
INTAKE = str(WORKFLOWS / "intake.yaml")
STOCK = str(WORKFLOWS / "stock_lookup.yaml")
JUDGE = str(WORKFLOWS / "stock_judge.yaml")
UNREACHABLE = "http://127.0.0.1:9/v1"
"""A base URL nothing listens on: replay must never need it."""

SCRIPT: dict[str, Any] = {
    "rules": [
        {
            "when": {"response_format": "patient_name"},
            "reply": {"json": {"patient_name": "Ana Ruiz"}},
        },
        {
            "when": {"tool_offered": "go_to_human", "last_user": "human"},
            "reply": {"text": "One moment.", "tool_calls": [{"name": "go_to_human"}]},
        },
        {
            "when": {"system": "wants a human", "last_user": "human"},
            "reply": {"text": "A staff member will call you back. Shall we continue meanwhile?"},
        },
        {
            "when": {"tool_offered": "return_to_previous_node", "last_user": "continue"},
            "reply": {"tool_calls": [{"name": "return_to_previous_node"}]},
        },
        {
            "when": {"tool_offered": "reason_given", "last_user": "headache"},
            "reply": {
                "tool_calls": [{"name": "reason_given", "arguments": {"reason": "a bad headache"}}]
            },
        },
        {"when": {"system": "what brings them in"}, "reply": {"text": "What brings you in today?"}},
        {
            "when": {"system": "ask the patient to confirm", "last_user": "headache"},
            "reply": {"text": "You are here for a bad headache, correct?"},
        },
        {
            "when": {"tool_offered": "confirmed", "last_user": "right"},
            "reply": {"tool_calls": [{"name": "confirmed"}]},
        },
        {
            "when": {"system": "JUDGE"},
            "reply": {"json": {"passed": True, "score": 0.9, "reasoning": "ok"}},
        },
        {"when": {"system": "pharmacy question"}, "reply": {"text": "Your refill is on its way."}},
        {
            "when": {"system": "role-playing", "last_user": "full name"},
            "reply": {"text": "My name is Ana Ruiz"},
        },
        {
            "when": {"system": "role-playing", "last_user": "brings you in"},
            "reply": {"text": "I have a bad headache"},
        },
        {
            "when": {"system": "role-playing", "last_user": "correct"},
            "reply": {"text": "Yes, that's right"},
        },
        {"when": {"system": "role-playing"}, "reply": {"text": "<<GOAL_REACHED>>"}},
    ],
    "default": {"text": "I am a scripted model."},
}

HAPPY_TURNS: list[dict[str, Any]] = [
    {"start": {}, "expect": {"status": "waiting_for_user_input", "says": {"contains": "Welcome"}}},
    {
        "user": "My name is Ana Ruiz",
        "expect": {
            "says": {"contains": "brings you in"},
            "runtime_variables": {"patient_name": "Ana Ruiz"},
        },
    },
    {"user": "I have a bad headache", "expect": {"node": "confirm"}},
    {"user": "Yes, that's right", "expect": {"status": "completed"}},
]


def settings_for(base_url: str) -> HarnessSettings:
    """Settings whose default provider is the scripted model (or any URL) at `base_url`."""
    provider = ProviderConfig(base_url=base_url, model="scripted-model", api_key_env=None)
    return HarnessSettings(providers={"default_provider": provider}, max_retries=0)


def write_scenario(folder: Path, name: str, **fields: Any) -> Path:
    """A scenario file `folder/name.yaml`; `workflow` defaults to the intake workflow."""
    data = {"version": 1, "name": name, "workflow": INTAKE, **fields}
    path = folder / "scenarios" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def load(folder: Path, *names: str) -> list[Scenario]:
    """The scenarios written by `write_scenario`, ids relative to `folder`."""
    paths = [folder / "scenarios" / f"{n}.yaml" for n in names]
    return load_scenarios(paths, root=folder)


def options(folder: Path, base_url: str, mode: str = "none", **fields: Any) -> RunOptions:
    """Run options with cassettes under `folder/cassettes`."""
    return RunOptions(
        record_mode=mode,
        settings=settings_for(base_url),
        cassettes_root=folder / "cassettes",
        scenarios_root=folder / "scenarios",
        **fields,
    )
