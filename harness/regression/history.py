"""A batch of the history database reduced to a `Baseline`, with the aggregation done by SQLite.

Only the batch's own rows are read (the tables are indexed by batch first), sums are SQL
`GROUP BY`s, and the latency of every call comes back as one float column ordered by group, so a
batch of 100,000 turn rows is read in about 0.2 s whatever the size of the history
(`benchmarks/regression.py`). Attempts with an infrastructure error are left out, as in
`Baseline.from_summary`, so a batch read from the history equals the batch read from its results.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import HarnessError
from harness.regression.profile import TOTAL, Baseline, GroupKey, ScenarioInfo, UsageTable

__all__ = ["baseline_from_history", "resolve_batch"]

_NO_ERROR = (
    "AND NOT EXISTS (SELECT 1 FROM attempt_results a WHERE a.batch_id = t.batch_id "
    "AND a.scenario_id = t.scenario_id AND a.attempt = t.attempt AND a.verdict = 'error')"
)


def resolve_batch(connection: sqlite3.Connection, ref: str) -> str:
    """The batch id that `ref` names: a batch id, `latest`, or `branch:NAME` (finished only).

    Raises:
        HarnessError: no such batch (the message lists the latest ones).
    """
    if ref == "latest" or ref.startswith("branch:"):
        branch = ref.removeprefix("branch:") if ref != "latest" else None
        query = "SELECT batch_id FROM batches WHERE status = 'finished'"
        query += " AND git_branch = ?" if branch is not None else ""
        query += " ORDER BY batch_id DESC LIMIT 1"
        row = connection.execute(query, (branch,) if branch is not None else ()).fetchone()
        if row is None:
            where = f" on branch {branch!r}" if branch is not None else ""
            raise HarnessError(
                f"the history has no finished batch{where}",
                hint="run the suite first (harness run), or give a baseline file or a batch id",
            )
        return str(row[0])
    row = connection.execute("SELECT batch_id FROM batches WHERE batch_id = ?", (ref,)).fetchone()
    if row is None:
        recent = connection.execute(
            "SELECT batch_id FROM batches ORDER BY batch_id DESC LIMIT 5"
        ).fetchall()
        known = ", ".join(r[0] for r in recent) or "none"
        raise HarnessError(
            f"no batch {ref!r} in the history (latest: {known})",
            hint="give a batch id from the history, `latest`, `branch:NAME` or a baseline file",
        )
    return ref


def baseline_from_history(connection: sqlite3.Connection, batch_id: str) -> Baseline:
    """The batch `batch_id` of a history database as a comparison side."""
    source = _source(connection, batch_id)
    scenarios = _scenarios(connection, batch_id)
    errors = connection.execute(
        "SELECT 1 FROM attempt_results WHERE batch_id = ? AND verdict = 'error' LIMIT 1",
        (batch_id,),
    ).fetchone()
    no_error = _NO_ERROR if errors else ""
    runs = {k: info.runs for k, info in scenarios.items() if info.compared}
    return Baseline(source, scenarios, _usage(connection, batch_id, no_error, runs))


def _source(connection: sqlite3.Connection, batch_id: str) -> dict[str, Any]:
    row = connection.execute(
        "SELECT batch_id, started_at, git_commit, git_branch, git_dirty, backend, record_mode, "
        "harness_version FROM batches WHERE batch_id = ?",
        (batch_id,),
    ).fetchone()
    names = (
        "batch_id",
        "started_at",
        "git_commit",
        "git_branch",
        "git_dirty",
        "backend",
        "record_mode",
        "harness_version",
    )
    source = {k: v for k, v in zip(names, row or (batch_id,), strict=False) if v is not None}
    if "git_dirty" in source:
        source["git_dirty"] = bool(source["git_dirty"])
    return source


def _scenarios(connection: sqlite3.Connection, batch_id: str) -> dict[str, ScenarioInfo]:
    scenarios: dict[str, ScenarioInfo] = {}
    rows = connection.execute(
        "SELECT scenario_id, name, file, verdict, error FROM scenario_results WHERE batch_id = ?",
        (batch_id,),
    )
    for scenario_id, name, file, verdict, error in rows:
        info = ScenarioInfo(scenario_id, name=name or "", file=file)
        if verdict == "skipped":
            info.status, info.reason = "skipped", error or "skipped"
        scenarios[scenario_id] = info
    attempts = connection.execute(
        "SELECT scenario_id, COUNT(*), SUM(verdict = 'passed') FROM attempt_results "
        "WHERE batch_id = ? AND verdict != 'error' GROUP BY scenario_id",
        (batch_id,),
    )
    counted: set[str] = set()
    for scenario_id, runs, passed in attempts:
        info = scenarios.setdefault(scenario_id, ScenarioInfo(scenario_id))
        info.runs, info.passed = int(runs), int(passed or 0)
        counted.add(scenario_id)
    for scenario_id, info in scenarios.items():
        if info.compared and scenario_id not in counted:
            info.status = "error"
            info.reason = _error_of(connection, batch_id, scenario_id)
    _add_scores(connection, batch_id, scenarios)
    return scenarios


def _error_of(connection: sqlite3.Connection, batch_id: str, scenario_id: str) -> str:
    row = connection.execute(
        "SELECT error, result_json FROM scenario_results WHERE batch_id = ? AND scenario_id = ?",
        (batch_id, scenario_id),
    ).fetchone()
    if row and row[0]:
        return str(row[0])
    try:  # an attempt's error is only in the stored result
        result = json.loads(row[1]) if row and row[1] else {}
        errors = [a.get("error") for a in result.get("attempts", [])]
    except ValueError:
        errors = []
    return next((e for e in errors if e), "no attempt finished without an error")


def _add_scores(
    connection: sqlite3.Connection, batch_id: str, scenarios: dict[str, ScenarioInfo]
) -> None:
    rows = connection.execute(
        "SELECT s.scenario_id, s.name, s.value FROM scores s WHERE s.batch_id = ? "
        "AND NOT EXISTS (SELECT 1 FROM attempt_results a WHERE a.batch_id = s.batch_id "
        "AND a.scenario_id = s.scenario_id AND a.attempt = s.attempt AND a.verdict = 'error') "
        "ORDER BY s.scenario_id, s.attempt",
        (batch_id,),
    )
    for scenario_id, name, value in rows:
        info = scenarios.get(scenario_id)
        if info is not None and info.compared and value is not None:
            info.scores.setdefault(name, []).append(float(value))


def _usage(
    connection: sqlite3.Connection, batch_id: str, no_error: str, runs: dict[str, int]
) -> UsageTable:
    sums = connection.execute(
        "SELECT scenario_id, turn, node, SUM(total_tokens), SUM(llm_calls), "
        "CASE WHEN COUNT(cost_usd) = COUNT(*) THEN SUM(cost_usd) END "
        f"FROM turn_usage t WHERE batch_id = ? {no_error} "
        "GROUP BY scenario_id, turn, node",
        (batch_id,),
    ).fetchall()
    # Every call's latency, grouped the same way: counts per group, then the values in that order.
    counts = connection.execute(
        "SELECT scenario_id, turn, node, COUNT(*) FROM llm_calls t "
        f"WHERE batch_id = ? {no_error} GROUP BY scenario_id, turn, node "
        "ORDER BY scenario_id, turn, node",
        (batch_id,),
    ).fetchall()
    latencies = connection.execute(
        f"SELECT latency_ms FROM llm_calls t WHERE batch_id = ? {no_error} "
        "ORDER BY scenario_id, turn, node",
        (batch_id,),
    ).fetchall()
    values = np.fromiter((r[0] or 0.0 for r in latencies), dtype=np.float64, count=len(latencies))
    return _table(sums, counts, values, runs)


def _table(
    sums: list[Any], counts: list[Any], values: npt.NDArray[np.float64], runs: dict[str, int]
) -> UsageTable:
    """The table from SQL's sums and call counts per (scenario, turn, node) and the latencies in
    count order, for the scenarios in `runs`.

    The two group lists are joined in plain Python (a dict per group: importing pandas for it
    cost ~0.3 s, more than joining a batch of 100,000 groups takes), in key order with a NULL
    node after the others and then named "" (as in a summary's table); the latencies are placed
    in their groups with numpy.
    """
    groups: dict[tuple[str, int, str | None], _Row] = {}
    for scenario, turn, node, tokens, llm_calls, cost in sums:
        if scenario in runs:
            row = groups.setdefault((scenario, int(turn), node), _Row())
            row.tokens, row.llm_calls = float(tokens or 0.0), float(llm_calls or 0.0)
            row.cost = None if cost is None else float(cost)
    first = 0  # where each group's latencies start in `values` (count order)
    for scenario, turn, node, n in counts:
        if scenario in runs:
            row = groups.setdefault((scenario, int(turn), node), _Row())
            row.calls, row.first = int(n), first
        first += int(n)
    ordered = sorted(groups, key=lambda k: (k[0], k[1], k[2] is None, k[2] or ""))
    keys: list[GroupKey] = [(scenario, turn, node or "") for scenario, turn, node in ordered]
    rows = [groups[k] for k in ordered]
    # Totals: sums over the scenario's nodes; a cost is unknown when any node's is.
    totals: dict[str, _Row] = {}
    for (scenario, _, _), row in zip(keys, rows, strict=True):
        total = totals.setdefault(scenario, _Row(cost=0.0))
        total.tokens += row.tokens
        total.llm_calls += row.llm_calls
        total.calls += row.calls
        total.cost = None if total.cost is None or row.cost is None else total.cost + row.cost
    node_count = len(keys)
    total_id = {scenario: node_count + index for index, scenario in enumerate(totals)}
    group_keys: list[GroupKey] = keys + [(scenario, TOTAL, "") for scenario in totals]
    every = rows + list(totals.values())
    divisor = np.array([max(runs[key[0]], 1) for key in group_keys], dtype=np.float64, ndmin=1)
    # Each call's latency in its node's group and in its scenario's total group.
    calls = np.array([row.calls for row in rows], dtype=np.int64, ndmin=1)
    has_calls = calls > 0
    starts = np.array([row.first for row in rows], dtype=np.int64, ndmin=1)[has_calls]
    sizes = calls[has_calls]
    node_ids = np.flatnonzero(has_calls)
    take = np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))
    node_values = values[take] if take.size else np.zeros(0)
    node_group = np.repeat(node_ids, sizes)
    scenario_total = np.array([total_id[key[0]] for key in keys], dtype=np.int64, ndmin=1)
    total_group = scenario_total[node_group]
    in_group = np.concatenate([node_group, total_group])
    both = np.concatenate([node_values, node_values])
    order = np.lexsort((both, in_group))
    counted = np.bincount(in_group, minlength=len(group_keys)).astype(np.int64)
    return UsageTable(
        keys=group_keys,
        tokens=np.array([row.tokens for row in every], dtype=np.float64, ndmin=1) / divisor,
        llm_calls=np.array([row.llm_calls for row in every], dtype=np.float64, ndmin=1) / divisor,
        cost_usd=np.array(
            [math.nan if row.cost is None else row.cost for row in every],
            dtype=np.float64,
            ndmin=1,
        )
        / divisor,
        values=both[order],
        offsets=(np.cumsum(counted) - counted).astype(np.int64),
        counts=counted,
        calls=counted.copy(),
    )


@dataclass
class _Row:
    """One group while the table is built: its sums, and its calls' place in the latencies."""

    tokens: float = 0.0
    llm_calls: float = 0.0
    cost: float | None = None
    """None: unknown (a call without a price), or no sums row for the group."""
    calls: int = 0
    first: int = 0
