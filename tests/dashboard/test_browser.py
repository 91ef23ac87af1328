"""End to end: `harness dashboard` on 127.0.0.1, opened in headless Chromium through Playwright.

Debian's `chromium` (`.ci/run` installs it with apt-get; Playwright's own browser download cannot
work here), driven by the `playwright` package with `executable_path`. The test waits for the
charts, finds the injected token regression in the regression table (Streamlit's data grid keeps
an accessible table of its cells in the page), opens its drill-down and saves screenshots under
its tmp dir. Without Chromium it is skipped, unless HARNESS_REQUIRE_BROWSER=1 (CI) makes that a
failure.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from histories import CHANGED_ANSWER, REGRESSED, REGRESSED_NODE, History

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
WAIT_MS = 60_000

pytestmark = pytest.mark.slow


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("HARNESS_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"harness dashboard exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the dashboard did not answer on {url} within 60 s:\n{log.read_text()}")


@pytest.fixture
def dashboard(history: History, tmp_path: Path) -> Iterator[str]:
    """`harness dashboard --history ... --port N` running; its base URL."""
    _require_browser()
    port = _free_port()
    log = tmp_path / "dashboard.log"
    harness = Path(sys.executable).with_name("harness")
    command = [str(harness), "dashboard", "--history", str(history.path), "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _grid_rows(page: object) -> list[list[str]]:
    """The cells of every data grid on the page, row by row."""
    rows = page.locator('table[role="grid"] tbody tr')  # type: ignore[attr-defined]
    return [row.locator("td").all_inner_texts() for row in rows.all()]


def test_overview_then_drill_down_in_chromium(dashboard: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            started = time.monotonic()
            page.goto(dashboard + "/")
            charts = page.locator(".vega-embed")
            expect(charts.first).to_be_visible(timeout=WAIT_MS)
            expect(charts).to_have_count(2, timeout=WAIT_MS)  # the recent-batches charts
            expect(page.locator('table[role="grid"]').first).to_be_attached(timeout=WAIT_MS)
            loaded = time.monotonic() - started
            print(f"overview loaded in the browser in {loaded:.2f} s")
            rows = _grid_rows(page)
            assert any(
                r[:4] == [REGRESSED, "1", REGRESSED_NODE, "tokens"] and r[6] == "200" for r in rows
            ), rows
            assert page.locator('[data-testid="stException"]').count() == 0
            page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

            page.get_by_role("link", name=f"Open the drill-down of {REGRESSED}").click()
            page.wait_for_url("**/run?**", timeout=WAIT_MS)
            chat = page.locator('[data-testid="stChatMessage"]')
            expect(
                chat.filter(has_text="I need a follow-up visit next Tuesday morning")
            ).to_have_count(1, timeout=WAIT_MS)
            expect(chat.filter(has_text=CHANGED_ANSWER)).to_have_count(1, timeout=WAIT_MS)
            expect(page.get_by_text("tool call find_slots")).to_be_visible(timeout=WAIT_MS)
            assert "scenario=scenarios%2Fclinic%2Fbook_follow_up" in page.url
            assert page.locator('[data-testid="stException"]').count() == 0
            page.screenshot(path=str(tmp_path / "drill_down.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "overview.png").stat().st_size > 10_000
    assert (tmp_path / "drill_down.png").stat().st_size > 10_000
