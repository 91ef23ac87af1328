"""The zygote: sandbox children are forked by one booted interpreter, with the same guarantees.

What a child does once forked (isolation, the call, exit statuses) is covered by
`test_sandbox.py`, whose calls all go through the zygote; this file covers the zygote itself:
who forks the children, its lifetime, its restart, the fallback, and what a child inherits.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from proc_helpers import parent_pid, running

from harness.engine import _sandbox_pool, _sandbox_workers
from harness.engine._sandbox_workers import start_worker
from harness.engine._sandbox_zygote import ForkedProcess, stop_zygotes, zygote_pids
from harness.engine.sandbox import Sandbox, SandboxPolicy, stop_idle_workers

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc; the zygote forks (POSIX)"
)

PING = "def ping(x):\n    return x + 1\n"


@pytest.fixture(autouse=True)
def fresh_zygotes() -> Iterator[None]:
    stop_idle_workers()
    yield
    stop_idle_workers()


def _wait_dead(pids: list[int], seconds: float = 5) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(running(pid) for pid in pids):
        time.sleep(0.02)
    return [pid for pid in pids if running(pid)]


def test_workers_are_forked_by_one_zygote() -> None:
    policy = SandboxPolicy().model_dump()
    first, second = start_worker(sys.executable, policy), start_worker(sys.executable, policy)
    try:
        zygote = zygote_pids()[sys.executable]
        assert isinstance(first.process, ForkedProcess)
        assert parent_pid(first.process.pid) == zygote == parent_pid(second.process.pid)
        assert parent_pid(zygote) == os.getpid()
        assert first.process.pid != second.process.pid
    finally:
        first.discard()
        second.discard()


async def test_calls_run_in_forked_children_and_report_their_exit() -> None:
    sandbox = Sandbox(default_timeout_seconds=5)
    assert (await sandbox.run_python(PING, {"x": 1})).result == 2
    zygote = zygote_pids()[sys.executable]
    segfault = "import faulthandler\n\ndef f():\n    faulthandler._sigsegv()\n"
    crashed = await sandbox.run_python(segfault, {})
    assert "killed by SIGSEGV" in (crashed.error or "")
    exited = await sandbox.run_python("import os\n\ndef f():\n    os._exit(7)\n", {})
    assert "exited with status 7 without a result" in (exited.error or "")
    slept = await sandbox.run_python(
        "import time\n\ndef f():\n    time.sleep(30)\n", {}, timeout_seconds=1
    )
    assert "timed out after 1 s" in (slept.error or "")
    assert zygote_pids()[sys.executable] == zygote  # the same zygote served every call


async def test_a_killed_zygote_is_replaced() -> None:
    sandbox = Sandbox()
    assert (await sandbox.run_python(PING, {"x": 1})).success
    old = zygote_pids()[sys.executable]
    os.kill(old, signal.SIGKILL)  # its idle workers die with it (parent-death signal)
    assert _wait_dead([old]) == []
    for x in range(3):  # the dead idle workers are skipped, not handed a call
        outcome = await sandbox.run_python(PING, {"x": x})
        assert outcome.success and outcome.result == x + 1, outcome
    assert zygote_pids()[sys.executable] != old


async def test_without_a_zygote_workers_are_booted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sandbox_workers, "fork_from_zygote", lambda python, first_input: None)
    worker = start_worker(sys.executable, SandboxPolicy().model_dump())
    try:
        assert isinstance(worker.process, subprocess.Popen)
        assert parent_pid(worker.process.pid) == os.getpid()
    finally:
        worker.discard()
    assert (await Sandbox().run_python(PING, {"x": 1})).result == 2
    assert zygote_pids() == {}


async def test_an_interpreter_that_cannot_be_a_zygote_still_reports_its_failure() -> None:
    outcome = await Sandbox(python="/bin/false").run_python(PING, {"x": 1})
    assert not outcome.success
    assert "exited with status 1 without a result" in (outcome.error or "")
    assert zygote_pids() == {}


async def test_tool_code_holds_no_descriptor_of_the_zygote() -> None:
    # No private root and no hook, so the tool can list its descriptors in /proc.
    policy = SandboxPolicy(isolate_filesystem=False, audit_hook=False)
    code = (
        "import os\n\ndef fds():\n    found = {}\n    for fd in os.listdir('/proc/self/fd'):\n"
        "        try:\n            found[fd] = os.readlink(f'/proc/self/fd/{fd}')\n"
        "        except OSError:\n            pass\n    return found\n"
    )
    outcome = await Sandbox(policy).run_python(code, {})
    assert outcome.success, outcome
    kinds = [target.split(":")[0] for target in outcome.result.values()]
    assert "socket" not in kinds, outcome.result
    assert len(outcome.result) <= 5, outcome.result  # stdin, stdout, stderr, result, listdir


def test_stop_closes_the_zygote() -> None:
    start_worker(sys.executable, SandboxPolicy().model_dump()).discard()
    zygote = zygote_pids()[sys.executable]
    assert stop_zygotes() == 1
    assert _wait_dead([zygote]) == []
    assert zygote_pids() == {}


FORKING_HARNESS = """
import asyncio, json, os, sys
from harness.engine.sandbox import Sandbox, stop_idle_workers
from harness.engine._sandbox_zygote import zygote_pids

