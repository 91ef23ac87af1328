"""A failed scenario as a per-turn report: what each turn sent and got, and for each failing
check the expected and the actual value, the deepdiff paths that differ, and infrastructure
errors (a cassette miss with its request diff and the command that re-records it)."""

from __future__ import annotations

import json
from typing import Any

from harness.models.result import (
    AttemptResult,
    CheckOutcome,
    OutcomeStatus,
    ScenarioResult,
    TurnResult,
    Verdict,
)

__all__ = ["junit_properties", "render_failure"]

_VALUE_CHARS = 300
_DIFF_LINES = 12
_MARK = {OutcomeStatus.FAILED: "x", OutcomeStatus.ERROR: "!", OutcomeStatus.PASSED: "ok"}


def _short(value: Any, limit: int = _VALUE_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = json.dumps(text, ensure_ascii=False) if isinstance(value, str) else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _diff_paths(expected: Any, got: Any) -> list[str]:
    """The deepdiff of two structured values, one changed path a line (empty for scalars)."""
    if not isinstance(expected, dict | list) or not isinstance(got, dict | list):
        return []
    from deepdiff import DeepDiff  # only when a structured check failed

    pretty: str = DeepDiff(expected, got, ignore_numeric_type_changes=True).pretty()
    lines = pretty.splitlines()
    if len(lines) > _DIFF_LINES:
        lines = [*lines[:_DIFF_LINES], f"... and {len(lines) - _DIFF_LINES} more difference(s)"]
    return lines


def _outcome(outcome: CheckOutcome, prefix: str) -> list[str]:
    where = outcome.key or outcome.check
    lines = [f"{prefix}{_MARK[outcome.status]} {where}: {outcome.message}"]
    has_values = outcome.expected is not None or outcome.got is not None
    if has_values and "expected" not in outcome.message:  # else the message already says them
        lines.append(f"{prefix}    expected: {_short(outcome.expected)}")
        lines.append(f"{prefix}    got:      {_short(outcome.got)}")
    diff = _diff_paths(outcome.expected, outcome.got)
    if diff:
        lines.append(f"{prefix}    deepdiff:")
        lines += [f"{prefix}      {line}" for line in diff]
    return lines


def _turn_head(turn: TurnResult) -> str:
    label = turn.label or turn.kind
    if turn.status is None:
        where = " -> no answer"
    else:
        where = f" -> {turn.status.value}" + (f" at {turn.node}" if turn.node else "")
    measures = f"{turn.tokens} tokens, {turn.llm_calls} LLM call(s), {turn.wall_ms:.0f} ms"
    return f"turns[{turn.turn}] {_short(label, 100)[1:-1]}{where}  [{measures}]"


def _turn(turn: TurnResult, detailed: bool) -> list[str]:
    failing = [o for o in turn.outcomes if not o.passed]
    mark = "x" if failing or turn.error else " "
    lines = [f"  {mark} {_turn_head(turn)}"]
    if not (detailed and (failing or turn.error)):
        return lines
    if turn.said:
        lines.append(f"      said: {_short(turn.said)}")
    if turn.path:
        lines.append(f"      path: {' -> '.join(turn.path)}")
    if turn.tool_calls:
        calls = ", ".join(f"{c.name}({_short(c.arguments, 80)})" for c in turn.tool_calls)
        lines.append(f"      tool calls: {calls}")
    for outcome in failing:
        lines += _outcome(outcome, "      ")
    return lines


def _attempt(attempt: AttemptResult, runs: int) -> list[str]:
    lines = [] if runs <= 1 else [f"run {attempt.attempt + 1} of {runs}: {attempt.verdict.value}"]
    errors_in_turns = {t.error for t in attempt.turns if t.error}
    for turn in attempt.turns:
        lines += _turn(turn, detailed=True)
    failing = [o for o in attempt.outcomes if not o.passed]
    if failing:
        lines.append("  whole run:")
        for outcome in failing:
            lines += _outcome(outcome, "    ")
    evaluation = attempt.evaluation
    if evaluation is not None:
        bad = [o for o in evaluation.outcomes if not o.passed]
        if bad or evaluation.error:
            lines.append(
                f"  evaluation ({evaluation.evaluator}): verdict {_short(evaluation.verdict)}"
            )
            for outcome in bad:
                lines += _outcome(outcome, "    ")
            if evaluation.error:
                lines.append(_indent(evaluation.error, "    ! "))
    for error in dict.fromkeys([*errors_in_turns, *([attempt.error] if attempt.error else [])]):
        lines.append("  error:")
        lines.append(_indent(error, "    "))
    return lines


def render_failure(result: ScenarioResult, *, nodeid: str, file: str | None) -> str:
    """The report of a failed or errored scenario, turn by turn.

    Every attempt that did not pass is shown (a repeated scenario shows the runs that failed);
    `nodeid` and `file` make the re-run and re-record commands.
    """
    kind = "failed" if result.verdict is Verdict.FAILED else "could not be decided (error)"
    runs = len(result.attempts)
    passed = sum(a.verdict is Verdict.PASSED for a in result.attempts)
    tally = f"{passed} of {runs} run(s) passed" if runs else "no run finished"
    lines = [f"scenario {result.scenario_id} {kind}: {tally}"]
    if file:
        lines.append(f"  file: {file}")
    for attempt in result.attempts:
        if attempt.verdict is not Verdict.PASSED:
            lines.append("")
            lines += _attempt(attempt, runs)
    scenario_level = [o for o in result.outcomes if not o.passed]
    if scenario_level:
        lines += ["", "over all runs:"]
        for outcome in scenario_level:
            lines += _outcome(outcome, "  ")
    if result.error:
        lines += ["", "error:", _indent(result.error, "  ")]
    if "cassette" in "\n".join(_errors(result)):
        lines += [
            "",
            "re-record this scenario with pytest:",
            f"  pytest '{nodeid}' --harness-record-mode all",
        ]
    lines += ["", f"re-run it: pytest '{nodeid}'  (the traceback: --harness-tb native)"]
    return "\n".join(lines)


def _errors(result: ScenarioResult) -> list[str]:
    found = [t.error for a in result.attempts for t in a.turns if t.error]
    found += [a.error for a in result.attempts if a.error]
    return [*found, *([result.error] if result.error else [])]


def junit_properties(result: ScenarioResult) -> list[tuple[str, int | float]]:
    """Tokens, LLM calls, latency and cost as (name, number) pairs: the properties `harness
    run` writes in its `junit.xml` (`harness.results.report`), as numbers (cost only when
    every model has a price; primitive values only, as pytest-xdist requires)."""
    from harness.results.report import scenario_measures

    pairs: list[tuple[str, int | float]] = []
    for name, text in scenario_measures(result).items():
        pairs.append((name, int(text) if text.lstrip("-").isdigit() else float(text)))
    return pairs
