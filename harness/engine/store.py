"""Run stores: where the engine keeps runs and their engine state between turns.

`MemoryRunStore` keeps the objects themselves (for tests and single-process use). `SqliteRunStore`
keeps them in an embedded SQLite database in WAL mode, so that another process can continue a run
by id. It writes O(turn) per save, not O(run): the run header and the engine state are upserted,
each input/output pair is written once, and the hydrated config only with the run's first save.
A per-process cache, validated by a sequence number, spares re-reading a run that no other
process touched; it is bounded (`CACHE_MAX_RUNS` runs, `CACHE_MAX_BYTES` of their JSON) and
evicts the least recently used run first. `MemoryRunStore(max_runs=N)` keeps at most N runs,
dropping the oldest finished run first (`harness serve` without `--store` keeps 1,000).
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from harness.engine.state import STATE_VERSION, RunState
from harness.errors import EngineError
from harness.models.api import (
    RunsPage,
    RunStatus,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    WorkflowRunInputOutputPair,
)

__all__ = [
    "CACHE_MAX_BYTES",
    "CACHE_MAX_RUNS",
    "MemoryRunStore",
    "RunNotFoundError",
    "RunStore",
    "SqliteRunStore",
    "StoredRun",
]

_SCHEMA_VERSION = 1
CACHE_MAX_RUNS = 256
"""Runs a `SqliteRunStore` keeps parsed in memory (least recently used evicted first)."""
CACHE_MAX_BYTES = 32 * 1024 * 1024
"""Bytes of stored JSON the cached runs may add up to (objects take a few times more)."""


class RunNotFoundError(EngineError):
    """No run with this id is stored (HTTP 404)."""


@dataclass(slots=True)
class StoredRun:
    """A run and the engine state beside it."""

    run: WorkflowRun
    state: RunState


@runtime_checkable
class RunStore(Protocol):
    """Where runs live between turns."""

    async def save(self, run: WorkflowRun, state: RunState) -> None:
        """Store the run and its state (insert or update)."""
        ...

    async def load(self, run_id: str) -> StoredRun | None:
        """The run and its state, or None."""
        ...

    async def get(self, run_id: str) -> WorkflowRun | None:
        """The run, or None."""
        ...

    async def list(
        self,
        *,
        workflow_id: str | None = None,
        status: RunStatus | str | None = None,
        page: int = 1,
        size: int = 50,
    ) -> RunsPage:
        """Runs, newest first, filtered; pages are 1-based."""
        ...


def _page(items: list[WorkflowRun], total: int, page: int, size: int) -> RunsPage:
    return RunsPage(
        items=items, total=total, page=page, size=size, pages=math.ceil(total / size) if size else 0
    )


def _check_paging(page: int, size: int) -> None:
    if page < 1 or size < 1:
        raise EngineError(
            f"invalid page {page} / size {size}", hint="pages are 1-based and size must be >= 1"
        )


class MemoryRunStore:
    """Runs in a dict, by `workflow_run_id`; objects are kept, not copied."""

    def __init__(self, max_runs: int | None = None) -> None:
        """Keep every run, or at most `max_runs` (the oldest finished run is dropped first)."""
        self._runs: dict[str, StoredRun] = {}  # in the order of their first save
        self.max_runs = max_runs
        self._saved = itertools.count()
        self._first_saved: dict[str, int] = {}
        # The finished runs by first save, oldest on top; an entry whose run was dropped, or is
        # no longer finished, is skipped when it comes up. Finding the oldest finished run by
        # walking `_runs` cost every save of a full store a pass over all of it when the runs
        # were waiting for their users (1,000 of them in `harness serve`: ~65 us a save).
        self._finished: list[tuple[int, str]] = []

    async def save(self, run: WorkflowRun, state: RunState) -> None:
        run_id = run.workflow_run_id
        if run_id is None:
            raise EngineError("cannot store a run without a workflow_run_id")
        self._runs[run_id] = StoredRun(run, state)
        if self.max_runs is None:
            return
        order = self._first_saved.setdefault(run_id, next(self._saved))
        if run.status in _FINISHED:
            heapq.heappush(self._finished, (order, run_id))
        if len(self._runs) > self.max_runs:
            self._evict(keep=run_id)

    def _evict(self, keep: str) -> None:
        # Oldest first; a finished run before one still waiting.
        victim = self._oldest_finished(keep)
        if victim is None:
            victim = next(k for k in self._runs if k != keep)  # (dicts keep insertion order)
        del self._runs[victim]
        del self._first_saved[victim]

    def _oldest_finished(self, keep: str) -> str | None:
        kept: list[tuple[int, str]] = []
        victim = None
        while self._finished and victim is None:
            order, run_id = heapq.heappop(self._finished)
            stored = self._runs.get(run_id)
            if stored is None or self._first_saved[run_id] != order:
                continue  # dropped meanwhile
            if stored.run.status not in _FINISHED:
                continue  # continued since (a later finish pushes it again)
            if run_id == keep:
                kept.append((order, run_id))
                continue
            victim = run_id
        for entry in kept:
            heapq.heappush(self._finished, entry)
        return victim

    async def load(self, run_id: str) -> StoredRun | None:
        return self._runs.get(run_id)

    async def get(self, run_id: str) -> WorkflowRun | None:
        stored = self._runs.get(run_id)
        return None if stored is None else stored.run

    async def list(
        self,
        *,
        workflow_id: str | None = None,
        status: RunStatus | str | None = None,
        page: int = 1,
        size: int = 50,
    ) -> RunsPage:
        _check_paging(page, size)
        runs = [
            s.run
            for s in reversed(self._runs.values())
            if (workflow_id is None or s.run.workflow_id == workflow_id)
            and (status is None or s.run.status == status)
        ]
        start = (page - 1) * size
        return _page(runs[start : start + size], len(runs), page, size)


_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    workflow_id TEXT,
    status TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created INTEGER NOT NULL,
    header TEXT NOT NULL,
    config TEXT,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_workflow ON runs (workflow_id, created);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status, created);
CREATE TABLE IF NOT EXISTS pairs (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, idx)
);
"""


