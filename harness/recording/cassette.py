"""Cassette files in vcrpy's format (version 1): read, write, and where they live.

The harness writes JSON (vcrpy's `serializer="json"`): loading 1,000 interactions takes tens of
milliseconds, where YAML takes about a second even with libyaml. YAML cassettes written by vcrpy
are still read (and written when the path ends in `.yaml`/`.yml`), so existing ones keep working.
Harness-specific data rides inside the format: the recorded latency is a response header
(`x-harness-recorded-latency-ms`) and a `metadata` block names our format version; plain vcrpy
ignores both and replays the file as it is.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import urlsplit

import yaml

from harness.errors import HarnessError
from harness.recording.yaml_limits import check_yaml_limits, scalar_nodes

__all__ = [
    "HARNESS_CASSETTE_FORMAT",
    "LATENCY_HEADER",
    "MAX_DEPTH",
    "MAX_NUMBER_LENGTH",
    "MAX_VALUES",
    "TEMP_SUFFIX",
    "VCR_CASSETTE_VERSION",
    "CassetteFormatError",
    "Interaction",
    "cassette_path_for",
    "is_temp_file",
    "load_cassette",
    "read_metadata",
    "save_cassette",
]

VCR_CASSETTE_VERSION = 1
HARNESS_CASSETTE_FORMAT = 1
LATENCY_HEADER = "x-harness-recorded-latency-ms"
TEMP_SUFFIX = ".tmp"
_YAML_SUFFIXES = (".yaml", ".yml")
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 64
"""Deepest nesting a cassette may have (a vcrpy cassette nests 5 levels; bodies are text)."""
MAX_VALUES = 1_000_000
"""Most values a cassette may expand to, counting every YAML alias and merge expansion."""
MAX_NUMBER_LENGTH = 400
"""Longest integer in a cassette, in characters."""
_FILE_MODE = 0o666  # less the umask, as `open()` would create it


class CassetteFormatError(HarnessError):
    """A cassette file cannot be read or written (bad JSON/YAML, unknown version, binary body)."""


@dataclass(slots=True)
class Interaction:
    """One recorded request and its response, as stored in a vcrpy cassette."""

    method: str
    uri: str
    request_body: str | None
    request_headers: dict[str, list[str]]
    status: int
    reason: str
    response_headers: dict[str, list[str]]
    response_body: str

    @property
    def latency_ms(self) -> float | None:
        """The latency measured when this interaction was recorded, if known."""
        for name, values in self.response_headers.items():
            if name.lower() == LATENCY_HEADER and values:
                try:
                    return float(values[0])
                except ValueError:
                    return None
        return None

    @property
    def is_event_stream(self) -> bool:
        """True for a server-sent-events (streamed) response."""
        for name, values in self.response_headers.items():
            if name.lower() == "content-type" and values:
                return values[0].lower().startswith("text/event-stream")
        return False

    def to_vcr(self) -> dict[str, Any]:
        """The interaction as vcrpy stores it."""
        return {
            "request": {
                "method": self.method,
                "uri": self.uri,
                "body": self.request_body,
                "headers": self.request_headers,
            },
            "response": {
                "status": {"code": self.status, "message": self.reason},
                "headers": self.response_headers,
                "body": {"string": self.response_body},
            },
        }

    @classmethod
    def from_vcr(cls, data: Any, *, where: str) -> Interaction:
        """Parse one vcrpy interaction.

        Raises:
            CassetteFormatError: a required field is missing or has the wrong type.
        """
        try:
            return cls._from_vcr(data)
        except _MALFORMED as exc:
            raise _malformed(where, exc) from None

    @classmethod
    def _from_vcr(cls, data: Any) -> Interaction:
        """`from_vcr`, raising the problem as a `_MALFORMED` exception."""
        request, response = data["request"], data["response"]
        status = response["status"]
        return cls(
            method=_text(request["method"], "request.method").upper(),
            uri=_uri(request["uri"]),
            request_body=_body(request.get("body"), "request.body"),
            request_headers=_header_lists(request.get("headers") or {}),
            status=_status(status["code"]),
            reason=_text(status.get("message") or "", "response.status.message"),
            response_headers=_header_lists(response.get("headers") or {}),
            response_body=_body(response["body"]["string"], "response.body.string") or "",
        )


_MALFORMED = (KeyError, TypeError, ValueError, AttributeError)
"""What parsing a malformed interaction raises."""


def _malformed(where: str, exc: Exception) -> CassetteFormatError:
    problem = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
    return CassetteFormatError(
        f"{where}: malformed interaction ({problem})",
        hint="fix the file by hand or re-record the scenario with --rerecord",
    )


# Each field must have its recorded type: `str()` of a deeply nested value (or a huge one) would
# spend the time and stack the limits are there to bound.
def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"`{field}` must be a string, got {type(value).__name__}")
    return value


def _body(value: Any, field: str) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"`{field}` is binary, not UTF-8 text") from None
    if value is not None and not isinstance(value, str):
        raise ValueError(f"`{field}` must be a string, got {type(value).__name__}")
    return value


def _status(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        shown = repr(value)[:40] if isinstance(value, int | float | str) else type(value).__name__
        raise ValueError(f"`response.status.code` must be an HTTP status (100-599), got {shown}")
    return value


def _uri(value: Any) -> str:
    return _checked_uri(_text(value, "request.uri"))


@functools.lru_cache(maxsize=64)
def _checked_uri(uri: str) -> str:
    # A batch's cassettes hold the same few endpoints: each URL text is parsed once, not once
    # per interaction (an error is raised again each time: `lru_cache` keeps only results).
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 -- parsing the port is what raises for `http://h:x/`
    except ValueError as exc:
        raise ValueError(f"`request.uri` is not a URL ({exc}): {uri[:80]!r}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"`request.uri` must be an http(s) URL, got {uri[:80]!r}")
    return uri


def _header_lists(headers: Any) -> dict[str, list[str]]:
    if not isinstance(headers, dict):
        raise ValueError(f"headers must be a mapping, got {type(headers).__name__}")
    return {_text(name, "header name"): _header_values(values) for name, values in headers.items()}


def _header_values(values: Any) -> list[str]:
    if isinstance(values, list):
        # A JSON cassette holds lists of text: the parsed list is kept as it is (no one else
        # holds it), converted value by value only when YAML typed one.
        if all(type(value) is str for value in values):
            return values
        return [_scalar(value) for value in values]
    return [_scalar(values)]


def _scalar(value: Any) -> str:
    """A header value: text, or a number / bool that YAML typed (vcrpy writes them as text)."""
    if isinstance(value, str | int | float | bool):
        return str(value)
    raise ValueError(f"a header value must be text, got {type(value).__name__}")


def load_cassette(path: Path) -> list[Interaction] | None:
    """Read a cassette; None when the file does not exist (or is empty, as vcrpy treats it).

    Raises:
        CassetteFormatError: the file is not valid JSON/YAML, not a version-1 vcrpy cassette,
            or was written by a newer harness.
    """
    try:
        with open(path, encoding="utf-8") as file:  # (`Path.read_text` adds path objects)
            text = file.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise CassetteFormatError(f"{path}: cannot read cassette: {exc}") from exc
    if not text.strip():
        return None
    data = _parse(path, text)
    _check_versions(path, data)
    interactions: list[Interaction] = []
    for item in data["interactions"]:
        try:
            interactions.append(Interaction._from_vcr(item))
        except _MALFORMED as exc:  # where it is, worded only for the error
            raise _malformed(f"{path} interaction #{len(interactions)}", exc) from None
    return interactions


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        data = _load_yaml(text) if path.suffix in _YAML_SUFFIXES else _load_json(text)
    except (ValueError, RecursionError, yaml.YAMLError) as exc:
        raise CassetteFormatError(
            f"{path}: not a readable cassette: {exc}",
            hint="restore it from git, or re-record the scenario with --rerecord",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise CassetteFormatError(
            f"{path}: not a vcrpy cassette (no `interactions` list)",
            hint="cassettes are written by the harness or by vcrpy; re-record with --rerecord",
        )
    return data


def _load_json(text: str) -> Any:
    if text.startswith("\ufeff"):  # what `json.loads` says, as `decode` does not look
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    data = _JSON_DECODER.decode(text)
    # Each level opens with its own bracket: a text with fewer brackets than the limit (a
    # cassette of a few interactions) cannot nest that deep, and needs no walk.
    if isinstance(data, dict | list) and text.count("{") + text.count("[") >= MAX_DEPTH:
        _check_depth(data)
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"`{name}` is not JSON (a cassette holds plain JSON values)")


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_LENGTH:
        raise ValueError(
            f"a number of {len(text):,} characters is longer than the limit of {MAX_NUMBER_LENGTH}"
        )
    return int(text)


_JSON_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_int=_bounded_int)
"""Built once: `json.loads` with options builds a decoder (and its scanner) per call."""


def _check_depth(data: Any, depth: int = 1) -> None:
    """Refuse a value nested deeper than `MAX_DEPTH` (the document itself is 1 deep).

    Recursive, since it never goes below `MAX_DEPTH`; only containers are entered (a cassette's
    bulk is text): measured 2.5x faster than an explicit stack over every value.
    """
    for child in data.values() if isinstance(data, dict) else data:
        if depth >= MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(child, dict | list):
            _check_depth(child, depth + 1)


def _load_yaml(text: str) -> Any:
    """YAML through a safe loader, its node graph checked before any value is built: an alias
    bomb or a `<<:` merge chain is refused by its expanded size instead of being expanded."""
    loader = _SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_yaml_limits(node, text, max_values=MAX_VALUES, max_depth=MAX_DEPTH)
        _check_ints(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_ints(root: yaml.Node) -> None:
    for node in scalar_nodes(root):
        if node.tag.endswith(":int"):
            _bounded_int(node.value.replace("_", ""))


def _check_versions(path: Path, data: dict[str, Any]) -> None:
    if data.get("version", VCR_CASSETTE_VERSION) != VCR_CASSETTE_VERSION:
        raise CassetteFormatError(
            f"{path}: vcrpy cassette version {data.get('version')!r} is not supported "
            f"(this harness reads version {VCR_CASSETTE_VERSION})",
            hint="re-record the scenario with --rerecord",
        )
    metadata = data.get("metadata")
    harness = metadata.get("harness") if isinstance(metadata, dict) else None
    found = harness.get("format") if isinstance(harness, dict) else None
    if isinstance(found, int) and found > HARNESS_CASSETTE_FORMAT:
        raise CassetteFormatError(
            f"{path}: written by a newer harness (cassette format {found}, this harness reads "
            f"up to {HARNESS_CASSETTE_FORMAT})",
            hint="upgrade the harness package, or re-record with --rerecord",
        )


def save_cassette(
    path: Path, interactions: Sequence[Interaction], *, metadata: Mapping[str, Any] | None = None
) -> None:
    """Write a cassette atomically: a crash or a kill at any moment leaves the old file or the new.

    The text goes to a temp file in the same folder, is flushed to disk (`fsync`), gets ordinary
    permissions (0644 under the usual umask; `mkstemp` would leave 0600) and is renamed over
    `path`; the folder is synced too, so the rename itself survives a power loss.

    Args:
        metadata: more keys for the cassette's `metadata.harness` block (e.g. the scenario file);
            `format` is always this harness's.

    Raises:
        CassetteFormatError: the file cannot be written.
    """
    harness = {**(metadata or {}), "format": HARNESS_CASSETTE_FORMAT}
    data = {
        "version": VCR_CASSETTE_VERSION,
        "interactions": [interaction.to_vcr() for interaction in interactions],
        "metadata": {"harness": harness},
    }
    if path.suffix in _YAML_SUFFIXES:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    try:
        _write_atomic(path, text)
    except OSError as exc:
        raise CassetteFormatError(
            f"{path}: cannot write cassette: {exc}", hint="check the folder's permissions"
        ) from exc


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), _FILE_MODE & ~_umask())
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


@functools.cache
def _umask() -> int:
    # The only portable way to read the umask is to set it (and straight back); read it once.
    current = os.umask(0o022)
    os.umask(current)
    return current


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. a platform that cannot open folders: the rename is done anyway
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_temp_file(path: PurePath) -> bool:
    """True for a temp file `save_cassette` left behind (only a kill during the write does)."""
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)


def read_metadata(path: Path) -> dict[str, Any]:
    """The `metadata.harness` block of a cassette (empty for a vcrpy-written one).

    Raises:
        CassetteFormatError: the file is not a readable cassette.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CassetteFormatError(f"{path}: cannot read cassette: {exc}") from exc
    if not text.strip():
        return {}
    metadata = _parse(path, text).get("metadata")
    harness = metadata.get("harness") if isinstance(metadata, dict) else None
    return dict(harness) if isinstance(harness, dict) else {}


