"""Loading a cassette: each field checked, errors worded as before, values as recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.recording import CassetteFormatError, Interaction, load_cassette


def _vcr(uri: str = "http://127.0.0.1:1/v1/chat/completions", **headers: Any) -> dict[str, Any]:
    return {
        "request": {"method": "post", "uri": uri, "body": "{}", "headers": {"accept": ["*/*"]}},
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": headers or {"content-type": ["application/json"]},
            "body": {"string": "{}"},
        },
    }


def _write(path: Path, *interactions: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"version": 1, "interactions": list(interactions)}))
    return path


def test_a_malformed_interaction_is_named_by_its_position(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.json", _vcr(), _vcr(), {"request": {}})
    with pytest.raises(CassetteFormatError) as caught:
        load_cassette(path)
    assert str(caught.value).startswith(
        f"{path} interaction #2: malformed interaction (missing field 'response')"
    )
    assert caught.value.hint == "fix the file by hand or re-record the scenario with --rerecord"


def test_a_bad_url_is_refused_each_time_it_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.json", _vcr(uri="ftp://example.com/x"))
    for _ in range(2):
        with pytest.raises(CassetteFormatError, match="must be an http"):
            load_cassette(path)


def test_header_values_are_text_whatever_yaml_typed(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "version: 1\ninteractions:\n"
        "- request: {method: GET, uri: 'http://h/x', body: null, headers: {a: ['1']}}\n"
        "  response:\n"
        "    status: {code: 200, message: OK}\n"
        "    headers: {content-length: [12], x-flag: true, x-text: [plain, 2.5]}\n"
        "    body: {string: ''}\n"
    )
    loaded = load_cassette(path)
    assert loaded is not None
    assert loaded[0].response_headers == {
        "content-length": ["12"],
        "x-flag": ["True"],
        "x-text": ["plain", "2.5"],
    }


def test_a_json_cassette_loads_as_recorded(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.json", _vcr(**{"set": ["a", "b"], "one": "c"}))
    assert load_cassette(path) == [
        Interaction(
            method="POST",
            uri="http://127.0.0.1:1/v1/chat/completions",
            request_body="{}",
            request_headers={"accept": ["*/*"]},
            status=200,
            reason="OK",
            response_headers={"set": ["a", "b"], "one": ["c"]},
            response_body="{}",
        )
    ]


def test_a_byte_order_mark_is_refused_as_json_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text("\ufeff" + json.dumps({"version": 1, "interactions": []}), encoding="utf-8")
    with pytest.raises(CassetteFormatError) as caught:
        load_cassette(path)
    with pytest.raises(json.JSONDecodeError) as plain:
        json.loads(path.read_text(encoding="utf-8"))
    assert str(caught.value).startswith(f"{path}: not a readable cassette: {plain.value}\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"version": 1, "interactions": [NaN]}', "`NaN` is not JSON"),
        ('{"version": 1, "interactions": [' + "1" * 401 + "]}", "401 characters"),
    ],
)
def test_json_values_are_bounded(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(CassetteFormatError, match=message):
        load_cassette(path)