@dataclass(slots=True)
class _Cached:
    seq: int
    stored: StoredRun
    pairs_written: int
    nbytes: int
    pair_bytes: int = 0


_FINISHED = frozenset(
    {
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
        RunStatus.ABORTED_LOOPING_RISK,
        RunStatus.NOT_STARTED,
    }
)


class _LRU:
    """The run cache: least recently used first out, bounded in entries and in JSON bytes."""

    def __init__(self, max_runs: int, max_bytes: int) -> None:
        self.max_runs = max_runs
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._items: OrderedDict[str, _Cached] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, run_id: str) -> _Cached | None:
        item = self._items.get(run_id)
        if item is not None:
            self._items.move_to_end(run_id)
        return item

    def put(self, run_id: str, item: _Cached) -> None:
        old = self._items.pop(run_id, None)
        self.nbytes += item.nbytes - (old.nbytes if old is not None else 0)
        self._items[run_id] = item
        while self._items and (len(self._items) > self.max_runs or self.nbytes > self.max_bytes):
            _, evicted = self._items.popitem(last=False)
            self.nbytes -= evicted.nbytes


class SqliteRunStore:
    """Runs in a SQLite database (WAL mode); safe to share between processes."""

    def __init__(
        self,
        path: str | Path,
        *,
        cache_max_runs: int = CACHE_MAX_RUNS,
        cache_max_bytes: int = CACHE_MAX_BYTES,
    ) -> None:
        """Open (or create) the database at `path`; cache at most so many runs / JSON bytes.

        Raises:
            EngineError: the file is not a run store of a version this code reads.
        """
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_DDL)
        self._check_version()
        self._cache = _LRU(cache_max_runs, cache_max_bytes)

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(_SCHEMA_VERSION),)
            )
        elif int(row[0]) != _SCHEMA_VERSION:
            raise EngineError(
                f"{self.path}: run store schema version {row[0]} is not supported "
                f"(this harness reads version {_SCHEMA_VERSION})",
                hint="upgrade the harness, or point the engine at a new database file",
            )

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    async def save(self, run: WorkflowRun, state: RunState) -> None:
        run_id = run.workflow_run_id
        if run_id is None:
            raise EngineError("cannot store a run without a workflow_run_id")
        with self._lock:
            cached = self._cache.get(run_id)
            header = run.model_dump_json(
                exclude={"input_output_pairs", "workflow_config_fully_hydrated"}
            )
            pairs = run.input_output_pairs
            state_json = state.model_dump_json()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT seq FROM runs WHERE run_id=?", (run_id,)).fetchone()
                seq = (row[0] if row else 0) + 1
                written = 0
                if cached is not None and row is not None and row[0] == cached.seq:
                    written = cached.pairs_written if cached.stored.run is run else 0
                if row is None:
                    self._insert(run, state_json, header, seq)
                else:
                    self._db.execute(
                        "UPDATE runs SET status=?, seq=?, header=?, state=? WHERE run_id=?",
                        (run.status.value, seq, header, state_json, run_id),
                    )
                pair_bytes = self._write_pairs(run_id, pairs, written)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            # Size estimate: this save's JSON plus the pairs already written (the last one rewritten
            # is counted twice: an overestimate, which only evicts earlier).
            if cached is not None and written:
                pair_bytes += cached.pair_bytes
            nbytes = len(header) + len(state_json) + pair_bytes
            self._cache.put(
                run_id, _Cached(seq, StoredRun(run, state), len(pairs), nbytes, pair_bytes)
            )

    def _insert(self, run: WorkflowRun, state_json: str, header: str, seq: int) -> None:
        config = run.workflow_config_fully_hydrated
        self._db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, "
            "(SELECT COALESCE(MAX(created), 0) + 1 FROM runs), ?, ?, ?)",
            (
                run.workflow_run_id,
                run.workflow_id,
                run.status.value,
                seq,
                header,
                None if config is None else config.model_dump_json(),
                state_json,
            ),
        )

    def _write_pairs(
        self, run_id: str, pairs: list[WorkflowRunInputOutputPair], written: int
    ) -> int:
        """Write the pairs from the last one already written on; the bytes of JSON written."""
        # The engine only appends pairs and fills the last one during a turn, so pairs before the
        # last one this process wrote are final. After another process's write, rewrite them all.
        if written == 0:
            self._db.execute("DELETE FROM pairs WHERE run_id=?", (run_id,))
        start = max(written - 1, 0)
        rows = [(run_id, i, pairs[i].model_dump_json()) for i in range(start, len(pairs))]
        self._db.executemany("INSERT OR REPLACE INTO pairs VALUES (?, ?, ?)", rows)
        return sum(len(body) for _, _, body in rows)

    async def load(self, run_id: str) -> StoredRun | None:
        with self._lock:
            row = self._db.execute(
                "SELECT seq, header, config, state FROM runs WHERE run_id=?", (run_id,)
            ).fetchone()
            if row is None:
                return None
            seq, header, config, state = row
            cached = self._cache.get(run_id)
            if cached is not None and cached.seq == seq:
                return cached.stored
            stored, nbytes = self._read(run_id, header, config, state)
            pairs = len(stored.run.input_output_pairs)
            self._cache.put(run_id, _Cached(seq, stored, pairs, nbytes))
            return stored

    def _read(
        self, run_id: str, header: str, config: str | None, state: str
    ) -> tuple[StoredRun, int]:
        bodies = self._db.execute(
            "SELECT body FROM pairs WHERE run_id=? ORDER BY idx", (run_id,)
        ).fetchall()
        data = json.loads(header)
        data["input_output_pairs"] = [json.loads(b) for (b,) in bodies]
        run = WorkflowRun.model_validate(data)
        if config is not None:
            run.workflow_config_fully_hydrated = WorkflowConfigFullyHydrated.model_validate_json(
                config
            )
        state_data = json.loads(state)
        if state_data.get("version") != STATE_VERSION:
            raise EngineError(
                f"run {run_id} in {self.path} has engine state version "
                f"{state_data.get('version')}; this harness reads version {STATE_VERSION}",
                hint="finish the run with the harness version that started it",
            )
        nbytes = len(header) + len(config or "") + len(state) + sum(len(b) for (b,) in bodies)
        return StoredRun(run, RunState.model_validate(state_data)), nbytes

    async def get(self, run_id: str) -> WorkflowRun | None:
        stored = await self.load(run_id)
        return None if stored is None else stored.run

    async def list(
        self,
        *,
        workflow_id: str | None = None,
        status: RunStatus | str | None = None,
        page: int = 1,
        size: int = 50,
    ) -> RunsPage:
        _check_paging(page, size)
        where, params = [], []
        if workflow_id is not None:
            where.append("workflow_id=?")
            params.append(workflow_id)
        if status is not None:
            where.append("status=?")
            params.append(str(RunStatus(status).value))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM runs {clause}", params).fetchone()[0]
            ids = self._db.execute(
                f"SELECT run_id FROM runs {clause} ORDER BY created DESC LIMIT ? OFFSET ?",
                [*params, size, (page - 1) * size],
            ).fetchall()
        items = []
        for (run_id,) in ids:
            stored = await self.load(run_id)
            if stored is not None:
                items.append(stored.run)
        return _page(items, total, page, size)