@functools.lru_cache(maxsize=256)
def _resolved_root(root: str, cwd: str) -> Path:
    """`root` resolved from `cwd`: once per batch rather than once per scenario."""
    return Path(cwd, root).resolve()


def _resolved_file(path: PurePath | str, cwd: str) -> str:
    """`str(Path(cwd, path).resolve())`, with the folder resolved once per folder, not per file.

    The folder's symlinks are resolved as before (`_resolved_root`); the file itself only needs
    resolving when it is a symlink (one `lstat`, instead of one per component of the path).
    """
    absolute = os.path.join(cwd, path)
    folder, name = os.path.split(absolute)
    if name in ("", ".", "..") or os.path.islink(absolute):
        return str(Path(absolute).resolve())
    return os.path.join(_resolved_root(folder, cwd), name)


def cassette_path_for(
    scenario: PurePath | str,
    *,
    scenarios_root: PurePath | str = "scenarios",
    cassettes_root: PurePath | str = "cassettes",
    suffix: str = ".json",
) -> Path:
    """The cassette of a scenario: its path under `scenarios_root`, mirrored under `cassettes_root`.

    `scenarios/clinic/booking.yaml` becomes `cassettes/clinic/booking.json`. A scenario outside
    `scenarios_root` keeps its relative path (without a leading `..`).
    """
    cwd = os.getcwd()
    resolved = _resolved_file(scenario, cwd)
    root = str(_resolved_root(str(scenarios_root), cwd))
    inside = root if root.endswith(os.sep) else root + os.sep
    # Text, not `PurePath.relative_to`: the same answer for a file strictly inside the root
    # (both paths are resolved), without building a path object per step for every scenario.
    if resolved.startswith(inside):
        folder, name = os.path.split(resolved[len(inside) :])
    else:
        folder, name = _outside_root(Path(scenario), resolved, root)
    for ending in (".scenario.yaml", ".scenario.yml", ".yaml", ".yml", ".json"):
        if name.endswith(ending):
            name = name[: -len(ending)]
            break
    return Path(cassettes_root, folder, f"{name}{suffix}")


def _outside_root(scenario: Path, resolved: str, root: str) -> tuple[str, str]:
    """The folder and name a scenario not strictly inside the root is mirrored under."""
    try:
        relative = Path(resolved).relative_to(root)
    except ValueError:
        relative = Path(*[p for p in scenario.parts if p not in ("..", "/", scenario.anchor)])
    return str(relative.parent), relative.name
