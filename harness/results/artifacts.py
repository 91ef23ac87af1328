"""Artifact packs: the run outputs (events, node outputs) of a batch's scenarios, one JSON line
per scenario result, in append-only files under the batch folder's `artifacts/`.

A writing process (the one `harness run` process, or each `--workers` process) appends to a
pack of its own, `artifacts/<batch id>-<writer>.jsonl`, created on its first line and never
shared: no two processes append to one file. A line is one artifact document
(`{"format_version", "kind": "harness-artifact", "scenario_id", "turns"}`) written with one
`write(2)` to a handle opened once with `O_APPEND`: creating a file per scenario cost more than
everything else the report files do. A result references its line as
`artifacts/<pack>.jsonl#<byte offset>`, so reading it back is a seek and one line. The line is
written before the result line that references it, so a killed batch's results reference
whole lines only (a line cut by the kill is referenced by nothing). Not `fsync`ed
(`harness.results.files` says why).

Report folders written before packs hold one file per scenario, `artifacts/<scenario id>.json`
(no `#`: `artifact_path` never puts one in a name); `read_artifact` reads both.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from harness.errors import HarnessError
from harness.results.files import ARTIFACTS_DIR, file_mode, write_all

__all__ = [
    "ARTIFACT_KIND",
    "PACK_SUFFIX",
    "ArtifactPack",
    "artifact_file",
    "pack_reference",
    "read_artifact",
    "split_reference",
]

ARTIFACT_KIND = "harness-artifact"
"""The `kind` of an artifact document (a pack line, or a whole file of an earlier version)."""
PACK_SUFFIX = ".jsonl"

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_BINARY", 0)
_CREATE |= getattr(os, "O_CLOEXEC", 0)


def pack_reference(pack: str, offset: int) -> str:
    """The `artifact` of a result whose line starts at byte `offset` of `pack` (a path
    relative to the batch folder): `artifacts/<pack>.jsonl#<offset>`."""
    return f"{pack}#{offset}"


def split_reference(artifact: str) -> tuple[str, int | None]:
    """The file (relative to the batch folder) and the byte offset of an `artifact`; the offset
    is None for a whole file (the per-scenario files of earlier versions).

    Raises:
        HarnessError: the part after `#` is not a byte offset.
    """
    path, mark, fragment = artifact.partition("#")
    if not mark:
        return path, None
    if not (fragment.isascii() and fragment.isdigit()):  # `isdigit` alone takes "²"
        raise HarnessError(
            f"artifact reference {artifact!r}: {fragment!r} after '#' is not a byte offset",
            hint="give the `artifact` of a result as written (artifacts/<pack>.jsonl#<offset>)",
        )
    return path, int(fragment)


def artifact_file(artifact: str) -> str:
    """The file an `artifact` reference is in, relative to the batch folder."""
    return artifact.partition("#")[0]


class ArtifactPack:
    """One writer's pack in `<batch_dir>/artifacts/`, created on the first `append`.

    The name is `<batch id>-<writer>.jsonl` (the batch id is the folder's name, so shards merged
    into one folder keep their packs apart); when that file exists already (another writer of
    the same folder), `-2`, `-3`... is added: a pack is only ever appended to by the process
    that created it, which is what makes the offsets it hands out right.

    Args:
        batch_dir: the batch folder.
        writer: names this writer within the batch (`main`, `w1`, `w2`...).
    """

    def __init__(self, batch_dir: str | Path, writer: str = "main") -> None:
        self.batch_dir = Path(batch_dir)
        self.writer = writer
        self.relative: str | None = None
        """The pack's path relative to the batch folder, once created."""
        self._handle: int | None = None
        self._size = 0

    def append(self, document: dict[str, Any]) -> str:
        """Append `document` as one line; returns its reference (`<pack>#<offset>`)."""
        line = _json_line(document)
        if self._handle is None:
            self._create()
        assert self._handle is not None and self.relative is not None
        offset = self._size
        try:
            write_all(self._handle, line)
        except BaseException:
            # Part of the line may be in the file (a full disk, an interrupt): this pack's
            # offsets are no longer known, so the next line starts a new pack.
            self.close()
            raise
        self._size += len(line)
        return pack_reference(self.relative, offset)

    def _create(self) -> None:
        folder = self.batch_dir / ARTIFACTS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{self.batch_dir.name}-{self.writer}"
        for number in range(1, 10_000):
            name = stem + (f"-{number}" if number > 1 else "") + PACK_SUFFIX
            try:
                self._handle = os.open(folder / name, _CREATE, file_mode())
            except FileExistsError:
                continue
            self.relative = f"{ARTIFACTS_DIR}/{name}"
            return
        raise HarnessError(
            f"{folder}: no free artifact pack name for {stem}",
            hint="remove old packs from that folder, or write the batch into a new folder",
        )

    def close(self) -> None:
        """Close the pack (a later `append` starts a new one)."""
        if self._handle is not None:
            os.close(self._handle)
        self._handle = None
        self._size = 0


