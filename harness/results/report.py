"""The human-facing report files of a batch: `junit.xml` for CI and `summary.md` for a pull
request comment or `$GITHUB_STEP_SUMMARY`.

JUnit keeps failures and infrastructure errors apart: a failed check is a `<failure>` whose
message starts with the check's key (`turns[2].expect.says.contains: expected ..., got ...`); a
scenario the harness could not decide (backend down, cassette miss, timeout, a check that could
not run) is an `<error>`. Tokens, LLM calls, latency (sum, p50, p95), end-to-end time and cost are
`<property>` elements of each test case. Selected scenarios that never ran are `<skipped>`.
"""

from __future__ import annotations

import re

from harness.checks.budgets import percentile
from harness.models.result import CheckOutcome, RunSummary, ScenarioResult, Verdict

__all__ = ["failure_line", "junit_xml", "scenario_measures", "summary_markdown"]

_ROWS = 50
"""Rows per Markdown section before the rest are counted (a PR comment holds 65,536 chars)."""


def failure_line(outcome: CheckOutcome) -> str:
    """`key: message` (the check kind when the outcome has no key)."""
    return f"{outcome.key or outcome.check}: {outcome.message}"


def _errors(result: ScenarioResult) -> list[str]:
    """Infrastructure errors of a scenario, most specific first, without repeats."""
    found = [a.error for a in result.attempts if a.error]
    found += [a.evaluation.error for a in result.attempts if a.evaluation and a.evaluation.error]
    found += [result.error] if result.error else []
    found += [failure_line(o) for o in result.failures() if o.status.value == "error"]
    return list(dict.fromkeys(found))


def _failed_checks(result: ScenarioResult) -> list[str]:
    return list(
        dict.fromkeys(failure_line(o) for o in result.failures() if o.status.value == "failed")
    )


def scenario_measures(result: ScenarioResult) -> dict[str, str]:
    """A test case's `<property>` values: tokens, LLM calls, latency (sum, p50, p95), e2e time,
    attempts and cost (left out when unknown); the pytest plugin reports the same."""
    latencies = result.latencies_ms
    values: dict[str, str] = {
        "tokens": str(result.tokens),
        "prompt_tokens": str(result.prompt_tokens),
        "completion_tokens": str(result.completion_tokens),
        "llm_calls": str(result.llm_calls),
        "latency_ms": f"{result.latency_ms:g}",
        "latency_p50_ms": f"{percentile(latencies, 50):g}",
        "latency_p95_ms": f"{percentile(latencies, 95):g}",
        "e2e_ms": f"{result.e2e_ms:.1f}",
        "attempts": str(len(result.attempts)),
    }
    if result.cost_usd is not None:
        values["cost_usd"] = f"{result.cost_usd:.6f}"
    return values


class _Xml:
    """XML written line by line, one element per line and one space of indent per level: what
    `ElementTree` with `ET.indent(space=" ")` writes, without building the tree (for a batch of
    a thousand scenarios that costs more than the rest of the report files' `finish`)."""

    def __init__(self) -> None:
        self.lines = ["<?xml version='1.0' encoding='utf-8'?>"]
        self.depth = 0

    def open(self, tag: str, attributes: dict[str, str]) -> None:
        self.lines.append(f"{' ' * self.depth}<{tag}{_attributes(attributes)}>")
        self.depth += 1

    def close(self, tag: str) -> None:
        self.depth -= 1
        self.lines.append(f"{' ' * self.depth}</{tag}>")

    def leaf(self, tag: str, attributes: dict[str, str], text: str = "") -> None:
        start = f"{' ' * self.depth}<{tag}{_attributes(attributes)}"
        if text:
            self.lines.append(f"{start}>{_escape_text(text)}</{tag}>")
        else:
            self.lines.append(f"{start} />")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _attributes(attributes: dict[str, str]) -> str:
    return "".join(f' {name}="{_escape_attribute(value)}"' for name, value in attributes.items())


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ATTRIBUTE_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\r": "&#13;",
        "\n": "&#10;",
        "\t": "&#09;",
    }
)


