"""A recording interrupted at any point (Ctrl-C or a kill) leaves the previous cassette or none,
never part of one; a Ctrl-C says which cassettes were not written; `once` then repairs it."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from recording_fakes import FakeProvider

from harness.recording import Interaction, save_cassette

CHILD = Path(__file__).with_name("interrupted_child.py")
COUNT = 3
OLD = Interaction(
    "POST",
    "http://127.0.0.1:1/v1/chat/completions",
    '{"messages": [{"role": "user", "content": "the old recording"}]}',
    {},
    200,
    "OK",
    {"content-type": ["application/json"]},
    "{}",
)


_STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_child_left() -> Iterator[None]:
    """A test that fails midway must not leave its child waiting forever."""
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
        process.communicate()


class Child:
    """The recording child process; its stdout read without Python's buffering (for select)."""

    def __init__(self, path: Path, mode: str, provider: FakeProvider) -> None:
        self.path = path
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), str(path), mode, provider.base_url, str(COUNT)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _STARTED.append(self.process)
        self._pending = b""

    def wait_for(self, line: str, timeout: float = 20) -> None:
        """Read the child's output up to the line `line` (earlier lines are skipped)."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\n" in self._pending:
                got, self._pending = self._pending.split(b"\n", 1)
                if got.strip() == line.encode():
                    return
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break  # the child exited
                self._pending += chunk
        self.process.kill()
        _, err = self.process.communicate()
        raise AssertionError(f"the child never printed {line!r}; stderr:\n{err.decode()}")

    def finish(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.with_name(self.path.name + ".go").touch()
        self.wait_for("done")
        _, err = self.process.communicate(timeout=20)
        assert self.process.returncode == 0, err.decode()

    def stop(self, sig: signal.Signals) -> str:
        """Send `sig`; the child's stderr once it has exited."""
        self.process.send_signal(sig)
        _, err = self.process.communicate(timeout=20)
        return err.decode()


def _interactions(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    return [
        json.loads(i["request"]["body"])["messages"][0]["content"] for i in data["interactions"]
    ]


def _record_complete(path: Path, mode: str, provider: FakeProvider) -> None:
    child = Child(path, mode, provider)
    child.wait_for("all sent")
    child.finish()
    path.with_name(path.name + ".go").unlink()


def _folder_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


POINTS = ["sent 1", "sent 2", "all sent"]  # during a request, between requests, before complete


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("point", POINTS)
def test_an_interrupted_first_recording_writes_no_cassette_and_once_repairs_it(
    tmp_path: Path, provider: FakeProvider, sig: signal.Signals, point: str
) -> None:
    path = tmp_path / "cassettes" / "interrupted.json"
    child = Child(path, "once", provider)
    child.wait_for(point)
    err = child.stop(sig)
    assert not path.exists()
    assert not path.parent.exists() or _folder_files(path) == []  # no temp file either
    if sig is signal.SIGINT:
        assert f"cassette {path} not written" in err
        assert "the scenario did not run to its end (interrupted or failed)" in err
        assert "no cassette written" in err
        assert "harness run scenarios/interrupted.yaml --record-mode once" in err

    _record_complete(path, "once", provider)  # what a following `--record-mode once` does
    assert len(_interactions(path)) == COUNT


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("point", POINTS)
def test_an_interrupted_rerecording_leaves_the_previous_cassette_byte_identical(
    tmp_path: Path, provider: FakeProvider, sig: signal.Signals, point: str
) -> None:
    path = tmp_path / "interrupted.json"
    save_cassette(path, [OLD])
    before = path.read_bytes()
    child = Child(path, "all", provider)
    child.wait_for(point)
    err = child.stop(sig)
    assert path.read_bytes() == before
    assert _folder_files(path) == ["interrupted.json"]
    if sig is signal.SIGINT:
        assert "the previous cassette is unchanged" in err
        assert "harness run scenarios/interrupted.yaml --rerecord" in err


def test_a_kill_right_after_completion_leaves_the_whole_new_cassette(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path = tmp_path / "interrupted.json"
    save_cassette(path, [OLD])
    before = path.read_bytes()
    child = Child(path, "all", provider)
    child.wait_for("all sent")
    path.with_name(path.name + ".go").touch()
    child.wait_for("done")
    child.stop(signal.SIGKILL)
    assert path.read_bytes() != before
    assert len(_interactions(path)) == COUNT  # the new recording, whole


def test_a_cassette_is_written_with_ordinary_permissions(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path = tmp_path / "interrupted.json"
    _record_complete(path, "once", provider)
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
