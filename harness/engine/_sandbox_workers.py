"""Sandbox workers: child interpreters started before their call is known.

A worker boots, applies every isolation layer that needs no call (namespaces, private root,
private uid, seccomp, parent-death signal), writes a "ready" frame, then blocks reading its one
call. It runs that call and exits: nothing is shared between calls, each gets its own process,
uid and folder, exactly as a child started for it would. `_sandbox_pool` keeps a few started.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import marshal
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "CHILD_SCRIPT",
    "TEMP_PREFIX",
    "UID_RANGE",
    "Exchange",
    "Worker",
    "kill_uid",
    "start_worker",
]

CHILD_SCRIPT = Path(__file__).with_name("_sandbox_child.py")
TEMP_PREFIX = "harness-sandbox-"
"""Sandbox folders are `harness-sandbox-<harness pid>-<random>` in the temp dir."""
UID_RANGE = (2_000_000_000, 2_100_000_000)
"""Per-call uids come from a range no distribution allocates to real users."""
_GRACE_SECONDS = 5.0
_STDERR_TAIL_BYTES = 16_384
_POLL_SECONDS = 0.005  # exit polling where the OS has no pidfd (not Linux)
# The child is compiled as `<sandbox>`, so tracebacks and frames never show the harness's path.
_BOOT_FROM_SOURCE = (
    "import sys; p = sys.argv.pop(1); exec(compile(open(p, 'rb').read(), '<sandbox>', 'exec'))"
)
# Compiling the child script costs a worker ~16 ms; an interpreter of the same build loads the
# parent's compiled copy from stdin instead (marshal's format is tied to the interpreter).
_BOOT_FROM_CODE = (
    "import marshal, sys; exec(marshal.loads(sys.stdin.buffer.read(int(sys.argv.pop(1)))))"
)
_rng = random.SystemRandom()


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

    process: subprocess.Popen[bytes]
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
            if timed_out:
                _kill_group(self.process.pid)  # still alive, so its group id is still its own
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
        if self.process.poll() is None:
            _kill_group(self.process.pid)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=_GRACE_SECONDS)  # killed, or exited: a moment at most
        shutil.rmtree(self.folder, ignore_errors=True)


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
        process: subprocess.Popen[bytes],
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
    """Resolves `done` when the process exits: a pidfd in the event loop, else polling."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self._loop.create_future()
        self._poller: asyncio.Future[None] | None = None
        self._fd: int | None = None
        try:
            self._fd = os.pidfd_open(process.pid)
        except (AttributeError, OSError):  # not Linux 5.3+: poll
            self._poller = asyncio.ensure_future(self._poll())
        else:
            self._loop.add_reader(self._fd, self._fire)

    async def wait(self, timeout: float) -> bool:
        """True once the process exited, False when `timeout` passed first."""
        if timeout > 0:
            await asyncio.wait({self.done}, timeout=timeout)
        return self.done.done()

    def _fire(self) -> None:
        self._process.poll()  # reap now: the return code is known as soon as the child exits
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


@functools.cache
def _compiled_child() -> bytes:
    source = CHILD_SCRIPT.read_bytes()
    return marshal.dumps(compile(source, "<sandbox>", "exec", dont_inherit=True))


def _boot_command(python: str) -> tuple[list[str], bytes]:
    """The command line that loads the child script in `python`, and what to send it first."""
    command = [python, "-I", "-S", "-B", "-c"]
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        code = _compiled_child()
        return [*command, _BOOT_FROM_CODE, str(len(code))], code
    return [*command, _BOOT_FROM_SOURCE, str(CHILD_SCRIPT)], b""


def start_worker(python: str, policy: dict[str, Any]) -> Worker:
    """Start one worker; it boots and isolates itself while nobody waits for it."""
    folder = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-")
    os.chmod(folder, 0o711)  # the child's unprivileged uid must traverse it (no-chroot case)
    # A private uid only where the child will switch to it: otherwise scanning for it is moot.
    private = os.geteuid() == 0 and policy.get("drop_privileges", True)
    uid = _rng.randrange(*UID_RANGE) if private else None
    command, prelude = _boot_command(python)
    try:
        process = subprocess.Popen(
            command,
            bufsize=0,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tempfile.gettempdir(),
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            start_new_session=True,
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    setup = {"workdir": folder, "uid": uid, "parent_pid": os.getpid(), "policy": policy}
    assert process.stdin is not None  # PIPE was requested
    # A child that died at once (a broken interpreter) says why when its call reads it.
    with contextlib.suppress(BrokenPipeError):
        _write_all(process.stdin.fileno(), prelude + json.dumps(setup).encode() + b"\n")
    return Worker(process, folder, uid)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# ------------------------------------------------------------------ killing what is left


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


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