_NEEDS_ESCAPE = re.compile('[&<>"\r\n\t]')


def _escape_attribute(value: str) -> str:
    # Line breaks and tabs as character references, so a reader keeps them (not normalised).
    # Most values (names, numbers) have nothing to escape: a search costs less than `translate`.
    return value.translate(_ATTRIBUTE_ESCAPES) if _NEEDS_ESCAPE.search(value) else value


def _properties(xml: _Xml, values: dict[str, str]) -> None:
    # What `leaf("property", {"name": ..., "value": ...})` writes for each, a line at a time
    # without the general attribute walk: a test case has nine of them.
    outer = " " * xml.depth
    inner = outer + " "
    xml.lines.append(f"{outer}<properties>")
    xml.lines.extend(
        f'{inner}<property name="{_escape_attribute(name)}" value="{_escape_attribute(value)}" />'
        for name, value in values.items()
    )
    xml.lines.append(f"{outer}</properties>")


def _case(xml: _Xml, result: ScenarioResult) -> None:
    xml.open(
        "testcase",
        {
            "classname": (result.file or "scenarios").replace("/", "."),
            "name": result.scenario_id,
            "time": f"{result.duration_ms / 1000:.3f}",
        },
    )
    _properties(xml, scenario_measures(result))
    if result.verdict is Verdict.SKIPPED:
        xml.leaf("skipped", {"message": result.error or "skipped"})
    elif result.verdict is Verdict.FAILED:
        lines = _failed_checks(result) or ["failed"]
        xml.leaf("failure", {"message": lines[0][:500], "type": "check"}, "\n".join(lines))
    elif result.verdict is Verdict.ERROR:
        lines = _errors(result) or ["error"]
        text = "\n".join(lines + _failed_checks(result))
        xml.leaf("error", {"message": lines[0][:500], "type": "infrastructure"}, text)
    xml.close("testcase")


def junit_xml(summary: RunSummary) -> str:
    """The batch as JUnit XML: one test case per scenario, and one per scenario not run."""
    batch = summary.batch
    suite = {
        "name": "harness",
        "tests": str(summary.total + len(summary.not_run)),
        "failures": str(summary.failed),
        "errors": str(summary.errored),
        "skipped": str(summary.skipped + len(summary.not_run)),
        "time": f"{summary.duration_ms / 1000:.3f}",
        "id": batch.batch_id,
    }
    if batch.started_at is not None:
        suite["timestamp"] = batch.started_at.isoformat(timespec="seconds")
    if batch.host:
        suite["hostname"] = batch.host
    xml = _Xml()
    xml.open("testsuite", suite)
    provenance = {
        "batch_id": batch.batch_id,
        "git_commit": batch.git_commit,
        "git_branch": batch.git_branch,
        "backend": batch.backend,
        "record_mode": batch.record_mode,
        "harness_version": batch.harness_version,
        "tokens": str(summary.tokens),
        "cost_usd": None if summary.cost_usd is None else f"{summary.cost_usd:.6f}",
    }
    _properties(xml, {k: v for k, v in provenance.items() if v is not None})
    for result in summary.results:
        _case(xml, result)
    for scenario_id in summary.not_run:
        xml.open("testcase", {"classname": "scenarios", "name": scenario_id})
        xml.leaf("skipped", {"message": "not run: the batch was interrupted"})
        xml.close("testcase")
    xml.close("testsuite")
    return xml.text()


