"""Secret variables: usable in templates, never in the run, its store, its events or its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from engine_helpers import direct, say_static, start, workflow

from harness.config import HarnessSettings
from harness.engine import Engine, LLMClient, SqliteRunStore
from harness.engine.variables import FixedClock

SECRET = "tok-3f9a1c77e2b04d5e"


async def test_a_secret_reaches_the_request_and_nothing_that_is_recorded(
    tmp_path: Path, clock: FixedClock
) -> None:
    seen: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        # An API that echoes the credential back: the engine must still not record it.
        return httpx.Response(200, json={"ok": True, "echo": request.headers["x-team"]})

    flow = workflow(
        [
            {
                "type": "http_request",
                "logical_id": "call",
                "name": "call",
                "url": "https://api.example.test/v1/things?key={{global.api_token}}",
                "headers": {"X-Team": "{{api_token}}"},
            },
            say_static("done", "Done."),
        ],
        [direct("call", "done")],
    )
    store = SqliteRunStore(tmp_path / "runs.db")
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
        engine = Engine(llm=LLMClient(http, HarnessSettings(), env={}), clock=clock, store=store)
        run = await engine.execute(flow, start(secret_variables={"api_token": SECRET}))
    store.close()

    assert [r.headers["x-team"] for r in seen] == [SECRET]  # usable: both template forms
    assert f"key={SECRET}" in str(seen[0].url)
    recorded = [
        run.model_dump_json(),
        json.dumps(run.model_dump(mode="json", by_alias=True)),
        repr(run),
        str(run.input_output_pairs[0].run_input),
        (tmp_path / "runs.db").read_bytes().decode("latin-1"),
    ]
    recorded += [p.read_bytes().decode("latin-1") for p in tmp_path.glob("runs.db*")]
    assert [SECRET in text for text in recorded] == [False] * len(recorded)
    state = next(e for e in run.events() if e.type == "workflow_show_state")
    assert (
        "api_token" not in state.get("workflow_runtime_variables")["_evaluated_dynamic_variables"]
    )
    assert "**********" in json.dumps(run.model_dump(mode="json"))  # masked where it was echoed


def test_registered_run_secrets_are_scrubbed_from_recordings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.recording import scrub
    from harness.recording.scrub import ScrubOptions, register_secret_values, scrub_text

    # The registry is process-wide: this test's registrations end with it.
    monkeypatch.setattr(scrub, "_RUN_SECRETS", set())
    monkeypatch.setattr(scrub, "_RUN_FORMS", ())
    register_secret_values([SECRET, "q7z!", " "])  # however short; blank values are ignored
    text = f'{{"url": "https://x.test/?key={SECRET}", "note": "q7z! q7z%21"}}'
    assert scrub_text(text, ScrubOptions()) == (
        '{"url": "https://x.test/?key=<REDACTED>", "note": "<REDACTED> <REDACTED>"}'
    )
