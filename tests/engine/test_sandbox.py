"""The inline-Python sandbox: normal calls, failures as data, and every attack contained.

Each attack runs twice: with every layer (the default policy) and with the audit hook switched
off, to show that the OS layers (namespaces, chroot, private uid, rlimits) hold on their own.
OS-layer runs are skipped where the machine cannot provide the layer (not root, no unshare).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from proc_helpers import descendants, parent_pid, running

from harness.engine.sandbox import (
    MAX_RESULT_DEPTH,
    Sandbox,
    SandboxLimits,
    SandboxPolicy,
    SandboxReport,
    ToolOutcome,
    stop_idle_workers,
    sweep_stale_folders,
)

LIMITS = SandboxLimits(memory_mb=256, max_file_mb=8, disk_mb=32, processes=8)
CANARY = "canary-secret-5f2b9c1e"


@pytest.fixture(scope="module")
def layers() -> SandboxReport:
    return asyncio.run(Sandbox().probe())


@pytest.fixture(params=["all-layers", "os-layers-only"])
def sandbox(request: pytest.FixtureRequest, layers: SandboxReport) -> Sandbox:
    if request.param == "os-layers-only" and layers.filesystem == "none":
        pytest.skip(f"OS isolation unavailable here: {layers}")
    hook = request.param == "all-layers"
    return Sandbox(SandboxPolicy(limits=LIMITS, audit_hook=hook), default_timeout_seconds=5)


@pytest.fixture
def full_sandbox() -> Sandbox:
    return Sandbox(SandboxPolicy(limits=LIMITS), default_timeout_seconds=5)


async def assert_still_works(sandbox: Sandbox) -> None:
    """After an attack, the sandbox (and this process) carry on."""
    outcome = await sandbox.run_python("def ping(x):\n    return x + 1\n", {"x": 41})
    assert outcome == ToolOutcome(success=True, result=42, duration_ms=outcome.duration_ms)


def assert_contained(outcome: ToolOutcome, *leaks: str) -> None:
    assert not outcome.success, outcome
    assert outcome.error
    dumped = outcome.model_dump_json()
    for leak in leaks:
        assert leak not in dumped


def private_uid_processes() -> list[int]:
    """Live processes still running under a sandbox uid (there must be none after a call).

    The workers started ahead for later calls run under their own private uids; they have run
    no tool, so they are stopped first. Processes of other harness processes on the machine
    (their own workers) are not ours: only our descendants and orphans count.
    """
    stop_idle_workers()
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/status") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
            uid, state = int(fields["Uid"].split()[0]), fields["State"].split()[0]
        except (OSError, KeyError, ValueError):
            continue
        sandboxed = 2_000_000_000 <= uid < 2_100_000_000 and state not in ("Z", "X")
        if sandboxed and _ours_or_orphaned(int(name)):
            found.append(int(name))
    return found


def _ours_or_orphaned(pid: int) -> bool:
    """Started by this process (any depth), or left to init (e.g. a daemon that escaped)."""
    parent = parent_pid(pid)
    if parent in (0, 1):
        return True
    while parent not in (None, 0, 1):
        if parent == os.getpid():
            return True
        parent = parent_pid(parent)
    return False


# ------------------------------------------------------------------ normal behaviour


async def test_calls_the_function_with_keyword_arguments(full_sandbox: Sandbox) -> None:
    code = "import math\n\ndef area(radius, unit='cm'):\n    return {'area': round(math.pi * radius**2, 2), 'unit': unit}\n"
    outcome = await full_sandbox.run_python(code, {"radius": 2})
    assert outcome.success and outcome.result == {"area": 12.57, "unit": "cm"}
    assert outcome.error is None and outcome.duration_ms > 0


async def test_prints_do_not_corrupt_the_result(full_sandbox: Sandbox) -> None:
    code = 'def noisy():\n    print(\'{"ok": true, "result": "forged"}\')\n    return \'real\'\n'
    outcome = await full_sandbox.run_python(code, {})
    assert outcome.result == "real"


@pytest.mark.parametrize(
    ("code", "function_name", "expected"),
    [
        ("def _helper():\n    return 1\n\ndef main():\n    return _helper() + 1\n", None, 2),
        ("def a():\n    return 'a'\n\ndef b():\n    return 'b'\n", "a", "a"),
        ("def a():\n    return 'a'\n\ndef b():\n    return 'b'\n", None, "b"),
    ],
)
async def test_picks_the_tool_function(
    full_sandbox: Sandbox, code: str, function_name: str | None, expected: str
) -> None:
    outcome = await full_sandbox.run_python(code, {}, function_name=function_name)
    assert outcome.result == expected


@pytest.mark.parametrize(
    ("code", "arguments", "message"),
    [
        (
            "def f():\n    return 1 / 0\n",
            {},
            "ZeroDivisionError: division by zero (line 2 of the tool code)",
        ),
        ("def f():\n    return {1, 2}\n", {}, "not JSON-serialisable"),
        ("def f():\n    return float('nan')\n", {}, "not JSON-serialisable"),
        (
            "def f(x):\n    return x\n",
            {"y": 1},
            "TypeError: f() got an unexpected keyword argument 'y'",
        ),
        ("x = 1\n", {}, "defines no function"),
        ("def f(:\n", {}, "SyntaxError"),
        ("async def f():\n    return 1\n", {}, "async def"),
        ("import sys\n\ndef f():\n    sys.exit(3)\n", {}, "SystemExit: 3"),
        ("import os\n\ndef f():\n    os._exit(0)\n", {}, "exited with status 0 without a result"),
        ("import faulthandler\n\ndef f():\n    faulthandler._sigsegv()\n", {}, "killed by SIGSEGV"),
        (
            "import httpx\n\ndef f():\n    return 1\n",
            {},
            "ModuleNotFoundError: No module named 'httpx'",
        ),
        ("def f():\n    return 'x' * 2_000_000\n", {}, "over the 1000000-byte limit"),
    ],
)
async def test_failures_become_tool_errors(
    full_sandbox: Sandbox, code: str, arguments: dict[str, object], message: str
) -> None:
    outcome = await full_sandbox.run_python(code, arguments)
    assert_contained(outcome)
    assert message in (outcome.error or "")


async def test_arguments_must_be_json(full_sandbox: Sandbox) -> None:
    outcome = await full_sandbox.run_python("def f(x):\n    return x\n", {"x": {1, 2}})
    assert_contained(outcome)
    assert "not JSON-serialisable" in (outcome.error or "")


async def test_missing_interpreter_is_a_tool_error() -> None:
    outcome = await Sandbox(python="/nonexistent/python").run_python("def f():\n    return 1\n", {})
    assert_contained(outcome)
    assert "could not start the sandbox interpreter" in (outcome.error or "")


async def test_concurrent_calls_stay_separate(full_sandbox: Sandbox) -> None:
    code = "import os\n\ndef f(n):\n    open('mine.txt', 'w').write(str(n))\n    return [n, os.listdir('.')]\n"
    outcomes = await asyncio.gather(*(full_sandbox.run_python(code, {"n": n}) for n in range(4)))
    assert [o.result for o in outcomes] == [[n, ["mine.txt"]] for n in range(4)]


async def test_threads_left_running_do_not_hold_the_result(full_sandbox: Sandbox) -> None:
    code = "import threading, time\n\ndef f():\n    threading.Thread(target=time.sleep, args=(60,)).start()\n    return 'done'\n"
    outcome = await full_sandbox.run_python(code, {}, timeout_seconds=3)
    assert outcome.result == "done" and outcome.duration_ms < 2000


def test_reports_the_layers_applied(layers: SandboxReport) -> None:
    assert layers.audit_hook
    if os.geteuid() == 0 and layers.network == "namespace":
        assert layers.filesystem == "private-root" and layers.user.startswith("uid ")
        assert layers.seccomp == ("filter" if os.uname().machine == "x86_64" else "none")


async def test_require_isolation_refuses_when_a_layer_is_missing(layers: SandboxReport) -> None:
    if layers.network == "namespace":
        pytest.skip("every layer is available here; nothing to refuse")
    policy = SandboxPolicy(require_isolation=True)
    outcome = await Sandbox(policy).run_python("def f():\n    return 1\n", {})
    assert_contained(outcome)
    assert "required isolation unavailable" in (outcome.error or "")


# ------------------------------------------------------------------ attacks


async def test_infinite_loop_times_out(sandbox: Sandbox) -> None:
    outcome = await sandbox.run_python(
        "def spin():\n    while True:\n        pass\n", {}, timeout_seconds=1
    )
    assert_contained(outcome)
    assert "timed out after 1 s" in (outcome.error or "")
    assert outcome.duration_ms < 4000
    await assert_still_works(sandbox)


async def test_cpu_limit_kills_a_busy_tool(sandbox: Sandbox) -> None:
    policy = sandbox.policy.model_copy(
        update={"limits": LIMITS.model_copy(update={"cpu_seconds": 1})}
    )
    outcome = await Sandbox(policy).run_python(
        "def spin():\n    while True:\n        pass\n", {}, timeout_seconds=10
    )
    assert_contained(outcome)
    assert "CPU time limit exceeded" in (outcome.error or "")


async def test_long_sleep_is_killed_by_the_wall_clock(sandbox: Sandbox) -> None:
    outcome = await sandbox.run_python(
        "import time\n\ndef nap():\n    time.sleep(60)\n", {}, timeout_seconds=1
    )
    assert_contained(outcome)
    assert "timed out" in (outcome.error or "")
    assert outcome.duration_ms < 4000
    assert private_uid_processes() == []


@pytest.mark.parametrize(
    "code",
    [
        "def bomb():\n    return len(bytearray(8 * 1024**3))\n",
        "def bomb():\n    hoard = []\n    while True:\n        hoard.append(bytearray(10**6))\n",
    ],
    ids=["one-huge-allocation", "gradual-growth"],
)
async def test_memory_bomb_hits_the_memory_limit(sandbox: Sandbox, code: str) -> None:
    outcome = await sandbox.run_python(code, {})
    assert_contained(outcome)
    assert "memory limit exceeded (256 MB" in (outcome.error or "")
    await assert_still_works(sandbox)


async def test_huge_file_write_hits_the_file_size_limit(sandbox: Sandbox) -> None:
    code = "def fill():\n    with open('big.bin', 'wb') as out:\n        out.write(b'x' * (64 * 1024**2))\n"
    outcome = await sandbox.run_python(code, {})
    assert_contained(outcome)
    assert "file size limit exceeded (8 MB per file)" in (outcome.error or "")


async def test_many_files_hit_the_disk_quota(sandbox: Sandbox, layers: SandboxReport) -> None:
    if layers.filesystem == "none":
        pytest.skip("the disk quota is the chroot's tmpfs")
    code = "def fill():\n    for i in range(20):\n        open(f'part{i}', 'wb').write(b'x' * (7 * 1024**2))\n"
    outcome = await sandbox.run_python(code, {})
    assert_contained(outcome)
    assert "disk quota exceeded (32 MB" in (outcome.error or "")


async def test_fork_bomb_is_contained(sandbox: Sandbox) -> None:
    outcome = await sandbox.run_python(
        "import os\n\ndef bomb():\n    while True:\n        os.fork()\n", {}
    )
    assert_contained(outcome)
    assert "os.fork" in (outcome.error or "") or "Resource temporarily unavailable" in (
        outcome.error or ""
    )
    assert private_uid_processes() == []
    await assert_still_works(sandbox)


async def test_escaped_daemon_is_killed_after_the_call(
    sandbox: Sandbox, layers: SandboxReport
) -> None:
    code = (
        "import os, time\n\ndef escape():\n    if os.fork() == 0:\n        os.setsid()\n"
        "        time.sleep(60)\n    return 'parent returned'\n"
    )
    outcome = await sandbox.run_python(code, {})
    if sandbox.policy.audit_hook:
        assert_contained(outcome)
    else:
        assert outcome.result == "parent returned"
    if layers.user.startswith("uid "):
        assert private_uid_processes() == []


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(CANARY)
    path.chmod(0o644)
    return path


@pytest.mark.parametrize(
    "target", ["/etc/passwd", "secret", "/proc/1/environ", "../../../../etc/hostname"]
)
async def test_reading_outside_the_working_directory_fails(
    sandbox: Sandbox, secret_file: Path, target: str
) -> None:
    path = str(secret_file) if target == "secret" else target
    outcome = await sandbox.run_python(
        "def peek(path):\n    return open(path).read()\n", {"path": path}
    )
    assert_contained(outcome, CANARY, "root:x:0:0")


async def test_symlink_to_outside_does_not_help(sandbox: Sandbox, secret_file: Path) -> None:
    code = "import os\n\ndef peek(path):\n    os.symlink(path, 'link')\n    return open('link').read()\n"
    outcome = await sandbox.run_python(code, {"path": str(secret_file)})
    assert_contained(outcome, CANARY)


async def test_writing_outside_the_working_directory_fails(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "pwned"
    tmp_path.chmod(0o777)
    outcome = await sandbox.run_python(
        "def drop(path):\n    open(path, 'w').write('x')\n", {"path": str(target)}
    )
    assert_contained(outcome)
    assert not target.exists()


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP server on 127.0.0.1 that records every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            accepted.append(peer)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


async def test_socket_to_a_listening_port_never_connects(
    sandbox: Sandbox, listener: tuple[int, list[object]]
) -> None:
    port, accepted = listener
    code = (
        "import socket\n\ndef call_home(port):\n    s = socket.create_connection(('127.0.0.1', port), timeout=2)\n"
        "    s.sendall(b'hello')\n    return 'connected'\n"
    )
    outcome = await sandbox.run_python(code, {"port": port})
    assert_contained(outcome)
    await asyncio.sleep(0.3)  # let the server thread notice a connection if one had arrived
    assert accepted == []


async def test_os_system_runs_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    tmp_path.chmod(0o777)
    code = "import os\n\ndef shell(path):\n    return os.system(f'touch {path}')\n"
    outcome = await sandbox.run_python(code, {"path": str(marker)})
    if sandbox.policy.audit_hook:
        assert_contained(outcome)
        assert "blocked by the harness sandbox: os.system" in (outcome.error or "")
    else:
        assert outcome.result != 0  # no shell exists inside the chroot
    assert not marker.exists()


async def test_subprocess_runs_nothing(sandbox: Sandbox) -> None:
    code = "import subprocess\n\ndef run():\n    return subprocess.run(['cat', '/etc/passwd'], capture_output=True, text=True).stdout\n"
    outcome = await sandbox.run_python(code, {})
    assert_contained(outcome, "root:x:0:0")


async def test_parent_environment_is_invisible(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_TEST_CANARY", CANARY)
    code = "import os\n\ndef env():\n    return dict(os.environ)\n"
    outcome = await sandbox.run_python(code, {})
    assert outcome.success and CANARY not in json.dumps(outcome.result)
    assert "HARNESS_TEST_CANARY" not in outcome.result
    code = "import os\n\ndef env():\n    return open(f'/proc/{os.getppid()}/environ', 'rb').read().decode('latin-1')\n"
    assert_contained(await sandbox.run_python(code, {}), CANARY)


async def test_signalling_the_parent_fails(sandbox: Sandbox) -> None:
    code = "import os, signal\n\ndef kill():\n    os.kill(os.getppid(), signal.SIGTERM)\n"
    outcome = await sandbox.run_python(code, {})
    assert_contained(outcome)
    await assert_still_works(sandbox)


async def test_too_many_open_files(sandbox: Sandbox) -> None:
    code = "def hoard():\n    return [open(f'f{i}', 'w') for i in range(1000)]\n"
    outcome = await sandbox.run_python(code, {})
    assert_contained(outcome)
    assert "Too many open files" in (outcome.error or "")


async def test_output_flood_is_capped(sandbox: Sandbox) -> None:
    code = "import os\n\ndef flood():\n    for _ in range(50):\n        os.write(3, b'x' * 1_000_000)\n    return 1\n"
    outcome = await sandbox.run_python(code, {})
    assert_contained(outcome)


# ------------------------------------------------------------------ fallbacks


@pytest.mark.parametrize(
    ("layers_got", "missing"),
    [
        ({"network": "none", "filesystem": "chroot", "user": "uid 7"}, "network namespace"),
        (
            {"network": "namespace", "filesystem": "none", "user": "uid 7"},
            "private filesystem root",
        ),
        (
            {"network": "namespace", "filesystem": "chroot", "user": "unchanged"},
            "unprivileged user",
        ),
    ],
)
def test_require_isolation_names_the_missing_layer(
    layers_got: dict[str, str], missing: str
) -> None:
    from harness.engine._sandbox_child import SetupError, _require

    policy = SandboxPolicy(require_isolation=True).model_dump()
    with pytest.raises(SetupError, match=f"required isolation unavailable: {missing}"):
        _require(policy, layers_got)
    _require({**policy, "require_isolation": False}, layers_got)


NON_ROOT_PROBE = """
import asyncio
from harness.engine.sandbox import Sandbox, SandboxPolicy