# ---------------------------------------------------------------- Markdown


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (one line, no pipes)."""
    flat = " ".join(text.split())
    return flat.replace("|", "\\|")[:300]


def _cost(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}"


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 50):.0f} / {percentile(values, 95):.0f} ms"


def _headline(summary: RunSummary) -> str:
    ok = summary.exit_code == 0
    parts = [f"{summary.passed} passed"]
    parts += [f"{summary.failed} failed"] if summary.failed else []
    parts += [f"{summary.errored} error(s)"] if summary.errored else []
    parts += [f"{summary.skipped} skipped"] if summary.skipped else []
    parts += [f"{len(summary.not_run)} not run"] if summary.not_run else []
    mark = "✅" if ok else "❌"
    note = " (interrupted)" if summary.interrupted else ""
    return f"## {mark} Harness: {', '.join(parts)} of {summary.total + len(summary.not_run)}{note}"


def _provenance(summary: RunSummary) -> str:
    batch = summary.batch
    parts = [f"batch `{batch.batch_id}`"]
    if batch.git_commit:
        where = f"`{batch.git_commit[:12]}`"
        where += f" on `{batch.git_branch}`" if batch.git_branch else ""
        where += " (uncommitted changes)" if batch.git_dirty else ""
        parts.append(where)
    if batch.backend:
        mode = f", record mode {batch.record_mode}" if batch.record_mode else ""
        parts.append(f"{batch.backend} backend{mode}")
    parts.append(f"{summary.duration_ms / 1000:.1f} s")
    return " · ".join(parts)


def _limited(rows: list[str], total: int) -> list[str]:
    if total > _ROWS:
        rows = [*rows[:_ROWS], f"\n… and {total - _ROWS} more"]
    return rows


def _failures(summary: RunSummary) -> list[str]:
    rows = [
        f"| `{_cell(r.scenario_id)}` | `{_cell(o.key or o.check)}` | {_cell(o.message)} |"
        for r in summary.results
        if r.verdict is Verdict.FAILED
        for o in r.failures()
        if o.status.value == "failed"
    ]
    if not rows:
        return []
    head = [f"### Failures ({len(rows)})", "", "| Scenario | Check | Message |", "|---|---|---|"]
    return [*head, *_limited(rows, len(rows)), ""]


def _error_rows(summary: RunSummary) -> list[str]:
    rows = [
        f"- `{_cell(r.scenario_id)}`: {_cell((_errors(r) or ['error'])[0])}"
        for r in summary.results
        if r.verdict is Verdict.ERROR
    ]
    if not rows:
        return []
    return [f"### Errors ({len(rows)})", "", *_limited(rows, len(rows)), ""]


def _not_run(summary: RunSummary) -> list[str]:
    if not summary.not_run:
        return []
    rows = [f"- `{_cell(s)}`" for s in summary.not_run]
    return [f"### Not run ({len(rows)})", "", *_limited(rows, len(rows)), ""]


def _scenarios(summary: RunSummary) -> list[str]:
    if not summary.results:
        return []
    rows = [
        f"| `{_cell(r.scenario_id)}` | {r.verdict.value} | {r.tokens} | {r.llm_calls} | "
        f"{_ms(r.latencies_ms)} | {_cost(r.cost_usd)} |"
        for r in summary.results
    ]
    head = [
        "<details><summary>Scenarios</summary>",
        "",
        "| Scenario | Verdict | Tokens | LLM calls | LLM latency p50 / p95 | Cost |",
        "|---|---|---:|---:|---:|---:|",
    ]
    return [*head, *_limited(rows, len(rows)), "", "</details>", ""]


def summary_markdown(summary: RunSummary, regression_markdown: str | None = None) -> str:
    """The batch for a pull request comment: totals, failures with their check keys, errors,
    scenarios not run, per-scenario measures, and `regression_markdown` (the regression report
    against a baseline) under "Regressions" when given."""
    lines = [
        _headline(summary),
        "",
        _provenance(summary),
        "",
        "| Scenarios | Tokens | LLM calls | LLM latency p50 / p95 | Cost |",
        "|---:|---:|---:|---:|---:|",
        f"| {summary.total} | {summary.tokens} | {summary.llm_calls} | "
        f"{_ms(summary.latencies_ms)} | {_cost(summary.cost_usd)} |",
        "",
    ]
    lines += _failures(summary) + _error_rows(summary) + _not_run(summary)
    if regression_markdown is not None:
        lines += ["### Regressions", "", regression_markdown.strip(), ""]
    lines += _scenarios(summary)
    return "\n".join(lines).rstrip() + "\n"
