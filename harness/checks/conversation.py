"""Checks on the conversation: status, said text, nodes, transitions, tool calls, variables,
events and errors. Each returns outcomes (data) and never raises for a failed expectation."""

from __future__ import annotations

from typing import Any

from harness.checks.matching import (
    missing_in_order,
    outcome,
    short,
    subset_match,
)
from harness.checks.matching import subkey as _k
from harness.checks.regexes import RegexTimeoutError, regex_search
from harness.checks.view import RunView
from harness.models.api import RunStatus
from harness.models.expect import (
    PathExpect,
    TextExpect,
)
from harness.models.result import CheckOutcome

__all__ = [
    "check_no_errors",
    "check_node",
    "check_path",
    "check_says",
    "check_status",
    "check_termination_source",
    "check_variables",
]


def _one_of(values: list[str]) -> str:
    return values[0] if len(values) == 1 else "one of " + ", ".join(values)


def check_status(
    expected: list[RunStatus], view: RunView, key: str | None = None
) -> list[CheckOutcome]:
    """The run status is one of `expected`."""
    names = [s.value for s in expected]
    return [
        outcome(
            view.status in names,
            "status",
            key,
            "status",
            _one_of(names),
            view.status,
            expected=names,
            actual=view.status,
        )
    ]


def check_termination_source(
    expected: str | None, view: RunView, key: str | None = None
) -> list[CheckOutcome]:
    """The run's termination source equals `expected` (None: it did not end abnormally)."""
    got = view.termination_source
    return [
        outcome(
            got == expected,
            "termination_source",
            key,
            "termination source",
            short(expected),
            short(got),
            expected=expected,
            actual=got,
        )
    ]


def check_says(expected: TextExpect, view: RunView, key: str | None = None) -> list[CheckOutcome]:
    """The said text equals / contains / does not contain / matches."""
    said = view.said
    fold = str.casefold if expected.ignore_case else str
    got = short(said)
    results = []
    if expected.equals is not None:
        ok = fold(said) == fold(expected.equals)
        results.append(
            outcome(
                ok,
                "says.equals",
                _k(key, "equals"),
                "said text",
                f"exactly {short(expected.equals)}",
                got,
                expected=expected.equals,
                actual=said,
            )
        )
    for text in expected.contains or []:
        ok = fold(text) in fold(said)
        results.append(
            outcome(
                ok,
                "says.contains",
                _k(key, "contains"),
                "said text",
                f"to contain {short(text)}",
                got,
                expected=text,
                actual=said,
            )
        )
    for text in expected.not_contains or []:
        ok = fold(text) not in fold(said)
        results.append(
            outcome(
                ok,
                "says.not_contains",
                _k(key, "not_contains"),
                "said text",
                f"not to contain {short(text)}",
                got,
                expected=text,
                actual=said,
            )
        )
    if expected.regex is not None:
        try:
            ok, wanted = regex_search(expected.regex, said, ignore_case=expected.ignore_case), ""
        except RegexTimeoutError as exc:
            ok, wanted = False, f" ({exc})"
        results.append(
            outcome(
                ok,
                "says.regex",
                _k(key, "regex"),
                "said text",
                f"to match /{expected.regex}/{wanted}",
                got,
                expected=expected.regex,
                actual=said,
            )
        )
    return results


def check_node(expected: list[str], view: RunView, key: str | None = None) -> list[CheckOutcome]:
    """The current node is one of `expected`."""
    got = view.node
    return [
        outcome(
            got in expected,
            "node",
            key,
            "current node",
            _one_of(expected),
            got or "none",
            expected=expected,
            actual=got,
        )
    ]


def check_path(expected: PathExpect, view: RunView, key: str | None = None) -> list[CheckOutcome]:
    """The node path (of the run so far, or of the turn) equals / contains in order / avoids."""
    path = view.path if expected.scope == "run" else view.turn_path
    subject = "node path" if expected.scope == "run" else "node path of the turn"
    got = _nodes(path)
    results = []
    if expected.equals is not None:
        results.append(
            outcome(
                path == expected.equals,
                "path.equals",
                _k(key, "equals"),
                subject,
                f"exactly {_nodes(expected.equals)}",
                got,
                expected=expected.equals,
                actual=path,
            )
        )
    if expected.contains is not None:
        missing = missing_in_order(expected.contains, path, str.__eq__)
        want = f"{_nodes(expected.contains)} in this order"
        got_text = (
            got
            if missing is None
            else f"{got} (no `{expected.contains[missing]}` after the earlier ones)"
        )
        results.append(
            outcome(
                missing is None,
                "path.contains",
                _k(key, "contains"),
                subject,
                want,
                got_text,
                expected=expected.contains,
                actual=path,
            )
        )
    for node in expected.not_contains or []:
        results.append(
            outcome(
                node not in path,
                "path.not_contains",
                _k(key, "not_contains"),
                subject,
                f"no `{node}`",
                got,
                expected=node,
                actual=path,
            )
        )
    return results


def _nodes(nodes: list[str]) -> str:
    return "[" + ", ".join(nodes) + "]"


# ------------------------------------------------------------------ variables and errors


def check_variables(
    kind: str, expected: dict[str, Any], view: RunView, key: str | None = None
) -> list[CheckOutcome]:
    """Each expected variable is set and matches (mappings by subset). `kind`: runtime|dynamic."""
    actual = view.runtime_variables if kind == "runtime" else view.dynamic_variables
    results = []
    for name, want in expected.items():
        if name in actual:
            got = actual[name]
            ok, got_text = subset_match(want, got), short(got)
        else:
            ok, got = False, None
            got_text = f"nothing (not set; set: {', '.join(sorted(actual)) or 'none'})"
        subject = f"{kind} variable `{name}`"
        results.append(
            outcome(
                ok,
                f"{kind}_variables",
                _k(key, name),
                subject,
                short(want),
                got_text,
                expected=want,
                actual=got,
            )
        )
    return results


def check_no_errors(view: RunView, key: str | None = None) -> list[CheckOutcome]:
    """No `workflow_error` event in the view and a status that is not failed or aborted."""
    errors = [e for e in view.events if e.type == "workflow_error"]
    problems = [
        f"workflow_error {short(e.get('error_message'), 100)}"
        + (f" in {e.origin_node_logical_id}" if e.origin_node_logical_id else "")
        for e in errors
    ]
    if view.status in (RunStatus.FAILED.value, RunStatus.ABORTED_LOOPING_RISK.value):
        problems.append(f"status {view.status}")
    if view.termination_source:
        problems.append(f"termination source {view.termination_source}")
    return [
        outcome(
            not problems,
            "no_errors",
            key,
            "errors",
            "none",
            "; ".join(problems),
            expected=[],
            actual=problems,
        )
    ]
