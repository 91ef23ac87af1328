"""The zygote: one booted child interpreter per interpreter path that forks sandbox children.

A child booted from scratch spends ~25 ms starting `python -I -S -B` and loading the child
script; forked from a booted copy it is ready in a few. So for each interpreter the harness
starts one zygote (the child script with `--zygote`: same scrubbed environment, own session,
parent-death signal, the stdlib modules a child needs already loaded, nothing isolated yet and no
secret held) and asks it for a child whenever a worker is needed:

- The harness makes the child's pipes (stdin, stdout, stderr) and a status pipe, and sends the
  child's ends to the zygote over a Unix socket (SCM_RIGHTS). The zygote forks; the child puts
  the three pipes on 0-2, closes every other descriptor (the control socket above all) and carries
  on exactly as a booted child: set-up line, isolation, ready line, one call, exit.
- The child is the zygote's, so the zygote reaps it and writes its pid, then its wait status, on
  the status pipe; `ForkedProcess` offers the part of `subprocess.Popen` the workers use (pid,
  pipes, `poll`, `wait`, `returncode`), and the process group is still the child's own, so a
  timeout kills it from the harness as before.
- Lifetime: the zygote is started from the long-lived spawner thread and arms its parent-death
  signal, its children arm theirs against the zygote; `stop_zygotes` (with the idle workers, and
  at exit) closes it; a forked harness process forgets its parent's zygotes and starts its own;
  a dead zygote is replaced once, and where none can run the worker is booted directly.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.machinery
import marshal
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = [
    "CHILD_SCRIPT",
    "ForkedProcess",
    "Zygote",
    "boot_command",
    "fork_from_zygote",
    "stop_zygotes",
    "zygote_pids",
]

CHILD_SCRIPT = Path(__file__).with_name("_sandbox_child.py")
CHILD_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
"""The whole environment of a sandbox interpreter (zygote or booted child)."""
_BOOT_TIMEOUT_SECONDS = 10.0
# The child is compiled as `<sandbox>`, so tracebacks and frames never show the harness's path.
_BOOT_FROM_SOURCE = (
    "import sys; p = sys.argv.pop(1); exec(compile(open(p, 'rb').read(), '<sandbox>', 'exec'))"
)
# Compiling the child script costs ~16 ms; an interpreter of the same build loads the parent's
# compiled copy from stdin instead (marshal's format is tied to the interpreter).
_BOOT_FROM_CODE = (
    "import marshal, sys; exec(marshal.loads(sys.stdin.buffer.read(int(sys.argv.pop(1)))))"
)


@functools.cache
def _compiled_child() -> bytes:
    """The child script's code, as `<sandbox>`, marshalled.

    From the script's cached bytecode when it is up to date (the import system's own check, and
    it writes the cache where bytecode may be written): compiling the source took ~10 ms of the
    first sandboxed call of every run, on the path of that call.
    """
    loader = importlib.machinery.SourceFileLoader("_sandbox_child", str(CHILD_SCRIPT))
    code = loader.get_code("_sandbox_child")
    assert code is not None  # None only for a module without source
    return marshal.dumps(_renamed(code, "<sandbox>"))


def _renamed(code: types.CodeType, filename: str) -> types.CodeType:
    """`code` and the code of every function in it with `co_filename` set to `filename`."""
    consts = tuple(
        _renamed(const, filename) if isinstance(const, types.CodeType) else const
        for const in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)


def boot_command(python: str) -> tuple[list[str], bytes]:
    """The command line that loads the child script in `python`, and what to send it first."""
    command = [python, "-I", "-S", "-B", "-c"]
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        code = _compiled_child()
        return [*command, _BOOT_FROM_CODE, str(len(code))], code
    return [*command, _BOOT_FROM_SOURCE, str(CHILD_SCRIPT)], b""


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to a blocking descriptor."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class ZygoteGone(OSError):
    """The zygote did not answer (it died, or never booted)."""


# ------------------------------------------------------------------ a forked child


class ForkedProcess:
    """A child forked by the zygote: the part of `subprocess.Popen` the workers use."""

    def __init__(self, pid: int, pipes: tuple[int, int, int], status_fd: int, rest: bytes) -> None:
        self.pid = pid
        self.stdin: IO[bytes] | None = open(pipes[0], "wb", buffering=0)  # noqa: SIM115
        self.stdout: IO[bytes] | None = open(pipes[1], "rb", buffering=0)  # noqa: SIM115
        self.stderr: IO[bytes] | None = open(pipes[2], "rb", buffering=0)  # noqa: SIM115
        self.returncode: int | None = None
        self.orphaned = False
        """The zygote died without reporting the exit: the child is dying of its parent-death
        signal, but may not be dead yet (`wait_gone`)."""
        self._status_fd: int | None = status_fd
        self._pending = rest  # what was read of the status pipe after the pid line
        os.set_blocking(status_fd, False)

    @property
    def status_fd(self) -> int | None:
        """Readable once the zygote reported the exit (or died); None once closed."""
        return self._status_fd

    def poll(self) -> int | None:
        """The return code (as `Popen.returncode`) if the zygote reported the exit, else None."""
        fd = self._status_fd
        while self.returncode is None and fd is not None:
            if b"\n" in self._pending:
                line = self._pending.split(b"\n", 1)[0]
                self.returncode = os.waitstatus_to_exitcode(int(line))
                break
            try:
                chunk = os.read(fd, 64)
            except BlockingIOError:
                return None
            if not chunk:
                # The zygote died before reaping the child; the child dies with it (its
                # parent-death signal), which `wait_gone` waits for.
                self.returncode, self.orphaned = -signal.SIGKILL, True
            self._pending += chunk
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit; raises `subprocess.TimeoutExpired` as `Popen.wait` does."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise subprocess.TimeoutExpired(f"sandbox child {self.pid}", timeout or 0)
            if self._status_fd is None:
                raise subprocess.TimeoutExpired(f"sandbox child {self.pid} (closed)", 0)
            _readable(self._status_fd, remaining)
        return code

    def wait_gone(self, timeout: float) -> None:
        """For an orphaned child (killed by then): wait, at most `timeout` s, until it has
        exited, so that nothing of it still writes in its folder. E.g. at interpreter exit the
        spawner thread ends before the idle workers are discarded, and the zygote, whose
        parent-death signal follows that thread, dies first."""
        if not self.orphaned:
            return
        try:
            pidfd = os.pidfd_open(self.pid)  # readable once the process has exited
        except (AttributeError, OSError):  # gone already, or not Linux 5.3+
            return
        try:
            _readable(pidfd, timeout)
        finally:
            os.close(pidfd)

    def close(self) -> None:
        """Close the status pipe (the other pipes belong to the worker, which closes them)."""
        if self._status_fd is not None:
            os.close(self._status_fd)
            self._status_fd = None


# ------------------------------------------------------------------ the zygote


class Zygote:
    """One booted interpreter that forks sandbox children; see the module docstring."""

    def __init__(self, python: str) -> None:
        """Start the zygote; it boots in the background (fork requests wait on its socket).

        Raises:
            OSError: the interpreter could not be started.
        """
        self.python = python
        self.served = False
        """Whether it ever forked a child (else a failure may mean it cannot boot at all)."""
        self.closed = False
        self._lock = threading.Lock()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        command, prelude = boot_command(python)
        try:
            self.process = subprocess.Popen(
                [*command, "--zygote", str(theirs.fileno()), str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=tempfile.gettempdir(),
                env=CHILD_ENV,
                start_new_session=True,
                pass_fds=(theirs.fileno(),),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._control = ours
        self._control.settimeout(_BOOT_TIMEOUT_SECONDS)
        assert self.process.stdin is not None  # PIPE was requested
        with contextlib.suppress(BrokenPipeError):  # died at once: its first fork will say so
            write_all(self.process.stdin.fileno(), prelude)
        self.process.stdin.close()

    @property
    def pid(self) -> int:
        """The zygote's process id (its children's parent)."""
        return self.process.pid

    def fork(self, first_input: bytes) -> ForkedProcess:
        """A new child, its pipes connected to this process.

        Args:
            first_input: put in the child's stdin before it is forked (its set-up line), so the
                child starts isolating itself while this process reads its pid.

        Raises:
            ZygoteGone: the zygote is dead, never booted, or does not answer.
        """
        stdin, stdout, stderr, status = os.pipe(), os.pipe(), os.pipe(), os.pipe()
        child_ends = [stdin[0], stdout[1], stderr[1], status[1]]
        ours = (stdin[1], stdout[0], stderr[0])
        write_all(stdin[1], first_input)  # a set-up line: far below a pipe's capacity
        try:
            with self._lock:
                socket.send_fds(self._control, [b"F"], child_ends)
        except OSError as exc:
            for fd in (*child_ends, *ours, status[0]):
                os.close(fd)
            raise ZygoteGone(f"the sandbox zygote is gone: {exc}") from exc
        for fd in child_ends:
            os.close(fd)  # the zygote holds them now (and hands them to the child)
        try:
            pid, rest = _read_pid(status[0])
        except BaseException:
            for fd in (*ours, status[0]):
                os.close(fd)
            raise
        self.served = True
        return ForkedProcess(pid, ours, status[0], rest)

    def close(self, *, kill: bool = False) -> None:
        """Stop it: no more forks. `kill` ends it (and its children) now and reaps it; else it
        exits by itself once its last child has exited."""
        self.closed = True
        with contextlib.suppress(OSError):
            self._control.close()
        if kill:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        if kill or self.process.poll() is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=_BOOT_TIMEOUT_SECONDS)
        else:
            _reap_later(self.process)

    def forget(self) -> None:
        """In a forked harness process: drop this process's copy of the socket, touch nothing else."""
        with contextlib.suppress(OSError):
            self._control.close()


