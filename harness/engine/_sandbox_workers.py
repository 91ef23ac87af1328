"""Sandbox workers: child interpreters started before their call is known.

A worker (forked by the zygote, `_sandbox_zygote`, or where none runs booted directly) applies
every isolation layer that needs no call (namespaces, private root, private uid, seccomp,
parent-death signal), writes a "ready" frame, then blocks reading its one call. It runs that call
and exits: nothing is shared between calls, each gets its own process, uid and folder, exactly as
a child started for it would. `_sandbox_pool` keeps a few started.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.engine._sandbox_zygote import (
    CHILD_ENV,
    CHILD_SCRIPT,
    ForkedProcess,
    boot_command,
    fork_from_zygote,
    stop_zygotes,
    write_all,
)

__all__ = [
    "CHILD_SCRIPT",
    "TEMP_PREFIX",
    "UID_RANGE",
    "Exchange",
    "Worker",
    "kill_uid",
    "remove_left_folders",
    "start_worker",
]

TEMP_PREFIX = "harness-sandbox-"
"""Sandbox folders are `harness-sandbox-<harness pid>-<random>` in the temp dir."""
UID_RANGE = (2_000_000_000, 2_100_000_000)
"""Per-call uids come from a range no distribution allocates to real users."""
_GRACE_SECONDS = 5.0
_STDERR_TAIL_BYTES = 16_384
_POLL_SECONDS = 0.005  # exit polling where the OS has no pidfd (not Linux)
_rng = random.SystemRandom()
_made: set[str] = set()  # folders this process made and has not removed yet
_made_lock = threading.Lock()


@dataclass
class Exchange:
    """What came back from one worker."""

    stdout: bytes
    stderr: bytes
    returncode: int | None
    timed_out: bool
    overflow: bool


# ------------------------------------------------------------------ one worker


@dataclass
class Worker:
    """A started child interpreter waiting for its one call (or already answering it)."""

    process: subprocess.Popen[bytes] | ForkedProcess
    folder: str
    uid: int | None

    async def exchange(self, call: bytes, timeout: float, cap: int) -> Exchange:
        """Send the call once the worker is ready, wait for its exit, read what it wrote.

        Args:
            call: the call frame (JSON); sent only after the worker reported ready.
            timeout: wall-clock seconds from now until the worker's process group is killed.
            cap: most bytes of stdout kept (the rest is drained and dropped).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        stdout, stderr = asyncio.StreamReader(), asyncio.StreamReader()
        pipes = _PipeTransports()
        watch = _ExitWatch(self.process)
        tasks: list[asyncio.Future[Any]] = []
        try:
            writer = await pipes.adopt(self.process, stdout, stderr)
            first, ready = await _handshake(stdout, writer, call, deadline)
            # Without a ready frame the first line is the answer (a set-up failure), if any.
            kept = b"" if ready is not None else first or b""
            tasks = [
                asyncio.ensure_future(_read_head(stdout, cap, kept)),
                asyncio.ensure_future(_read_tail(stderr, _STDERR_TAIL_BYTES)),
            ]
            timed_out = first is None or not await watch.wait(deadline - loop.time())
            if timed_out and self.process.poll() is None:
                # Not reported as exited, so its group id is still its own: a booted child is
                # ours to reap; a forked one is reaped by the zygote just before it reports.
                _kill_group(self.process.pid)
            if not _left_nothing(ready, timed_out, self.process.returncode):
                kill_uid(self.uid)  # leftovers that left the group (setsid) or outlived it
            # Pipes reach EOF once every holder is dead; drain them so the transports close.
            await asyncio.wait([*tasks, watch.done], timeout=_GRACE_SECONDS)
        finally:
            if self.process.poll() is None:
                _kill_group(self.process.pid)
                kill_uid(self.uid)
            for task in tasks:
                task.cancel()
            watch.close()
            pipes.close()
        head: tuple[bytes, bool] = _result_or(tasks[0], (b"", False))
        tail: bytes = _result_or(tasks[1], b"")
        return Exchange(head[0], tail, self.process.returncode, timed_out, head[1])

    def discard(self) -> None:
        """Kill what is left of the worker, close its pipes, reap it, remove its folder.

        Blocks for a moment (the reaping): callers on an event loop hand it to a thread.
        """
        exited = self.process.poll() is not None
        orphaned = isinstance(self.process, ForkedProcess) and self.process.orphaned
        if not exited or orphaned:
            # An orphan's exit was never reported: it is dying, or not yet (not reaped while it
            # runs, so its group id is still its own).
            _kill_group(self.process.pid)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=_GRACE_SECONDS)  # killed, or exited: a moment at most
        if isinstance(self.process, ForkedProcess):
            self.process.wait_gone(_GRACE_SECONDS)
            self.process.close()
        _remove_folder(self.folder)


