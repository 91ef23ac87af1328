"""The SQLite history: rows per scenario, attempt, node and call; several writer processes at
once; schema migrations forward, a newer schema refused; read-only connections."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from results_factory import scenario

from harness.errors import HarnessError
from harness.models.result import BatchInfo, RunSummary, Verdict
from harness.results import SCHEMA_VERSION, HistorySink, HistoryStore, history
from harness.results.history import result_json

HERE = Path(__file__).parent


def batch(batch_id: str, branch: str = "main") -> BatchInfo:
    return BatchInfo(batch_id=batch_id, git_branch=branch, git_commit="c0ffee", backend="engine")


def test_a_result_becomes_rows_per_attempt_node_call_and_score(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.sqlite") as store:
        store.record_batch(batch("b1"))
        result = scenario("scenarios/a", attempts=2)
        store.record_result("b1", result)
        store.record_result("b1", result)  # a result stored again replaces the first
        db = store.connection()
        try:
            count = "SELECT count(*) FROM {} WHERE batch_id = 'b1'"
            counts = {
                table: db.execute(count.format(table)).fetchone()[0]
                for table in (
                    "scenario_results",
                    "attempt_results",
                    "turn_usage",
                    "llm_calls",
                    "scores",
                )
            }
            assert counts == {
                "scenario_results": 1,
                "attempt_results": 2,
                "turn_usage": 2,
                "llm_calls": 4,
                "scores": 4,
            }
            row = db.execute(
                "SELECT verdict, attempts, passed_attempts, tokens, llm_calls, latency_ms "
                "FROM scenario_results"
            ).fetchone()
            assert row == ("passed", 2, 2, 440, 4, 101.0)
            latencies = db.execute(
                "SELECT latency_ms FROM llm_calls WHERE attempt = 1 ORDER BY rowid"
            ).fetchall()
            assert latencies == [(21.0,), (30.0,)]
            usage = db.execute(
                "SELECT node, model, provider, total_tokens, latency_ms FROM turn_usage"
            ).fetchall()
            assert usage[0] == ("greet", "gpt-4o-mini", "openai", 220, 50.0)
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                db.execute("DELETE FROM batches")
        finally:
            db.close()
        # the run outputs are in the artifacts, not the history
        assert '"run_output":null' not in result_json(result)
        assert "say_llm" not in result_json(result)


def test_batches_are_listed_newest_first_by_branch_and_status(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.sqlite") as store:
        for batch_id, branch in (("b1", "main"), ("b2", "main"), ("b3", "feature")):
            store.record_batch(batch(batch_id, branch))
            store.record_result(batch_id, scenario("scenarios/a"))
        for batch_id in ("b1", "b3"):
            info = batch(batch_id, "feature" if batch_id == "b3" else "main")
            store.finish_batch(RunSummary.from_results([scenario("scenarios/a")], batch=info))
        assert [b.batch_id for b in store.batches()] == ["b3", "b2", "b1"]
        assert [b.batch_id for b in store.batches(branch="main")] == ["b2", "b1"]
        latest = store.latest_batch(branch="main")
        assert latest is not None and latest.batch_id == "b1" and latest.status == "finished"
        assert latest.git_dirty is None and latest.info.git_commit == "c0ffee"
        running = store.latest_batch(status="running")
        assert running is not None and running.batch_id == "b2"
        assert store.latest_batch(branch="nope") is None
        unfinished = store.load_summary("b2")
        assert unfinished.interrupted and unfinished.total == 1
        with pytest.raises(HarnessError, match="no batch 'b9'"):
            store.load_summary("b9")


def wal_frames(path: Path) -> int:
    """How many frames the database's write-ahead log has held at most (the file is reused from
    its start after a checkpoint, not shrunk): a 32-byte header, then 24 bytes and a page each."""
    wal = Path(f"{path}-wal")
    return (wal.stat().st_size - 32) // (24 + 4096) if wal.exists() else 0


def test_the_log_is_copied_into_the_database_in_large_steps(tmp_path: Path) -> None:
    """Each copy waits for two fsyncs, so it happens every `WAL_CHECKPOINT_PAGES` pages rather
    than SQLite's 1,000; closed, the history is one file that holds every result."""
    path = tmp_path / "h.sqlite"
    stored = 0
    with HistoryStore(path) as store:
        store.record_batch(batch("b1"))
        db = store.connection()
        assert db.execute("PRAGMA page_size").fetchone()[0] == 4096  # as `wal_frames` counts
        db.close()
        while wal_frames(path) <= 1500 and stored < 1000:
            store.record_result("b1", scenario(f"scenarios/{stored}"))
            stored += 1
        assert 1500 < wal_frames(path) <= history.WAL_CHECKPOINT_PAGES + 100
    assert not Path(f"{path}-wal").exists()
    with HistoryStore(path) as store:
        assert store.load_summary("b1").total == stored


