"""`harness model serve`: the scripted model (and its static routes) over real HTTP, until stopped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from harness.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scenarios" / "model" / "script.json"


def test_model_serve_prints_its_url_and_answers() -> None:
    cmd = [sys.executable, "-m", "harness.cli", "model", "serve", "--script", str(SCRIPT)]
    with subprocess.Popen([*cmd, "--port", "0"], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            base_url = proc.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
            models = httpx.get(f"{base_url}/models", timeout=10)
            stock = httpx.get(
                f"{base_url.removesuffix('/v1')}/pharmacy/stock/metformin", timeout=10
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert models.json()["data"][0]["id"] == "scripted-model"
    assert stock.json()["reference"] == "RF-metformin-0412"


def test_model_serve_refuses_a_bad_script(tmp_path: Path) -> None:
    bad = tmp_path / "script.yaml"
    bad.write_text("rules: [{reply: {}}]\n", encoding="utf-8")
    assert main(["model", "serve", "--script", str(bad), "--port", "0"]) == 2
