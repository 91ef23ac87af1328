"""Run inline Python tools in a sandboxed child interpreter.

Layers, outermost first (each one holds even if the next is bypassed):

1. A separate process: `python -I -S -B` (no site-packages, no PYTHON* variables), a scrubbed
   environment, a new session (its own process group), arguments and result as JSON over pipes.
2. Linux namespaces set up by the child (root, or a user namespace where allowed): a new network
   namespace (only a downed loopback: no network at all), a private mount namespace with a
   size-capped tmpfs as its root (the stdlib and system libraries bind-mounted read-only, a fresh
   `/work` as the working directory, no /proc, no /etc), new IPC and UTS namespaces.
3. An unprivileged, per-run random uid (when the harness runs as root): no access to root-owned
   files or processes, and `RLIMIT_NPROC` counts only this run's processes.
4. Resource limits: CPU seconds, address space, file size, open files, processes, no core dumps.
5. A wall-clock timeout that kills the process group, then every process of the run's uid.
6. A `sys.addaudithook` hook inside the child refusing sockets, subprocesses, fork/exec, signals,
   ctypes, and file access outside the working directory (defence in depth: audit hooks are not
   a security boundary on their own, CPython says so).

Where a layer is unavailable (not Linux, not root and no user namespaces) the run carries on
without it unless `SandboxPolicy.require_isolation` is set; `Sandbox.probe()` reports what applied.
See docs/sandbox.md for the attacks tested and what to use for untrusted configs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ToolError

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_RESULT_DEPTH",
    "Sandbox",
    "SandboxLimits",
    "SandboxPolicy",
    "SandboxReport",
    "ToolOutcome",
    "sweep_stale_folders",
]

DEFAULT_TIMEOUT_SECONDS = 10.0
_CHILD_SCRIPT = Path(__file__).with_name("_sandbox_child.py")
# Per-run uids come from a range no distribution allocates to real users.
_UID_RANGE = (2_000_000_000, 2_100_000_000)
_GRACE_SECONDS = 5.0
_TEMP_PREFIX = "harness-sandbox-"
"""Sandbox folders are `harness-sandbox-<harness pid>-<random>` in the temp dir."""
MAX_RESULT_DEPTH = 64
"""Deepest nesting of a tool result (the engine, the store and the server recurse on it)."""
# The child is compiled as `<sandbox>`, so tracebacks and frames never show the harness's path.
_BOOTSTRAP = (
    "import sys; p = sys.argv.pop(1); exec(compile(open(p, 'rb').read(), '<sandbox>', 'exec'))"
)
_STDERR_TAIL_BYTES = 16_384
_ERROR_EXCERPT_CHARS = 600


class ToolOutcome(BaseModel):
    """The result of one tool call: data for the LLM and the `_success`/`_error` variables.

    Defined with the sandbox (the lowest tool layer) and re-exported by `harness.engine.tools`.
    """

    model_config = ConfigDict(extra="forbid")

    success: bool = Field(description="True when the tool returned a result.")
    result: Any = Field(default=None, description="The tool's JSON-serialisable result.")
    error: str | None = Field(
        default=None, description="What went wrong, for the LLM and the user."
    )
    duration_ms: float = Field(default=0.0, ge=0, description="Wall time of the call.")

    @classmethod
    def failure(cls, error: str, *, started: float | None = None) -> ToolOutcome:
        """A failed outcome; `started` is a `time.perf_counter()` reading."""
        return cls(success=False, error=error, duration_ms=_elapsed_ms(started))

    @classmethod
    def ok(cls, result: Any, *, started: float | None = None) -> ToolOutcome:
        """A successful outcome; `started` is a `time.perf_counter()` reading."""
        return cls(success=True, result=result, duration_ms=_elapsed_ms(started))


class SandboxLimits(BaseModel):
    """Resource limits applied inside the child (rlimits and the tmpfs size)."""

    model_config = ConfigDict(extra="forbid")

    memory_mb: int = Field(default=512, ge=64, description="RLIMIT_AS: address space.")
    cpu_seconds: int | None = Field(
        default=None, ge=1, description="RLIMIT_CPU; default: the wall timeout rounded up, plus 1."
    )
    max_file_mb: int = Field(default=16, ge=1, description="RLIMIT_FSIZE: largest file written.")
    disk_mb: int = Field(default=64, ge=1, description="Size of the tmpfs holding /work and /tmp.")
    open_files: int = Field(default=64, ge=16, description="RLIMIT_NOFILE.")
    processes: int = Field(default=8, ge=1, description="RLIMIT_NPROC (threads count too).")
    max_result_bytes: int = Field(default=1_000_000, ge=1_000, description="Largest JSON result.")


class SandboxPolicy(BaseModel):
    """Which isolation layers to apply; each falls back gracefully unless `require_isolation`."""

    model_config = ConfigDict(extra="forbid")

    limits: SandboxLimits = Field(default_factory=SandboxLimits)
    isolate_network: bool = Field(default=True, description="New network namespace.")
    isolate_pids: bool = Field(
        default=True, description="New PID namespace: the tool is PID 1 and sees no host PID."
    )
    isolate_filesystem: bool = Field(default=True, description="Mount namespace + tmpfs chroot.")
    drop_privileges: bool = Field(default=True, description="Run as a random uid when root.")
    seccomp: bool = Field(
        default=True, description="Syscall filter (x86_64): no namespaces, mounts, bpf..."
    )
    audit_hook: bool = Field(default=True, description="sys.addaudithook guard in the child.")
    require_isolation: bool = Field(
        default=False, description="Refuse to run a tool when a requested OS layer is unavailable."
    )


class SandboxReport(BaseModel):
    """The isolation layers a child actually got (from `Sandbox.probe()`)."""

    network: str = Field(description='"namespace" or "none".')
    filesystem: str = Field(
        description='"private-root" (pivot_root), "chroot", or "none" (then only the audit hook guards).'
    )
    user: str = Field(description='"uid N", "user-namespace" or "unchanged".')
    seccomp: str = Field(default="none", description='"filter" or "none".')
    pids: str = Field(default="none", description='"namespace" or "none".')
    audit_hook: bool = False
    limits_refused: list[str] = Field(default_factory=list, description="rlimits the OS refused.")


@dataclass
class _Exchange:
    """What came back from one child process."""

    stdout: bytes
    stderr: bytes
    returncode: int | None
    timed_out: bool
    overflow: bool


class Sandbox:
    """Runs inline Python tool code in an isolated, resource-limited child interpreter.

    Safe to share between tasks and event loops; each call is its own process.
    """

    def __init__(
        self,
        policy: SandboxPolicy | None = None,
        *,
        python: str | None = None,
        default_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        max_concurrency: int | None = None,
    ) -> None:
        """Configure the sandbox.

        Args:
            policy: isolation layers and limits; the defaults suit tool code from configs.
            python: interpreter for the child; default: the one running the harness.
            default_timeout_seconds: wall-clock limit when a call gives none.
            max_concurrency: children alive at once; default: the number of CPUs.
        """
        self.policy = policy or SandboxPolicy()
        self.python = python or sys.executable
        self.default_timeout_seconds = default_timeout_seconds
        self.max_concurrency = max_concurrency or os.cpu_count() or 2
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._semaphores = weakref.WeakKeyDictionary()
        self._rng = random.SystemRandom()
        _sweep_once()

    async def probe(self) -> SandboxReport:
        """Run an empty tool and report which isolation layers the child got.

        Raises:
            ToolError: the child could not even run an empty tool (e.g. a broken interpreter).
        """
        message = await self._call("def probe():\n    return None\n", {}, None, None)
        layers = message.get("layers") or {}
        if not message.get("ok"):
            raise ToolError(
                f"the sandbox probe failed: {message.get('error')}",
                hint="run `python benchmarks/sandbox.py` to see which layer fails on this machine",
            )
        return SandboxReport(
            network=str(layers.get("network", "none")),
            filesystem=str(layers.get("filesystem", "none")),
            user=str(layers.get("user", "unchanged")),
            seccomp=str(layers.get("seccomp", "none")),
            pids=str(layers.get("pids", "none")),
            audit_hook=bool(layers.get("audit_hook", False)),
            limits_refused=[str(name) for name in layers.get("limits_refused", [])],
        )

    async def run_python(
        self,
        code: str,
        arguments: dict[str, Any],
        *,
        timeout_seconds: float | None = None,
        function_name: str | None = None,
    ) -> ToolOutcome:
        """Define the function in `code` and call it with `arguments` as keyword arguments.

        Args:
            code: Python source defining the tool function (placeholders already substituted).
            arguments: JSON-serialisable keyword arguments.
            timeout_seconds: wall-clock limit; default `default_timeout_seconds`.
            function_name: which function to call when the code defines several (else the only
                one, else the last public one).

        Returns:
            A `ToolOutcome`; every failure (exception, timeout, limit, signal, blocked operation)
            is an unsuccessful outcome with a message, never an exception.
        """
        started = time.perf_counter()
        try:
            json.dumps(arguments, allow_nan=False)
        except (TypeError, ValueError) as exc:
            return ToolOutcome.failure(
                f"tool arguments are not JSON-serialisable: {exc}", started=started
            )
        try:
            message = await self._call(code, arguments, timeout_seconds, function_name)
        except OSError as exc:
            return ToolOutcome.failure(
                f"could not start the sandbox interpreter {self.python!r}: {exc}", started=started
            )
        if message.get("ok"):
            return ToolOutcome.ok(message.get("result"), started=started)
        return ToolOutcome.failure(str(message.get("error")), started=started)

    # ---------------------------------------------------------------- internals

    async def _call(
        self,
        code: str,
        arguments: dict[str, Any],
        timeout_seconds: float | None,
        function_name: str | None,
    ) -> dict[str, Any]:
        timeout = timeout_seconds or self.default_timeout_seconds
        async with self._semaphore():
            base = tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-")
            os.chmod(base, 0o711)  # the child's unprivileged uid must traverse it (no-chroot case)
            uid = self._rng.randrange(*_UID_RANGE) if os.geteuid() == 0 else None
            try:
                request = self._request(code, arguments, function_name, base, uid, timeout)
                exchange = await self._spawn_and_wait(request, timeout, uid)
            finally:
                shutil.rmtree(base, ignore_errors=True)
        return self._interpret(exchange, timeout)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return semaphore

    def _request(
        self,
        code: str,
        arguments: dict[str, Any],
        function_name: str | None,
        base: str,
        uid: int | None,
        timeout: float,
    ) -> bytes:
        limits = self.policy.limits
        cpu = limits.cpu_seconds or math.ceil(timeout) + 1
        request = {
            "code": code,
            "arguments": arguments,
            "function_name": function_name,
            "workdir": base,
            "uid": uid,
            "cpu_seconds": cpu,
            "parent_pid": os.getpid(),
            "policy": self.policy.model_dump(),
        }
        return json.dumps(request).encode()

    async def _spawn_and_wait(self, request: bytes, timeout: float, uid: int | None) -> _Exchange:
        proc = await asyncio.create_subprocess_exec(
            self.python,
            "-I",
            "-S",
            "-B",
            "-c",
            _BOOTSTRAP,
            str(_CHILD_SCRIPT),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=tempfile.gettempdir(),
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            start_new_session=True,
        )
        assert proc.stdin and proc.stdout and proc.stderr  # PIPE was requested for all three
        cap = self.policy.limits.max_result_bytes + 65_536
        feeder = asyncio.ensure_future(_feed(proc.stdin, request))
        head = asyncio.ensure_future(_read_head(proc.stdout, cap))
        tail = asyncio.ensure_future(_read_tail(proc.stderr, _STDERR_TAIL_BYTES))
        waiter = asyncio.ensure_future(proc.wait())
        everything: list[asyncio.Future[Any]] = [feeder, head, tail, waiter]
        try:
            timed_out = await _wait_for_exit(proc, waiter, timeout)
            if timed_out:
                _kill_group(proc.pid)  # the child is still alive, so its group id is still its own
            _kill_uid(uid)  # leftovers that left the group (setsid) or outlived the child
            # Pipes reach EOF once every holder is dead; drain them so the transport closes.
            await asyncio.wait(everything, timeout=_GRACE_SECONDS)
        finally:
            if proc.returncode is None:
                _kill_group(proc.pid)
            _kill_uid(uid)
            for future in everything:
                future.cancel()
        stdout, overflow = _result_or(head, (b"", False))
        return _Exchange(stdout, _result_or(tail, b""), proc.returncode, timed_out, overflow)

    def _interpret(self, exchange: _Exchange, timeout: float) -> dict[str, Any]:
        """Turn what the child left behind into a message dict (`ok`, `result` / `error`)."""
        if exchange.timed_out:
            return {
                "ok": False,
                "error": f"timed out after {timeout:g} s (wall clock); the tool's processes were killed",
            }
        if exchange.overflow:
            return {"ok": False, "error": "the tool wrote more output than the result limit allows"}
        if not exchange.stdout.strip():
            return {"ok": False, "error": self._explain_exit(exchange)}
        return _check_frame(exchange.stdout, self.policy.limits.max_result_bytes)

    def _explain_exit(self, exchange: _Exchange) -> str:
        code = exchange.returncode
        limits = self.policy.limits
        stderr = _excerpt(exchange.stderr)
        detail = f"; stderr: {stderr}" if stderr else ""
        if code is not None and code < 0:
            sig = -code
            name = signal.Signals(sig).name if sig in signal.valid_signals() else f"signal {sig}"
            if sig == signal.SIGXCPU:
                return f"CPU time limit exceeded; the tool was killed by {name}{detail}"
            if sig in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGKILL):
                return f"the tool process was killed by {name} (often the {limits.memory_mb} MB memory limit){detail}"
            return f"the tool process was killed by {name}{detail}"
        return f"the tool process exited with status {code} without a result{detail}"


# ------------------------------------------------------------------ the result frame


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_frame(data: bytes, max_result_bytes: int) -> dict[str, Any]:
    """Validate what came back on the result channel; never trust the child's own checks.

    Tool code runs in the same process as the child's writer, so it can write on the result
    descriptor itself. Whatever it writes must pass the same rules as a returned value: exactly
    one success line, strict JSON (no NaN or Infinity), a known shape, the size and depth limits.
    """
    forged = {"ok": False, "error": "the tool wrote on the sandbox's result channel itself"}
    lines = data.rstrip(b"\n").split(b"\n")
    try:
        message = json.loads(lines[-1], parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return forged
    if not isinstance(message, dict) or not isinstance(message.get("ok"), bool):
        return forged
    # Several frames: the tool wrote some itself, or forked copies of the child each reported.
    # A failure is still reported as such; a success among several frames is not trusted.
    if len(lines) > 1 and (message["ok"] or any(b'"ok": true' in line for line in lines)):
        return forged
    if not message["ok"]:
        return {**message, "error": str(message.get("error"))}
    result = message.get("result")
    if _depth(result) > MAX_RESULT_DEPTH:
        return {
            "ok": False,
            "error": f"the tool result nests deeper than {MAX_RESULT_DEPTH} levels; "
            "return a flatter value",
        }
    size = len(json.dumps(result))
    if size > max_result_bytes:
        return {
            "ok": False,
            "error": f"the tool result is {size} bytes of JSON, over the {max_result_bytes}-byte limit",
        }
    return message


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value (iterative: never recurses)."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


# ------------------------------------------------------------------ left-behind folders


def sweep_stale_folders(temp_dir: str | None = None) -> list[str]:
    """Remove sandbox folders whose harness process is gone (e.g. killed with SIGKILL).

    A folder is named after the harness PID that made it; while that PID is alive it is left
    alone. Runs once per process, when the first `Sandbox` is made. Returns the removed paths.
    """
    root = Path(temp_dir or tempfile.gettempdir())
    removed: list[str] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        owner = _owner_pid(entry.name)
        if owner is None or owner == os.getpid() or _pid_alive(owner):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink() and entry.stat().st_uid == os.geteuid():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(str(entry))
    return removed


def _owner_pid(name: str) -> int | None:
    if not name.startswith(_TEMP_PREFIX):
        return None
    pid = name[len(_TEMP_PREFIX) :].split("-", 1)[0]
    return int(pid) if pid.isdigit() and "-" in name[len(_TEMP_PREFIX) :] else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


_swept = False


def _sweep_once() -> None:
    global _swept
    if not _swept:
        _swept = True
        sweep_stale_folders()


# ------------------------------------------------------------------ process helpers


def _elapsed_ms(started: float | None) -> float:
    return 0.0 if started is None else round((time.perf_counter() - started) * 1000, 3)


_T = TypeVar("_T")


def _result_or(future: asyncio.Future[_T], default: _T) -> _T:
    if future.done() and not future.cancelled() and future.exception() is None:
        return future.result()
    return default


def _excerpt(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    return text if len(text) <= _ERROR_EXCERPT_CHARS else "..." + text[-_ERROR_EXCERPT_CHARS:]


async def _wait_for_exit(
    proc: asyncio.subprocess.Process, waiter: asyncio.Future[Any], timeout: float
) -> bool:
    """Wait until the child exits; True on timeout.

    `Process.wait()` also waits for the pipes to close, which a process the tool left behind can
    hold open forever; the return code is set as soon as the child itself exits.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while proc.returncode is None:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return True
        await asyncio.wait({waiter}, timeout=min(remaining, 0.05))
    return False


async def _feed(stream: asyncio.StreamWriter, data: bytes) -> None:
    # The child may die before reading everything: a broken pipe is its failure, not ours.
    with contextlib.suppress(ConnectionError, BrokenPipeError):
        stream.write(data)
        await stream.drain()
        stream.close()


async def _read_head(stream: asyncio.StreamReader, cap: int) -> tuple[bytes, bool]:
    """Read to EOF keeping at most `cap` bytes (draining the rest so the child never blocks)."""
    kept = bytearray()
    overflow = False
    while chunk := await stream.read(65_536):
        room = cap - len(kept)
        kept += chunk[:room]
        overflow = overflow or len(chunk) > room
    return bytes(kept), overflow


async def _read_tail(stream: asyncio.StreamReader, cap: int) -> bytes:
    """Read to EOF keeping the last `cap` bytes (error messages are at the end)."""
    kept = b""
    while chunk := await stream.read(65_536):
        kept = (kept + chunk)[-cap:]
    return kept


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _kill_uid(uid: int | None) -> None:
    """SIGKILL every live process whose real uid is the run's private uid (never 0, never shared)."""
    if uid is None or uid < _UID_RANGE[0]:
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