async def call():
    assert (await Sandbox().run_python("def f():\\n    return 1\\n", {})).success
    return zygote_pids()[sys.executable]

parent_zygote = asyncio.run(call())
read, write = os.pipe()
if os.fork() == 0:
    os.write(write, json.dumps(asyncio.run(call())).encode())
    os.close(write)
    sys.stdin.read()  # stay alive until the parent has stopped its zygote
    stop_idle_workers()
    os._exit(0)
os.close(write)
child_zygote = json.loads(os.read(read, 100))
stop_idle_workers()  # the child's copy of the socket must not keep the parent's zygote serving
print(json.dumps([parent_zygote, child_zygote]), flush=True)
sys.stdin.read()
"""


def test_a_forked_harness_process_starts_its_own_zygote(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    harness = subprocess.Popen(
        [sys.executable, "-c", FORKING_HARNESS],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert harness.stdout is not None
        parent_zygote, child_zygote = json.loads(harness.stdout.readline())
        assert parent_zygote != child_zygote
        assert _wait_dead([parent_zygote]) == [], "the parent's zygote outlived its close"
        assert running(child_zygote)
    finally:
        assert harness.stdin is not None
        harness.stdin.close()
        harness.wait(timeout=30)
        if harness.stdout is not None:
            harness.stdout.close()


KILLED_HARNESS = """
import asyncio, json, sys
from harness.engine.sandbox import Sandbox
from harness.engine._sandbox_zygote import zygote_pids

async def main():
    sandbox = Sandbox()
    await sandbox.run_python("def f():\\n    return 1\\n", {})  # zygote and idle workers up
    print(json.dumps(zygote_pids()[sys.executable]), flush=True)
    await sandbox.run_python("import time\\ndef f():\\n    time.sleep(120)\\n", {},
                             timeout_seconds=120)

