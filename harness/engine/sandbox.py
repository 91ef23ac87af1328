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

Every call gets a fresh child that serves only that call. To keep the interpreter's start and
the set-up of layers 1-3 off the call's path, children are started ahead of their call, a few
per (interpreter, policy), and isolate themselves while they wait (`_sandbox_pool`,
`_sandbox_workers`); they are forked by a zygote, one booted interpreter per interpreter path
that holds no call data, so a child is ready in a few ms instead of an interpreter's boot
(`_sandbox_zygote`).

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
import shutil
import signal
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ToolError
from harness.models._factories import empty_list

if TYPE_CHECKING:
    from harness.engine._sandbox_workers import Exchange

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_RESULT_DEPTH",
    "Sandbox",
    "SandboxLimits",
    "SandboxPolicy",
    "SandboxReport",
    "ToolOutcome",
    "stop_idle_workers",
    "sweep_stale_folders",
]

DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_RESULT_DEPTH = 64
"""Deepest nesting of a tool result (the engine, the store and the server recurse on it)."""
_ERROR_EXCERPT_CHARS = 600


class ToolOutcome(BaseModel):
    """The result of one tool call: data for the LLM and the `_success`/`_error` variables.

    Defined with the sandbox (the lowest tool layer) and re-exported by `harness.engine.tools`.
    """

    # Built on first use, not at import: a run whose workflows call no tool never makes one.
    model_config = ConfigDict(extra="forbid", defer_build=True)

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

    model_config = ConfigDict(defer_build=True)  # only `Sandbox.probe()` makes one

    network: str = Field(description='"namespace" or "none".')
    filesystem: str = Field(
        description='"private-root" (pivot_root), "chroot", or "none" (then only the audit hook guards).'
    )
    user: str = Field(description='"uid N", "user-namespace" or "unchanged".')
    seccomp: str = Field(default="none", description='"filter" or "none".')
    pids: str = Field(default="none", description='"namespace" or "none".')
    audit_hook: bool = False
    limits_refused: list[str] = Field(
        default_factory=empty_list, description="rlimits the OS refused."
    )


class Sandbox:
    """Runs inline Python tool code in an isolated, resource-limited child interpreter.

    Safe to share between tasks and event loops; each call is its own process (started ahead of
    the call, and shared with no other call). `stop_idle_workers()` stops the waiting ones.
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
            max_concurrency: calls running at once, and children kept started ahead for this
                interpreter and policy; default: the number of CPUs.
        """
        self.policy = policy or SandboxPolicy()
        self.python = python or sys.executable
        self.default_timeout_seconds = default_timeout_seconds
        self.max_concurrency = max_concurrency or os.cpu_count() or 2
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._semaphores = weakref.WeakKeyDictionary()
        _sweep_once()

    def start_ahead(self) -> None:
        """Start a child now, in the background, so that the first call does not wait for an
        interpreter to boot (e.g. when a run that calls inline Python begins): the zygote boots
        and forks it at once.

        One: the first call needs one, and children booting at the same time slow each other
        down (measured on 2 cores: the first call took longer with two started ahead than with
        none). The others start as calls use them.
        """
        from harness.engine._sandbox_pool import worker_pool

        worker_pool(self.python, self.policy.model_dump(), self.max_concurrency).fill(up_to=1)

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
        cpu = self.policy.limits.cpu_seconds or math.ceil(timeout) + 1
        call = {
            "code": code,
            "arguments": arguments,
            "function_name": function_name,
            "cpu_seconds": cpu,
        }
        cap = self.policy.limits.max_result_bytes + 65_536
        # Imported on first use: a run without inline-Python tools never loads the workers.
        from harness.engine._sandbox_pool import worker_pool

        async with self._semaphore():
            pool = worker_pool(self.python, self.policy.model_dump(), self.max_concurrency)
            worker = await pool.acquire()
            try:
                exchange = await worker.exchange(json.dumps(call).encode(), timeout, cap)
            finally:
                pool.release(worker)
        return self._interpret(exchange, timeout)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return semaphore

    def _interpret(self, exchange: Exchange, timeout: float) -> dict[str, Any]:
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

    def _explain_exit(self, exchange: Exchange) -> str:
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


# ------------------------------------------------------------------ children started ahead


def stop_idle_workers() -> int:
    """Stop the children started ahead that still wait for a call; remove their folders.

    Later calls start fresh ones. Returns how many were stopped, once no process of their
    private uids is left (tests use it before looking for processes a call left behind).
    """
    from harness.engine._sandbox_pool import stop_idle_workers as stop

    return stop()


# ------------------------------------------------------------------ left-behind folders


def sweep_stale_folders(temp_dir: str | None = None) -> list[str]:
    """Remove sandbox folders whose harness process is gone (e.g. killed with SIGKILL).

    A folder is named after the harness PID that made it; while that PID is alive it is left
    alone. Runs once per process, when the first `Sandbox` is made. Returns the removed paths.
    """
    from harness.engine._sandbox_workers import TEMP_PREFIX  # loaded with the first Sandbox

    root = Path(temp_dir or tempfile.gettempdir())
    removed: list[str] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        owner = _owner_pid(entry.name, TEMP_PREFIX)
        if owner is None or owner == os.getpid() or _pid_alive(owner):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink() and entry.stat().st_uid == os.geteuid():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(str(entry))
    return removed


def _owner_pid(name: str, prefix: str) -> int | None:
    if not name.startswith(prefix):
        return None
    pid = name[len(prefix) :].split("-", 1)[0]
    return int(pid) if pid.isdigit() and "-" in name[len(prefix) :] else None


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


# ------------------------------------------------------------------ helpers


def _elapsed_ms(started: float | None) -> float:
    return 0.0 if started is None else round((time.perf_counter() - started) * 1000, 3)


def _excerpt(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    return text if len(text) <= _ERROR_EXCERPT_CHARS else "..." + text[-_ERROR_EXCERPT_CHARS:]