def _remove_folder(folder: str) -> None:
    """Remove a worker's folder, again while it comes back: a child killed in the middle of
    its set-up has processes (its PID namespace's) that die of it a moment later and may be
    creating its root in the folder until then."""
    deadline = time.monotonic() + _GRACE_SECONDS
    shutil.rmtree(folder, ignore_errors=True)
    while os.path.lexists(folder) and time.monotonic() < deadline:
        time.sleep(0.005)
        shutil.rmtree(folder, ignore_errors=True)
    if not os.path.lexists(folder):
        with _made_lock:
            _made.discard(folder)


def remove_left_folders() -> list[str]:
    """Remove every folder this process made that is still there; returns their paths.

    For interpreter exit, once the workers and zygotes are stopped: a worker that was being
    discarded, or dying of its zygote's death, when the exit began leaves nothing behind.
    """
    with _made_lock:
        left = sorted(_made)
    for folder in left:
        _remove_folder(folder)
    return left


def _at_exit() -> None:
    """Interpreter exit (after the pool has discarded its idle workers): kill the zygotes, whose
    children die with them, then remove any folder still there (a worker nobody held, or one
    dying of its zygote's death while the exit began)."""
    stop_zygotes(kill=True)
    remove_left_folders()


# Registered after the zygote's handler and before the pool's, so it runs between the two.
atexit.register(_at_exit)


def _forget_folders_after_fork() -> None:
    """In a forked harness process, the parent's folders are the parent's to remove."""
    global _made_lock
    _made.clear()
    _made_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_folders_after_fork)


def _left_nothing(ready: dict[str, Any] | None, timed_out: bool, returncode: int | None) -> bool:
    """True when nothing of the call can be left alive, so the /proc scan by uid can be skipped.

    In a PID namespace the worker exits only after the namespace's PID 1 is reaped, and the
    kernel reaps PID 1 only once every other process of the namespace has exited. A kill from
    outside (timeout, signal) breaks that chain, so it is scanned for.
    """
    in_namespace = ready is not None and ready.get("pids") == "namespace"
    return in_namespace and not timed_out and returncode is not None and returncode >= 0


async def _handshake(
    stdout: asyncio.StreamReader, writer: asyncio.WriteTransport, call: bytes, deadline: float
) -> tuple[bytes | None, dict[str, Any] | None]:
    """Wait for the worker's first line and send the call only after a ready frame.

    Returns the first line (None when the deadline passed first) and the ready frame's layers.
    """
    first = await _first_line(stdout, deadline)
    ready = _ready_layers(first or b"")
    if ready is not None:
        writer.write(call)
    writer.close()  # EOF ends the call; without a ready frame it tells the worker to exit
    return first, ready


def _ready_layers(line: bytes) -> dict[str, Any] | None:
    """The layers of a ready frame; None for anything else (a set-up failure, nothing)."""
    try:
        frame = json.loads(line)
    except ValueError:
        return None
    if isinstance(frame, dict) and frame.get("ready") is True:
        layers = frame.get("layers")
        return layers if isinstance(layers, dict) else {}
    return None


async def _first_line(stream: asyncio.StreamReader, deadline: float) -> bytes | None:
    """The worker's first line (ready or set-up failure); None when the deadline passed first."""
    remaining = deadline - asyncio.get_running_loop().time()
    try:
        return await asyncio.wait_for(stream.readline(), max(remaining, 0))
    except TimeoutError:
        return None
    except ValueError:  # a first line over the stream limit: not ours
        return b""


class _PipeTransports:
    """The worker's pipes, attached to the running event loop for one call."""

    def __init__(self) -> None:
        self._readers: list[asyncio.BaseTransport] = []
        self._writer: asyncio.WriteTransport | None = None

    async def adopt(
        self,
        process: subprocess.Popen[bytes] | ForkedProcess,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
    ) -> asyncio.WriteTransport:
        # Workers are started outside any event loop (they may serve any loop), so their pipes
        # join the loop of the call that uses them.
        assert process.stdin and process.stdout and process.stderr  # PIPE was requested
        loop = asyncio.get_running_loop()
        for reader, pipe in ((stdout, process.stdout), (stderr, process.stderr)):
            transport, _ = await loop.connect_read_pipe(
                functools.partial(asyncio.StreamReaderProtocol, reader), pipe
            )
            self._readers.append(transport)
        self._writer, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, process.stdin)
        return self._writer

    def close(self) -> None:
        for transport in self._readers:
            transport.close()
        writer = self._writer
        if writer is not None and writer.get_write_buffer_size():
            writer.abort()  # a call the worker never read: drop it, unregister the pipe now
        elif writer is not None and not writer.is_closing():
            writer.close()


