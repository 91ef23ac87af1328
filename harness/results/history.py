"""The history: every batch's results in one SQLite database (default `reports/history.sqlite`).

Results are written in transactions (one per result with `record_result`, one per group of
results with `record_results`, which `HistorySink` uses), in WAL mode with a 30 s busy timeout, so
several writer processes (xdist workers, CI shards, two terminals) append to the same file, readers
never block writers, and a batch killed at any point (even with SIGKILL) leaves a database that
opens cleanly and holds every result committed so far, each whole (SQLite's WAL recovery drops only
the transaction that was being written). `synchronous=NORMAL`: safe against a process dying; only a
power cut may lose the last transactions.

The schema is versioned in `PRAGMA user_version` and migrated forward when opened (`MIGRATIONS`);
a database written by a newer harness is refused with a hint, never altered. Tables (docs/results.md
has every column): `batches`, `scenario_results`, `attempt_results`, `turn_usage` (one row per
`TurnResult.usage` entry; `turn` is the scenario turn's index), `llm_calls` (one row per LLM call,
for exact percentiles) and `scores` (evaluation scores per attempt).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.models.result import BatchInfo, RunSummary, ScenarioResult, Verdict

__all__ = [
    "DEFAULT_HISTORY_PATH",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "BatchRow",
    "HistoryStore",
    "ResultRows",
    "result_json",
]

DEFAULT_HISTORY_PATH = Path("reports/history.sqlite")
SCHEMA_VERSION = 2
"""Version 1: batches, scenario results, attempts and usage per node. Version 2 adds `llm_calls`
(every call's latency) and `scores`, backfilled from the stored results, and the indexes."""

BUSY_TIMEOUT_SECONDS = 30.0
WAL_CHECKPOINT_PAGES = 4000
"""Pages in the WAL before a commit copies them into the database (SQLite's default is 1,000).
Each checkpoint waits for two fsyncs, 3-4 ms each on an idle virtual disk, mostly whatever their
size: at the ~12 pages a single-turn scenario writes, the default cost ~0.08 ms of every scenario.
The WAL normally stays under ~16 MB; the last connection to close copies the rest and removes it."""

_V1 = [
    """CREATE TABLE batches(batch_id TEXT PRIMARY KEY, started_at TEXT, finished_at TEXT,
        status TEXT, git_commit TEXT, git_branch TEXT, git_dirty INTEGER, backend TEXT,
        record_mode TEXT, harness_version TEXT, host TEXT, batch_json TEXT, summary_json TEXT)""",
    """CREATE TABLE scenario_results(batch_id TEXT, scenario_id TEXT, name TEXT, file TEXT,
        tags_json TEXT, verdict TEXT, attempts INTEGER, passed_attempts INTEGER,
        duration_ms REAL, tokens INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER,
        llm_calls INTEGER, latency_ms REAL, e2e_ms REAL, cost_usd REAL, error TEXT,
        result_json TEXT, PRIMARY KEY (batch_id, scenario_id))""",
    """CREATE TABLE turn_usage(batch_id TEXT, scenario_id TEXT, attempt INTEGER, turn INTEGER,
        node TEXT, node_name TEXT, model TEXT, provider TEXT, prompt_tokens INTEGER,
        completion_tokens INTEGER, total_tokens INTEGER, llm_calls INTEGER, latency_ms REAL,
        cost_usd REAL)""",
    """CREATE TABLE attempt_results(batch_id TEXT, scenario_id TEXT, attempt INTEGER,
        verdict TEXT, tokens INTEGER, llm_calls INTEGER, latency_ms REAL, e2e_ms REAL,
        cost_usd REAL)""",
]
_V2 = [
    """CREATE TABLE llm_calls(batch_id TEXT, scenario_id TEXT, attempt INTEGER, turn INTEGER,
        node TEXT, latency_ms REAL)""",
    """CREATE TABLE scores(batch_id TEXT, scenario_id TEXT, attempt INTEGER, name TEXT,
        value REAL)""",
    "CREATE INDEX batches_by_branch ON batches(git_branch, status, batch_id)",
    "CREATE INDEX scenario_results_by_scenario ON scenario_results(scenario_id, batch_id)",
    "CREATE INDEX turn_usage_by_batch ON turn_usage(batch_id, scenario_id, turn, node)",
    "CREATE INDEX llm_calls_by_batch ON llm_calls(batch_id, scenario_id, turn, node)",
    "CREATE INDEX attempt_results_by_batch ON attempt_results(batch_id, scenario_id)",
    "CREATE INDEX scores_by_batch ON scores(batch_id, scenario_id)",
]
_CHILD_TABLES = ("attempt_results", "turn_usage", "llm_calls", "scores")


def _to_v1(db: sqlite3.Connection) -> None:
    for statement in _V1:
        db.execute(statement)


def _to_v2(db: sqlite3.Connection) -> None:
    for statement in _V2:
        db.execute(statement)
    from harness.results.reading import result_from_json

    rows = db.execute("SELECT batch_id, result_json FROM scenario_results").fetchall()
    for batch_id, text in rows:
        if text:
            result = result_from_json(text)
            _insert_rows(db, _CALLS_SQL, _call_rows(batch_id, result))
            _insert_rows(db, _SCORES_SQL, _score_rows(batch_id, result))


MIGRATIONS: Sequence[Callable[[sqlite3.Connection], None]] = (_to_v1, _to_v2)
"""`MIGRATIONS[n]` takes a database from schema version n to n + 1, inside one transaction."""


@dataclass(frozen=True)
class BatchRow:
    """One row of `batches`."""

    batch_id: str
    started_at: str | None
    finished_at: str | None
    status: str | None
    git_commit: str | None
    git_branch: str | None
    git_dirty: bool | None
    backend: str | None
    record_mode: str | None
    harness_version: str | None
    host: str | None
    batch_json: str | None

    @property
    def info(self) -> BatchInfo:
        """The batch's provenance as stored (only the id when it was never recorded)."""
        if self.batch_json:
            return BatchInfo.model_validate_json(self.batch_json)
        return BatchInfo(batch_id=self.batch_id)


_BATCH_COLUMNS = (
    "batch_id, started_at, finished_at, status, git_commit, git_branch, git_dirty, backend, "
    "record_mode, harness_version, host, batch_json"
)

_EXCLUDE_RUN_OUTPUTS: Any = {"attempts": {"__all__": {"turns": {"__all__": {"run_output"}}}}}


def result_json(result: ScenarioResult) -> str:
    """A result as stored in the history: without the turns' run outputs (see the artifact).

    A result whose run outputs all went to artifacts already is its plain `model_dump_json()`
    (each turn's `run_output` null), the JSON a worker sends it as."""
    if result.holds_run_outputs():
        return result.model_dump_json(exclude=_EXCLUDE_RUN_OUTPUTS)
    return result.model_dump_json()


def _time(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _dirty(value: bool | None) -> int | None:
    return None if value is None else int(value)


_SCENARIO_SQL = f"INSERT INTO scenario_results VALUES ({','.join('?' * 18)})"
_ATTEMPTS_SQL = "INSERT INTO attempt_results VALUES (?,?,?,?,?,?,?,?,?)"
_USAGE_SQL = "INSERT INTO turn_usage VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
_CALLS_SQL = "INSERT INTO llm_calls VALUES (?,?,?,?,?,?)"
_SCORES_SQL = "INSERT INTO scores VALUES (?,?,?,?,?)"
_IN_CHUNK = 500
"""Scenario ids per `IN (...)` query (old SQLite builds allow 999 parameters per statement)."""


@dataclass(frozen=True)
class ResultRows:
    """One finished scenario's rows in every table, made when it finishes (`of`): a writer
    that groups results keeps these, so what is stored is the result as it was then."""

    scenario_id: str
    scenario: tuple[Any, ...]
    """The row of `scenario_results`."""
    attempts: list[tuple[Any, ...]]
    usage: list[tuple[Any, ...]]
    calls: list[tuple[Any, ...]]
    scores: list[tuple[Any, ...]]

    @classmethod
    def of(cls, batch_id: str, result: ScenarioResult, json_text: str | None = None) -> ResultRows:
        """The rows of `result` in batch `batch_id` (`json_text`: its `result_json`, when
        already made)."""
        return cls(
            scenario_id=result.scenario_id,
            scenario=_scenario_row(batch_id, result, json_text),
            attempts=_attempt_rows(batch_id, result),
            usage=_usage_rows(batch_id, result),
            calls=_call_rows(batch_id, result),
            scores=_score_rows(batch_id, result),
        )


def _scenario_row(batch_id: str, result: ScenarioResult, json_text: str | None) -> tuple[Any, ...]:
    """A result's row of `scenario_results`."""
    return (
        batch_id,
        result.scenario_id,
        result.name,
        result.file,
        json.dumps(result.tags),
        result.verdict.value,
        len(result.attempts),
        sum(a.verdict is Verdict.PASSED for a in result.attempts),
        result.duration_ms,
        result.tokens,
        result.prompt_tokens,
        result.completion_tokens,
        result.llm_calls,
        result.latency_ms,
        result.e2e_ms,
        result.cost_usd,
        result.error,
        result_json(result) if json_text is None else json_text,
    )


def _attempt_rows(batch_id: str, result: ScenarioResult) -> list[tuple[Any, ...]]:
    sid = result.scenario_id
    return [
        (
            batch_id,
            sid,
            a.attempt,
            a.verdict.value,
            a.tokens,
            a.llm_calls,
            a.latency_ms,
            a.e2e_ms,
            a.cost_usd,
        )
        for a in result.attempts
    ]


def _usage_rows(batch_id: str, result: ScenarioResult) -> list[tuple[Any, ...]]:
    sid = result.scenario_id
    return [
        (
            batch_id,
            sid,
            a.attempt,
            t.turn,
            u.node,
            u.node_name,
            u.model,
            u.provider,
            u.prompt_tokens,
            u.completion_tokens,
            u.total_tokens,
            u.llm_calls,
            u.latency_ms,
            u.cost_usd,
        )
        for a in result.attempts
        for t in a.turns
        for u in t.usage
    ]


def _call_rows(batch_id: str, result: ScenarioResult) -> list[tuple[Any, ...]]:
    sid = result.scenario_id
    return [
        (batch_id, sid, a.attempt, t.turn, u.node, latency)
        for a in result.attempts
        for t in a.turns
        for u in t.usage
        for latency in u.latencies_ms
    ]


def _score_rows(batch_id: str, result: ScenarioResult) -> list[tuple[Any, ...]]:
    sid = result.scenario_id
    return [
        (batch_id, sid, a.attempt, name, value)
        for a in result.attempts
        if a.evaluation is not None
        for name, value in a.evaluation.scores.items()
    ]


def _last_of_each(rows: Sequence[ResultRows]) -> list[ResultRows]:
    """`rows` without those a later entry of the same scenario replaces (in order)."""
    last = {r.scenario_id: index for index, r in enumerate(rows)}
    return [r for index, r in enumerate(rows) if last[r.scenario_id] == index]


class HistoryStore:
    """The history database at `path` (created, or migrated to the current schema, on open).

    Raises:
        HarnessError: the file is not a harness history, or was written by a newer harness.
    """

    def __init__(self, path: str | Path = DEFAULT_HISTORY_PATH) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._known_batches: set[str] = set()
        """Batches this store has seen committed in `batches`."""
        try:
            self._db = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
                check_same_thread=False,
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise HarnessError(
                f"{self.path}: cannot open the history database: {exc}",
                hint="give another --history file, or move this one away to start a new history",
            ) from None

    # ---------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Close the connection (the database stays consistent whether or not this is called)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; IMMEDIATE takes the write lock up front, so two writers wait
        for each other (busy timeout) instead of failing on a lock upgrade."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def schema_version(self) -> int:
        """The schema version of the open database."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise HarnessError(
                f"{self.path}: the history's schema version {version} is newer than this harness "
                f"knows ({SCHEMA_VERSION}); it was written by a newer harness",
                hint="upgrade the harness, or give another --history file",
            )

    def _migrate(self) -> None:
        self._refuse_newer(self.schema_version())
        if self.schema_version() == SCHEMA_VERSION:
            return
        with self._transaction() as db:
            version = self.schema_version()  # again, under the write lock: another process may
            self._refuse_newer(version)  # have migrated meanwhile
            if version == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise HarnessError(
                    f"{self.path}: an SQLite database that is not a harness history",
                    hint="give another --history file",
                )
            for step in MIGRATIONS[version:SCHEMA_VERSION]:
                step(db)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ---------------------------------------------------------------- writing

    def record_batch(self, batch: BatchInfo) -> None:
        """Register a batch as running (a batch already there keeps its row)."""
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO batches({_BATCH_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(batch_id) DO UPDATE SET started_at = excluded.started_at, "
                "git_commit = excluded.git_commit, git_branch = excluded.git_branch, "
                "git_dirty = excluded.git_dirty, backend = excluded.backend, "
                "record_mode = excluded.record_mode, harness_version = excluded.harness_version, "
                "host = excluded.host, batch_json = excluded.batch_json "
                "WHERE batches.batch_json IS NULL",
                self._batch_values(batch, "running"),
            )
        self._known_batches.add(batch.batch_id)

    @staticmethod
    def _batch_values(batch: BatchInfo, status: str) -> tuple[Any, ...]:
        return (
            batch.batch_id,
            _time(batch.started_at),
            _time(batch.finished_at),
            status,
            batch.git_commit,
            batch.git_branch,
            _dirty(batch.git_dirty),
            batch.backend,
            batch.record_mode,
            batch.harness_version,
            batch.host,
            batch.model_dump_json(),
        )

    def record_result(self, batch_id: str, result: ScenarioResult) -> None:
        """Store one finished scenario (replacing an earlier result of it in this batch) in one
        transaction: it is in the history whole, or not at all."""
        self.record_results(batch_id, [result])

    def record_results(self, batch_id: str, results: Sequence[ScenarioResult | ResultRows]) -> None:
        """Store finished scenarios of batch `batch_id` (`ResultRows` made for that batch) in
        one transaction: all of them, or none. Each replaces an earlier result of its scenario
        in this batch, also one earlier in `results`, as `record_result` one at a time would:
        the rows stored, and their order, are the same."""
        # Serialised before the write lock: other writers wait less.
        rows = [r if isinstance(r, ResultRows) else ResultRows.of(batch_id, r) for r in results]
        rows = _last_of_each(rows)
        if not rows:
            return
        with self._transaction() as db:
            if batch_id not in self._known_batches:
                db.execute(
                    "INSERT OR IGNORE INTO batches(batch_id, status) VALUES (?, 'running')",
                    (batch_id,),
                )
            stored = self._stored_ids(batch_id, [r.scenario_id for r in rows])
            if stored:  # replaced whole: a new row (at the end of the batch) and new children
                keys = [(batch_id, sid) for sid in stored]
                for table in (*_CHILD_TABLES, "scenario_results"):
                    db.executemany(
                        f"DELETE FROM {table} WHERE batch_id = ? AND scenario_id = ?", keys
                    )
            # One statement per table for the whole group, in the order of the results.
            db.executemany(_SCENARIO_SQL, [r.scenario for r in rows])
            _insert_rows(db, _ATTEMPTS_SQL, [row for r in rows for row in r.attempts])
            _insert_rows(db, _USAGE_SQL, [row for r in rows for row in r.usage])
            _insert_rows(db, _CALLS_SQL, [row for r in rows for row in r.calls])
            _insert_rows(db, _SCORES_SQL, [row for r in rows for row in r.scores])
        # Committed: batch rows are never deleted, so later results skip the insert.
        self._known_batches.add(batch_id)

    def _stored_ids(self, batch_id: str, scenario_ids: list[str]) -> list[str]:
        """Those of `scenario_ids` that have a result in batch `batch_id` (in a transaction)."""
        found: list[str] = []
        for at in range(0, len(scenario_ids), _IN_CHUNK):
            chunk = scenario_ids[at : at + _IN_CHUNK]
            found += (
                sid
                for (sid,) in self._db.execute(
                    "SELECT scenario_id FROM scenario_results WHERE batch_id = ? AND "
                    f"scenario_id IN ({','.join('?' * len(chunk))})",
                    (batch_id, *chunk),
                )
            )
        return found

    def finish_batch(self, summary: RunSummary) -> None:
        """Mark the batch finished (or interrupted) and keep its summary (without the results,
        which are rows of `scenario_results`)."""
        batch = summary.batch
        status = "interrupted" if summary.interrupted else "finished"
        meta = summary.model_dump_json(exclude={"results"})
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO batches({_BATCH_COLUMNS}, summary_json) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(batch_id) DO UPDATE SET "
                "started_at = excluded.started_at, finished_at = excluded.finished_at, "
                "status = excluded.status, git_commit = excluded.git_commit, "
                "git_branch = excluded.git_branch, git_dirty = excluded.git_dirty, "
                "backend = excluded.backend, record_mode = excluded.record_mode, "
                "harness_version = excluded.harness_version, host = excluded.host, "
                "batch_json = excluded.batch_json, summary_json = excluded.summary_json",
                (*self._batch_values(batch, status), meta),
            )

    # ---------------------------------------------------------------- reading

    def batches(
        self, branch: str | None = None, limit: int | None = None, status: str | None = None
    ) -> list[BatchRow]:
        """Batches, newest first; only those of `branch` / with `status` when given."""
        sql = f"SELECT {_BATCH_COLUMNS} FROM batches"
        where, args = [], []
        if branch is not None:
            where.append("git_branch = ?")
            args.append(branch)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY batch_id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_batch_row(row) for row in rows]

    def latest_batch(
        self, branch: str | None = None, status: str | None = "finished"
    ) -> BatchRow | None:
        """The newest batch (of `branch`; with `status`, default finished), or None."""
        found = self.batches(branch=branch, limit=1, status=status)
        return found[0] if found else None

    def load_summary(self, batch_id: str) -> RunSummary:
        """A batch's summary with its results, as stored; a batch that never finished (killed)
        comes back `interrupted`.

        Raises:
            HarnessError: no such batch.
        """
        with self._lock:
            row = self._db.execute(
                f"SELECT {_BATCH_COLUMNS}, summary_json FROM batches WHERE batch_id = ?",
                (batch_id,),
            ).fetchone()
            texts = self._db.execute(
                "SELECT result_json FROM scenario_results WHERE batch_id = ? ORDER BY rowid",
                (batch_id,),
            ).fetchall()
        if row is None:
            raise HarnessError(
                f"{self.path}: no batch {batch_id!r} in the history",
                hint="list the batches with HistoryStore.batches(), or give a results folder",
            )
        from harness.results.reading import result_from_json

        results = [result_from_json(text) for (text,) in texts]
        batch = _batch_row(row[:-1])
        fields: dict[str, Any] = {}
        if row[-1]:
            fields = json.loads(row[-1])
            for name in ("results", "total", "passed", "failed", "errored", "skipped"):
                fields.pop(name, None)
        fields.setdefault("interrupted", batch.status != "finished")
        fields["batch"] = batch.info
        return RunSummary.from_results(results, **fields)

    def connection(self) -> sqlite3.Connection:
        """A new read-only connection to the database (for SQL of your own; close it after)."""
        uri = self.path.resolve().as_uri() + "?mode=ro"
        db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        return db


def _batch_row(row: Sequence[Any]) -> BatchRow:
    values = list(row)
    values[6] = None if values[6] is None else bool(values[6])
    return BatchRow(*values)


def _insert_rows(db: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:  # e.g. no scores without an evaluation: then no statement at all
        db.executemany(sql, rows)
