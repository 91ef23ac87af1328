"""The dashboard's data: read-only SQL over the history database, aggregated in SQLite.

No Streamlit here (the pages cache these functions with `st.cache_data`, keyed by the database
file's `stamp`, so a new batch invalidates them). The history is opened through
`harness.results.HistoryStore` (which checks the schema and refuses a newer or foreign database)
and read through its read-only `connection()`; regressions come from `harness.regression`
(`baseline_from_history`, `compare`, `thresholds_for`), the same functions as the CLI's
`harness report compare`. Sums, counts and means are SQL `GROUP BY`s over the batch-first
indexes; latency percentiles are exact (every call's latency, `group_quantiles`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import HarnessError
from harness.models.result import BatchInfo, ScenarioResult

if TYPE_CHECKING:
    import pandas as pd

    from harness.regression import Change, RegressionReport

__all__ = [
    "CREATE_HISTORY",
    "HistoryCheck",
    "batch_info",
    "batch_kpis",
    "batch_latency",
    "batches_frame",
    "changes_frame",
    "check_history",
    "default_baseline",
    "filter_options",
    "flaky_frame",
    "load_result",
    "node_trend",
    "project_root",
    "reading",
    "regression_report",
    "scatter_frame",
    "scenario_runs",
    "scenario_trend",
    "scenarios_in",
    "stamp",
]

CREATE_HISTORY = "harness run scenarios/"
"""The command that creates a history (reports/history.sqlite at the project root)."""

QUANTILES = (0.5, 0.95)


@dataclass(frozen=True)
class HistoryCheck:
    """Whether the history at `path` can be shown: `ok`, `missing`, `empty` or `incompatible`."""

    path: str
    status: str
    message: str = ""
    """What is wrong, where, and how to fix it (empty when ok)."""
    batches: int = 0


def stamp(path: str | Path) -> tuple[int, int, int, int]:
    """A key that changes whenever the database does (the file and its write-ahead log)."""
    key: list[int] = []
    for file in (Path(path), Path(f"{path}-wal")):
        try:
            stat = file.stat()
            key += [stat.st_mtime_ns, stat.st_size]
        except OSError:
            key += [0, 0]
    return (key[0], key[1], key[2], key[3])


def check_history(path: str | Path) -> HistoryCheck:
    """Open the history the way every reader does (schema checked, migrated forward), never
    creating one: a missing file is reported, not made."""
    from harness.results.history import HistoryStore

    where = str(path)
    if not Path(path).is_file():
        return HistoryCheck(
            where,
            "missing",
            f"No history database at {where}. Run the suite once to create it: "
            f"`{CREATE_HISTORY}` (it writes reports/history.sqlite at the project root), or "
            "start the dashboard with --history PATH.",
        )
    try:
        with HistoryStore(path) as store:
            connection = store.connection()
        try:
            count = int(connection.execute("SELECT COUNT(*) FROM batches").fetchone()[0])
        finally:
            connection.close()
    except HarnessError as exc:
        return HistoryCheck(where, "incompatible", str(exc))
    except sqlite3.Error as exc:
        return HistoryCheck(
            where,
            "incompatible",
            f"{where}: cannot read the history database: {exc}\n  hint: give another "
            "--history file, or move this one away and run the suite to start a new history",
        )
    if count == 0:
        return HistoryCheck(
            where,
            "empty",
            f"The history at {where} has no batches yet. Run the suite to record one: "
            f"`{CREATE_HISTORY}`.",
        )
    return HistoryCheck(where, "ok", batches=count)


@contextmanager
def reading(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the history (checked and migrated on open by `HistoryStore`).

    Raises:
        HarnessError: no database there, or not a harness history (or a newer one).
    """
    from harness.results.history import HistoryStore

    if not Path(path).is_file():
        raise HarnessError(
            f"no history database at {path}", hint=f"run the suite first: {CREATE_HISTORY}"
        )
    with HistoryStore(path) as store:
        connection = store.connection()
    try:
        yield connection
    finally:
        connection.close()


