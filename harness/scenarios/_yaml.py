"""Line-aware YAML: plain data plus the file:line:col of every key and list item.

Parsing uses PyYAML's libyaml composer (C) and builds the data here, so every value keeps the
position of the key or item that holds it. Measured on a typical scenario: ~0.4 ms per file, against
~7.8 ms for ruamel.yaml's round-trip loader (which would take most of the 10 s budget for a
1,000-scenario suite). Scalars follow YAML 1.2's core schema, as ruamel.yaml does: `yes`, `no`,
`on`, `off` stay strings (a user saying "no" must stay "no"), and dates stay strings.

Limits (docs/reliability.md): hostile text ends in a `YamlProblem` with file:line:col, in bounded
time and memory. Nesting deeper than `MAX_DEPTH` and more than `MAX_VALUES` values (an alias is
rebuilt each time it is used, so alias bombs and `<<:` merge chains count every expansion) are
refused on the composed node graph before any value is built (`check_yaml_limits`), numbers longer
than `MAX_NUMBER_LENGTH` characters while building; libyaml itself refuses flow nesting deeper than
1,000 before any of this runs.

The scenario loader tries `_quick_yaml.parse_quick` first (the same data, no positions, under the
same limits) and comes here only for a file with a problem or a construct that parse leaves here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

from harness.models.selector import Step
from harness.recording.yaml_limits import GraphLimitError, check_yaml_limits

__all__ = [
    "MAX_DEPTH",
    "MAX_NUMBER_LENGTH",
    "MAX_VALUES",
    "CoreSchemaLoader",
    "Document",
    "Location",
    "YamlProblem",
    "parse_yaml",
    "scalar_value",
]

MAX_DEPTH = 100
"""Deepest nesting of mappings and lists a file may have (a scenario needs fewer than 15)."""
MAX_VALUES = 200_000
"""Most values (scalars, mappings, lists) one file may build, counting every alias expansion."""
MAX_NUMBER_LENGTH = 400
"""Longest number, in characters (Python refuses ints over 4,300 digits; floats lose precision
long before 400)."""

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CoreSchemaLoader(_BaseLoader):  # type: ignore[misc]
    """libyaml's parser with the YAML 1.2 core schema's implicit types only."""

    yaml_implicit_resolvers: dict[str, Any] = {}


_RESOLVERS = [
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
]
for _name, _pattern, _first in _RESOLVERS:
    CoreSchemaLoader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_name}",
        re.compile(_pattern),
        [*_first, ""] if _name == "null" else list(_first),
    )

_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_MERGE_KEY = "<<"


class Location(NamedTuple):
    """A position in a file; line and column count from 1. (A tuple: cheap to make per key.)"""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass
class Document:
    """A parsed YAML file: its data and where each key / item is."""

    file: str
    data: Any
    locations: dict[tuple[Step, ...], Location] = field(default_factory=dict)

    def locate(self, path: tuple[Step, ...]) -> Location:
        """The location of `path`, or of its nearest located ancestor."""
        for end in range(len(path), -1, -1):
            found = self.locations.get(path[:end])
            if found is not None:
                return found
        return Location(self.file, 1, 1)


class YamlProblem(Exception):
    """The text is not valid YAML (or uses a feature scenarios don't support)."""

    def __init__(self, message: str, location: Location) -> None:
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}")


def parse_yaml(text: str, file: str) -> Document:
    """Parse YAML text into a `Document`.

    Raises:
        YamlProblem: syntax errors, duplicate keys, unsupported tags; with file:line:col.
    """
    try:
        node = yaml.compose(text, Loader=CoreSchemaLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        raise YamlProblem(f"invalid YAML: {problem}{context}", where) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"invalid YAML: {exc}", Location(file, 1, 1)) from None
    document = Document(file=file, data=None, locations={(): Location(file, 1, 1)})
    if node is not None:
        try:  # measured on the node graph first: an alias bomb is refused before it is built
            check_yaml_limits(node, text, max_values=MAX_VALUES, max_depth=MAX_DEPTH)
        except GraphLimitError as exc:
            mark = exc.node.start_mark
            raise YamlProblem(str(exc), Location(file, mark.line + 1, mark.column + 1)) from None
        document.data = _Builder(document).build(node, ())
    return document