def _read_pid(fd: int) -> tuple[int, bytes]:
    """The pid line the zygote writes after forking, and any bytes read past it."""
    data = b""
    deadline = time.monotonic() + _BOOT_TIMEOUT_SECONDS
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not _readable(fd, remaining):
            raise ZygoteGone("the sandbox zygote did not answer a fork request")
        chunk = os.read(fd, 64)
        if not chunk:
            raise ZygoteGone("the sandbox zygote died before forking")
        data += chunk
    line, rest = data.split(b"\n", 1)
    if not line.isdigit():
        raise OSError(f"the sandbox zygote could not fork: {line.decode(errors='replace')}")
    return int(line), rest


def _readable(fd: int, timeout: float | None) -> bool:
    """Whether `fd` became readable within `timeout` seconds (None: no limit).

    `poll`, not `select`: a harness with more than 1,024 descriptors open gets numbers that
    `select` refuses."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000) + 1)))


_closing: list[subprocess.Popen[bytes]] = []


def _reap_later(process: subprocess.Popen[bytes] | None) -> None:
    """Keep a closing zygote until it has exited; reap those that have (at every close)."""
    if process is not None:
        _closing.append(process)
    _closing[:] = [p for p in _closing if p.poll() is None]


# ------------------------------------------------------------------ one zygote per interpreter

_zygotes: dict[str, Zygote] = {}
_zygotes_lock = threading.Lock()
_cannot_boot: set[str] = set()  # interpreters whose zygote did not boot: not tried again
_inherited: list[Zygote] = []  # zygotes of the parent of a fork(): never used


def fork_from_zygote(python: str, first_input: Callable[[int], bytes]) -> ForkedProcess | None:
    """A child forked by the zygote of `python` (started, or restarted once, as needed).

    Args:
        python: the interpreter.
        first_input: the child's first input (its set-up line), given the pid of its parent
            (the zygote), whose death it must watch.

    Returns None where no zygote can serve (no fork here, or it does not boot): the caller then
    boots the child directly, which reports the interpreter's own error if there is one.
    """
    if not hasattr(os, "fork") or not hasattr(socket, "send_fds"):
        return None
    for _attempt in range(2):  # a zygote that died (e.g. killed) is replaced once
        zygote = _zygote(python)
        if zygote is None:
            return None
        try:
            return zygote.fork(first_input(zygote.pid))
        except ZygoteGone:
            never_booted = not zygote.served and not zygote.closed  # (not closed by us)
            _discard(zygote)
            if never_booted:  # children of this interpreter are booted directly from now on
                with _zygotes_lock:
                    _cannot_boot.add(python)
                return None
    return None


def zygote_pids() -> dict[str, int]:
    """The running zygotes of this process: interpreter path -> pid."""
    with _zygotes_lock:
        return {python: zygote.pid for python, zygote in _zygotes.items()}


def _zygote(python: str) -> Zygote | None:
    with _zygotes_lock:
        zygote = _zygotes.get(python)
        if zygote is not None or python in _cannot_boot:
            return zygote
        try:
            zygote = _zygotes[python] = Zygote(python)
        except OSError:
            _cannot_boot.add(python)
            return None
        return zygote


def _discard(zygote: Zygote) -> None:
    with _zygotes_lock:
        if _zygotes.get(zygote.python) is zygote:
            del _zygotes[zygote.python]
    zygote.close(kill=True)


def stop_zygotes(*, kill: bool = False) -> int:
    """Close every zygote of this process; later workers start a new one. Returns how many.

    Args:
        kill: end them (and any child still running) now; else each exits after its last child.
    """
    with _zygotes_lock:
        zygotes = list(_zygotes.values())
        _zygotes.clear()
    for zygote in zygotes:
        zygote.close(kill=kill)
    for process in list(_closing) if kill else []:
        process.kill()
        process.wait()
    _reap_later(None)
    return len(zygotes)


# Registered before the pool's handler (the pool imports this module), so it runs after it.
atexit.register(stop_zygotes, kill=True)


def _forget_after_fork() -> None:
    """In a forked harness process, the parent's zygotes are not ours: each process its own."""
    global _zygotes_lock
    _inherited.extend(_zygotes.values())
    _zygotes.clear()
    _closing.clear()
    _zygotes_lock = threading.Lock()
    for zygote in _inherited:
        zygote.forget()  # else the parent closing its socket would not reach the zygote


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