def _frame(rows: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame.from_records(list(rows), columns=list(columns))


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


# ---------------------------------------------------------------- batches

_BATCH_TOTALS = """
    COUNT(*) AS scenarios,
    SUM(verdict = 'passed') AS passed,
    SUM(verdict = 'failed') AS failed,
    SUM(verdict = 'error') AS errors,
    SUM(verdict = 'skipped') AS skipped,
    SUM(CASE WHEN verdict != 'skipped' THEN attempts ELSE 0 END) AS attempts,
    SUM(CASE WHEN verdict != 'skipped' THEN passed_attempts ELSE 0 END) AS passed_attempts,
    SUM(tokens) AS tokens,
    SUM(llm_calls) AS llm_calls,
    SUM(cost_usd) AS cost_usd,
    SUM(cost_usd IS NULL AND llm_calls > 0) AS unpriced
"""
_BATCH_COLUMNS = [
    "batch_id",
    "started_at",
    "status",
    "git_commit",
    "git_branch",
    "git_dirty",
    "backend",
    "record_mode",
    "models",
    "scenarios",
    "passed",
    "failed",
    "errors",
    "skipped",
    "attempts",
    "passed_attempts",
    "tokens",
    "llm_calls",
    "cost_usd",
    "unpriced",
]


def batches_frame(path: str | Path) -> pd.DataFrame:
    """Every batch, newest first: provenance and totals (one `GROUP BY` over the results).

    `pass_rate` is passed attempts / attempts of the scenarios that were not skipped; `cost_usd`
    is None when a scenario that made LLM calls has no price (docs/results.md).
    """
    import pandas as pd

    with reading(path) as db:
        rows = db.execute(
            "SELECT b.batch_id, b.started_at, b.status, b.git_commit, b.git_branch, b.git_dirty, "
            "b.backend, b.record_mode, json_extract(b.batch_json, '$.models'), s.scenarios, "
            "s.passed, s.failed, s.errors, s.skipped, s.attempts, s.passed_attempts, s.tokens, "
            "s.llm_calls, s.cost_usd, s.unpriced FROM batches b LEFT JOIN "
            f"(SELECT batch_id, {_BATCH_TOTALS} FROM scenario_results GROUP BY batch_id) s "
            "ON s.batch_id = b.batch_id ORDER BY b.batch_id DESC"
        ).fetchall()
    frame = _frame(rows, _BATCH_COLUMNS)
    frame["models"] = [_model_names(text) for text in frame["models"]]
    counts = ["scenarios", "passed", "failed", "errors", "skipped", "attempts", "passed_attempts"]
    frame[counts] = frame[counts].fillna(0).astype("int64")
    frame["tokens"] = frame["tokens"].fillna(0).astype("int64")
    frame["llm_calls"] = frame["llm_calls"].fillna(0).astype("int64")
    frame.loc[frame["unpriced"].fillna(0) > 0, "cost_usd"] = None
    frame["pass_rate"] = frame["passed_attempts"] / frame["attempts"].where(frame["attempts"] > 0)
    # A batch registered by a result alone has no start time: its id is one (UTC, sortable).
    from_id = pd.to_datetime(
        frame["batch_id"], format="%Y%m%dT%H%M%S-%f", errors="coerce", utc=True
    )
    frame["started_at"] = pd.to_datetime(
        frame["started_at"], utc=True, errors="coerce", format="ISO8601"
    ).fillna(from_id)
    frame["git_branch"] = frame["git_branch"].fillna("")
    frame["backend"] = frame["backend"].fillna("")
    return frame.drop(columns=["unpriced"])


def _model_names(text: str | None) -> list[str]:
    try:
        models = json.loads(text) if text else []
    except ValueError:
        return []
    return sorted({str(m.get("model")) for m in models if isinstance(m, dict) and m.get("model")})


def default_baseline(batches: pd.DataFrame, current: str) -> str | None:
    """The batch `current` is compared with by default: the newest finished batch before it on
    the same branch, else the newest finished batch before it."""
    older = batches[(batches["batch_id"] < current) & (batches["status"] == "finished")]
    if older.empty:
        return None
    branch = batches.loc[batches["batch_id"] == current, "git_branch"]
    same = older[older["git_branch"] == branch.iloc[0]] if not branch.empty else older.iloc[:0]
    chosen = same if not same.empty else older
    return str(chosen["batch_id"].max())


def batch_info(path: str | Path, batch_id: str) -> BatchInfo:
    """A batch's provenance as stored."""
    with reading(path) as db:
        row = db.execute(
            "SELECT batch_json FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
    if row is None:
        raise HarnessError(
            f"no batch {batch_id!r} in the history at {path}",
            hint="choose one of the batches listed in the sidebar",
        )
    return BatchInfo.model_validate_json(row[0]) if row[0] else BatchInfo(batch_id=batch_id)


def batch_latency(path: str | Path, batch_ids: Sequence[str]) -> pd.DataFrame:
    """Per batch: LLM calls and the exact p50 and p95 of every call's latency."""
    rows: list[tuple[str, int, float | None, float | None]] = []
    with reading(path) as db:
        for batch in batch_ids:  # one indexed range per batch (batch-first index)
            values = np.fromiter(
                (
                    r[0]
                    for r in db.execute(
                        "SELECT latency_ms FROM llm_calls WHERE batch_id = ? "
                        "AND latency_ms IS NOT NULL",
                        (batch,),
                    )
                ),
                dtype=np.float64,
            )
            p50, p95 = _quantiles_of(np.sort(values))
            rows.append((batch, int(values.size), p50, p95))
    return _frame(rows, ["batch_id", "calls", "latency_p50", "latency_p95"])


def _quantiles_of(values: np.ndarray[Any, Any]) -> tuple[float | None, float | None]:
    from harness.regression.stats import group_quantiles

    counts = np.array([values.size], dtype=np.int64)
    offsets = np.zeros(1, dtype=np.int64)
    found = [group_quantiles(values, offsets, counts, q)[0] for q in QUANTILES]
    return (
        None if np.isnan(found[0]) else float(found[0]),
        None if np.isnan(found[1]) else float(found[1]),
    )


def batch_kpis(path: str | Path, batch_id: str) -> dict[str, Any]:
    """The Overview's figures of one batch: counts, pass rate, tokens, LLM calls, latency p50
    and p95 over every call, cost."""
    with reading(path) as db:
        row = db.execute(
            f"SELECT {_BATCH_TOTALS} FROM scenario_results WHERE batch_id = ?", (batch_id,)
        ).fetchone()
    names = _BATCH_COLUMNS[9:]
    kpis: dict[str, Any] = {n: (v if v is not None else 0) for n, v in zip(names, row, strict=True)}
    if kpis.pop("unpriced"):  # a model without a price: unknown, never a guess
        kpis["cost_usd"] = None
    kpis["pass_rate"] = kpis["passed_attempts"] / kpis["attempts"] if kpis["attempts"] else None
    latency = batch_latency(path, [batch_id]).iloc[0]
    kpis["latency_p50"] = latency["latency_p50"]
    kpis["latency_p95"] = latency["latency_p95"]
    return kpis


# ---------------------------------------------------------------- regressions


def project_root(path: str | Path, batch_id: str | None = None) -> Path | None:
    """The project whose settings hold the thresholds: the batch's recorded project root when
    it still exists, else the project the history file lies in."""
    from harness.config import find_project_root

    if batch_id is not None:
        root = batch_info(path, batch_id).project_root
        if root and Path(root).is_dir():
            return Path(root)
    return find_project_root(Path(path).resolve().parent)


def regression_report(
    path: str | Path, current: str, baseline: str
) -> tuple[RegressionReport, list[str]]:
    """Batch `current` against batch `baseline`, as `harness report compare` does it, with the
    project's thresholds; and notes (thresholds that could not be read)."""
    from harness.config import load_settings
    from harness.models.regression import RegressionSettings
    from harness.regression import compare, thresholds_for
    from harness.regression.history import baseline_from_history

    with reading(path) as db:
        now = baseline_from_history(db, current)
        base = baseline_from_history(db, baseline)
    notes: list[str] = []
    root = project_root(path, current)
    settings = RegressionSettings()
    if root is not None:
        try:
            settings = load_settings(root).regression
        except HarnessError as exc:
            notes.append(f"the project's regression settings did not load ({exc}); defaults used")
        thresholds, note = thresholds_for(now, root, settings)
        notes += [note] if note else []
    else:
        from harness.regression import Thresholds

        thresholds = Thresholds(settings)
    return compare(now, base, thresholds), notes


def changes_frame(changes: Sequence[Change]) -> pd.DataFrame:
    """Regression rows as a table, in the report's order (most severe first)."""
    rows = [
        (
            c.scenario,
            c.turn,
            c.node or "",
            c.metric,
            c.baseline,
            c.current,
            c.delta,
            c.delta_pct,
            _significance(c),
            c.threshold,
            None if c.severity == float("inf") else c.severity,
        )
        for c in changes
    ]
    columns = [
        "scenario",
        "turn",
        "node",
        "metric",
        "baseline",
        "current",
        "delta",
        "delta %",
        "significance",
        "threshold",
        "severity",
    ]
    frame = _frame(rows, columns)
    # As the CLI's Markdown table: `all` for the scenario as a whole.
    whole = frame["turn"].isna()
    frame["turn"] = [
        ("all" if w else str(int(t))) for w, t in zip(whole, frame["turn"], strict=True)
    ]
    frame.loc[whole, "node"] = "all"
    return frame


def _significance(change: Change) -> str:
    if change.p_value is None:
        return change.method
    return f"{change.method} (n={change.n_baseline}/{change.n_current})"


def flaky_frame(path: str | Path, batch_id: str) -> pd.DataFrame:
    """Scenarios of a batch whose repeats disagree: a pass rate strictly between 0 and 1."""
    with reading(path) as db:
        rows = db.execute(
            "SELECT scenario_id, name, attempts, passed_attempts, "
            "CAST(passed_attempts AS REAL) / attempts FROM scenario_results "
            "WHERE batch_id = ? AND attempts > 1 AND passed_attempts > 0 "
            "AND passed_attempts < attempts ORDER BY passed_attempts * 1.0 / attempts, "
            "scenario_id",
            (batch_id,),
        ).fetchall()
    return _frame(rows, ["scenario", "name", "attempts", "passed", "pass rate"])


# ---------------------------------------------------------------- trends


def filter_options(path: str | Path, recent: int = 20) -> dict[str, list[str]]:
    """The values the Trends filters offer: branches, backends, models, and the tags of the
    scenarios in the `recent` newest batches."""
    with reading(path) as db:
        branches = db.execute(
            "SELECT DISTINCT git_branch FROM batches WHERE git_branch IS NOT NULL ORDER BY 1"
        ).fetchall()
        backends = db.execute(
            "SELECT DISTINCT backend FROM batches WHERE backend IS NOT NULL ORDER BY 1"
        ).fetchall()
        models = db.execute(
            "SELECT DISTINCT json_extract(m.value, '$.model') FROM batches, "
            "json_each(batches.batch_json, '$.models') AS m WHERE json_valid(batches.batch_json) "
            "ORDER BY 1"
        ).fetchall()
        tags = db.execute(
            "SELECT DISTINCT t.value FROM scenario_results s, json_each(s.tags_json) AS t "
            "WHERE s.batch_id IN (SELECT batch_id FROM batches ORDER BY batch_id DESC LIMIT ?) "
            "AND json_valid(s.tags_json) ORDER BY 1",
            (recent,),
        ).fetchall()
    return {
        "branches": [r[0] for r in branches if r[0]],
        "backends": [r[0] for r in backends if r[0]],
        "models": [r[0] for r in models if r[0]],
        "tags": [r[0] for r in tags if r[0]],
    }


def scenarios_in(path: str | Path, batch_ids: Sequence[str], tags: Sequence[str] = ()) -> list[str]:
    """The scenario ids of some batches, only those with one of `tags` when given."""
    if not batch_ids:
        return []
    sql = f"SELECT DISTINCT scenario_id FROM scenario_results s WHERE batch_id IN ({_marks(batch_ids)})"
    args: list[Any] = list(batch_ids)
    if tags:
        sql += (
            " AND EXISTS (SELECT 1 FROM json_each(s.tags_json) AS t "
            f"WHERE t.value IN ({_marks(tags)}))"
        )
        args += list(tags)
    with reading(path) as db:
        rows = db.execute(sql + " ORDER BY 1", args).fetchall()
    return [r[0] for r in rows]


def _latency_groups(
    db: sqlite3.Connection, keys: Sequence[str], where: str, args: Sequence[Any]
) -> pd.DataFrame:
    """Exact p50/p95 of every call's latency per group of `keys` (SQL sorts, numpy picks)."""
    from harness.regression.stats import group_quantiles

    cols = ", ".join(keys)
    rows = db.execute(
        f"SELECT {cols}, latency_ms FROM llm_calls WHERE latency_ms IS NOT NULL AND {where} "
        f"ORDER BY {cols}, latency_ms",
        list(args),
    ).fetchall()
    frame = _frame(rows, [*keys, "latency_ms"])
    if frame.empty:
        return _frame([], [*keys, "latency_p50", "latency_p95"])
    groups = frame.groupby(list(keys), sort=False)
    counts = groups.size().to_numpy(dtype=np.int64)
    offsets = (np.cumsum(counts) - counts).astype(np.int64)
    values = frame["latency_ms"].to_numpy(dtype=np.float64)
    result = groups.size().reset_index()[list(keys)]
    result["latency_p50"] = group_quantiles(values, offsets, counts, QUANTILES[0])
    result["latency_p95"] = group_quantiles(values, offsets, counts, QUANTILES[1])
    return result


def scenario_trend(
    path: str | Path, batch_ids: Sequence[str], scenario_ids: Sequence[str]
) -> pd.DataFrame:
    """Per (batch, scenario): tokens, LLM calls and cost per attempt, latency p50 and p95."""
    if not batch_ids or not scenario_ids:
        return _frame([], ["batch_id", "scenario", "verdict", "tokens", "llm_calls", "cost_usd",
                           "latency_p50", "latency_p95"])  # fmt: skip
    where = f"batch_id IN ({_marks(batch_ids)}) AND scenario_id IN ({_marks(scenario_ids)})"
    args = [*batch_ids, *scenario_ids]
    with reading(path) as db:
        sums = db.execute(
            "SELECT batch_id, scenario_id, verdict, tokens * 1.0 / MAX(attempts, 1), "
            "llm_calls * 1.0 / MAX(attempts, 1), cost_usd / MAX(attempts, 1) "
            f"FROM scenario_results WHERE {where}",
            args,
        ).fetchall()
        latency = _latency_groups(db, ["batch_id", "scenario_id"], where, args)
    frame = _frame(sums, ["batch_id", "scenario_id", "verdict", "tokens", "llm_calls", "cost_usd"])
    frame = frame.merge(latency, on=["batch_id", "scenario_id"], how="left")
    return frame.rename(columns={"scenario_id": "scenario"})


def node_trend(
    path: str | Path,
    batch_ids: Sequence[str],
    scenario_ids: Sequence[str] = (),
    models: Sequence[str] = (),
) -> pd.DataFrame:
    """Per (batch, node), over the given scenarios (all when empty) and models: tokens, LLM
    calls and cost per attempt that used the node, latency p50 and p95 of its calls."""
    if not batch_ids:
        return _frame([], ["batch_id", "node", "tokens", "llm_calls", "cost_usd", "latency_p50",
                           "latency_p95"])  # fmt: skip
    where = f"batch_id IN ({_marks(batch_ids)})"
    args: list[Any] = list(batch_ids)
    if scenario_ids:
        where += f" AND scenario_id IN ({_marks(scenario_ids)})"
        args += list(scenario_ids)
    usage_where, usage_args = where, list(args)
    if models:
        usage_where += f" AND model IN ({_marks(models)})"
        usage_args += list(models)
    with reading(path) as db:
        sums = db.execute(
            "SELECT batch_id, COALESCE(node, ''), "
            "SUM(total_tokens) * 1.0 / COUNT(DISTINCT scenario_id || '#' || attempt), "
            "SUM(llm_calls) * 1.0 / COUNT(DISTINCT scenario_id || '#' || attempt), "
            "CASE WHEN COUNT(cost_usd) = COUNT(*) THEN "
            "SUM(cost_usd) / COUNT(DISTINCT scenario_id || '#' || attempt) END "
            f"FROM turn_usage WHERE {usage_where} GROUP BY batch_id, node",
            usage_args,
        ).fetchall()
        latency = _latency_groups(db, ["batch_id", "node"], where, args)
    frame = _frame(sums, ["batch_id", "node", "tokens", "llm_calls", "cost_usd"])
    latency["node"] = latency["node"].fillna("")
    return frame.merge(latency, on=["batch_id", "node"], how="left")


def scatter_frame(path: str | Path, batch_id: str) -> pd.DataFrame:
    """Per scenario of a batch: tokens per attempt against latency p50/p95, and its verdict."""
    with reading(path) as db:
        rows = db.execute(
            "SELECT scenario_id, name, verdict, tokens * 1.0 / MAX(attempts, 1), "
            "llm_calls * 1.0 / MAX(attempts, 1), cost_usd / MAX(attempts, 1) "
            "FROM scenario_results WHERE batch_id = ?",
            (batch_id,),
        ).fetchall()
        latency = _latency_groups(db, ["scenario_id"], "batch_id = ?", [batch_id])
    frame = _frame(rows, ["scenario_id", "name", "verdict", "tokens", "llm_calls", "cost_usd"])
    frame = frame.merge(latency, on="scenario_id", how="left")
    return frame.rename(columns={"scenario_id": "scenario"})


# ---------------------------------------------------------------- runs


def scenario_runs(path: str | Path, scenario_id: str) -> pd.DataFrame:
    """Every batch that ran a scenario, newest first (for the drill-down's pickers)."""
    with reading(path) as db:
        rows = db.execute(
            "SELECT s.batch_id, b.started_at, b.git_branch, b.git_commit, s.verdict, s.attempts, "
            "s.tokens, s.llm_calls, s.latency_ms FROM scenario_results s "
            "LEFT JOIN batches b ON b.batch_id = s.batch_id WHERE s.scenario_id = ? "
            "ORDER BY s.batch_id DESC",
            (scenario_id,),
        ).fetchall()
    return _frame(
        rows,
        ["batch_id", "started_at", "git_branch", "git_commit", "verdict", "attempts", "tokens",
         "llm_calls", "latency_ms"],
    )  # fmt: skip


def load_result(path: str | Path, batch_id: str, scenario_id: str) -> ScenarioResult:
    """One stored scenario result (without run outputs: those are in its artifact file).

    Raises:
        HarnessError: no such result in the history.
    """
    from harness.results.reading import result_from_json

    with reading(path) as db:
        row = db.execute(
            "SELECT result_json FROM scenario_results WHERE batch_id = ? AND scenario_id = ?",
            (batch_id, scenario_id),
        ).fetchone()
    if row is None or not row[0]:
        raise HarnessError(
            f"no result of scenario {scenario_id!r} in batch {batch_id!r} of {path}",
            hint="pick a batch that ran it (the list shows only those)",
        )
    try:
        return result_from_json(row[0])
    except (ValueError, HarnessError) as exc:
        raise HarnessError(
            f"the stored result of {scenario_id!r} in batch {batch_id!r} cannot be read: {exc}",
            hint="it was written by another harness version; read it with that version",
        ) from None