class _Builder:
    """Builds the data of a node graph that passed `check_yaml_limits`: its expansion is finite
    (no cycle), at most `MAX_VALUES` values and `MAX_DEPTH` levels, so nothing is counted here."""

    def __init__(self, document: Document) -> None:
        self.document = document

    def _at(self, node: yaml.Node) -> Location:
        mark = node.start_mark
        return Location(self.document.file, mark.line + 1, mark.column + 1)

    def build(self, node: yaml.Node, path: tuple[Step, ...]) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return self._sequence(node, path)
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, path: tuple[Step, ...]) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or (
                key_node.tag == _STR and key_node.value == _MERGE_KEY
            ):
                merged.update(self._merge_sources(value_node, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem("a mapping key must be a plain value", self._at(key_node))
            key = self._scalar(key_node)
            if key in result:
                raise YamlProblem(f"duplicate key `{key}`", self._at(key_node))
            self.document.locations[(*path, key)] = self._at(key_node)
            result[key] = self.build(value_node, (*path, key))
        return {**merged, **result}

    def _merge_sources(self, node: yaml.Node, path: tuple[Step, ...]) -> dict[Any, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for source in reversed(sources):  # earlier sources win, as in YAML's merge key
            value = self.build(source, path)
            if not isinstance(value, dict):
                raise YamlProblem("`<<` merges mappings only", self._at(source))
            merged.update(value)
        return merged

    def _sequence(self, node: yaml.SequenceNode, path: tuple[Step, ...]) -> list[Any]:
        items = []
        for index, item in enumerate(node.value):
            self.document.locations[(*path, index)] = self._at(item)
            items.append(self.build(item, (*path, index)))
        return items

    def _scalar(self, node: yaml.Node) -> Any:
        tag, value = node.tag, node.value
        if tag == _STR:
            return value
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag == "tag:yaml.org,2002:bool":
            return value.lower() == "true"
        if tag in (_INT, _FLOAT):
            return self._number(node)
        if tag in (_MAP, _SEQ):  # explicit !!map / !!seq on a scalar
            raise YamlProblem(f"`{value}` is not a {tag.rsplit(':', 1)[1]}", self._at(node))
        raise YamlProblem(f"unsupported YAML tag {tag}; use plain values", self._at(node))

    def _number(self, node: yaml.Node) -> int | float:
        try:
            return _to_number(node.tag, node.value)
        except ValueError as exc:
            raise YamlProblem(str(exc), self._at(node)) from None


def scalar_value(text: str) -> Any:
    """The value of a plain (unquoted, untagged) scalar, typed as `parse_yaml` types it.

    Raises:
        ValueError: a number too long, as `parse_yaml` words it.
    """
    tag = _STR
    for candidate, pattern in CoreSchemaLoader.yaml_implicit_resolvers.get(text[:1], ()):
        if pattern.match(text):  # the first match wins, as in PyYAML's resolver
            tag = candidate
            break
    if tag == _STR:
        return text
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return text.lower() == "true"
    return _to_number(tag, text)


def _to_number(tag: str, text: str) -> int | float:
    """Raises ValueError (a clear message) for a number too long or not a number at all."""
    if len(text) > MAX_NUMBER_LENGTH:
        raise ValueError(
            f"a number of {len(text):,} characters is longer than the limit of "
            f"{MAX_NUMBER_LENGTH}; quote it to keep it as text"
        )
    kind = "an integer" if tag == _INT else "a number"
    try:
        return _to_int(text) if tag == _INT else _to_float(text)
    except ValueError:
        raise ValueError(
            f"`{text[:40]}` is not {kind}; drop the `!!` tag or fix the value"
        ) from None


def _to_int(text: str) -> int:
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)


def _to_float(text: str) -> float:
    lowered = text.lower().lstrip("+")
    if lowered in (".inf", "-.inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    return float(text)