def test_the_log_stays_within_its_checkpoint_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "WAL_CHECKPOINT_PAGES", 100)
    path = tmp_path / "h.sqlite"
    with HistoryStore(path) as store:
        store.record_batch(batch("b1"))
        for number in range(100):
            store.record_result("b1", scenario(f"scenarios/{number}"))
        assert 100 <= wal_frames(path) < 150  # one commit past the limit, then reused


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from results_factory import scenario
    from harness.models.result import BatchInfo, RunSummary
    from harness.results import HistorySink, HistoryStore

    path, batch_id, name, go = Path(sys.argv[2]), sys.argv[3], sys.argv[4], Path(sys.argv[5])
    while not go.exists():
        time.sleep(0.005)
    store = HistoryStore(path)
    results = [scenario(f"scenarios/{name}/{number}", attempts=2) for number in range(40)]
    if name in ("w1", "w3"):  # in groups of 7, as `harness run` writes
        sink = HistorySink(store, group_size=7)
        sink.start(BatchInfo(batch_id=batch_id), [])
        for result in results:
            sink.add(result)
        sink.finish(RunSummary.from_results([], batch=BatchInfo(batch_id=batch_id)))
    else:  # one at a time
        store.record_batch(BatchInfo(batch_id=batch_id))
        for result in results:
            store.record_result(batch_id, result)
    """
)


def test_several_writer_processes_share_one_history(tmp_path: Path) -> None:
    path, go = tmp_path / "reports" / "history.sqlite", tmp_path / "go"
    writers = [("shared", "w1"), ("shared", "w2"), ("own3", "w3"), ("own4", "w4")]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(HERE), str(path), batch_id, name, str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for batch_id, name in writers
    ]
    time.sleep(0.3)  # every process imported and waiting: they start writing together
    go.touch()
    for process in processes:
        _, errors = process.communicate(timeout=60)
        assert process.returncode == 0, errors
    with HistoryStore(path) as store:
        db = store.connection()
        rows = db.execute(
            "SELECT batch_id, count(*) FROM scenario_results GROUP BY batch_id ORDER BY batch_id"
        ).fetchall()
        calls = db.execute("SELECT count(*) FROM llm_calls").fetchone()[0]
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        db.close()
    assert rows == [("own3", 40), ("own4", 40), ("shared", 80)]
    assert calls == 4 * 40 * 2 * 2 and mode == "wal"


def hand_made_v1(path: Path, result_text: str) -> None:
    """A history as schema version 1 wrote it: no llm_calls, no scores, no indexes."""
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE batches(batch_id TEXT PRIMARY KEY, started_at TEXT, finished_at TEXT,
            status TEXT, git_commit TEXT, git_branch TEXT, git_dirty INTEGER, backend TEXT,
            record_mode TEXT, harness_version TEXT, host TEXT, batch_json TEXT,
            summary_json TEXT);
        CREATE TABLE scenario_results(batch_id TEXT, scenario_id TEXT, name TEXT, file TEXT,
            tags_json TEXT, verdict TEXT, attempts INTEGER, passed_attempts INTEGER,
            duration_ms REAL, tokens INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER,
            llm_calls INTEGER, latency_ms REAL, e2e_ms REAL, cost_usd REAL, error TEXT,
            result_json TEXT, PRIMARY KEY (batch_id, scenario_id));
        CREATE TABLE turn_usage(batch_id TEXT, scenario_id TEXT, attempt INTEGER, turn INTEGER,
            node TEXT, node_name TEXT, model TEXT, provider TEXT, prompt_tokens INTEGER,
            completion_tokens INTEGER, total_tokens INTEGER, llm_calls INTEGER, latency_ms REAL,
            cost_usd REAL);
        CREATE TABLE attempt_results(batch_id TEXT, scenario_id TEXT, attempt INTEGER,
            verdict TEXT, tokens INTEGER, llm_calls INTEGER, latency_ms REAL, e2e_ms REAL,
            cost_usd REAL);
        INSERT INTO batches(batch_id, status, git_branch) VALUES ('old', 'finished', 'main');
        PRAGMA user_version = 1;
        """
    )
    db.execute(
        "INSERT INTO scenario_results(batch_id, scenario_id, verdict, result_json) "
        "VALUES ('old', 'scenarios/a', 'passed', ?)",
        (result_text,),
    )
    db.commit()
    db.close()