async def main():
    sandbox = Sandbox(SandboxPolicy(audit_hook=False))
    print((await sandbox.probe()).model_dump_json())
    print((await sandbox.run_python("def f():\\n    return open('/etc/passwd').read()", {})).model_dump_json())

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("unshare_args", "user_layer"),
    [
        (["--map-user=1000", "--map-group=1000"], "user-namespace"),
        (["--map-root-user"], "unchanged (uid * is not mapped in this user namespace)"),
    ],
    ids=["non-root-user", "rootless-container-root"],
)
async def test_without_real_root_the_other_layers_still_apply(
    layers: SandboxReport, unshare_args: list[str], user_layer: str
) -> None:
    """Simulated with `unshare --user`: a plain user (the child builds its own user namespace),
    and root of a rootless container (only uid 0 mapped: no private uid, everything else)."""
    if os.geteuid() != 0 or layers.network != "namespace" or not Path("/usr/bin/unshare").exists():
        pytest.skip("needs root and unshare(1) to simulate a harness without real root")
    proc = await asyncio.create_subprocess_exec(
        "/usr/bin/unshare",
        "--user",
        *unshare_args,
        sys.executable,
        "-c",
        NON_ROOT_PROBE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    probe, peek = (json.loads(line) for line in out.decode().splitlines()[-2:])
    assert fnmatch.fnmatch(probe.pop("user"), user_layer)
    assert probe == {
        "network": "namespace",
        "filesystem": "private-root",
        "seccomp": "filter" if os.uname().machine == "x86_64" else "none",
        "pids": "namespace",
        "audit_hook": False,
        "limits_refused": [],
    }
    assert not peek["success"] and "No such file or directory: '/etc/passwd'" in peek["error"]


async def test_chroot_escape_finds_nothing(sandbox: Sandbox) -> None:
    code = (
        "import os\n\ndef escape():\n    os.mkdir('jail')\n    os.chroot('jail')\n"
        "    for _ in range(30):\n        os.chdir('..')\n    os.chroot('.')\n    return open('/etc/passwd').read()\n"
    )
    assert_contained(await sandbox.run_python(code, {}), "root:x:0:0")


async def test_ctypes_cannot_open_a_user_namespace(sandbox: Sandbox, layers: SandboxReport) -> None:
    code = (
        "import ctypes, os\n\ndef escape():\n    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    if libc.unshare(0x10000000) != 0:  # a user namespace would grant capabilities\n"
        "        raise OSError(ctypes.get_errno(), 'unshare(CLONE_NEWUSER) refused')\n"
        "    return open('/etc/passwd').read()\n"
    )
    outcome = await sandbox.run_python(code, {})
    assert_contained(outcome, "root:x:0:0")
    if sandbox.policy.audit_hook:
        assert "blocked by the harness sandbox: import ('ctypes')" in (outcome.error or "")
    elif layers.seccomp == "filter":
        assert "unshare(CLONE_NEWUSER) refused" in (outcome.error or "")


# ------------------------------------------------------------- issue 14: channel, PIDs, cleanup

# Tool code that writes its own frame on every descriptor that could be the result channel,
# then exits before the child's real frame: the parent must validate what it reads.
FORGE = (
    "import os\n\ndef forge():\n"
    "    for fd in range(3, 40):\n"
    "        try:\n"
    "            os.write(fd, FRAME)\n"
    "        except OSError:\n"
    "            pass\n"
    "    os._exit(0)\n"
)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (b'{"ok": true, "result": NaN}\n', "result channel itself"),
        (b'{"ok": true, "result": Infinity}\n', "result channel itself"),
        (b'{"ok": true, "result": "' + b"x" * 1_010_000 + b'"}\n', "over the 1000000-byte limit"),
        (b'{"ok": true, "result": ' + b"[" * 200 + b"]" * 200 + b"}\n", "nests deeper than 64"),
        (b'{"ok": true, "result": 1}\n{"ok": true, "result": 2}\n', "result channel itself"),
        (b"garbage\n", "result channel itself"),
    ],
    ids=["nan", "infinity", "oversized", "deep", "two-frames", "garbage"],
)
async def test_a_forged_result_frame_is_validated_by_the_parent(
    sandbox: Sandbox, frame: bytes, expected: str
) -> None:
    outcome = await sandbox.run_python(FORGE.replace("FRAME", repr(frame)), {})
    assert not outcome.success, outcome
    assert expected in (outcome.error or "")
    await assert_still_works(sandbox)


