"""Run drill-down: one scenario run as a chat transcript (what the user said, what the assistant
said, the node path, tool calls with their arguments, the events), its checks and evaluation, and
two runs of the scenario side by side (tokens and latency per node, transcript diff).

Deep links: `?batch=<batch id>&scenario=<scenario id>&attempt=<n>`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

from harness.dashboard import runs
from harness.dashboard import widgets as w

if TYPE_CHECKING:
    import pandas as pd

    from harness.models.result import AttemptResult, ScenarioResult

__all__: list[str] = []

# Material icons, not emoji: a headless browser (and many servers) have no emoji font.
VERDICT_ICON = {
    "passed": ":green[:material/check_circle:]",
    "failed": ":red[:material/cancel:]",
    "error": ":orange[:material/warning:]",
    "skipped": ":gray[:material/skip_next:]",
}
PASSED, FAILED = VERDICT_ICON["passed"], VERDICT_ICON["failed"]


def _pick(label: str, options: list[str], wanted: str | None, key: str, **extra: Any) -> str:
    index = options.index(wanted) if wanted in options else 0
    return str(st.selectbox(label, options, index=index, key=key, **extra))


def _pickers(path: str, key: w.Key) -> tuple[str, str, int]:
    frame = w.batches(path, key)
    labels = {row["batch_id"]: w.batch_label(row) for row in frame.head(1000).to_dict("records")}
    params = st.query_params
    left, middle, right = st.columns([2, 3, 1])
    with left:
        batch = _pick(
            "Batch", list(labels), params.get("batch"), "run_batch", format_func=labels.get
        )
    scenarios = w.scenarios_in(path, key, (batch,), ())
    if not scenarios:
        st.info(f"Batch {batch} has no scenario results (it was interrupted before the first).")
        st.stop()
    with middle:
        scenario = _pick("Scenario", scenarios, params.get("scenario"), f"run_scenario_{batch}")
    result = w.result(path, key, batch, scenario)
    attempts = [str(a.attempt) for a in result.attempts] or ["0"]
    with right:
        attempt = int(
            _pick("Attempt", attempts, params.get("attempt"), f"run_attempt_{batch}_{scenario}")
        )
    st.query_params.update({"batch": batch, "scenario": scenario, "attempt": str(attempt)})
    return batch, scenario, attempt


def _attempt(result: ScenarioResult, number: int) -> AttemptResult | None:
    return next((a for a in result.attempts if a.attempt == number), None)


def _header(result: ScenarioResult, attempt: AttemptResult | None, batch: str) -> None:
    icon = VERDICT_ICON.get(result.verdict.value, "")
    st.title(f"{icon} {result.name}")
    st.caption(
        f"`{result.scenario_id}` · batch {batch} · file `{result.file or '-'}` · tags "
        f"{', '.join(result.tags) or '-'} · verdict **{result.verdict.value}**"
        + (f" · {len(result.attempts)} attempts" if len(result.attempts) > 1 else "")
    )
    if result.error:
        st.error(f"Infrastructure error: {result.error}")
    if attempt is None:
        st.info("This scenario has no attempt (skipped, or stopped before it ran).")
        return
    cost = w.fmt_number(attempt.cost_usd, "$") if attempt.llm_calls else "$0"
    cards = (
        ("Verdict", attempt.verdict.value),
        ("Tokens", w.fmt_number(attempt.tokens)),
        ("LLM calls", w.fmt_number(attempt.llm_calls)),
        ("LLM latency", w.fmt_number(attempt.latency_ms, "ms")),
        ("End to end", w.fmt_number(attempt.e2e_ms, "ms")),
        ("Cost", cost),
    )
    for column, (label, value) in zip(st.columns(len(cards)), cards, strict=True):
        column.metric(label, value)


def _path_strip(path: list[str]) -> str:
    return " → ".join(f":blue-badge[{node}]" for node in path)


def _turn(view: runs.TurnView) -> None:
    turn = view.turn
    if view.action:
        with st.chat_message("scenario", avatar=":material/tune:"):
            st.caption(f"turn {turn.turn} · {turn.kind}: {view.action}")
    for text in view.user:
        with st.chat_message("user"):
            st.markdown(text)
    with st.chat_message("assistant"):
        st.markdown(turn.said or "_(nothing said)_")
        if turn.path:
            st.markdown(f"Path: {_path_strip(turn.path)}")
        st.caption(
            f"turn {turn.turn} · call {turn.index} · {turn.kind} · status "
            f"{turn.status.value if turn.status else '-'} · {turn.tokens:,} tokens · "
            f"{turn.llm_calls} LLM call(s) · {turn.latency_ms:,.0f} ms LLM · {turn.wall_ms:,.0f} ms wall"
        )
        for transition in turn.transitions:
            args = f" with {transition.args}" if transition.args else ""
            st.caption(
                f"edge `{transition.edge or '?'}` ({transition.type}): {transition.source} → "
                f"{transition.destination}{args}"
            )
        for call in turn.tool_calls:
            by = f" by {call.node}" if call.node else ""
            with st.expander(f"tool call `{call.name}`{by}", icon=":material/build:"):
                st.markdown("Arguments")
                st.json(call.arguments)
                if call.error:
                    st.error(call.error)
                elif call.result is not None:
                    st.markdown("Result")
                    st.json(call.result)
        if turn.usage:
            st.dataframe(
                [
                    {"node": u.node, "model": u.model, "tokens": u.total_tokens, "calls": u.llm_calls,
                     "latency ms": u.latency_ms, "cost USD": u.cost_usd}
                    for u in turn.usage
                ],
                hide_index=True,
            )  # fmt: skip
        failed = [o for o in turn.outcomes if not o.passed]
        for outcome in failed:
            st.markdown(f"{FAILED} `{outcome.key or outcome.check}` {outcome.message}")
        passed = [o for o in turn.outcomes if o.passed]
        if passed:
            with st.expander(f"Checks passed ({len(passed)})", icon=":material/check_circle:"):
                for outcome in passed:
                    st.markdown(f"{PASSED} `{outcome.key or outcome.check}` {outcome.message}")
        if turn.error:
            st.error(turn.error)
        if view.events is not None:
            with st.expander(f"Events ({len(view.events)})"):
                st.dataframe(view.events, hide_index=True)


def _transcript(
    path: str, key: w.Key, batch: str, result: ScenarioResult, attempt: AttemptResult
) -> None:
    info = w.result_info(path, key, batch)
    outputs, note = runs.run_outputs(path, info, result)
    if any(t.path for t in attempt.turns):
        st.graphviz_chart(runs.path_dot(attempt))
    if note:
        st.info(f"Events are not shown: {note}. The transcript below comes from the stored result.")
    for view in runs.transcript(attempt, outputs):
        _turn(view)


def _checks(result: ScenarioResult, attempt: AttemptResult) -> None:
    rows = [
        {
            "status": o.status.value,
            "where": o.key or o.check,
            "check": o.check,
            "message": o.message,
        }
        for o in attempt.all_outcomes() + result.outcomes
    ]
    rows.sort(key=lambda r: r["status"] == "passed")
    failed = sum(r["status"] != "passed" for r in rows)
    st.subheader(f"Checks ({len(rows)}, {failed} not passed)")
    if rows:
        st.dataframe(rows, hide_index=True, key="run_checks")
    evaluation = attempt.evaluation
    st.subheader("Evaluation")
    if evaluation is None:
        st.caption("This scenario has no evaluation.")
        return
    st.caption(
        f"evaluator `{evaluation.evaluator}`"
        + (f" · run {evaluation.workflow_run_id}" if evaluation.workflow_run_id else "")
    )
    if evaluation.error:
        st.error(f"The evaluation could not run: {evaluation.error}")
    if evaluation.scores:
        columns = st.columns(min(len(evaluation.scores), 6))
        for index, (name, value) in enumerate(evaluation.scores.items()):
            columns[index % len(columns)].metric(name, f"{value:g}")
    st.json(evaluation.verdict, expanded=True)
    if evaluation.usage:
        cost = w.fmt_number(evaluation.cost_usd, "$")
        tokens = sum(u.total_tokens for u in evaluation.usage)
        st.caption(
            f"The evaluator used {tokens:,} tokens ({cost}), not counted in the run's totals."
        )


def _compare(
    path: str, key: w.Key, batch: str, result: ScenarioResult, attempt: AttemptResult
) -> None:
    others = w.scenario_runs(path, key, result.scenario_id)
    options = list(others["batch_id"])
    older = [b for b in options if b < batch]
    default = older[0] if older else batch
    labels = _run_labels(others)
    left, right = st.columns([3, 1])
    with left:
        other_batch = str(
            st.selectbox(
                "Compare with the run of batch",
                options,
                index=options.index(default),
                format_func=lambda b: labels.get(b, b),
                key=f"run_cmp_{batch}_{result.scenario_id}",
            )
        )
    other = w.result(path, key, other_batch, result.scenario_id)
    numbers = [a.attempt for a in other.attempts]
    if not numbers:
        st.info(f"The run in batch {other_batch} has no attempt to compare.")
        return
    with right:
        number = st.selectbox("Attempt", numbers, key=f"run_cmp_attempt_{other_batch}")
    theirs = _attempt(other, int(number)) or other.attempts[0]
    st.caption(
        f"A = batch {batch} attempt {attempt.attempt} (this run) · B = batch {other_batch} attempt {theirs.attempt}"
    )
    cards = (
        ("Tokens", attempt.tokens, theirs.tokens, ""),
        ("LLM calls", attempt.llm_calls, theirs.llm_calls, ""),
        ("LLM latency", attempt.latency_ms, theirs.latency_ms, "ms"),
        ("End to end", attempt.e2e_ms, theirs.e2e_ms, "ms"),
    )
    for column, (label, mine, their, unit) in zip(st.columns(len(cards)), cards, strict=True):
        column.metric(
            f"{label} (B)",
            w.fmt_number(their, unit),
            w.fmt_delta(their, mine, unit),
            delta_color="inverse",
        )
    st.subheader("Tokens and latency per node")
    st.dataframe(runs.usage_diff_rows(attempt, theirs), hide_index=True, key="run_usage_diff")
    st.subheader("Transcripts side by side")
    _side_by_side(attempt, theirs)
    diff = runs.said_diff(attempt.turns, theirs.turns)
    with st.expander("Unified diff", expanded=not diff):
        st.code(diff or "(the transcripts are identical)", language="diff")


def _run_labels(others: pd.DataFrame) -> dict[str, str]:
    return {
        row["batch_id"]: f"{row['batch_id']} · {row['verdict']} · {row['tokens']:,} tokens"
        + (f" · {str(row['git_commit'])[:8]}" if row["git_commit"] else "")
        for row in others.to_dict("records")
    }


def _side_by_side(a: AttemptResult, b: AttemptResult) -> None:
    left, right = st.columns(2)
    left.markdown("**A**")
    right.markdown("**B**")
    for index in range(max(len(a.turns), len(b.turns))):
        one = a.turns[index] if index < len(a.turns) else None
        two = b.turns[index] if index < len(b.turns) else None
        same = one is not None and two is not None and one.said == two.said and one.path == two.path
        for column, turn in ((left, one), (right, two)):
            with column.container(border=True):
                if turn is None:
                    st.caption("(no such call)")
                    continue
                st.caption(
                    f"call {turn.index} · turn {turn.turn} · {turn.kind}"
                    + ("" if same else " · :red[differs]")
                )
                for text in runs.user_messages(turn.input):
                    st.markdown(f":material/person: {text}")
                st.markdown(f":material/smart_toy: {turn.said or '_(nothing said)_'}")
                if turn.path:
                    st.markdown(_path_strip(turn.path))


def render() -> None:
    path, key = w.require_history()
    batch, scenario, number = _pickers(path, key)
    result = w.result(path, key, batch, scenario)
    attempt = _attempt(result, number)
    _header(result, attempt, batch)
    if attempt is None:
        return
    transcript, checks, compare = st.tabs(
        ["Transcript", "Checks and evaluation", "Compare two runs"]
    )
    with transcript:
        _transcript(path, key, batch, result, attempt)
    with checks:
        _checks(result, attempt)
    with compare:
        _compare(path, key, batch, result, attempt)


with w.guard():
    render()