def _json_line(document: dict[str, Any]) -> bytes:
    """`document` as one compact JSON line, in UTF-8.

    Written by pydantic-core: on a single-turn scenario's 12 KB line, 0.5 M instructions
    against `json.dumps`'s 1.2 M. A reader parses the same document, though text outside
    ASCII is written as UTF-8 rather than `\\u` escapes and a float may be spelt differently
    (`0.00001` for `1e-05`). What pydantic-core cannot write (a lone surrogate in a string)
    is written by `json.dumps`, as before.
    """
    try:
        return to_json(document) + b"\n"
    except PydanticSerializationError:
        return json.dumps(document, separators=(",", ":")).encode("utf-8") + b"\n"


def read_artifact(batch_dir: str | Path, artifact: str) -> dict[str, Any]:
    """The artifact document an `artifact` reference points at: a pack line, or a whole
    per-scenario file of an earlier version.

    Raises:
        HarnessError: the file is missing or unreadable, the offset is not the start of a whole
            line, or what is there is not an artifact document.
    """
    relative, offset = split_reference(artifact)
    path = Path(batch_dir) / relative
    try:
        with path.open("rb") as file:
            data = file.read() if offset is None else _line_at(file, offset, path, artifact)
    except FileNotFoundError:
        raise HarnessError(
            f"cannot read the artifact {artifact}: {path} does not exist",
            hint="give the batch folder the result was written in (reports/<batch id>, with its "
            "artifacts/ folder) and the result's `artifact`",
        ) from None
    except OSError as exc:
        raise HarnessError(f"cannot read the artifact {path}: {exc.strerror}") from None
    return _document(data, path, artifact)


def _line_at(file: Any, offset: int, path: Path, artifact: str) -> bytes:
    """The whole line starting at `offset` (checked to be a line start)."""
    if offset > 0:
        file.seek(offset - 1)
        before = file.read(1)
        if before == b"":
            raise HarnessError(
                f"artifact {artifact}: byte {offset} is past the end of {path}",
                hint="the reference and the pack do not belong together: take `artifact` from "
                "the results of this batch folder, and keep its packs as they were written",
            )
        if before != b"\n":
            raise HarnessError(
                f"artifact {artifact}: byte {offset} of {path} is not the start of a line",
                hint="the reference and the pack do not belong together: take `artifact` from "
                "the results of this batch folder, and keep its packs as they were written",
            )
    else:
        file.seek(0)
    line: bytes = file.readline()
    if not line.endswith(b"\n"):
        raise HarnessError(
            f"artifact {artifact}: the line at byte {offset} of {path} is "
            + ("past the end" if not line else "cut short (the batch was killed writing it)"),
            hint="a finished result never references such a line: take `artifact` from the "
            "results of this batch folder",
        )
    return line


def _document(data: bytes, path: Path, artifact: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise HarnessError(
            f"artifact {artifact}: {path} holds no readable artifact there: {exc}",
            hint="give a result's `artifact` and the batch folder it was written in",
        ) from None
    if not isinstance(document, dict) or document.get("kind") != ARTIFACT_KIND:
        kind = document.get("kind") if isinstance(document, dict) else type(document).__name__
        raise HarnessError(
            f"artifact {artifact}: {path} holds a {kind!r}, not a {ARTIFACT_KIND!r} document",
            hint="give a result's `artifact` (artifacts/<pack>.jsonl#<offset>, or "
            "artifacts/<scenario>.json of an earlier version)",
        )
    if not isinstance(document.get("turns"), list):
        raise HarnessError(f"artifact {artifact}: {path}: the document has no list of turns")
    return document