async def test_a_deeply_nested_result_is_refused(full_sandbox: Sandbox) -> None:
    deep = MAX_RESULT_DEPTH + 1
    code = f"def deep():\n    value = 1\n    for _ in range({deep}):\n        value = [value]\n    return value\n"
    outcome = await full_sandbox.run_python(code, {})
    assert not outcome.success
    assert f"nests deeper than {MAX_RESULT_DEPTH} levels" in (outcome.error or "")
    very = code.replace(str(deep), "100000")
    outcome = await full_sandbox.run_python(very, {})
    assert not outcome.success and "nests too deeply" in (outcome.error or "")
    ok = await full_sandbox.run_python(code.replace(str(deep), str(MAX_RESULT_DEPTH - 1)), {})
    assert ok.success


async def test_tool_code_sees_no_host_pid_or_host_path(
    full_sandbox: Sandbox, layers: SandboxReport
) -> None:
    code = (
        "import os, sys, traceback\n\ndef look():\n"
        "    frames = [f.filename for f in traceback.extract_stack()]\n"
        "    main = sys.modules['__main__']\n"
        "    return {'pid': os.getpid(), 'ppid': os.getppid(), 'text': repr([frames, sys.argv,\n"
        "        sys.orig_argv, sys.executable, sys.prefix, sys.exec_prefix,\n"
        "        getattr(main, '__file__', None), os.getcwd(), dict(os.environ)])}\n"
    )
    outcome = await full_sandbox.run_python(code, {})
    assert outcome.success, outcome
    seen = outcome.result
    harness_root = str(Path(__file__).resolve().parents[2])
    assert harness_root not in seen["text"]
    assert sys.prefix not in seen["text"] or sys.prefix == sys.base_prefix
    assert "_sandbox_child" not in seen["text"]
    if layers.pids == "namespace":
        assert (seen["pid"], seen["ppid"]) == (2, 1)
    assert seen["pid"] != os.getpid() and seen["ppid"] != os.getpid()


