"""Checks on sequences in the run: transitions, tool calls and events (exactly, in order as an
ordered subsequence, none of, counts). Each returns outcomes and never raises for a failure."""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness.checks.matching import (
    count_problem,
    describe_count,
    missing_in_order,
    outcome,
    short,
    subset_match,
)
from harness.checks.matching import (
    subkey as _k,
)
from harness.checks.view import RunView
from harness.models.expect import (
    EventMatch,
    EventsExpect,
    ToolCallMatch,
    ToolCallsExpect,
    TransitionMatch,
    TransitionsExpect,
)
from harness.models.result import CheckOutcome, ToolCallRecord, TransitionRecord

__all__ = ["check_events", "check_tool_calls", "check_transitions"]

# ------------------------------------------------------------------ transitions and tool calls


def _transition_matches(match: TransitionMatch, record: TransitionRecord) -> bool:
    return (
        (match.edge is None or match.edge == record.edge)
        and (match.type is None or match.type == record.type)
        and (match.from_node is None or match.from_node == record.source)
        and (match.to_node is None or match.to_node == record.destination)
        and (match.args is None or subset_match(match.args, record.args or {}))
    )


def _transition_text(
    edge: str | None, kind: str | None, source: str | None, dest: str | None
) -> str:
    name = f" {edge}" if edge else ""
    return f"{kind or 'any'}{name} {source or '*'} -> {dest or '*'}"


def _describe_transition(m: TransitionMatch) -> str:
    args = f" with {short(m.args, 60)}" if m.args else ""
    return _transition_text(m.edge, m.type, m.from_node, m.to_node) + args


def _describe_record(r: TransitionRecord) -> str:
    return _transition_text(r.edge, r.type, r.source, r.destination)


def check_transitions(
    expected: TransitionsExpect, view: RunView, key: str | None = None
) -> list[CheckOutcome]:
    """Edges fired: exactly, in order, none of, how many."""
    fired = view.transitions
    return _sequence_checks(
        "transitions",
        "transitions",
        expected.equals,
        expected.contains,
        expected.not_contains,
        expected.count,
        fired,
        _transition_matches,
        _describe_transition,
        _describe_record,
        key,
    )


def _tool_matches(match: ToolCallMatch, call: ToolCallRecord) -> bool:
    return (
        (match.name is None or match.name == call.name)
        and (match.args is None or subset_match(match.args, call.arguments))
        and ("result" not in match.model_fields_set or subset_match(match.result, call.result))
        and (match.error is None or match.error == (call.error is not None))
        and (match.node is None or match.node == call.node)
    )


def _describe_tool_match(m: ToolCallMatch) -> str:
    args = ", ".join(f"{k}={short(v, 40)}" for k, v in (m.args or {}).items())
    text = f"{m.name or 'any tool'}({args}{', ...' if args else '...'})"
    if "result" in m.model_fields_set:
        text += f" -> {short(m.result, 60)}"
    if m.error is not None:
        text += " failing" if m.error else " succeeding"
    return text + (f" in {m.node}" if m.node else "")


def _describe_call(c: ToolCallRecord) -> str:
    args = ", ".join(f"{k}={short(v, 40)}" for k, v in c.arguments.items())
    result = f" -> error {short(c.error, 60)}" if c.error else f" -> {short(c.result, 60)}"
    return f"{c.name}({args}){result}"


def check_tool_calls(
    expected: ToolCallsExpect, view: RunView, key: str | None = None
) -> list[CheckOutcome]:
    """Tool calls (arguments and results by subset): exactly, in order, none of, how many."""
    calls = view.tool_calls
    return _sequence_checks(
        "tool_calls",
        "tool calls",
        expected.equals,
        expected.contains,
        expected.not_contains,
        expected.count,
        calls,
        _tool_matches,
        _describe_tool_match,
        _describe_call,
        key,
    )