class _ExitWatch:
    """Resolves `done` when the process exits and its return code is known.

    A forked child: its status pipe (the zygote reaps it and writes the status there). A booted
    child: a pidfd in the event loop, else polling.
    """

    def __init__(self, process: subprocess.Popen[bytes] | ForkedProcess) -> None:
        self._process = process
        self._loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self._loop.create_future()
        self._poller: asyncio.Future[None] | None = None
        self._fd: int | None = None
        self._own_fd = False
        if isinstance(process, ForkedProcess):
            self._fd = process.status_fd
        else:
            try:
                self._fd, self._own_fd = os.pidfd_open(process.pid), True
            except (AttributeError, OSError):  # not Linux 5.3+: poll
                self._poller = asyncio.ensure_future(self._poll())
        if self._fd is not None:
            self._loop.add_reader(self._fd, self._fire)

    async def wait(self, timeout: float) -> bool:
        """True once the process exited, False when `timeout` passed first."""
        if timeout > 0:
            await asyncio.wait({self.done}, timeout=timeout)
        return self.done.done()

    def _fire(self) -> None:
        # Reap now: the return code is known as soon as the child exits. A status pipe can be
        # readable with half a line: wait for the rest.
        if self._process.poll() is None and isinstance(self._process, ForkedProcess):
            return
        if not self.done.done():
            self.done.set_result(None)
        self._unwatch()

    async def _poll(self) -> None:
        while self._process.poll() is None:
            await asyncio.sleep(_POLL_SECONDS)
        self._fire()

    def _unwatch(self) -> None:
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            if self._own_fd:
                os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        self._unwatch()
        if self._poller is not None:
            self._poller.cancel()
        self.done.cancel()


async def _read_head(stream: asyncio.StreamReader, cap: int, kept: bytes) -> tuple[bytes, bool]:
    """Read to EOF keeping at most `cap` bytes (draining the rest so the child never blocks)."""
    head = bytearray(kept[:cap])
    overflow = len(kept) > cap
    while chunk := await stream.read(65_536):
        room = cap - len(head)
        head += chunk[:room]
        overflow = overflow or len(chunk) > room
    return bytes(head), overflow


async def _read_tail(stream: asyncio.StreamReader, cap: int) -> bytes:
    """Read to EOF keeping the last `cap` bytes (error messages are at the end)."""
    kept = b""
    while chunk := await stream.read(65_536):
        kept = (kept + chunk)[-cap:]
    return kept


_T = TypeVar("_T")


def _result_or(future: asyncio.Future[_T], default: _T) -> _T:
    if future.done() and not future.cancelled() and future.exception() is None:
        return future.result()
    return default


# ------------------------------------------------------------------ starting workers


def start_worker(python: str, policy: dict[str, Any]) -> Worker:
    """Start one worker; it isolates itself while nobody waits for it.

    Forked by the zygote of `python` where one runs (a few ms), else booted (~25 ms).
    """
    folder = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-")
    with _made_lock:
        _made.add(folder)
    os.chmod(folder, 0o711)  # the child's unprivileged uid must traverse it (no-chroot case)
    # A private uid only where the child will switch to it: otherwise scanning for it is moot.
    private = os.geteuid() == 0 and policy.get("drop_privileges", True)
    uid = _rng.randrange(*UID_RANGE) if private else None

    def setup_line(parent_pid: int) -> bytes:
        # The child dies with `parent_pid`: the zygote, or this process when booted directly.
        setup = {"workdir": folder, "uid": uid, "parent_pid": parent_pid, "policy": policy}
        return json.dumps(setup).encode() + b"\n"

    try:
        forked = fork_from_zygote(python, setup_line)
        process = forked or _boot_child(python, setup_line(os.getpid()))
    except BaseException:
        _remove_folder(folder)
        raise
    return Worker(process, folder, uid)


def _boot_child(python: str, setup: bytes) -> subprocess.Popen[bytes]:
    """A child booted as its own interpreter, the child script and `setup` sent on its stdin."""
    command, prelude = boot_command(python)
    process = subprocess.Popen(
        command,
        bufsize=0,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tempfile.gettempdir(),
        env=CHILD_ENV,
        start_new_session=True,
    )
    assert process.stdin is not None  # PIPE was requested
    # A child that died at once (a broken interpreter) says why when its call reads it.
    with contextlib.suppress(BrokenPipeError):
        write_all(process.stdin.fileno(), prelude + setup)
    return process


# ------------------------------------------------------------------ killing what is left


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        # A child forked a moment ago leads no group yet (setsid is its first step): kill it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pgid, signal.SIGKILL)
    except PermissionError:
        pass


def kill_uid(uid: int | None) -> None:
    """SIGKILL every live process whose real uid is the call's private uid (never 0, never shared).

    Scans every /proc/*/status, so it runs only where the PID namespace cannot vouch that the
    call left nothing behind (see `_left_nothing`).
    """
    if uid is None or uid < UID_RANGE[0]:
        return
    for _ in range(100):  # a forking process can create new ones while we scan
        found = [pid for pid in _pids() if _live_uid(pid) == uid]
        if not found:
            return
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)  # a killed process takes a moment to exit (freeing its memory)


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def _live_uid(pid: int) -> int | None:
    """The real uid of a process, or None if it is gone or a zombie (dead, awaiting its reaper)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            fields = dict(line.split(b":", 1) for line in handle if b":" in line)
        if fields.get(b"State", b"").split()[:1] in ([b"Z"], [b"X"]):
            return None
        return int(fields[b"Uid"].split()[0])
    except (OSError, ValueError, KeyError, IndexError):
        return None