asyncio.run(main())
"""


def test_sigkill_of_the_harness_kills_the_zygote_and_its_children(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    harness = subprocess.Popen(
        [sys.executable, "-c", KILLED_HARNESS], env=env, stdout=subprocess.PIPE
    )
    try:
        assert harness.stdout is not None
        zygote = json.loads(harness.stdout.readline())
        deadline = time.monotonic() + 20
        children: list[int] = []
        while time.monotonic() < deadline and len(children) < 2:
            children = [pid for pid in _all_pids() if parent_pid(pid) == zygote]
            time.sleep(0.05)
        assert len(children) >= 2, "the sleeping call's child and an idle one"
        time.sleep(0.3)
    finally:
        harness.send_signal(signal.SIGKILL)
        harness.wait()
        if harness.stdout is not None:
            harness.stdout.close()
    assert _wait_dead([zygote, *children]) == []


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def test_a_worker_started_ahead_reports_ready_through_its_own_pipes() -> None:
    worker = start_worker(sys.executable, SandboxPolicy().model_dump())
    try:
        assert worker.process.stdout is not None
        ready = json.loads(worker.process.stdout.readline())
        assert ready["ready"] is True
    finally:
        worker.discard()
    assert worker.process.returncode is not None  # reaped by the zygote, reported to us


def test_the_zygote_has_no_thread_but_its_own() -> None:
    start_worker(sys.executable, SandboxPolicy().model_dump()).discard()
    zygote = zygote_pids()[sys.executable]
    assert os.listdir(f"/proc/{zygote}/task") == [str(zygote)]  # fork copies only one thread


def test_asyncio_is_not_needed_to_wait_for_a_forked_child() -> None:
    worker = start_worker(sys.executable, SandboxPolicy().model_dump())
    assert isinstance(worker.process, ForkedProcess)
    assert worker.process.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        worker.process.wait(timeout=0.05)
    worker.discard()
    assert worker.process.returncode == -signal.SIGKILL
    asyncio.run(asyncio.sleep(0))


async def test_a_call_takes_the_worker_started_ahead_even_before_it_is_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[_sandbox_workers.Worker] = []
    served: list[_sandbox_workers.Worker] = []
    real_start, real_acquire = _sandbox_pool.start_worker, _sandbox_pool.WorkerPool.acquire

    def start(python: str, policy: dict[str, object]) -> _sandbox_workers.Worker:
        started.append(real_start(python, policy))
        return started[-1]

    async def acquire(pool: _sandbox_pool.WorkerPool) -> _sandbox_workers.Worker:
        served.append(await real_acquire(pool))
        return served[-1]

    monkeypatch.setattr(_sandbox_pool, "start_worker", start)
    monkeypatch.setattr(_sandbox_pool.WorkerPool, "acquire", acquire)
    sandbox = Sandbox(max_concurrency=2)
    sandbox.start_ahead()  # the zygote boots and forks on the spawner thread meanwhile
    assert (await sandbox.run_python(PING, {"x": 1})).result == 2
    assert served[0] is started[0]  # it waited for that start instead of queueing another


async def test_a_call_cancelled_while_waiting_for_a_start_leaves_the_worker_to_the_pool() -> None:
    sandbox = Sandbox(max_concurrency=2)
    sandbox.start_ahead()
    call = asyncio.ensure_future(sandbox.run_python(PING, {"x": 1}))
    await asyncio.sleep(0.001)  # the call now waits for the worker being started ahead
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    pool = _sandbox_pool.worker_pool(sys.executable, SandboxPolicy().model_dump(), 2)
    deadline = time.monotonic() + 20
    while not pool._idle and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert len(pool._idle) == 1  # the started worker went back to the pool, not lost
    assert (await sandbox.run_python(PING, {"x": 1})).result == 2


MANY_DESCRIPTORS = """
import asyncio, os, resource
from harness.engine.sandbox import Sandbox

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]  # new pipes get numbers > 1,024

async def main():
    sandbox = Sandbox()
    sandbox.start_ahead()  # as a run does at its first inline-Python scenario
    for _ in range(2):
        outcome = await asyncio.wait_for(sandbox.run_python("def f():\\n    return 1\\n", {}), 20)
        print(outcome.success, outcome.result, flush=True)

asyncio.run(main())
"""


def test_calls_work_in_a_harness_with_more_than_1024_descriptors_open() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("the descriptor limit cannot be raised above 1,200 here")
    done = subprocess.run(
        [sys.executable, "-c", MANY_DESCRIPTORS], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["True 1", "True 1"]


async def test_a_start_ahead_that_fails_unexpectedly_leaves_no_call_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real, failures = start_worker, ["a bug in starting"]

    def start(python: str, policy: dict[str, object]) -> _sandbox_workers.Worker:
        if failures:
            raise RuntimeError(failures.pop())
        return real(python, policy)

    monkeypatch.setattr(_sandbox_pool, "start_worker", start)
    sandbox = Sandbox(max_concurrency=2)
    sandbox.start_ahead()  # fails on the spawner thread
    for _ in range(2):  # the call that waited for it, then one that finds the count settled
        outcome = await asyncio.wait_for(sandbox.run_python(PING, {"x": 1}), 20)
        assert (outcome.success, outcome.result) == (True, 2)


def test_a_worker_whose_zygote_died_is_gone_with_its_folder_once_discarded() -> None:
    # At interpreter exit the spawner thread ends first and the zygote, whose parent-death signal
    # follows that thread, dies before the idle workers are discarded: their exit is unreported.
    workers = [start_worker(sys.executable, SandboxPolicy().model_dump()) for _ in range(3)]
    os.kill(zygote_pids()[sys.executable], signal.SIGKILL)
    for worker in workers:
        worker.discard()
        assert isinstance(worker.process, ForkedProcess) and worker.process.orphaned
        assert not running(worker.process.pid)  # dead (a zombie at most), not dying
        assert not Path(worker.folder).exists()