def _sequence_checks(
    check: str,
    subject: str,
    equals: Any,
    contains: Any,
    not_contains: Any,
    count: Any,
    actual: list[Any],
    matches: Any,
    describe: Any,
    describe_actual: Any,
    key: str | None,
) -> list[CheckOutcome]:
    got = "[" + "; ".join(describe_actual(a) for a in actual) + "]" if actual else "none"
    dump = [a.model_dump() for a in actual]
    results = []
    if equals is not None:
        ok = len(equals) == len(actual) and all(map(matches, equals, actual))
        want = "exactly [" + "; ".join(map(describe, equals)) + "]"
        results.append(
            outcome(
                ok,
                f"{check}.equals",
                _k(key, "equals"),
                subject,
                want,
                got,
                expected=[m.model_dump(by_alias=True, exclude_none=True) for m in equals],
                actual=dump,
            )
        )
    if contains is not None:
        missing = missing_in_order(contains, actual, matches)
        want = "[" + "; ".join(map(describe, contains)) + "] in this order"
        got_text = (
            got
            if missing is None
            else f"{got} (no {describe(contains[missing])} after the earlier ones)"
        )
        results.append(
            outcome(
                missing is None,
                f"{check}.contains",
                _k(key, "contains"),
                subject,
                want,
                got_text,
                expected=[m.model_dump(by_alias=True, exclude_none=True) for m in contains],
                actual=dump,
            )
        )
    for item in not_contains or []:
        ok = not any(matches(item, a) for a in actual)
        results.append(
            outcome(
                ok,
                f"{check}.not_contains",
                _k(key, "not_contains"),
                subject,
                f"no {describe(item)}",
                got,
                expected=item.model_dump(by_alias=True, exclude_none=True),
                actual=dump,
            )
        )
    if count is not None:
        ok = not count_problem(count, len(actual))
        results.append(
            outcome(
                ok,
                f"{check}.count",
                _k(key, "count"),
                f"number of {subject}",
                describe_count(count),
                f"{len(actual)}: {got}" if actual else "0",
                expected=count.model_dump(exclude_none=True),
                actual=len(actual),
            )
        )
    return results


# ------------------------------------------------------------------ events


def _event_matches(match: EventMatch, event: Any) -> bool:
    if event.type != match.type:
        return False
    return all(subset_match(v, event.get(k)) for k, v in (match.fields or {}).items())


def _describe_event(m: EventMatch) -> str:
    return m.type + (f" with {short(m.fields, 60)}" if m.fields else "")


def check_events(
    expected: EventsExpect, view: RunView, key: str | None = None
) -> list[CheckOutcome]:
    """Events: an ordered subsequence, absent ones, and counts per type."""
    events = view.events
    types = [e.type for e in events]
    got = short(types, 240)
    results = []
    if expected.contains is not None:
        missing = missing_in_order(expected.contains, events, _event_matches)
        want = "[" + "; ".join(map(_describe_event, expected.contains)) + "] in this order"
        got_text = (
            got
            if missing is None
            else f"{got} (no {_describe_event(expected.contains[missing])} after the earlier ones)"
        )
        results.append(
            outcome(
                missing is None,
                "events.contains",
                _k(key, "contains"),
                "events",
                want,
                got_text,
                expected=[m.model_dump(exclude_none=True) for m in expected.contains],
                actual=types,
            )
        )
    for match in expected.not_contains or []:
        ok = not any(_event_matches(match, e) for e in events)
        results.append(
            outcome(
                ok,
                "events.not_contains",
                _k(key, "not_contains"),
                "events",
                f"no {_describe_event(match)}",
                got,
                expected=match.model_dump(exclude_none=True),
                actual=types,
            )
        )
    counts = Counter(types)
    for event_type, count in (expected.counts or {}).items():
        n = counts[event_type]
        results.append(
            outcome(
                not count_problem(count, n),
                "events.counts",
                _k(key, f"counts.{event_type}"),
                f"number of `{event_type}` events",
                describe_count(count),
                str(n),
                expected=count.model_dump(exclude_none=True),
                actual=n,
            )
        )
    return results
