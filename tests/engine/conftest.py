"""Fixtures of the engine tests: one scripted model served over HTTP on 127.0.0.1 per session.

Each test loads its own script into the shared model (`model.load(...)`), so the uvicorn server
starts once. Engines get a fixed clock and seed, so ids, timestamps and random picks repeat.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from engine_helpers import START, strictly_equal

from harness.config import HarnessSettings, ProviderConfig
from harness.engine import Engine, FixedClock, LLMClient
from harness.models.api import WorkflowRun, run_output_json
from harness.testing.scripted_model import ScriptedModel, serve_scripted_model


@pytest.fixture(scope="session")
def scripted_server() -> Iterator[tuple[ScriptedModel, str]]:
    model = ScriptedModel({"default": {"text": "I am a scripted model."}})
    with serve_scripted_model(model) as base_url:
        yield model, base_url


@pytest.fixture
def model(scripted_server: tuple[ScriptedModel, str]) -> ScriptedModel:
    """The session's scripted model, reset to a default-only script."""
    scripted, _ = scripted_server
    scripted.load({"default": {"text": "I am a scripted model."}})
    return scripted


@pytest.fixture
def settings(scripted_server: tuple[ScriptedModel, str]) -> HarnessSettings:
    _, base_url = scripted_server
    return HarnessSettings(
        providers={
            "default_provider": ProviderConfig(
                base_url=base_url, model="scripted-model", api_key_env=None
            ),
            "other": ProviderConfig(base_url=base_url, model="other-model", api_key_env=None),
        }
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def llm(http: httpx.AsyncClient, settings: HarnessSettings) -> LLMClient:
    return LLMClient(http, settings, env={}, max_retries=0)


@pytest.fixture
def engine(llm: LLMClient, clock: FixedClock) -> Engine:
    return Engine(llm=llm, clock=clock, seed=7)


# ------------------------------------------------------------------ run outputs as JSON


@pytest.fixture(autouse=True)
def run_outputs_dump_as_pydantic_does(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every run output any engine test produces: `run_output_json` gives what
    `model_dump(mode="json")` gives, and a dump taken after a turn still matches what the run
    was then after every later turn (no container the engine changes is shared)."""
    taken: list[tuple[dict[str, Any], dict[str, Any]]] = []
    execute = Engine.execute

    async def checked(self: Engine, *args: Any, **kwargs: Any) -> WorkflowRun:
        run = await execute(self, *args, **kwargs)
        for pair in run.input_output_pairs:
            if pair.run_output is not None:
                fast = run_output_json(pair.run_output)
                expected = pair.run_output.model_dump(mode="json")
                assert strictly_equal(fast, expected), "run_output_json differs from model_dump"
                taken.append((fast, copy.deepcopy(expected)))
        return run

    monkeypatch.setattr(Engine, "execute", checked)
    yield
    for fast, then in taken:
        assert strictly_equal(fast, then), "a dump changed after it was taken"