HARNESS_WITH_A_SLOW_TOOL = """
import asyncio, sys
from harness.engine.sandbox import Sandbox

async def main():
    sandbox = Sandbox()
    await sandbox.run_python("def quick():\\n    return 1\\n", {})  # workers now wait idle too
    print("started", flush=True)
    await sandbox.run_python("import time\\ndef slow():\\n    time.sleep(120)\\n", {},
                             timeout_seconds=120)

asyncio.run(main())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_sandbox_children_and_folders_do_not_outlive_a_killed_harness(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS_WITH_A_SLOW_TOOL], env=env, stdout=subprocess.PIPE
    )
    try:
        assert harness.stdout is not None and harness.stdout.readline() == b"started\n"
        deadline = time.monotonic() + 20
        children: set[int] = set()
        while time.monotonic() < deadline:
            children = descendants(harness.pid)
            if len(children) >= 2 and list(tmp_path.glob("harness-sandbox-*")):
                break
            time.sleep(0.05)
        assert children, "the sandbox child never started"
        time.sleep(0.5)  # let the tool reach its sleep
        children = descendants(harness.pid)
    finally:
        harness.send_signal(signal.SIGKILL)
        harness.wait()
        if harness.stdout is not None:
            harness.stdout.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(running(pid) for pid in children):
        time.sleep(0.05)
    assert not [pid for pid in children if running(pid)], "a sandbox process survived the harness"
    left = list(tmp_path.glob(f"harness-sandbox-{harness.pid}-*"))
    assert left, "SIGKILL leaves the folder: the next start removes it"
    # A folder of a live process (pid 1) is kept; the dead harness's folder goes at the next start.
    alive = tmp_path / "harness-sandbox-1-keepme"
    alive.mkdir()
    starter = subprocess.run(
        [sys.executable, "-c", "from harness.engine.sandbox import Sandbox; Sandbox()"],
        env=env,
        check=True,
    )
    assert starter.returncode == 0
    assert not any(path.exists() for path in left)
    assert alive.exists()
    assert sweep_stale_folders(str(tmp_path)) == []


# ------------------------------------------------------------------ pre-started workers


async def test_each_call_gets_a_fresh_process_that_shares_nothing(
    full_sandbox: Sandbox, layers: SandboxReport
) -> None:
    leave = (
        "import builtins, os\n\ndef leave():\n    with open('left.txt', 'w') as f:\n"
        "        f.write('x')\n    builtins.LEFT = 1\n    return os.getuid()\n"
    )
    look = (
        "import builtins, os\n\ndef look():\n    return {'file': os.path.exists('left.txt'),"
        " 'global': hasattr(builtins, 'LEFT'), 'uid': os.getuid()}\n"
    )
    first = await full_sandbox.run_python(leave, {})
    second = await full_sandbox.run_python(look, {})
    assert first.success and second.success, (first, second)
    assert second.result["file"] is False and second.result["global"] is False
    if layers.user.startswith("uid "):
        assert second.result["uid"] != first.result


CHILDREN = '''
from harness.engine._sandbox_zygote import zygote_pids

def children(parent=None):
    """The pids of the children of `parent` (default: this process), a set."""
    found = set()
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as handle:
                if int(handle.read().rsplit(")", 1)[1].split()[1]) == (parent or os.getpid()):
                    found.add(int(name))
        except (OSError, ValueError, IndexError):
            pass
    return found

def workers():
    """The sandbox children: forked by a zygote of this process, or started by it directly."""
    zygotes = set(zygote_pids().values())
    return (children() - zygotes).union(*(children(z) for z in zygotes))
'''

HARNESS_USING_WORKERS = (
    """
