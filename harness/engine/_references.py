"""The Liquid-style reference inside `{{ }}` and `[[ ]]`: a path, then filters after pipes.

    reference := path ( '|' filter )*
    path      := ( WORD | bracket ) ( '.' WORD | bracket )*
    bracket   := '[' ( INTEGER | STRING | path ) ']'
    filter    := NAME ( ':' argument ( ',' argument )* )?
    argument  := ( NAME ( ':' | '=' ) )? ( STRING | NUMBER | true | false | nil | null | path )

`items[2].name`, `result["key"]`, `slots.0`, `x | upcase`, `list | join: ', '`,
`x | default: 'n/a'`, `text | truncate: 20, '...'`. The filters are python-liquid's standard set
(the platform's templates are Liquid: its `interactly_configs/utils.py` strips `| filter` when it
derives variable names), called as plain functions: no Liquid template is ever compiled here.

Parsing is bounded (length, segments, nesting, filters, arguments, digits) so that no input can
cost more than a few microseconds per placeholder once cached; docs/engine-expressions.md has the
rules. Variable resolution and the unset-value rules live in `harness.engine.variables`.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import liquid

__all__ = [
    "MAX_FILTERS",
    "MAX_REFERENCE_LENGTH",
    "PLACEHOLDER_PATTERN",
    "Argument",
    "ConstantArgument",
    "FilterCall",
    "ParsedPath",
    "ParsedReference",
    "ReferenceSyntaxError",
    "Segment",
    "VariableArgument",
    "call_filter",
    "filter_usage",
    "filters",
    "is_unset",
    "parse_path",
    "parse_reference",
    "template_reference",
    "unset",
]

MAX_REFERENCE_LENGTH: Final = 1000
"""Characters inside one pair of brackets; a longer one is not a placeholder."""
MAX_FILTERS: Final = 20
"""Filters in one reference."""
_MAX_SEGMENTS: Final = 32
_MAX_DEPTH: Final = 4
_MAX_ARGUMENTS: Final = 8
_MAX_DIGITS: Final = 40

# Inside `{{ }}`: runs of anything but braces, and quoted strings (which may hold braces). Inside
# `[[ ]]`: runs of anything but square brackets, quoted strings, and one level of `[...]` for
# indexes. The first character must be able to start a path, so `{{{x}}}` and `[[[x]]]` find the
# inner `x`. Possessive repetition (nothing is ever re-tried) and runs that stop at the next
# bracket keep a scan linear whatever the text; an inner text longer than MAX_REFERENCE_LENGTH
# matches but is not a reference.
_QUOTED = r"'[^']{0,500}+'|\"[^\"]{0,500}+\""
_DYNAMIC_INNER = rf"(?:[^{{}}'\"]++|{_QUOTED})*+"
_RUNTIME_INNER = rf"(?:[^\[\]'\"]++|{_QUOTED}|\[(?:[^\[\]'\"]++|{_QUOTED})*+\])*+"
PLACEHOLDER_PATTERN: Final = re.compile(
    rf"\{{\{{(?=\s*+[^\s{{}}\[\]|])(?P<dynamic>{_DYNAMIC_INNER})\}}\}}"
    rf"|\[\[(?=\s*+[^\s{{}}\[\]|])(?P<runtime>{_RUNTIME_INNER})\]\]"
)
"""`{{ reference }}` (group `dynamic`) or `[[ reference ]]` (group `runtime`), inner text raw."""


@functools.cache
def _liquid() -> liquid.Environment:
    # Imported on first use: most texts have no filter, and python-liquid costs ~0.1 s to import.
    import liquid

    return liquid.Environment()


@functools.cache
def filters() -> dict[str, Callable[..., Any]]:
    """The filters a reference may use, by name: python-liquid's standard set."""
    return dict(_liquid().filters)


_WORD = re.compile(r"[^\s.\[\]{}|'\",:=()]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYWORD_ARGUMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*[:=](?![:=])")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.\[])")
_INTEGER = re.compile(r"-?\d+(?![\w.])")
_CHUNK = re.compile(r"[^\s|]{1,20}")
_CONSTANTS: Final[dict[str, object]] = {"true": True, "false": False, "nil": None, "null": None}


class ReferenceSyntaxError(ValueError):
    """A reference that cannot be parsed.

    Attributes:
        offset: 0-based position of the problem in the reference text.
        reason: what is wrong and how to fix it.
    """

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


# ------------------------------------------------------------------ the parsed forms


@dataclass(frozen=True)
class ParsedPath:
    """`a.b[0]["c"][d.e]`: `text` as written, `segments` in order (the first is the root)."""

    text: str
    segments: tuple[Segment, ...]


Segment = str | int | ParsedPath
"""A key (`.name`, `["name"]`, or the root), an index (`[2]`), or a nested path (`[d.e]`)."""


@dataclass(frozen=True)
class ConstantArgument:
    """A filter argument given as a constant: `', '`, `3`, `true`, `nil`."""

    value: object


@dataclass(frozen=True)
class VariableArgument:
    """A filter argument read from a variable (in the scope of the enclosing brackets)."""

    path: ParsedPath


