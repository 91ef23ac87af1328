"""Trends: tokens, latency p50/p95, LLM calls and cost across batches, per batch, per scenario
and per node, filtered by branch, backend, model, tag and date; a tokens-versus-latency scatter
of one batch with its regressions highlighted, where selecting a point opens its drill-down."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import altair as alt
import streamlit as st

from harness.dashboard import queries
from harness.dashboard import widgets as w

if TYPE_CHECKING:
    import pandas as pd

__all__: list[str] = []

METRICS = {
    "tokens": "Tokens per attempt",
    "latency_p50": "Latency p50 (ms)",
    "latency_p95": "Latency p95 (ms)",
    "cost_usd": "Cost per attempt (USD)",
    "llm_calls": "LLM calls per attempt",
}
BATCH_METRICS = {
    "tokens": "Total tokens",
    "latency_p50": "Latency p50 (ms)",
    "latency_p95": "Latency p95 (ms)",
    "cost_usd": "Total cost (USD)",
    "llm_calls": "LLM calls",
}
X_AXIS = alt.X("started_at:T", title="batch started (UTC)")
# (No bare string literals at the top level of a page: Streamlit's magic would print them.)
DEFAULT_SCENARIOS = 6  # scenarios charted by default
DEFAULT_BATCHES = 30  # newest batches charted by default
MAX_BATCHES = 200
SCENARIO_OPTIONS = 2000  # scenarios offered in the pickers (the first ones by id)


def _filters(frame: pd.DataFrame, options: dict[str, list[str]]) -> pd.DataFrame:
    """The sidebar's filters applied to the batches (newest first)."""
    with st.sidebar:
        st.subheader("Filters")
        branches = st.multiselect("Branch", options["branches"], key="tr_branch")
        backends = st.multiselect("Backend", options["backends"], key="tr_backend")
        models = st.multiselect("Model", options["models"], key="tr_model")
        st.multiselect("Tag", options["tags"], key="tr_tag")
        dates = frame["started_at"].dropna()
        days: Any = ()
        if not dates.empty:
            first, last = dates.min().date(), dates.max().date()
            days = st.date_input(
                "Date", (first, last), min_value=first, max_value=last, key="tr_dates"
            )
        count = len(frame)
        if len(frame) > 2:
            count = st.slider(
                "Last batches",
                2,
                min(len(frame), MAX_BATCHES),
                min(len(frame), DEFAULT_BATCHES),
                help="the newest batches that match the filters",
                key="tr_last",
            )
    chosen = frame
    if branches:
        chosen = chosen[chosen["git_branch"].isin(branches)]
    if backends:
        chosen = chosen[chosen["backend"].isin(backends)]
    if models:
        chosen = chosen[chosen["models"].map(lambda names: bool(set(names) & set(models)))]
    if isinstance(days, tuple) and len(days) == 2:
        start = dt.datetime.combine(days[0], dt.time.min, dt.UTC)
        end = dt.datetime.combine(days[1], dt.time.max, dt.UTC)
        started = chosen["started_at"]
        chosen = chosen[started.isna() | ((started >= start) & (started <= end))]
    return chosen.head(count)


def _tooltip(*extra: Any) -> list[Any]:
    return [
        alt.Tooltip("batch_id:N", title="batch"),
        alt.Tooltip("git_branch:N", title="branch"),
        alt.Tooltip("git_commit:N", title="commit"),
        *extra,
    ]


def _batch_chart(path: str, key: w.Key, chosen: pd.DataFrame, metric: str) -> None:
    data = chosen[
        [
            "batch_id",
            "git_branch",
            "git_commit",
            "started_at",
            "tokens",
            "llm_calls",
            "cost_usd",
            "pass_rate",
        ]
    ]
    if metric.startswith("latency"):
        latency = w.batch_latency(path, key, tuple(chosen["batch_id"]))
        data = data.merge(latency, on="batch_id", how="left")
    chart = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=X_AXIS,
            y=alt.Y(f"{metric}:Q", title=BATCH_METRICS[metric]),
            tooltip=_tooltip(
                alt.Tooltip(f"{metric}:Q", title=BATCH_METRICS[metric], format=",.4~f"),
                alt.Tooltip("pass_rate:Q", title="pass rate", format=".1%"),
            ),
        )
        .properties(height=260)
    )
    st.altair_chart(chart, width="stretch")


def _lines(data: pd.DataFrame, chosen: pd.DataFrame, metric: str, by: str) -> alt.Chart:
    data = data.merge(chosen[["batch_id", "git_branch", "git_commit", "started_at"]], on="batch_id")
    chart: alt.Chart = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=X_AXIS,
            y=alt.Y(f"{metric}:Q", title=METRICS[metric]),
            color=alt.Color(f"{by}:N", title=by, legend=alt.Legend(orient="bottom", columns=2)),
            tooltip=_tooltip(
                alt.Tooltip(f"{by}:N", title=by),
                alt.Tooltip(f"{metric}:Q", title=METRICS[metric], format=",.4~f"),
            ),
        )
        .properties(height=300)
    )
    return chart


def _scenario_picker(path: str, key: w.Key, chosen: pd.DataFrame) -> list[str]:
    tags = tuple(st.session_state.get("tr_tag") or ())
    ids = tuple(chosen["batch_id"])
    known = w.scenarios_in(path, key, ids[:1], tags)  # those of the newest batch shown
    if not known:
        known = w.scenarios_in(path, key, ids, tags)
    default = _default_scenarios(path, key, chosen, known)
    return st.multiselect(
        "Scenarios",
        known[:SCENARIO_OPTIONS],
        default=[s for s in default if s in known[:SCENARIO_OPTIONS]],
        help="default: the newest batch's regressed scenarios, else its costliest in tokens",
        key="tr_scenarios",
    )