import asyncio, os
from harness.engine.sandbox import Sandbox, stop_idle_workers
"""
    + CHILDREN
    + """
async def main():
    sandbox = Sandbox(max_concurrency=2)
    print(len(children()), flush=True)
    code = "def one():\\n    return 1\\n"
    for _ in range(3):
        assert (await sandbox.run_python(code, {})).success
    outcomes = await asyncio.gather(*(sandbox.run_python(code, {}) for _ in range(5)))
    assert all(outcome.success for outcome in outcomes)
    print(stop_idle_workers(), flush=True)
    assert (await sandbox.run_python(code, {})).success
    print(" ".join(map(str, children() | workers())), flush=True)

asyncio.run(main())
"""
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_start_lazily_stay_bounded_and_go_at_exit(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", HARNESS_USING_WORKERS],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    before_any_tool, idle, last_children = done.stdout.splitlines()
    assert before_any_tool == "0"  # a run without inline-Python tools starts no process
    assert 1 <= int(idle) <= 2  # at most max_concurrency wait between calls
    assert [pid for pid in map(int, last_children.split()) if running(pid)] == []
    assert list(tmp_path.glob("harness-sandbox-*")) == []


HARNESS_STARTING_AHEAD = (
    """
import asyncio, os, time
from harness.engine.sandbox import Sandbox
"""
    + CHILDREN
    + """
