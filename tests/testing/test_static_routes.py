"""Static JSON routes of a scripted-model script, served beside the model."""

from __future__ import annotations

import httpx
import pytest

from harness.testing import ScriptedModel, ScriptError, parse_script, serve_scripted_model

_SCRIPT = {
    "rules": [],
    "default": {"text": "ok"},
    "routes": [
        {"path": "/pharmacy/refills/{rx}", "json": {"rx": "{rx}", "stock": [{"id": "{rx}"}]}},
        {"path": "/pharmacy/orders", "method": "POST", "status": 201, "json": {"ok": True}},
    ],
}


def test_routes_answer_with_path_parameters_filled() -> None:
    with serve_scripted_model(ScriptedModel(_SCRIPT)) as base_url:
        root = base_url.removesuffix("/v1")
        got = httpx.get(f"{root}/pharmacy/refills/RX-77", timeout=5)
        posted = httpx.post(f"{root}/pharmacy/orders", timeout=5)
        wrong_method = httpx.post(f"{root}/pharmacy/refills/RX-77", timeout=5)
        chat = httpx.post(
            f"{base_url}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            timeout=5,
        )
    assert got.status_code == 200
    assert got.json() == {"rx": "RX-77", "stock": [{"id": "RX-77"}]}
    assert (posted.status_code, posted.json()) == (201, {"ok": True})
    assert wrong_method.status_code == 405
    assert chat.json()["choices"][0]["message"]["content"] == "ok"


def test_route_under_v1_is_refused() -> None:
    with pytest.raises(ScriptError, match="cannot shadow"):
        parse_script({"routes": [{"path": "/v1/chat/completions", "json": {}}]})