Argument = ConstantArgument | VariableArgument


@dataclass(frozen=True)
class FilterCall:
    """`| name: arg, key: arg` — `name` is a key of `filters()`."""

    name: str
    arguments: tuple[Argument, ...] = ()
    keywords: tuple[tuple[str, Argument], ...] = ()


@dataclass(frozen=True)
class ParsedReference:
    """What sits between the brackets.

    Attributes:
        key: the text before the first pipe, stripped: looked up as a whole key first.
        path: the parsed path, or None when `key` is only usable as a whole key (`Node name.x`).
        filters: the filter chain, applied left to right.
    """

    key: str
    path: ParsedPath | None
    filters: tuple[FilterCall, ...] = ()


# ------------------------------------------------------------------ parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, reason: str, at: int | None = None) -> ReferenceSyntaxError:
        return ReferenceSyntaxError(self.pos if at is None else at, reason)

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, char: str) -> bool:
        return self.text.startswith(char, self.pos)

    def describe(self) -> str:
        if self.pos >= len(self.text):
            return "the end"
        chunk = _CHUNK.match(self.text, self.pos)
        return repr(chunk.group() if chunk else self.text[self.pos])

    def reference(self) -> ParsedReference:
        self.skip()
        start = self.pos
        path = self.path(0)
        key = self.text[start : self.pos]
        self.skip()
        filters: list[FilterCall] = []
        while self.peek("|"):
            if len(filters) == MAX_FILTERS:
                raise self.fail(f"more than {MAX_FILTERS} filters in one reference")
            self.pos += 1
            self.skip()
            filters.append(self.filter())
            self.skip()
        if self.pos < len(self.text):
            raise self.fail(
                f"unexpected {self.describe()} after {key!r}; "
                "a reference is a name or path, then optional `| filter` parts"
            )
        return ParsedReference(key, path, tuple(filters))

    def path(self, depth: int) -> ParsedPath:
        if depth > _MAX_DEPTH:
            raise self.fail(f"brackets nested deeper than {_MAX_DEPTH}")
        start = self.pos
        segments: list[Segment] = [self.bracket(depth) if self.peek("[") else self.word()]
        while self.peek(".") or self.peek("["):
            if len(segments) == _MAX_SEGMENTS:
                raise self.fail(f"a path of more than {_MAX_SEGMENTS} parts")
            if self.peek("["):
                segments.append(self.bracket(depth))
            else:
                self.pos += 1
                segments.append(self.word())
        return ParsedPath(self.text[start : self.pos], tuple(segments))

    def word(self) -> str:
        match = _WORD.match(self.text, self.pos)
        if match is None:
            raise self.fail(f"expected a variable name, found {self.describe()}")
        self.pos = match.end()
        return match.group()

    def bracket(self, depth: int) -> Segment:
        opening = self.pos
        self.pos += 1
        self.skip()
        segment: Segment
        if self.peek("'") or self.peek('"'):
            segment = self.string()
        elif match := _INTEGER.match(self.text, self.pos):
            segment = self.integer(match)
        else:
            segment = self.path(depth + 1)
        self.skip()
        if not self.peek("]"):
            raise self.fail(
                f"expected ']' to close the '[' at {opening + 1}, found {self.describe()}"
            )
        self.pos += 1
        return segment

    def integer(self, match: re.Match[str]) -> int:
        if len(match.group()) > _MAX_DIGITS:
            raise self.fail(f"a number of more than {_MAX_DIGITS} digits")
        self.pos = match.end()
        return int(match.group())

    def string(self) -> str:
        quote = self.text[self.pos]
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            raise self.fail(f"unterminated string: add the closing {quote}")
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def filter(self) -> FilterCall:
        start = self.pos
        match = _NAME.match(self.text, self.pos)
        if match is None:
            raise self.fail(f"expected a filter name after '|', found {self.describe()}")
        name = match.group()
        known = filters()
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise self.fail(
                f"unknown filter {name!r}; {hint}see docs/engine-expressions.md for the filters",
                at=start,
            )
        self.pos = match.end()
        self.skip()
        arguments: list[Argument] = []
        keywords: list[tuple[str, Argument]] = []
        if self.peek(":"):
            self.pos += 1
            self.arguments(arguments, keywords)
        call = FilterCall(name, tuple(arguments), tuple(keywords))
        _check_arity(call, start)
        return call

    def arguments(self, arguments: list[Argument], keywords: list[tuple[str, Argument]]) -> None:
        while True:
            if len(arguments) + len(keywords) == _MAX_ARGUMENTS:
                raise self.fail(f"more than {_MAX_ARGUMENTS} arguments to one filter")
            self.skip()
            keyword = _KEYWORD_ARGUMENT.match(self.text, self.pos)
            if keyword is not None:
                self.pos = keyword.end()
                self.skip()
                keywords.append((keyword.group(1), self.argument()))
            else:
                arguments.append(self.argument())
            self.skip()
            if not self.peek(","):
                return
            self.pos += 1

    def argument(self) -> Argument:
        if self.peek("'") or self.peek('"'):
            return ConstantArgument(self.string())
        if match := _NUMBER.match(self.text, self.pos):
            text = match.group()
            if len(text) > _MAX_DIGITS:
                raise self.fail(f"a number of more than {_MAX_DIGITS} characters")
            self.pos = match.end()
            return ConstantArgument(float(text) if any(c in text for c in ".eE") else int(text))
        word = _WORD.match(self.text, self.pos)
        if word is not None and word.group() in _CONSTANTS:
            after = word.end()
            if after >= len(self.text) or self.text[after] not in ".[":
                self.pos = after
                return ConstantArgument(_CONSTANTS[word.group()])
        if word is None and not self.peek("["):
            raise self.fail(f"expected a filter argument, found {self.describe()}")
        return VariableArgument(self.path(1))