def test_an_older_schema_is_migrated_forward_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    hand_made_v1(path, result_json(scenario("scenarios/a", attempts=2)))
    with HistoryStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 2
        db = store.connection()
        calls = db.execute("SELECT attempt, latency_ms FROM llm_calls ORDER BY rowid").fetchall()
        scores = db.execute("SELECT attempt, name, value FROM scores ORDER BY rowid").fetchall()
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        db.close()
        assert calls == [(0, 20.0), (0, 30.0), (1, 21.0), (1, 30.0)]  # backfilled
        assert scores == [
            (0, "passed", 1.0),
            (0, "score", 0.5),
            (1, "passed", 1.0),
            (1, "score", 0.5),
        ]
        assert "llm_calls_by_batch" in indexes
        old = store.load_summary("old")
        assert [r.scenario_id for r in old.results] == ["scenarios/a"] and not old.interrupted
        store.record_result("new", scenario("scenarios/b", Verdict.FAILED))
        assert {b.batch_id for b in store.batches()} == {"old", "new"}


def test_a_newer_schema_or_a_foreign_database_is_refused_untouched(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite"
    db = sqlite3.connect(newer)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(HarnessError, match="schema version 99 is newer") as caught:
        HistoryStore(newer)
    assert caught.value.hint is not None and "upgrade the harness" in caught.value.hint
    db = sqlite3.connect(newer)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 99
    db.close()
    foreign = tmp_path / "foreign.sqlite"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE notes(text TEXT)")
    db.close()
    with pytest.raises(HarnessError, match="not a harness history"):
        HistoryStore(foreign)
    text = tmp_path / "text.sqlite"
    text.write_text("not sqlite at all" * 100)
    with pytest.raises(HarnessError, match="cannot open the history database"):
        HistoryStore(text)


# ---------------------------------------------------------------- results in groups


def stored_rows(path: Path, batch_id: str) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows of `batch_id` (in insertion order), through a new connection."""
    db = sqlite3.connect(path)
    try:
        return {
            table: db.execute(
                f"SELECT * FROM {table} WHERE batch_id = ? ORDER BY rowid", (batch_id,)
            ).fetchall()
            for table in ("scenario_results", *history._CHILD_TABLES)
        }
    finally:
        db.close()


def scenario_ids(path: Path, batch_id: str) -> list[str]:
    return [str(row[1]) for row in stored_rows(path, batch_id)["scenario_results"]]


def summary_of(batch_id: str, *, interrupted: bool = False) -> RunSummary:
    return RunSummary.from_results([], batch=batch(batch_id), interrupted=interrupted)


def test_results_in_one_group_are_committed_together_by_finish(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    sink = HistorySink(HistoryStore(path), close=True, group_size=100, group_seconds=3600)
    sink.start(batch("b1"), [])
    for number in range(5):
        sink.add(scenario(f"scenarios/{number}"))
    assert scenario_ids(path, "b1") == []  # waiting in the group
    sink.finish(summary_of("b1"))
    assert scenario_ids(path, "b1") == [f"scenarios/{number}" for number in range(5)]
    assert len(stored_rows(path, "b1")["llm_calls"]) == 5 * 2


def test_a_full_group_is_committed_by_add(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    sink = HistorySink(HistoryStore(path), close=True, group_size=3, group_seconds=3600)
    sink.start(batch("b1"), [])
    for number in range(7):
        sink.add(scenario(f"scenarios/{number}"))
    assert len(scenario_ids(path, "b1")) == 6  # two groups of 3; the 7th waits
    sink.finish(summary_of("b1"))
    assert len(scenario_ids(path, "b1")) == 7


def test_groups_of_one_commit_each_result_in_its_add(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    sink = HistorySink(HistoryStore(path), close=True, group_size=1, group_seconds=3600)
    sink.start(batch("b1"), [])
    sink.add(scenario("scenarios/a"))
    assert scenario_ids(path, "b1") == ["scenarios/a"]
    assert sink._timer is None  # nothing waits: no timer thread
    sink.finish(summary_of("b1"))


def test_a_group_is_committed_once_its_first_result_waited_long_enough(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    sink = HistorySink(HistoryStore(path), close=True, group_size=100, group_seconds=0.05)
    sink.start(batch("b1"), [])
    sink.add(scenario("scenarios/a"))
    deadline = time.monotonic() + 30  # a bound for a stuck test, not a timing assertion
    while not scenario_ids(path, "b1") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert scenario_ids(path, "b1") == ["scenarios/a"]  # without another add, nor finish
    sink.add(scenario("scenarios/b"))  # a new group, timed from its own first result
    sink.finish(summary_of("b1"))
    assert scenario_ids(path, "b1") == ["scenarios/a", "scenarios/b"]


def test_an_interrupted_batch_commits_its_waiting_group(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    sink = HistorySink(HistoryStore(path), close=True, group_size=100, group_seconds=3600)
    sink.start(batch("b1"), ["scenarios/a", "scenarios/b", "scenarios/c"])
    sink.add(scenario("scenarios/a"))
    sink.add(scenario("scenarios/b"))
    sink.finish(summary_of("b1", interrupted=True))
    with HistoryStore(path) as store:
        assert store.batches()[0].status == "interrupted"
        assert [r.scenario_id for r in store.load_summary("b1").results] == [
            "scenarios/a",
            "scenarios/b",
        ]


def test_the_same_scenario_twice_in_a_group_keeps_the_later_result(tmp_path: Path) -> None:
    """As if each were committed alone: the later result replaces the earlier, rows and order."""
    grouped, alone = tmp_path / "grouped.sqlite", tmp_path / "alone.sqlite"
    results = [
        scenario("scenarios/a"),
        scenario("scenarios/b"),
        scenario("scenarios/a", Verdict.FAILED, attempts=2),
        scenario("scenarios/c"),
    ]
    with HistoryStore(alone) as store:
        store.record_batch(batch("b1"))
        store.record_result("b1", scenario("scenarios/c", attempts=3))  # stored before
        for result in results:
            store.record_result("b1", result)
    sink = HistorySink(HistoryStore(grouped), close=True, group_size=100, group_seconds=3600)
    sink.start(batch("b1"), [])
    sink.store.record_result("b1", scenario("scenarios/c", attempts=3))
    for result in results:
        sink.add(result)
    sink.finish(summary_of("b1"))
    rows = stored_rows(grouped, "b1")
    assert rows == stored_rows(alone, "b1")
    assert scenario_ids(grouped, "b1") == ["scenarios/b", "scenarios/a", "scenarios/c"]
    assert [row[5] for row in rows["scenario_results"]] == ["passed", "failed", "passed"]
    assert len(rows["attempt_results"]) == 1 + 2 + 1


FAIL_ON_B = """CREATE TRIGGER fail_on_b BEFORE INSERT ON llm_calls
    WHEN NEW.scenario_id = 'scenarios/b' BEGIN SELECT RAISE(ABORT, 'no room for b'); END"""


def test_a_group_that_fails_midway_leaves_no_result_of_it(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with HistoryStore(path) as store:
        store.record_batch(batch("b1"))
        store.record_result("b1", scenario("scenarios/before"))
        store._db.execute(FAIL_ON_B)
        group = [scenario("scenarios/a"), scenario("scenarios/b"), scenario("scenarios/c")]
        with pytest.raises(sqlite3.DatabaseError, match="no room for b"):
            store.record_results("b1", group)
        rows = stored_rows(path, "b1")
        assert [row[1] for row in rows["scenario_results"]] == ["scenarios/before"]
        assert {row[1] for table in rows.values() for row in table} == {"scenarios/before"}
        store.record_results("b1", [scenario("scenarios/a"), scenario("scenarios/c")])
        assert scenario_ids(path, "b1") == ["scenarios/before", "scenarios/a", "scenarios/c"]


def test_a_group_the_timer_could_not_write_is_reported_by_the_next_call(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path)
    store._db.execute(FAIL_ON_B)
    sink = HistorySink(store, close=True, group_size=100, group_seconds=0.01)
    sink.start(batch("b1"), [])
    sink.add(scenario("scenarios/b"))
    assert sink._timer is not None
    sink._timer.join(30)  # the timer thread ends when it cannot write
    with pytest.raises(HarnessError, match="could not store a group of results: no room for b"):
        sink.add(scenario("scenarios/c"))
    assert scenario_ids(path, "b1") == []
    with pytest.raises(HarnessError, match="no room for b"):
        sink.finish(summary_of("b1"))


def test_a_group_interrupted_while_written_is_written_by_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path)
    write = store.record_results
    calls = []

    def interrupted_once(batch_id: str, results: Any) -> None:
        calls.append(len(results))
        if len(calls) == 1:
            raise KeyboardInterrupt  # Ctrl-C during the commit of the full group
        write(batch_id, results)

    monkeypatch.setattr(store, "record_results", interrupted_once)
    sink = HistorySink(store, close=True, group_size=2, group_seconds=3600)
    sink.start(batch("b1"), [])
    sink.add(scenario("scenarios/a"))
    with pytest.raises(KeyboardInterrupt):
        sink.add(scenario("scenarios/b"))
    sink.finish(summary_of("b1", interrupted=True))
    assert calls == [2, 2]
    assert scenario_ids(path, "b1") == ["scenarios/a", "scenarios/b"]
