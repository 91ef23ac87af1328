"""A small path language that selects a value inside a JSON document.

Examples: `status`, `input_output_pairs[-1].run_output.events[0].type`,
`runtime_variables['patient name']`, `outputs.extract_intake.preferred_day`.

Grammar: a path is a sequence of steps. A step is a name (`[A-Za-z_][A-Za-z0-9_-]*`, after a `.`
unless it is the first step), an integer index in brackets (`[0]`, `[-1]`, counted from the end
when negative), or a quoted key in brackets (`['a key']`, `["a.b"]`) for keys that are not names.
The empty path selects the whole document. Pure functions, no I/O: the scenario models validate
selector syntax at load time, and the checks evaluate them against a run.
"""

import re
from typing import Annotated, Any

from pydantic import AfterValidator

__all__ = ["Selector", "SelectorMiss", "Step", "parse_selector", "select", "selector_text"]

Step = str | int
"""One step of a parsed selector: a mapping key or a list index."""

_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_INDEX = re.compile(r"\[\s*(-?\d+)\s*\]")
_QUOTED = re.compile(r"""\[\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\]""")


class SelectorMiss(LookupError):
    """The selected value does not exist; `where` is the longest prefix that did."""

    def __init__(self, path: str, where: str, reason: str) -> None:
        self.path = path
        self.where = where
        self.reason = reason
        super().__init__(f"`{path}` selects nothing: {reason} at `{where or '(root)'}`")


def parse_selector(text: str) -> tuple[Step, ...]:
    """Parse a selector into its steps.

    Raises:
        ValueError: the text is not a selector; the message names the column of the problem.
    """
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "[":
            pos = _parse_bracket(text, pos, steps)
            continue
        if steps:
            if text[pos] != ".":
                raise ValueError(f"expected `.` or `[` at column {pos + 1} of selector {text!r}")
            pos += 1
        match = _NAME.match(text, pos)
        if match is None:
            raise ValueError(f"expected a name at column {pos + 1} of selector {text!r}")
        steps.append(match.group(0))
        pos = match.end()
    return tuple(steps)


def _parse_bracket(text: str, pos: int, steps: list[Step]) -> int:
    index = _INDEX.match(text, pos)
    if index is not None:
        steps.append(int(index.group(1)))
        return index.end()
    quoted = _QUOTED.match(text, pos)
    if quoted is not None:
        raw = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
        steps.append(re.sub(r"\\(.)", r"\1", raw))
        return quoted.end()
    raise ValueError(
        f"expected `[<integer>]` or `['<key>']` at column {pos + 1} of selector {text!r}"
    )


def selector_text(steps: tuple[Step, ...]) -> str:
    """The canonical text of parsed steps (inverse of `parse_selector`)."""
    out: list[str] = []
    for step in steps:
        if isinstance(step, int):
            out.append(f"[{step}]")
        elif _NAME.fullmatch(step):
            out.append(f".{step}" if out else step)
        else:
            out.append("[" + repr(step) + "]")
    return "".join(out)


def select(document: Any, path: str | tuple[Step, ...]) -> Any:
    """The value at `path` inside `document` (dicts and lists).

    Raises:
        SelectorMiss: a key is absent, an index is out of range, or a step meets a scalar.
        ValueError: `path` is text that does not parse.
    """
    steps = parse_selector(path) if isinstance(path, str) else path
    text = path if isinstance(path, str) else selector_text(path)
    current = document
    for i, step in enumerate(steps):
        where = selector_text(steps[:i])
        if isinstance(current, dict):
            if step not in current:
                keys = ", ".join(sorted(map(str, current))[:12])
                raise SelectorMiss(text, where, f"no key {step!r} (keys: {keys or 'none'})")
            current = current[step]
        elif isinstance(current, list) and isinstance(step, int):
            if not -len(current) <= step < len(current):
                raise SelectorMiss(text, where, f"index {step} out of range ({len(current)} items)")
            current = current[step]
        else:
            kind = "a list" if isinstance(current, list) else type(current).__name__
            raise SelectorMiss(text, where, f"cannot take {step!r} of {kind}")
    return current


def _check_selector(text: str) -> str:
    parse_selector(text)
    return text


Selector = Annotated[str, AfterValidator(_check_selector)]
"""A selector as a model field: its syntax is checked when the model is validated."""
