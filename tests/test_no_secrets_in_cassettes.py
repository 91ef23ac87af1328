"""No committed cassette or report holds anything key-like; a canary planted while recording
never reaches the file."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from harness.recording import open_cassette
from harness.recording.scrub import find_secret_like

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("cassettes", "reports")


def committed_files() -> list[Path]:
    """Files under cassettes/ and reports/ that git tracks (every file there, outside git)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", *SCANNED],
            cwd=ROOT,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        return [ROOT / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        return [p for folder in SCANNED for p in (ROOT / folder).rglob("*") if p.is_file()]


def scan(paths: list[Path]) -> dict[str, list[str]]:
    """Key-like strings found, by file."""
    found: dict[str, list[str]] = {}
    for path in paths:
        hits = find_secret_like(path.read_text(encoding="utf-8", errors="replace"))
        if hits:
            found[str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)] = hits
    return found


def test_committed_cassettes_and_reports_hold_no_secrets() -> None:
    found = scan(committed_files())
    assert not found, f"key-like strings in committed files (scrub and re-record them): {found}"


def _echo_provider(request: httpx.Request) -> httpx.Response:
    """A provider stand-in that repeats the credentials it got, as a careless server might."""
    return httpx.Response(
        200,
        headers={"set-cookie": f"s={request.headers['authorization']}", "openai-project": "proj_x"},
        json={"you_sent": request.headers["authorization"], "echo": json.loads(request.content)},
    )


async def test_a_canary_planted_while_recording_is_not_in_the_cassette(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"sk-harness-canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    path = tmp_path / "canary.json"
    inner = httpx.MockTransport(_echo_provider)
    headers = {"Authorization": f"Bearer {canary}"}
    body = {"model": "m", "messages": [{"role": "user", "content": canary}], "api_key": canary}
    async with (
        open_cassette(path, "once", inner=inner) as session,
        httpx.AsyncClient(transport=session.transport, headers=headers) as client,
    ):
        response = await client.post("https://api.openai.com/v1/chat/completions", json=body)
        session.mark_complete()
    assert canary in response.text  # the run itself saw the real values
    assert canary not in path.read_text()
    assert scan([path, *committed_files()]) == {}


def test_the_scan_catches_a_planted_canary(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.json"
    leaky.write_text('{"headers": {"authorization": ["Bearer sk-harness-canary-0123456789"]}}')
    assert set(scan([leaky])[str(leaky)]) >= {'"authorization":', "sk-harness-canary-0123456789"}