async def main():
    sandbox = Sandbox(max_concurrency=2)
    sandbox.start_ahead()
    deadline = time.monotonic() + 20
    while len(workers()) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # a second one would have started by now
    ahead = workers()
    assert (await sandbox.run_python("def one():\\n    return 1\\n", {})).success
    print(len(ahead), len(ahead - workers()), flush=True)

asyncio.run(main())
"""
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_start_ahead_boots_the_workers_that_serve_the_first_call(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", HARNESS_STARTING_AHEAD],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    started_ahead, used = done.stdout.split()
    assert started_ahead == "1"  # one worker before any call (more would slow each other down)
    assert used == "1"  # the first call ran in it (then discarded), not in a new one
    assert list(tmp_path.glob("harness-sandbox-*")) == []


HARNESS_WITH_AN_UNOWNED_WORKER = (
    """
import os, sys
from harness.engine.sandbox import SandboxPolicy
from harness.engine._sandbox_workers import start_worker
"""
    + CHILDREN
    + """
# A worker no pool holds (as one being handed over when the exit begins): nobody discards it.
worker = start_worker(sys.executable, SandboxPolicy().model_dump())
assert os.path.isdir(worker.folder)
print(worker.process.pid, flush=True)
"""
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_exit_removes_the_folder_of_a_worker_no_pool_holds(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", HARNESS_WITH_AN_UNOWNED_WORKER],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    pid = int(done.stdout)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and running(pid):
        time.sleep(0.02)
    assert not running(pid)  # it died with its zygote
    assert list(tmp_path.glob("harness-sandbox-*")) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_during_a_tool_call_leaves_no_process_and_no_folder(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS_WITH_A_SLOW_TOOL],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert harness.stdout is not None and harness.stdout.readline() == b"started\n"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(descendants(harness.pid)) < 3:
            time.sleep(0.05)
        time.sleep(0.5)  # let the tool reach its sleep and the idle workers boot
        children = descendants(harness.pid)
        harness.send_signal(signal.SIGINT)
        harness.wait(timeout=30)
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
        for pipe in (harness.stdout, harness.stderr):
            if pipe is not None:
                pipe.close()
    assert len(children) >= 3, "the call's worker and the idle ones were running"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(running(pid) for pid in children):
        time.sleep(0.05)
    assert not [pid for pid in children if running(pid)], "a sandbox process survived Ctrl-C"
    assert list(tmp_path.glob("harness-sandbox-*")) == []
