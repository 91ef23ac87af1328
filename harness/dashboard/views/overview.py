"""Overview: a batch (the latest by default) against its baseline (the previous finished batch
on its branch): the figures with their deltas, regressions by severity, improvements, flaky
scenarios, and the recent batches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import altair as alt
import streamlit as st

from harness.dashboard import queries
from harness.dashboard import widgets as w

if TYPE_CHECKING:
    import pandas as pd

    from harness.regression import RegressionReport

__all__: list[str] = []

# (No bare string literals at the top level of a page: Streamlit's magic would print them.)
PICKER_LIMIT = 500  # batches offered in the pickers (newest first)
RECENT = 30  # batches in the recent-batches charts
LINKS = 8  # regressed scenarios linked to their drill-down

# (label, kpi key, unit, delta colour: "inverse" when more is worse)
CARDS = (
    ("Pass rate", "pass_rate", "%", "normal"),
    ("Total tokens", "tokens", "", "inverse"),
    ("LLM calls", "llm_calls", "", "inverse"),
    ("Latency p50", "latency_p50", "ms", "inverse"),
    ("Latency p95", "latency_p95", "ms", "inverse"),
    ("Cost", "cost_usd", "$", "inverse"),
)

CHANGE_COLUMNS = {
    "turn": st.column_config.TextColumn("turn", help="the scenario turn (`all`: the scenario)"),
    "baseline": st.column_config.NumberColumn("baseline", format="%.6g"),
    "current": st.column_config.NumberColumn("current", format="%.6g"),
    "delta": st.column_config.NumberColumn("delta", format="%+.6g"),
    "delta %": st.column_config.NumberColumn("delta %", format="%+.1f%%"),
    "severity": st.column_config.NumberColumn(
        "severity", format="%.1f", help="times the allowed change (empty: any change counts)"
    ),
}


def _pickers(frame: pd.DataFrame) -> tuple[str, str | None]:
    shown = frame.head(PICKER_LIMIT)
    labels = {row["batch_id"]: w.batch_label(row) for row in shown.to_dict("records")}
    ids = list(labels)
    finished = shown.loc[shown["status"] == "finished", "batch_id"]
    wanted = st.query_params.get("batch")
    start = wanted if wanted in labels else (finished.iloc[0] if not finished.empty else ids[0])
    with st.sidebar:
        current = st.selectbox(
            "Batch", ids, index=ids.index(start), format_func=labels.__getitem__, key="ov_batch"
        )
        older = [b for b in ids if b < current]
        default = queries.default_baseline(frame, current)
        if not older:
            return current, None
        baseline = st.selectbox(
            "Baseline",
            older,
            index=older.index(default) if default in older else 0,
            format_func=labels.__getitem__,
            help="default: the newest finished batch before it on the same branch",
            key=f"ov_baseline_{current}",
        )
    return current, baseline


def _cards(kpis: dict[str, Any], base: dict[str, Any] | None) -> None:
    for column, (label, name, unit, colour) in zip(st.columns(len(CARDS)), CARDS, strict=True):
        delta = w.fmt_delta(kpis[name], base[name], unit) if base else None
        column.metric(label, w.fmt_number(kpis[name], unit), delta, delta_color=colour)  # type: ignore[arg-type]
    counts = (
        f"{kpis['scenarios']:,} scenario(s): {kpis['passed']:,} passed · {kpis['failed']:,} "
        f"failed · {kpis['errors']:,} error(s) · {kpis['skipped']:,} skipped; "
        f"{kpis['attempts']:,} attempt(s)"
    )
    if kpis["cost_usd"] is None:
        counts += " · cost unknown: a model has no price ([tool.harness.prices] in pyproject.toml)"
    st.caption(counts)


def _regressions(path: str, report: RegressionReport, current: str, notes: list[str]) -> None:
    st.subheader(f"Regressions ({len(report.regressions)})")
    st.caption(report.headline())
    for note in notes:
        st.caption(f"Note: {note}")
    if not report.regressions:
        st.success("No regression against the baseline.")
    else:
        table = queries.changes_frame(report.regressions)
        event = st.dataframe(
            table,
            hide_index=True,
            column_config=CHANGE_COLUMNS,
            on_select="rerun",
            selection_mode="single-row",
            key="ov_regressions",
        )
        rows = event.selection.rows if event is not None else []
        picked = [str(table.iloc[rows[0]]["scenario"])] if rows else []
        for scenario in picked or list(dict.fromkeys(table["scenario"]))[:LINKS]:
            metrics = ", ".join(dict.fromkeys(table.loc[table["scenario"] == scenario, "metric"]))
            w.run_link(current, scenario, label=f"Open the drill-down of {scenario} ({metrics})")
        st.caption("Select a row to open its run (the links above are the most severe ones).")
    st.subheader(f"Improvements ({len(report.improvements)})")
    if report.improvements:
        st.dataframe(
            queries.changes_frame(report.improvements),
            hide_index=True,
            column_config=CHANGE_COLUMNS,
            key="ov_improvements",
        )
    else:
        st.caption("No improvement beyond the thresholds.")
    _other_lists(report)


def _other_lists(report: RegressionReport) -> None:
    if report.noise:
        with st.expander(
            f"Within noise ({len(report.noise)}): beyond a threshold, not significant"
        ):
            st.dataframe(queries.changes_frame(report.noise), hide_index=True)
    lists = (
        ("New scenarios (no baseline)", report.new),
        ("Removed scenarios (in the baseline only)", report.removed),
        ("Not compared", [f"{s.scenario}: {s.reason}" for s in report.skipped]),
    )
    for title, items in lists:
        if items:
            with st.expander(f"{title} ({len(items)})"):
                st.markdown("\n".join(f"- `{item}`" for item in items[:500]))
    if report.untested:
        counts = ", ".join(f"{m} {n}" for m, n in sorted(report.untested.items()))
        st.caption(
            f"Not tested, too few repeats for a test to reach alpha {report.alpha:g}: {counts}"
        )


def _flaky(path: str, key: w.Key, current: str) -> None:
    table = w.flaky(path, key, current)
    st.subheader(f"Flaky scenarios ({len(table)})")
    if table.empty:
        st.caption(
            "No flaky scenario: no repeated scenario had a pass rate strictly between 0 and 1."
        )
        return
    st.warning(
        f"{len(table)} scenario(s) passed some repeats and failed others: their verdicts are "
        "not to be trusted from a single run."
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "pass rate": st.column_config.ProgressColumn(
                "pass rate", min_value=0, max_value=1, format="percent"
            )
        },
        key="ov_flaky",
    )


def _recent(frame: pd.DataFrame, current: str) -> None:
    branch = frame.loc[frame["batch_id"] == current, "git_branch"].iloc[0]
    recent = frame[(frame["git_branch"] == branch) & (frame["batch_id"] <= current)].head(RECENT)
    recent = recent.assign(
        current=recent["batch_id"] == current, pass_pct=recent["pass_rate"] * 100
    )
    st.subheader("Recent batches" + (f" on {branch}" if branch else ""))
    tooltip = [
        alt.Tooltip("batch_id:N", title="batch"),
        alt.Tooltip("git_commit:N", title="commit"),
        alt.Tooltip("tokens:Q", title="tokens", format=","),
        alt.Tooltip("llm_calls:Q", title="LLM calls", format=","),
        alt.Tooltip("pass_pct:Q", title="pass rate %", format=".1f"),
        alt.Tooltip("cost_usd:Q", title="cost USD", format=".4f"),
    ]
    base = alt.Chart(recent).encode(
        x=alt.X("started_at:T", title="batch started (UTC)"),
        tooltip=tooltip,
    )
    left, right = st.columns(2)
    for column, field, title in (
        (left, "tokens", "Total tokens"),
        (right, "pass_pct", "Pass rate %"),
    ):
        line = base.mark_line(point=True).encode(y=alt.Y(f"{field}:Q", title=title))
        mark = (
            base.mark_point(size=160, filled=True, color="#d62728")
            .encode(y=alt.Y(f"{field}:Q"))
            .transform_filter(alt.datum.current)
        )
        column.altair_chart((line + mark).properties(height=220), width="stretch")


def render() -> None:
    path, key = w.require_history()
    st.title("Overview")
    frame = w.batches(path, key)
    current, baseline = _pickers(frame)
    row = frame.loc[frame["batch_id"] == current].iloc[0]
    kpis = w.batch_kpis(path, key, current)
    base = w.batch_kpis(path, key, baseline) if baseline else None
    against = f" against **{baseline}**" if baseline else ""
    st.markdown(
        f"Batch **{current}**{against} · branch `{row['git_branch'] or '-'}` · commit "
        f"`{str(row['git_commit'] or '-')[:10]}` · backend `{row['backend'] or '-'}`"
    )
    _cards(kpis, base)
    if baseline is None:
        st.info(
            "This is the first batch: there is nothing earlier to compare it with. Run the suite "
            f"again (`{queries.CREATE_HISTORY}`) to see regressions and improvements."
        )
    else:
        report, notes = w.regression(path, key, current, baseline)
        _regressions(path, report, current, notes)
    _flaky(path, key, current)
    _recent(frame, current)


with w.guard():
    render()