def _check_arity(call: FilterCall, at: int) -> None:
    """Refuse at parse time what the filter would refuse at every call: a wrong argument list."""
    signature = _signature(call.name)
    if signature is None:
        return
    function = filters()[call.name]
    extra = {"environment": None} if getattr(function, "with_environment", False) else {}
    try:
        signature.bind(None, *call.arguments, **dict(call.keywords), **extra)
    except TypeError as exc:
        raise ReferenceSyntaxError(
            at, f"filter {call.name!r}: {exc}; write it as `{filter_usage(call.name)}`"
        ) from None


def filter_usage(name: str) -> str:
    """How a filter is written: `join: separator`, `default: default_, allow_false: value`."""
    signature = _signature(name)
    if signature is None:  # pragma: no cover
        return f"| {name}"
    positional: list[str] = []
    keywords: list[str] = []
    for parameter in list(signature.parameters.values())[1:]:
        if parameter.name == "environment":
            continue
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            keywords.append(f"{parameter.name}: value")
        elif parameter.default is inspect.Parameter.empty:
            positional.append(parameter.name)
        else:
            positional.append(f"[{parameter.name}]")
    arguments = ", ".join(positional + keywords)
    return f"| {name}: {arguments}" if arguments else f"| {name}"


@functools.cache
def _signature(name: str) -> inspect.Signature | None:
    try:
        return inspect.signature(filters()[name])
    except (TypeError, ValueError):  # pragma: no cover - every standard filter has one
        return None


@functools.lru_cache(maxsize=4096)
def parse_reference(text: str) -> ParsedReference:
    """Parse what sits between `{{ }}` or `[[ ]]` (cached: the result is immutable).

    Raises:
        ReferenceSyntaxError: with the offset of the problem and how to fix it.
    """
    if len(text) > MAX_REFERENCE_LENGTH:
        raise ReferenceSyntaxError(MAX_REFERENCE_LENGTH, "the reference is too long")
    return _Parser(text).reference()


@functools.lru_cache(maxsize=4096)
def template_reference(text: str) -> ParsedReference | None:
    """The lenient reading used for text: `parse_reference(text)`, else None (cached).

    One exception: a text without a pipe, brackets or quotes whose path does not parse
    (`Node name.var`) is still a whole-key reference (`path` None), because the platform writes
    keys such as `<node name>.<variable>` into the runtime variables.
    """
    try:
        return parse_reference(text)
    except ReferenceSyntaxError:
        key = text.strip()
        if not key or len(text) > MAX_REFERENCE_LENGTH or any(c in key for c in "|{}[]'\""):
            return None
        return ParsedReference(key, None)


@functools.lru_cache(maxsize=4096)
def parse_path(text: str) -> ParsedPath | None:
    """A bare path (`a.b[0]`, no filters), or None when `text` is not one (cached)."""
    if len(text) > MAX_REFERENCE_LENGTH:
        return None
    parser = _Parser(text)
    try:
        path = parser.path(0)
    except ReferenceSyntaxError:
        return None
    return path if parser.pos == len(text) else None


# ------------------------------------------------------------------ calling a filter


def call_filter(
    call: FilterCall, value: Any, arguments: list[Any], keywords: dict[str, Any]
) -> Any:
    """Apply one filter to `value` with resolved arguments; the result in plain JSON-like types.

    Raises:
        Exception: whatever the filter raises on a bad value (callers turn it into "unset").
    """
    function = filters()[call.name]
    if getattr(function, "with_environment", False):
        keywords = {**keywords, "environment": _liquid()}
    return _plain(function(value, *arguments, **keywords))


def _plain(value: Any) -> Any:
    """Liquid's own types (Decimal, Markup, Undefined, tuples) as the JSON-like values we keep."""
    if isinstance(value, str):
        return str(value) if type(value) is not str else value
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, Decimal):
        finite_integer = value.is_finite() and value == value.to_integral_value()
        return int(value) if finite_integer else float(value)
    if isinstance(value, tuple):  # `first` of a dict is its first (key, value) pair
        return list(value)
    return value


def unset(name: str) -> Any:
    """Liquid's value for an unset variable, as the filters expect it (renders as nothing)."""
    return _liquid().undefined(name)


def is_unset(value: Any) -> bool:
    """Whether a filter handed back Liquid's unset value."""
    return isinstance(value, _undefined_type())


@functools.cache
def _undefined_type() -> type[Any]:
    from liquid import Undefined

    return Undefined
