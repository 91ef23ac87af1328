"""Entry script of the sandbox child: isolate this process, then run one tool function.

Run as `python -I -S -B` (isolated mode: no site-packages, no PYTHON* variables, no user site, no
bytecode writes), which loads this script compiled as `<sandbox>`. It imports only the standard
library, because nothing else is on the path of an isolated interpreter. Usually that interpreter
is the zygote (`--zygote`, see `_serve_forks` and `harness.engine._sandbox_zygote`): booted once,
it forks one child per worker, and the forked child carries on below exactly as a freshly booted
one would; where no zygote can run, `harness.engine._sandbox_workers` boots the child directly.

Protocol (a worker is started, and isolated, before its call is known):
1. stdin, first line: the set-up (`workdir`, `uid`, `parent_pid`, `policy`);
2. stdout: `{"ready": true, "layers": ...}` once every isolation layer is in place (no tool code
   has run yet), or a set-up failure frame, then exit;
3. stdin, the rest until EOF: the call (`code`, `arguments`, `function_name`, `cpu_seconds`);
   an empty call means "exit without running anything";
4. stdout: one JSON line, `{"ok": true, "result": ...}` or `{"ok": false, "kind": ..., "error": ...}`,
   both with `layers` (the isolation actually applied).
Anything the tool prints goes to stderr, so it can never be mistaken for the result.

Order matters: namespaces and mounts need root, so they come first; then the switch to an
unprivileged uid; then resource limits (a process can lower them, never raise the hard limit
again); then the audit hook (our own set-up opens files and calls libc, which the hook refuses).
Everything up to the uid switch and seccomp happens before the call arrives; the limits (the CPU
limit depends on the call's timeout) and the audit hook come after, right before the tool runs.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys

# Importing typing would cost every worker several ms of boot; the names serve mypy only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = ["main"]

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY = 0x1
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PDEATHSIG = 1
_SIGKILL = 9
_MNT_DETACH = 2
_PIVOT_ROOT_SYSCALLS = {"x86_64": 155, "aarch64": 41}  # others: chroot only
_ROOT_WORKDIR = "/work"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Read-only inside the private root besides the standard library: shared libraries that extension
# modules link against, the dynamic loader's cache, time zones, and harmless device files.
_SYSTEM_PATHS = _words("/lib /lib64 /usr/lib /usr/lib64 /etc/ld.so.cache /usr/share/zoneinfo")
_DEVICES = _words("/dev/null /dev/zero /dev/urandom /dev/random")
_BLOCKED_EVENT_PREFIXES = _words(
    "socket. subprocess. os.system os.exec os.posix_spawn os.spawn os.fork os.forkpty os.kill "
    "os.killpg os.startfile pty. ctypes. resource.setrlimit resource.prlimit gc.get_ "
    "sys._current_frames webbrowser."
)
_BLOCKED_IMPORTS = frozenset(_words("ctypes _ctypes _posixsubprocess _xxsubinterpreters"))
_PATH_EVENTS = frozenset(
    _words(
        "os.listdir os.scandir os.chdir os.mkdir os.remove os.rename os.rmdir os.symlink os.link "
        "os.chmod os.chown os.truncate os.utime os.setxattr os.removexattr os.listxattr "
        "os.getxattr glob.glob shutil.rmtree"
    )
)
_READ_ONLY_EVENTS = frozenset(
    _words("os.listdir os.scandir os.chdir os.listxattr os.getxattr glob.glob")
)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# seccomp (x86_64 only, numbers from asm/unistd_64.h; elsewhere the layer is reported as absent):
# refuse syscalls a tool never needs that widen the kernel's attack surface or could undo the
# isolation: namespaces and mounts, ptrace, bpf, perf, keyrings, userfaultfd, io_uring, modules.
_SECCOMP_DENIED_X86_64 = tuple(
    int(nr)
    for nr in _words(
        "101 103 155 161 163 165 166 167 168 169 175 176 246 248 249 250 272 298 304 308 "
        "310 311 313 320 321 323 425 426 427 428 429 430 431 432 433 442"
    )
)
_NR_CLONE, _NR_CLONE3 = 56, 435
_AUDIT_ARCH_X86_64 = 0xC000003E
_CLONE_NAMESPACE_FLAGS = 0x7E020000  # every CLONE_NEW* flag


_LIMIT_NAMES = {
    getattr(resource, name): name
    for name in _words("RLIMIT_CORE RLIMIT_CPU RLIMIT_FSIZE RLIMIT_NOFILE RLIMIT_NPROC RLIMIT_AS")
}


class SetupError(Exception):
    """Isolation that the policy requires could not be applied."""


# ------------------------------------------------------------------ namespaces and mounts


def _libc() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _unshare(libc: Any, flags: int) -> bool:
    return int(libc.unshare(flags)) == 0


def _c(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def _mount(
    libc: Any, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
) -> None:
    if libc.mount(_c(source), _c(target), _c(fstype), flags, _c(data)) != 0:
        import ctypes

        errno = ctypes.get_errno()
        raise SetupError(f"mount {source!r} on {target!r} failed: {os.strerror(errno)}")


def _enter_namespaces(libc: Any, want_net: bool, want_fs: bool) -> dict[str, bool]:
    """Unshare network, mount, IPC and UTS namespaces; as non-root, try a user namespace too."""
    flags = _CLONE_NEWIPC | _CLONE_NEWUTS
    flags |= _CLONE_NEWNET if want_net else 0
    flags |= _CLONE_NEWNS if want_fs else 0
    if os.geteuid() == 0:
        if _unshare(libc, flags):
            return {"net": want_net, "mount": want_fs, "user": False}
        if want_net and _unshare(libc, _CLONE_NEWNET):
            return {"net": True, "mount": False, "user": False}
        return {"net": False, "mount": False, "user": False}
    uid, gid = os.getuid(), os.getgid()
    if _unshare(libc, flags | _CLONE_NEWUSER):
        # Map ourselves to root inside the new user namespace: powerless outside it, but enough to
        # mount and chroot inside it.
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
        return {"net": want_net, "mount": want_fs, "user": True}
    return {"net": False, "mount": False, "user": False}


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _stdlib_dirs() -> list[str]:
    dirs = sorted({os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)})
    # Keep only top-most directories: binding a parent also binds its children.
    return [d for d in dirs if not any(d != o and d.startswith(o + os.sep) for o in dirs)]


def _bind_into(libc: Any, root: str, path: str, *, read_only: bool) -> None:
    """Make `path` visible at the same place under `root` (symlinks are copied, not followed)."""
    target = root + path
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if os.path.islink(path):
        os.symlink(os.readlink(path), target)
        return
    if os.path.isdir(path):
        os.makedirs(target, mode=0o755, exist_ok=True)
    else:
        open(target, "a").close()
    _mount(libc, path, target, None, _MS_BIND | _MS_REC, None)
    flags = _MS_BIND | _MS_REMOUNT | _MS_NOSUID | (_MS_RDONLY | _MS_NODEV if read_only else 0)
    _mount(libc, None, target, None, flags, None)


def _build_root(libc: Any, root: str, disk_mb: int, uid: int | None) -> str:
    """Mount a size-capped tmpfs at `root`, expose the stdlib read-only, make it the root.

    Returns "private-root" when the host's root could be detached from this namespace
    (pivot_root), else "chroot" (host mounts still exist below, merely out of reach).
    """
    _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE, None)  # never leak mounts to the host
    _mount(libc, "tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={disk_mb}m,mode=755")
    # From here on every path is relative to the tmpfs ("." + an absolute path): a worker
    # discarded during its set-up has its folder removed on the host, which detaches this
    # mount; `root + path` would then make the folder again on the host's disk (`makedirs`),
    # where nothing removes it once the worker is dead.
    os.chdir(root)
    here = "."
    for path in _stdlib_dirs():
        _bind_into(libc, here, path, read_only=True)
    for path in _SYSTEM_PATHS:
        if os.path.lexists(path) and not os.path.lexists(here + path):
            _bind_into(libc, here, path, read_only=True)
    for path in _DEVICES:
        if os.path.exists(path):
            _bind_into(libc, here, path, read_only=False)
    os.makedirs(here + "/tmp", mode=0o1777, exist_ok=True)
    os.chmod(here + "/tmp", 0o1777)
    os.makedirs(here + _ROOT_WORKDIR, mode=0o700)
    if uid is not None:
        os.chown(here + _ROOT_WORKDIR, uid, uid)
    if _pivot_root_here(libc):
        # The old root is stacked on the new one; detaching it leaves no host mount at all in
        # this namespace, so even a chroot escape would find nothing.
        if libc.umount2(b".", _MNT_DETACH) != 0:
            raise SetupError("could not detach the host's root from the sandbox")
        os.chroot(".")
        return "private-root"
    os.chroot(here)
    return "chroot"


def _pivot_root_here(libc: Any) -> bool:
    """pivot_root(".", ".") by raw syscall (glibc has no wrapper); False where unknown or refused."""
    number = _PIVOT_ROOT_SYSCALLS.get(os.uname().machine)
    return number is not None and int(libc.syscall(number, b".", b".")) == 0


def _prctl(libc: Any, option: int, arg2: int, arg3: Any) -> int:
    import ctypes

    # Unused arguments must be zero, and as unsigned longs, or the kernel answers EINVAL.
    zero = ctypes.c_ulong(0)
    value = arg3 if not isinstance(arg3, int) else ctypes.c_ulong(arg3)
    return int(libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), value, zero, zero))


def _seccomp_program() -> list[tuple[int, int, int, int]]:
    """A classic-BPF filter: (code, jump-if-true, jump-if-false, k) instructions."""
    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050001, 0x00050026
    code: list[tuple[int, int | str, int | str, int]] = [
        (load, 0, 0, 4),  # seccomp_data.arch
        (jeq, 0, "eperm", _AUDIT_ARCH_X86_64),  # i386/x32 entry points: refuse everything
        (load, 0, 0, 0),  # seccomp_data.nr
        (jge, "eperm", 0, 0x40000000),  # x32 syscall numbers
        (jeq, "enosys", 0, _NR_CLONE3),  # flags hidden in memory: glibc falls back to clone
        (jeq, "clone", 0, _NR_CLONE),
        *((jeq, "eperm", 0, nr) for nr in _SECCOMP_DENIED_X86_64),
        (ret, 0, 0, allow),
    ]
    labels = {"clone": len(code), "eperm": len(code) + 3, "enosys": len(code) + 4}
    code += [(load, 0, 0, 16), (jset, "eperm", 0, _CLONE_NAMESPACE_FLAGS), (ret, 0, 0, allow)]
    code += [(ret, 0, 0, eperm), (ret, 0, 0, enosys)]

    def offset(index: int, target: int | str) -> int:
        return target if isinstance(target, int) else labels[target] - index - 1

    return [(op, offset(i, jt), offset(i, jf), k) for i, (op, jt, jf, k) in enumerate(code)]


def _install_seccomp(libc: Any) -> bool:
    """Install the filter (needs no_new_privs); False where the architecture is not covered."""
    if os.uname().machine != "x86_64":
        return False
    import ctypes
    import struct

    program = _seccomp_program()
    filters = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *i) for i in program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program), ctypes.addressof(filters))
    if _prctl(libc, 22, 2, ctypes.byref(fprog)) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise SetupError(f"seccomp filter refused: {os.strerror(ctypes.get_errno())}")
    return True


def _uid_mapped(uid: int) -> bool:
    try:
        with open("/proc/self/uid_map") as handle:
            ranges = [tuple(int(n) for n in line.split()) for line in handle if line.strip()]
    except OSError:
        return True  # not Linux, or no /proc: setuid itself will tell
    return any(inside <= uid < inside + count for inside, _outside, count in ranges)


def _die_with_parent(libc: Any, alive: Callable[[], bool]) -> bool:
    """SIGKILL this process when its parent dies (PR_SET_PDEATHSIG); exit now if it already has.

    The kernel forgets the setting on a uid change, so it is set again after dropping privileges.
    """
    armed = _prctl(libc, _PR_SET_PDEATHSIG, _SIGKILL, 0) == 0
    if not alive():  # the parent died before the signal was armed: nobody is waiting for us
        os._exit(3)
    return armed


_keep_alive: list[int] = []  # read end of a pipe only this process's parent holds open


def _parent_alive() -> bool:
    return all(_pipe_open(fd) for fd in _keep_alive)


def _enter_pid_namespace(libc: Any) -> bool:
    """Run the tool in a new PID namespace; False where the OS refuses one.

    unshare(CLONE_NEWPID) applies to children only, so: this process (outside) forks the
    namespace's PID 1, a minimal reaper, which forks PID 2, which goes on to run the tool (it sees
    itself as PID 2 and no host PID). The tool is not PID 1 because the kernel drops signals that
    PID 1 sends itself (e.g. `abort()`). Each process dies with its parent (parent-death signal),
    and when PID 1 dies the kernel kills everything left in the namespace. The two reapers exit
    as the tool did: PID 1 with 128 + the signal, this process by the signal itself.
    """
    if not _unshare(libc, _CLONE_NEWPID):
        return False
    if _fork_watched(libc) != 0:
        return True  # not reached: the reaper outside exits with the tool
    if _fork_watched(libc) != 0:
        return True  # not reached: PID 1 exits with the tool
    return True


def _fork_watched(libc: Any) -> int:
    """Fork; the parent waits and exits as the child did, the child dies with the parent."""
    keep_alive_r, keep_alive_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(keep_alive_w)
        os.set_blocking(keep_alive_r, False)
        for fd in _keep_alive:
            os.close(fd)
        _keep_alive[:] = [keep_alive_r]
        _die_with_parent(libc, _parent_alive)
        return 0
    os.close(keep_alive_r)
    _relay_exit(pid, inside=os.getpid() == 1)
    return pid  # not reached


def _pipe_open(fd: int) -> bool:
    try:
        return os.read(fd, 1) != b""  # EOF: every writer (our parent) is gone
    except BlockingIOError:
        return True


def _relay_exit(pid: int, *, inside: bool) -> None:
    """Wait for `pid` and exit as it did; PID 1 cannot kill itself, so it exits with 128 + sig."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    sig = -code if code < 0 else (code - 128 if code > 128 and not inside else 0)
    if inside and code < 0:
        os._exit(128 + sig)
    if sig:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(max(code, 0))


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _isolate(request: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Apply every layer the policy asks for; return the working directory and the layers."""
    policy: Mapping[str, Any] = request["policy"]
    base: str = request["workdir"]
    uid: int | None = (
        request.get("uid") if os.geteuid() == 0 and policy["drop_privileges"] else None
    )
    layers: dict[str, Any] = {
        "network": "none",
        "filesystem": "none",
        "user": "unchanged",
        "seccomp": "none",
    }
    if uid is not None and not _uid_mapped(uid):
        # A container's user namespace may map only a few uids: keep root's uid there.
        layers["user"] = f"unchanged (uid {uid} is not mapped in this user namespace)"
        uid = None
    wants_libc = policy["isolate_network"] or policy["isolate_filesystem"] or policy["seccomp"]
    # Namespaces, mounts, prctl and seccomp are Linux system calls; elsewhere only the
    # portable layers apply (process, rlimits, timeout, audit hook).
    linux = sys.platform.startswith("linux")
    parent_pid = int(request.get("parent_pid") or os.getppid())
    if linux:
        _die_with_parent(_libc(), lambda: os.getppid() == parent_pid)
    libc = _libc() if wants_libc and linux else None
    entered = {"net": False, "mount": False, "user": False}
    if libc is not None:
        entered = _enter_namespaces(libc, policy["isolate_network"], policy["isolate_filesystem"])
        layers["network"] = "namespace" if entered["net"] else "none"
        if entered["user"]:
            layers["user"] = "user-namespace"
    layers["pids"] = "none"
    if libc is not None and policy.get("isolate_pids", True):
        layers["pids"] = "namespace" if _enter_pid_namespace(libc) else "none"
    workdir = os.path.join(base, "work")
    # Only ever mount inside our own new mount namespace: the same calls in the host's namespace
    # would change the host's mounts.
    if libc is not None and entered["mount"]:
        layers["filesystem"] = _build_root(libc, base, int(policy["limits"]["disk_mb"]), uid)
        workdir = _ROOT_WORKDIR
    else:
        # mkdir, not makedirs: a worker discarded during its set-up must not bring back the
        # folder (fresh, made for this worker) that the harness has just removed.
        os.mkdir(workdir, mode=0o700)
        if uid is not None:
            os.chown(workdir, uid, uid)
    os.chdir(workdir)
    if uid is not None:
        _drop_privileges(uid)
        layers["user"] = f"uid {uid}"
        if linux:  # in the PID namespace, ask the pipe from the reaper (PID 1), not getppid()
            _die_with_parent(
                _libc(), _parent_alive if _keep_alive else lambda: os.getppid() == parent_pid
            )
    for fd in _keep_alive:
        os.close(fd)
    _keep_alive.clear()
    if libc is not None and _prctl(libc, _PR_SET_NO_NEW_PRIVS, 1, 0) == 0 and policy["seccomp"]:
        layers["seccomp"] = "filter" if _install_seccomp(libc) else "none"
    _require(policy, layers)
    return workdir, layers


def _forget_host_paths() -> None:
    """Hide where the harness lives: the interpreter, the virtualenv and this script's path.

    The parent compiles this script as `<sandbox>`, so frames and tracebacks do not name it either.
    The standard library's own path stays visible (it is imported from there).
    """
    sys.argv = ["<sandbox>"]
    sys.orig_argv = ["python"]
    sys.executable = sys._base_executable = "python"  # type: ignore[attr-defined]
    sys.prefix = sys.exec_prefix = sys.base_prefix
    main = sys.modules.get("__main__")
    if main is not None and hasattr(main, "__file__"):
        del main.__file__


def _require(policy: Mapping[str, Any], layers: Mapping[str, Any]) -> None:
    if not policy["require_isolation"]:
        return
    missing = [
        name
        for name, wanted, got in (
            ("network namespace", policy["isolate_network"], layers["network"] == "namespace"),
            (
                "private filesystem root",
                policy["isolate_filesystem"],
                layers["filesystem"] != "none",
            ),
            (
                "unprivileged user",
                policy["drop_privileges"],
                not layers["user"].startswith("unchanged"),
            ),
        )
        if wanted and not got
    ]
    if missing:
        raise SetupError(
            f"required isolation unavailable: {', '.join(missing)} (run as root on Linux, or in a "
            "container that allows unshare(2), or set require_isolation=false)"
        )


# ------------------------------------------------------------------ limits and audit hook


def _set_limits(limits: Mapping[str, Any], cpu_seconds: int) -> list[str]:
    """Lower every limit; return the names of those the OS refused (e.g. RLIMIT_AS on macOS)."""
    mb = 1024 * 1024
    refused = []
    pairs = (
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_CPU, cpu_seconds),
        (resource.RLIMIT_FSIZE, int(limits["max_file_mb"]) * mb),
        (resource.RLIMIT_NOFILE, int(limits["open_files"])),
        (resource.RLIMIT_NPROC, int(limits["processes"])),
        (resource.RLIMIT_AS, int(limits["memory_mb"]) * mb),
    )
    for which, value in pairs:
        _soft, hard = resource.getrlimit(which)
        cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
        # CPU: SIGXCPU at the soft limit, SIGKILL one second later if the signal is ignored.
        hard_cap = cap + 1 if which == resource.RLIMIT_CPU else cap
        if hard != resource.RLIM_INFINITY:
            hard_cap = min(hard_cap, hard)
        try:
            resource.setrlimit(which, (cap, hard_cap))
        except (ValueError, OSError):
            refused.append(_LIMIT_NAMES.get(which, str(which)))
    return refused


def _make_audit_hook(
    workdir: str, read_roots: tuple[str, ...]
) -> Callable[[str, tuple[Any, ...]], None]:
    """Build the hook; everything it needs is bound here, so patching modules later cannot blind it."""
    realpath, fspath, join, getcwd = os.path.realpath, os.fspath, os.path.join, os.getcwd
    write_roots = (
        (workdir, "/tmp", "/dev/null") if workdir == _ROOT_WORKDIR else (workdir, "/dev/null")
    )
    write_flags = _WRITE_FLAGS
    blocked_prefixes, blocked_imports = _BLOCKED_EVENT_PREFIXES, _BLOCKED_IMPORTS
    path_events, read_only_events = _PATH_EVENTS, _READ_ONLY_EVENTS

    def inside(path: Any, roots: tuple[str, ...]) -> bool:
        if isinstance(path, int):
            return True  # an already-open descriptor: its opening was checked
        raw = fspath(path) if path is not None else "."
        text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
        full = realpath(join(getcwd(), text))
        return any(full == root or full.startswith(root.rstrip("/") + "/") for root in roots)

    def refuse(event: str, detail: Any = None) -> None:
        suffix = f" ({detail!r})" if detail is not None else ""
        raise PermissionError(f"blocked by the harness sandbox: {event}{suffix}")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event.startswith(blocked_prefixes):
            refuse(event)
        if event == "import" and args and str(args[0]).split(".")[0] in blocked_imports:
            refuse(event, args[0])
        if event == "open":
            path, mode, flags = args[0], args[1], args[2]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                isinstance(flags, int) and flags & write_flags
            )
            if not inside(path, write_roots if writes else write_roots + read_roots):
                refuse("open outside the tool's working directory", path)
        elif event in path_events:
            roots = write_roots + read_roots if event in read_only_events else write_roots
            for path in args[:2] if event in ("os.rename", "os.link") else args[:1]:
                if not inside(path, roots):
                    refuse(f"{event} outside the tool's working directory", path)

    return hook


def _read_roots() -> tuple[str, ...]:
    return (*_stdlib_dirs(), "/usr/share/zoneinfo", "/dev/null", "/dev/urandom")


# ------------------------------------------------------------------ running the tool


def _pick_function(namespace: Mapping[str, Any], name: str | None) -> Callable[..., Any]:
    """The function named like the tool, else the only one defined, else the last public one."""
    defined = [
        v
        for v in namespace.values()
        if callable(v) and getattr(getattr(v, "__code__", None), "co_filename", "") == "<tool>"
    ]
    if name and callable(namespace.get(name)):
        return namespace[name]  # type: ignore[no-any-return]
    public = [f for f in defined if not f.__name__.startswith("_")] or defined
    if not public:
        raise LookupError(
            "the tool code defines no function; define one `def name(**arguments): ...`"
        )
    return public[-1]  # type: ignore[no-any-return]


def _describe(exc: BaseException, limits: Mapping[str, Any]) -> tuple[str, str]:
    """Turn an exception from the tool into (kind, message), naming the tool-code line."""
    import traceback  # only on failure: it costs milliseconds at start-up

    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<tool>"]
    where = f" (line {lines[-1]} of the tool code)" if lines else ""
    text = f"{type(exc).__name__}: {exc}{where}"
    if isinstance(exc, MemoryError):
        return "memory", f"memory limit exceeded ({limits['memory_mb']} MB address space): {text}"
    if isinstance(exc, OSError) and exc.errno == 27:  # EFBIG: RLIMIT_FSIZE (Python ignores SIGXFSZ)
        return (
            "file_size",
            f"file size limit exceeded ({limits['max_file_mb']} MB per file): {text}",
        )
    if isinstance(exc, OSError) and exc.errno == 28:  # ENOSPC: the tmpfs is full
        return (
            "disk",
            f"disk quota exceeded ({limits['disk_mb']} MB for the working directory): {text}",
        )
    if isinstance(exc, PermissionError) and "harness sandbox" in str(exc):
        return "blocked", text
    return "exception", text


def _run_tool(request: Mapping[str, Any]) -> Any:
    namespace: dict[str, Any] = {"__name__": "__tool__", "__builtins__": __builtins__}
    exec(compile(request["code"], "<tool>", "exec"), namespace)
    function = _pick_function(namespace, request.get("function_name"))
    result = function(**request["arguments"])
    if hasattr(result, "__await__"):
        raise TypeError("the tool function is `async def`; inline tools must be plain functions")
    return result


def _emit(fd: int, message: Mapping[str, Any]) -> None:
    data = (json.dumps(message, allow_nan=False) + "\n").encode()
    while data:
        data = data[os.write(fd, data) :]


def _result_message(
    result: Any, limits: Mapping[str, Any], layers: Mapping[str, Any]
) -> dict[str, Any]:
    try:
        text = json.dumps(result, allow_nan=False)
    except RecursionError:
        return {
            "ok": False,
            "kind": "result",
            "error": "the tool result nests too deeply to encode as JSON; return a flatter value",
            "layers": layers,
        }
    except (TypeError, ValueError) as exc:
        return {
            "ok": False,
            "kind": "result",
            "error": f"the tool returned a value that is not JSON-serialisable ({exc}); return dicts, "
            "lists, strings, numbers, booleans or None",
            "layers": layers,
        }
    if len(text) > int(limits["max_result_bytes"]):
        return {
            "ok": False,
            "kind": "result",
            "error": f"the tool result is {len(text)} bytes of JSON, over the {limits['max_result_bytes']}-byte limit",
            "layers": layers,
        }
    return {"ok": True, "result": result, "layers": layers}


def _prepare(setup: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Boot half: every isolation layer that needs no call (done before the call is known)."""
    workdir, layers = _isolate(setup)
    os.environ.clear()
    os.environ.update(
        {"HOME": workdir, "TMPDIR": workdir, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    )
    _forget_host_paths()
    # Forget ctypes: tool code that imports it again meets the audit hook.
    for name in [m for m in sys.modules if m.split(".")[0] in ("ctypes", "_ctypes")]:
        del sys.modules[name]
    return workdir, layers


def _arm(
    policy: Mapping[str, Any], call: Mapping[str, Any], workdir: str, layers: dict[str, Any]
) -> None:
    """Call half: resource limits (the CPU limit follows the call's timeout), then the audit hook."""
    refused = _set_limits(policy["limits"], int(call["cpu_seconds"]))
    if refused:
        layers["limits_refused"] = refused
        if policy["require_isolation"]:
            raise SetupError(f"required resource limits refused by the OS: {', '.join(refused)}")
    if policy["audit_hook"]:
        sys.addaudithook(_make_audit_hook(workdir, _read_roots()))
        layers["audit_hook"] = True


def _setup_failure(exc: Exception) -> dict[str, Any]:
    return {"ok": False, "kind": "setup", "error": f"sandbox set-up failed: {exc}", "layers": {}}


def main() -> int:
    """Isolate, report ready, read one call, run it, write one JSON line; exit 0, or 3 (set-up).

    The set-up line comes first on stdin; the call follows once the parent has read the ready
    frame, so a worker can be started (and isolated) before its call is known.
    """
    stdin = sys.stdin.buffer
    setup = json.loads(stdin.readline())
    result_fd = os.dup(1)
    os.dup2(2, 1)  # the tool's prints go to stderr, never into the result channel
    policy = setup["policy"]
    try:
        workdir, layers = _prepare(setup)
    except Exception as exc:  # a set-up failure is reported, never a crash without a message
        _emit(result_fd, _setup_failure(exc))
        return 3
    # Written before any tool code runs, so the parent can trust it (e.g. the PID namespace).
    _emit(result_fd, {"ready": True, "layers": layers})
    data = stdin.read()
    if not data.strip():
        return 0  # the harness closed this worker without a call (pool shut down)
    call = json.loads(data)
    try:
        _arm(policy, call, workdir, layers)
    except Exception as exc:
        _emit(result_fd, _setup_failure(exc))
        return 3
    try:
        result = _run_tool(call)
    except BaseException as exc:  # the tool's failure is data for the parent, whatever it is
        kind, text = _describe(exc, policy["limits"])
        _emit(result_fd, {"ok": False, "kind": kind, "error": text, "layers": layers})
        return 0
    _emit(result_fd, _result_message(result, policy["limits"], layers))
    return 0


# ------------------------------------------------------------------ the zygote

_FORK_FDS = 4  # per request: the child's stdin, stdout and stderr, and its status pipe


def _serve_forks(control_fd: int, harness_pid: int) -> None:
    """The zygote: fork one child per request; returns only in a forked child, ready to run `main`.

    Requests arrive on the control socket as one byte carrying `_FORK_FDS` descriptors
    (SCM_RIGHTS). The zygote writes the child's pid on its status pipe, and its wait status when
    it reaps it. It holds nothing of any call (set-up and call go to the child's stdin only), runs
    a single thread (fork copies only the calling one), and dies with the harness. When the
    harness closes the control socket it forks no more, reaps its last children, then exits.
    """
    import _socket  # not `socket`: its import costs the first call of a run ~3 ms
    import select
    import struct  # noqa: F401  (loaded once here rather than by every child: its seccomp set-up)

    if sys.platform.startswith("linux"):  # loads ctypes once, for every child's isolation too
        _die_with_parent(_libc(), lambda: os.getppid() == harness_pid)
    control = _socket.socket(fileno=control_fd)
    wake = os.pipe()  # SIGCHLD wakes the poll below through this pipe
    for fd in wake:
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake[1])
    signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
    statuses: dict[int, int] = {}  # pid -> its status pipe
    poller = select.poll()
    poller.register(control, select.POLLIN)
    poller.register(wake[0], select.POLLIN)
    serving = True
    while serving or statuses:
        ready = {fd for fd, _event in poller.poll()}
        _drain(wake[0])
        _report_exits(statuses)
        if not serving or control.fileno() not in ready:
            continue
        message, fds = _receive_fds(control)
        if not message:  # the harness closed the socket: no more forks
            serving = False
            poller.unregister(control)
        elif len(fds) != _FORK_FDS:
            _close_all(fds)
        elif _fork_child(fds, statuses) == 0:
            _become_child(control, fds)
            return
    os._exit(0)


def _receive_fds(control: Any) -> tuple[bytes, list[int]]:
    """One request byte and the descriptors sent with it (`socket.recv_fds`, on `_socket`)."""
    import _socket
    import array

    fds = array.array("i")
    message, ancillary, _flags, _address = control.recvmsg(
        1, _socket.CMSG_SPACE(_FORK_FDS * fds.itemsize)
    )
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return message, list(fds)


def _fork_child(fds: list[int], statuses: dict[int, int]) -> int:
    """Fork; in the zygote, hand the child's descriptors over and remember its status pipe."""
    *child_ends, status = fds
    try:
        pid = os.fork()
    except OSError as exc:
        _write_line(status, f"error {exc}")
        _close_all(fds)
        return -1
    if pid == 0:
        return 0
    _close_all(child_ends)  # the harness sees EOF on the child's pipes only once it exits
    _write_line(status, str(pid))
    statuses[pid] = status
    return pid


def _become_child(control: Any, fds: list[int]) -> None:
    """In the forked child: undo the zygote's set-up, keep only the three standard streams.

    Every other descriptor is closed, the control socket above all: tool code must never be
    able to ask the zygote for anything.
    """
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()  # its own session and process group, as a booted child gets from the harness
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    control.detach()  # the number is closed below; the object must never close a reused one
    os.closerange(3, _max_fd())


def _max_fd() -> int:
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (OSError, ValueError):
        return 65_536


def _report_exits(statuses: dict[int, int]) -> None:
    """Reap every child that has exited; write its wait status on its pipe and close it."""
    while statuses:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = statuses.pop(pid, None)
        if fd is not None:
            _write_line(fd, str(status))
            os.close(fd)


def _write_line(fd: int, text: str) -> None:
    try:  # noqa: SIM105  (contextlib would be one more import for the zygote)
        os.write(fd, text.encode() + b"\n")  # a few bytes: one write into an empty pipe
    except OSError:
        pass  # the harness no longer waits for this child


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--zygote"]:
        _serve_forks(int(sys.argv[2]), int(sys.argv[3]))  # returns in each forked child
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit now: threads the tool left running must not keep the process alive after its result,
    # and its atexit handlers must not run.
    os._exit(status)