def _default_scenarios(path: str, key: w.Key, chosen: pd.DataFrame, known: list[str]) -> list[str]:
    regressed = _regressed(path, key, chosen)
    picked = [s for s in dict.fromkeys(regressed) if s in set(known)][:DEFAULT_SCENARIOS]
    if picked:
        return picked
    scatter = w.scatter(path, key, str(chosen["batch_id"].iloc[0]))
    scatter = scatter[scatter["scenario"].isin(known)]
    return list(scatter.sort_values("tokens", ascending=False)["scenario"].head(DEFAULT_SCENARIOS))


def _regressed(path: str, key: w.Key, chosen: pd.DataFrame) -> list[str]:
    """The scenarios of the newest chosen batch that regressed against its default baseline."""
    frame = w.batches(path, key)
    current = str(chosen["batch_id"].iloc[0])
    baseline = queries.default_baseline(frame, current)
    if baseline is None:
        return []
    report, _ = w.regression(path, key, current, baseline)
    return [c.scenario for c in report.regressions]


def _scatter(path: str, key: w.Key, chosen: pd.DataFrame) -> None:
    st.subheader("Tokens against latency, one batch")
    ids = list(chosen["batch_id"])
    batch = st.selectbox("Batch", ids, key="tr_scatter_batch")
    data = w.scatter(path, key, batch)
    regressed = set()
    frame = w.batches(path, key)
    baseline = queries.default_baseline(frame, batch)
    if baseline is not None:
        report, _ = w.regression(path, key, batch, baseline)
        regressed = {c.scenario for c in report.regressions}
    data = data.assign(regressed=data["scenario"].isin(regressed))
    data["status"] = data["regressed"].map({True: "regressed", False: "unchanged"})
    pick = alt.selection_point(name="run", fields=["scenario"], on="click")
    chart = (
        alt.Chart(data)
        .mark_circle()
        .encode(
            x=alt.X("tokens:Q", title="tokens per attempt"),
            y=alt.Y("latency_p50:Q", title="latency p50 (ms)"),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=["regressed", "unchanged"], range=["#d62728", "#9aa5b1"]),
                title="against its baseline",
            ),
            size=alt.condition(alt.datum.regressed, alt.value(140), alt.value(40)),
            opacity=alt.condition(pick, alt.value(0.95), alt.value(0.4)),
            tooltip=[
                alt.Tooltip("scenario:N"),
                alt.Tooltip("verdict:N"),
                alt.Tooltip("tokens:Q", format=",.1f"),
                alt.Tooltip("latency_p50:Q", title="latency p50 ms", format=",.0f"),
                alt.Tooltip("latency_p95:Q", title="latency p95 ms", format=",.0f"),
                alt.Tooltip("status:N"),
            ],
        )
        .add_params(pick)
        .properties(height=360)
    )
    event = st.altair_chart(chart, width="stretch", on_select="rerun", key="tr_scatter")
    selected = _selected_scenario(event)
    if selected:
        st.switch_page(
            w.PAGES["run"], query_params={"batch": batch, "scenario": selected, "attempt": "0"}
        )
    st.caption(
        f"{len(regressed)} regressed scenario(s) in red"
        + (f" (against {baseline})" if baseline else " (no earlier batch to compare with)")
        + ". Click a point to open its run."
    )
    options = sorted(regressed) or list(data["scenario"].head(SCENARIO_OPTIONS))
    if options:
        scenario = st.selectbox("Or pick a scenario", options, key="tr_pick")
        w.run_link(batch, scenario)


def _selected_scenario(event: Any) -> str | None:
    """The scenario of the clicked point, from Streamlit's selection state."""
    try:
        points = event["selection"]["run"]
    except (KeyError, TypeError):
        return None
    if isinstance(points, list) and points and isinstance(points[0], dict):
        value = points[0].get("scenario")
        return str(value) if value else None
    return None


def render() -> None:
    path, key = w.require_history()
    st.title("Trends")
    frame = w.batches(path, key)
    chosen = _filters(frame, w.filter_options(path, key))
    if chosen.empty:
        st.info("No batch matches the filters: widen them in the sidebar.")
        return
    st.caption(f"{len(chosen)} batch(es), {chosen['batch_id'].min()} to {chosen['batch_id'].max()}")
    metric = st.radio(
        "Metric", list(METRICS), format_func=METRICS.__getitem__, horizontal=True, key="tr_metric"
    )
    st.subheader("Per batch")
    _batch_chart(path, key, chosen, metric)
    ids = tuple(chosen["batch_id"])
    scenarios = _scenario_picker(path, key, chosen)
    left, right = st.columns(2)
    with left:
        st.subheader("Per scenario")
        if scenarios:
            trend = w.scenario_trend(path, key, ids, tuple(scenarios))
            st.altair_chart(_lines(trend, chosen, metric, "scenario"), width="stretch")
        else:
            st.caption("Pick scenarios above.")
    with right:
        st.subheader("Per node")
        models = tuple(st.session_state.get("tr_model") or ())
        nodes = w.node_trend(path, key, ids, tuple(scenarios), models)
        st.altair_chart(_lines(nodes, chosen, metric, "node"), width="stretch")
        st.caption(
            "Over the scenarios picked (all when none)"
            + (f", models {', '.join(models)}" if models else "")
        )
    _scatter(path, key, chosen)


with w.guard():
    render()
