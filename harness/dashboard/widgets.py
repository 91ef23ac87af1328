"""What the dashboard's pages share: the history path, the cached queries, the guard that turns
errors into messages (never a traceback on the page), empty states, formats and links.

Every query is cached with `st.cache_data`, keyed by the database's `stamp` (file and WAL size
and time), so a batch recorded while the dashboard is open shows on the next rerun, and nothing
is read twice otherwise.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from harness.dashboard import queries
from harness.errors import HarnessError

if TYPE_CHECKING:
    import pandas as pd

    from harness.models.result import BatchInfo, ScenarioResult
    from harness.regression import RegressionReport

__all__ = [
    "APP_FILE",
    "ENV_HISTORY",
    "PAGES",
    "Key",
    "batch_kpis",
    "batch_label",
    "batch_latency",
    "batches",
    "filter_options",
    "flaky",
    "fmt_delta",
    "fmt_number",
    "guard",
    "history_path",
    "node_trend",
    "regression",
    "require_history",
    "result",
    "result_info",
    "run_link",
    "scatter",
    "scenario_runs",
    "scenario_trend",
    "scenarios_in",
    "setup",
]

APP_FILE = Path(__file__).with_name("app.py")
ENV_HISTORY = "HARNESS_DASHBOARD_HISTORY"
"""The history path, for `harness dashboard` and tests (`--history` after `--` wins)."""
PAGES = {"overview": "views/overview.py", "trends": "views/trends.py", "run": "views/run.py"}
"""Page files, relative to app.py."""

Key = tuple[int, int, int, int]


def setup() -> None:
    """Page config, once per run of the app script; errors that escape a page's guard show as
    a message without their traceback (also under a plain `streamlit run`)."""
    st.set_option("client.showErrorDetails", "none")
    st.set_page_config(
        page_title="harness dashboard", page_icon=":material/monitoring:", layout="wide"
    )


def history_path() -> str:
    """The history to show: `--history PATH` after `--` on `streamlit run`, else the
    HARNESS_DASHBOARD_HISTORY variable, else reports/history.sqlite of the project around the
    working folder."""
    argv = sys.argv
    if argv and Path(argv[0]).resolve() == APP_FILE.resolve():
        parser = argparse.ArgumentParser(add_help=False)
        parser.add_argument("--history")
        known, _ = parser.parse_known_args(argv[1:])
        if known.history:
            return str(Path(known.history).resolve())
    if os.environ.get(ENV_HISTORY):
        return str(Path(os.environ[ENV_HISTORY]).resolve())
    from harness.config import find_project_root

    root = find_project_root(Path.cwd()) or Path.cwd()
    return str(root / "reports" / "history.sqlite")


# ---------------------------------------------------------------- cached queries


@st.cache_data(show_spinner=False, max_entries=8)
def _check(path: str, key: Key) -> queries.HistoryCheck:
    return queries.check_history(path)


@st.cache_data(show_spinner="Reading the batches…", max_entries=8)
def batches(path: str, key: Key) -> pd.DataFrame:
    """`queries.batches_frame`, cached."""
    return queries.batches_frame(path)


@st.cache_data(show_spinner=False, max_entries=64)
def batch_kpis(path: str, key: Key, batch_id: str) -> dict[str, Any]:
    """`queries.batch_kpis`, cached."""
    return queries.batch_kpis(path, batch_id)


@st.cache_data(show_spinner=False, max_entries=16)
def batch_latency(path: str, key: Key, batch_ids: tuple[str, ...]) -> pd.DataFrame:
    """`queries.batch_latency`, cached."""
    return queries.batch_latency(path, batch_ids)


@st.cache_data(show_spinner="Comparing with the baseline…", max_entries=16)
def regression(
    path: str, key: Key, current: str, baseline: str
) -> tuple[RegressionReport, list[str]]:
    """`queries.regression_report`, cached."""
    return queries.regression_report(path, current, baseline)


@st.cache_data(show_spinner=False, max_entries=16)
def flaky(path: str, key: Key, batch_id: str) -> pd.DataFrame:
    """`queries.flaky_frame`, cached."""
    return queries.flaky_frame(path, batch_id)


@st.cache_data(show_spinner=False, max_entries=8)
def filter_options(path: str, key: Key) -> dict[str, list[str]]:
    """`queries.filter_options`, cached."""
    return queries.filter_options(path)


@st.cache_data(show_spinner=False, max_entries=16)
def scenarios_in(
    path: str, key: Key, batch_ids: tuple[str, ...], tags: tuple[str, ...]
) -> list[str]:
    """`queries.scenarios_in`, cached."""
    return queries.scenarios_in(path, batch_ids, tags)


@st.cache_data(show_spinner="Aggregating per scenario…", max_entries=16)
def scenario_trend(
    path: str, key: Key, batch_ids: tuple[str, ...], scenario_ids: tuple[str, ...]
) -> pd.DataFrame:
    """`queries.scenario_trend`, cached."""
    return queries.scenario_trend(path, batch_ids, scenario_ids)


@st.cache_data(show_spinner="Aggregating per node…", max_entries=16)
def node_trend(
    path: str,
    key: Key,
    batch_ids: tuple[str, ...],
    scenario_ids: tuple[str, ...],
    models: tuple[str, ...],
) -> pd.DataFrame:
    """`queries.node_trend`, cached."""
    return queries.node_trend(path, batch_ids, scenario_ids, models)


@st.cache_data(show_spinner=False, max_entries=16)
def scatter(path: str, key: Key, batch_id: str) -> pd.DataFrame:
    """`queries.scatter_frame`, cached."""
    return queries.scatter_frame(path, batch_id)


@st.cache_data(show_spinner=False, max_entries=32)
def scenario_runs(path: str, key: Key, scenario_id: str) -> pd.DataFrame:
    """`queries.scenario_runs`, cached."""
    return queries.scenario_runs(path, scenario_id)


@st.cache_data(show_spinner=False, max_entries=32)
def result(path: str, key: Key, batch_id: str, scenario_id: str) -> ScenarioResult:
    """`queries.load_result`, cached."""
    return queries.load_result(path, batch_id, scenario_id)


@st.cache_data(show_spinner=False, max_entries=32)
def result_info(path: str, key: Key, batch_id: str) -> BatchInfo:
    """`queries.batch_info`, cached."""
    return queries.batch_info(path, batch_id)


# ---------------------------------------------------------------- page scaffolding


@contextmanager
def guard() -> Iterator[None]:
    """Show an error as a message that says what and how to fix it, never as a traceback.

    Streamlit's own control flow (st.stop, st.rerun, st.switch_page) derives from
    BaseException and passes through.
    """
    try:
        yield
    except HarnessError as exc:
        st.error(f"**{exc.message}**" + (f"\n\n{exc.hint}" if exc.hint else ""))
    except Exception as exc:
        st.error(
            f"**The dashboard could not show this page: {type(exc).__name__}: {exc}**\n\n"
            "The history is untouched. Reload the page; if it persists, report it with the "
            "message above and the history's schema version."
        )


def require_history() -> tuple[str, Key]:
    """The history's path and cache key; stops the page with a helpful message when there is
    nothing to show (no database yet, no batch yet, or a database this harness cannot read)."""
    path = history_path()
    key = queries.stamp(path)
    check = _check(path, key)
    with st.sidebar:
        st.caption(f"History: `{path}`")
        if check.status == "ok":
            st.caption(f"{check.batches} batch(es)")
        if st.button("Reload", help="read the history again (new batches show on their own)"):
            st.cache_data.clear()
            st.rerun()
    if check.status == "ok":
        return path, key
    if check.status == "incompatible":
        st.error(check.message)
    else:
        st.info(check.message)
        st.markdown("Create a history, then reload this page:")
        st.code(f"{queries.CREATE_HISTORY}\nharness dashboard", language="bash")
    st.stop()
    raise AssertionError("unreachable")  # pragma: no cover - st.stop() raises


def batch_label(row: Mapping[str, Any]) -> str:
    """A batch as the pickers show it: id, branch and short commit."""
    commit = str(row.get("git_commit") or "")[:8]
    branch = row.get("git_branch") or ""
    extra = " ".join(p for p in (branch, commit) if p)
    status = row.get("status")
    flag = "" if status in (None, "finished") else f" [{status}]"
    return f"{row['batch_id']}" + (f" ({extra})" if extra else "") + flag


def run_link(batch_id: str, scenario_id: str, attempt: int = 0, label: str | None = None) -> None:
    """A link to the drill-down of one scenario run."""
    st.page_link(
        PAGES["run"],
        label=label or f"Open the drill-down of {scenario_id}",
        icon=":material/chat:",
        query_params={"batch": batch_id, "scenario": scenario_id, "attempt": str(attempt)},
    )


def fmt_number(value: Any, unit: str = "") -> str:
    """A figure for a metric card: thousands separated, `n/a` when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "%":
        return f"{value * 100:.1f}%"
    if unit == "$":
        return f"${value:.4f}" if value < 100 else f"${value:,.2f}"
    if unit == "ms":
        return f"{value:,.0f} ms"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def fmt_delta(current: Any, baseline: Any, unit: str = "") -> str | None:
    """The change from the baseline for a metric card (None when either side is unknown)."""
    if current is None or baseline is None:
        return None
    if any(isinstance(v, float) and math.isnan(v) for v in (current, baseline)):
        return None
    delta = current - baseline
    if unit == "%":
        return f"{delta * 100:+.1f} pt"
    pct = f" ({delta / baseline * 100:+.1f}%)" if baseline else ""
    if unit == "$":
        return f"{delta:+.4f} USD{pct}"
    if unit == "ms":
        return f"{delta:+,.0f} ms{pct}"
    return f"{delta:+,.0f}{pct}"
