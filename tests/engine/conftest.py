"""Fixtures of the engine tests: one scripted model served over HTTP on 127.0.0.1 per session.

Each test loads its own script into the shared model (`model.load(...)`), so the uvicorn server
starts once. Engines get a fixed clock and seed, so ids, timestamps and random picks repeat.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from engine_helpers import START

from harness.config import HarnessSettings, ProviderConfig
from harness.engine import Engine, FixedClock, LLMClient
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
