"""Report files on disk: atomic writes with ordinary permissions, names, artifact paths.

Every file of a batch folder is written whole through a temp file in the same folder and renamed
over the target, so a reader (or a batch killed with SIGKILL) sees the old file, the new file or
no file, never half of one: the rename alone gives that, since a killed process's writes stay in
the page cache. What differs is durability against a machine crash (power cut, kernel panic):

- `results.json`, `junit.xml`, `summary.md`, `LATEST` and baselines (`durable=True`, the
  default) are `fsync`ed, and so is their folder after the rename: once written, they survive a
  crash.
- Artifact packs and `results.jsonl` are appended a line per scenario (not through this
  module's temp files: `harness.results.artifacts`), without `fsync`: a crash may lose the last
  lines. Two `fsync`s per scenario would cost more than everything else the report files do.

Temp files get the permissions an ordinary `open()` would give (0666 minus the umask, usually
0644), not `mkstemp`'s private 0600.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import tempfile
from pathlib import Path

__all__ = [
    "ARTIFACTS_DIR",
    "JSONL_NAME",
    "JUNIT_NAME",
    "LATEST_FILE",
    "LATEST_LINK",
    "RESULTS_NAME",
    "SUMMARY_NAME",
    "artifact_path",
    "file_mode",
    "point_latest",
    "resolve_latest",
    "write_all",
    "write_atomic",
]

RESULTS_NAME = "results.json"
JSONL_NAME = "results.jsonl"
JUNIT_NAME = "junit.xml"
SUMMARY_NAME = "summary.md"
ARTIFACTS_DIR = "artifacts"
LATEST_LINK = "latest"
"""`reports/latest`: a symlink to the last batch folder."""
LATEST_FILE = "LATEST"
"""`reports/LATEST`: the last batch's folder name, where symlinks cannot be made."""

_MODE: int | None = None


def file_mode() -> int:
    """The mode a plain `open(path, "w")` would create files with: 0666 minus the umask."""
    global _MODE
    if _MODE is None:
        mask = _umask_from_proc()
        if mask is None:  # no /proc: read it the only portable way, once
            mask = os.umask(0o022)
            os.umask(mask)
        _MODE = 0o666 & ~mask
    return _MODE


def _umask_from_proc() -> int | None:
    """The umask from /proc (Linux), which reads it without changing it."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return None
    found = re.search(r"^Umask:\s*([0-7]+)$", status, re.MULTILINE)
    return int(found.group(1), 8) if found else None


def write_atomic(path: Path, data: str | bytes, *, durable: bool = True) -> None:
    """Write `data` to `path` through a temp file in the same folder, then rename it over `path`.

    Args:
        durable: `fsync` the file before the rename and the folder after it, so the file also
            survives a machine crash (see the module docstring); without it, only a killed
            process is safe.
    """
    target = os.fspath(path)
    temp, handle = _create_temp(target)
    try:
        try:
            write_all(handle, data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                os.fsync(handle)
        finally:
            os.close(handle)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if durable:
        _sync_folder(path.parent)


_TEMP_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
)
_temp_numbers = itertools.count()


def _create_temp(target: str) -> tuple[str, int]:
    """A new, empty temp file next to `target` (its folder made when missing): name and handle.

    Named by process id and a counter rather than `mkstemp`'s random name (one `open(2)` and no
    name drawing); `O_EXCL` still refuses a file left by a killed process that had the same id,
    and then `mkstemp` picks a free name.
    """
    folder, name = os.path.split(target)
    temp = os.path.join(folder, f".{name}.{os.getpid()}-{next(_temp_numbers)}.tmp")
    try:
        return temp, _open_new(temp)
    except FileNotFoundError:
        # The folder is made on the first write into it, not checked on every write.
        os.makedirs(folder or ".", exist_ok=True)
        return temp, _open_new(temp)
    except FileExistsError:
        handle, temp = tempfile.mkstemp(dir=folder or ".", prefix=f".{name}.", suffix=".tmp")
        os.fchmod(handle, file_mode())
        return temp, handle


def _open_new(temp: str) -> int:
    # The mode an ordinary `open()` gives (`file_mode` has the umask out already).
    return os.open(temp, _TEMP_FLAGS, file_mode())


def write_all(handle: int, data: bytes) -> None:
    """`write(2)` until all of `data` is written (a regular file may take it in parts; with
    `O_APPEND` each rest lands at the end)."""
    view = memoryview(data)
    while view:
        view = view[os.write(handle, view) :]


def _sync_folder(folder: Path) -> None:
    """Make a rename durable (best effort: not every platform can open a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_UNSAFE = re.compile(r"[^A-Za-z0-9._\-/=,]+")


def artifact_path(scenario_id: str) -> str:
    """The per-scenario artifact file report folders of earlier versions have (before artifact
    packs, `harness.results.artifacts`), relative to the batch folder.

    `artifacts/<scenario id>.json`, with characters that are not safe in every file system
    replaced; then a short hash of the id keeps two ids that read alike apart.
    """
    parts = [p for p in _UNSAFE.sub("_", scenario_id).split("/") if p not in ("", ".", "..")]
    safe = "/".join(parts) or "scenario"
    if safe != scenario_id:
        safe += "-" + hashlib.sha256(scenario_id.encode("utf-8")).hexdigest()[:8]
    return f"{ARTIFACTS_DIR}/{safe}.json"


def point_latest(batch_dir: Path) -> Path:
    """Point `<reports>/latest` at `batch_dir` (atomically); a `LATEST` text file where
    symlinks cannot be made. Returns what was written."""
    reports = batch_dir.parent
    link = reports / LATEST_LINK
    temp = reports / f".{LATEST_LINK}.{os.getpid()}.tmp"
    try:
        temp.unlink(missing_ok=True)
        temp.symlink_to(batch_dir.name, target_is_directory=True)
        os.replace(temp, link)
        return link
    except OSError:  # no symlinks here (e.g. Windows without the privilege)
        temp.unlink(missing_ok=True)
        write_atomic(reports / LATEST_FILE, batch_dir.name + "\n")
        return reports / LATEST_FILE


def resolve_latest(reports: Path) -> Path | None:
    """The last batch folder under `reports` (from `latest` or `LATEST`), or None."""
    link = reports / LATEST_LINK
    if link.is_dir():
        return link.resolve()
    marker = reports / LATEST_FILE
    if marker.is_file():
        folder = reports / marker.read_text(encoding="utf-8").strip()
        return folder if folder.is_dir() else None
    return None
