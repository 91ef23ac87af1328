"""Run stores: in memory, and SQLite (WAL) where another process can continue a run by id."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from engine_helpers import direct, say_llm, say_static, start, user, workflow

from harness.engine import Engine, LLMClient, MemoryRunStore, RunState, SqliteRunStore
from harness.engine.variables import FixedClock
from harness.errors import EngineError
from harness.models.api import RunStatus
from harness.testing.scripted_model import ScriptedModel

CHAT = workflow(
    [say_static("hi", "Hi {{name}}."), say_llm("chat", "Chat with {{name}}.")],
    [direct("hi", "chat")],
    dynamic_variables={"name": "Ana"},
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MemoryRunStore | SqliteRunStore:
    return MemoryRunStore() if request.param == "memory" else SqliteRunStore(tmp_path / "runs.db")


async def test_runs_round_trip_and_continue(
    store: MemoryRunStore | SqliteRunStore,
    llm: LLMClient,
    clock: FixedClock,
    model: ScriptedModel,  # the default script, whatever an earlier test loaded
) -> None:
    engine = Engine(llm=llm, clock=clock, store=store)
    run = await engine.execute(CHAT, start())
    run = await engine.execute(None, user(run, "hello"))
    loaded = await store.load(run.workflow_run_id or "")

    assert loaded is not None
    assert loaded.run.model_dump(mode="json") == run.model_dump(mode="json")
    assert loaded.state.main_thread().history[-1] == {
        "role": "assistant",
        "content": "I am a scripted model.",
    }
    assert loaded.state.node_run_counters == {"hi": 1, "chat": 2}


async def test_list_filters_and_pages_newest_first(
    store: MemoryRunStore | SqliteRunStore, llm: LLMClient, clock: FixedClock
) -> None:
    engine = Engine(llm=llm, clock=clock, store=store)
    done = workflow([say_static("a", "A")])
    ids = []
    for flow in (CHAT, done, CHAT, done, done):
        ids.append(
            (
                await engine.execute(flow, start(workflow_id="a" * 24 if flow is done else None))
            ).workflow_run_id
        )

    everything = await store.list()
    assert [r.workflow_run_id for r in everything.items] == ids[::-1]
    assert (everything.total, everything.page, everything.pages) == (5, 1, 1)
    completed = await store.list(status=RunStatus.COMPLETED, size=2, page=2)
    assert (completed.total, completed.pages, len(completed.items)) == (3, 2, 1)
    assert completed.items[0].workflow_run_id == ids[1]
    by_workflow = await store.list(workflow_id="a" * 24)
    assert by_workflow.total == 3
    with pytest.raises(EngineError, match="1-based"):
        await store.list(page=0)


def test_sqlite_uses_wal_and_refuses_unknown_versions(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    SqliteRunStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(EngineError, match="schema version 99"):
        SqliteRunStore(path)


async def test_sqlite_refuses_engine_state_of_another_version(
    tmp_path: Path, llm: LLMClient, clock: FixedClock
) -> None:
    path = tmp_path / "runs.db"
    engine = Engine(llm=llm, clock=clock, store=SqliteRunStore(path))
    run = await engine.execute(CHAT, start())
    db = sqlite3.connect(path)
    db.execute("UPDATE runs SET state=json_set(state, '$.version', 99), seq=seq+1")
    db.commit()
    db.close()
    with pytest.raises(EngineError, match="engine state version 99"):
        await SqliteRunStore(path).load(run.workflow_run_id or "")


async def test_sqlite_writes_each_pair_once_and_the_config_once(
    tmp_path: Path, llm: LLMClient, clock: FixedClock
) -> None:
    path = tmp_path / "runs.db"
    engine = Engine(llm=llm, clock=clock, store=SqliteRunStore(path))
    run = await engine.execute(CHAT, start())
    for text in ("one", "two", "three"):
        run = await engine.execute(CHAT, user(run, text))
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*), MAX(idx) FROM pairs").fetchone() == (4, 3)
    assert db.execute("SELECT config IS NOT NULL, seq FROM runs").fetchone() == (1, 8)
    fresh = await SqliteRunStore(path).get(run.workflow_run_id or "")
    assert fresh is not None and len(fresh.input_output_pairs) == 4
    assert fresh.workflow_config_fully_hydrated == CHAT


CONTINUE_ELSEWHERE = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import UTC, datetime
    import httpx
    from harness.config import HarnessSettings, ProviderConfig
    from harness.engine import Engine, FixedClock, LLMClient, SqliteRunStore
    from harness.models.api import WorkflowRunInput, user_message_input

    async def main(path, base_url, run_id):
        settings = HarnessSettings(providers={"default_provider": ProviderConfig(
            base_url=base_url, model="scripted-model", api_key_env=None)})
        async with httpx.AsyncClient() as http:
            engine = Engine(llm=LLMClient(http, settings, env={}), store=SqliteRunStore(path),
                            clock=FixedClock(datetime(2026, 1, 5, tzinfo=UTC)))
            run = await engine.execute(None, WorkflowRunInput(
                command="data", workflow_run_id=run_id,
                thread_to_node_inputs=user_message_input("from the other process")))
            print(run.status.value, len(run.input_output_pairs))

    asyncio.run(main(*sys.argv[1:]))
    """
)


async def test_another_process_continues_a_run_by_id(
    tmp_path: Path,
    llm: LLMClient,
    clock: FixedClock,
    model: ScriptedModel,
    scripted_server: tuple[ScriptedModel, str],
) -> None:
    model.load(
        {
            "rules": [{"when": {"last_user": "other process"}, "reply": {"text": "Hello there."}}],
            "default": {"text": "Local."},
        }
    )
    path = tmp_path / "runs.db"
    store = SqliteRunStore(path)
    engine = Engine(llm=llm, clock=clock, store=store)
    run = await engine.execute(CHAT, start())

    script = tmp_path / "continue_run.py"
    script.write_text(CONTINUE_ELSEWHERE)
    done = subprocess.run(
        [sys.executable, str(script), str(path), scripted_server[1], run.workflow_run_id or ""],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["waiting_for_user_input", "2"]

    run = await engine.execute(CHAT, user(run, "back here"))
    assert len(run.input_output_pairs) == 3
    texts = [e.get("content") for e in run.events() if e.type == "assistant_response"]
    assert texts == ["Hi Ana.", "Hello there.", "Local."]
    reloaded = await SqliteRunStore(path).get(run.workflow_run_id or "")
    assert reloaded is not None
    assert reloaded.model_dump(mode="json") == run.model_dump(mode="json")


def test_run_state_serialises(tmp_path: Path) -> None:
    state = RunState()
    state.main_thread().deliver(["hi"])
    assert RunState.model_validate_json(state.model_dump_json()) == state


async def test_the_sqlite_cache_is_bounded_in_runs_and_bytes(
    tmp_path: Path, llm: LLMClient, clock: FixedClock
) -> None:
    """Issue 14: the per-process cache used to keep every run forever (~36 KB each)."""
    store = SqliteRunStore(tmp_path / "runs.db", cache_max_runs=5, cache_max_bytes=10**9)
    engine = Engine(llm=llm, clock=clock, store=store)
    done = workflow([say_static("a", "A")])
    ids = [(await engine.execute(done, start())).workflow_run_id or "" for _ in range(12)]
    assert len(store._cache) == 5
    # Evicted runs still load (from the database) and come back into the cache.
    first = await store.load(ids[0])
    assert first is not None and first.run.status is RunStatus.COMPLETED
    assert store._cache.get(ids[0]) is not None and len(store._cache) == 5
    assert (await store.list(size=50)).total == 12

    tiny = SqliteRunStore(tmp_path / "runs.db", cache_max_runs=100, cache_max_bytes=1)
    for run_id in ids:
        assert await tiny.get(run_id) is not None
    assert len(tiny._cache) == 0 and tiny._cache.nbytes == 0
    sized = SqliteRunStore(tmp_path / "runs.db", cache_max_runs=100, cache_max_bytes=10**9)
    for run_id in ids:
        await sized.load(run_id)
    per_run = sized._cache.nbytes / len(ids)
    assert 500 < per_run < 100_000  # JSON bytes of a small run: a real estimate, not 0


async def test_the_memory_store_can_be_bounded_dropping_finished_runs_first(
    llm: LLMClient, clock: FixedClock
) -> None:
    store = MemoryRunStore(max_runs=3)
    engine = Engine(llm=llm, clock=clock, store=store)
    waiting = await engine.execute(CHAT, start())  # parks waiting for the user
    assert waiting.status is RunStatus.WAITING_FOR_USER_INPUT
    done = workflow([say_static("a", "A")])
    finished = [(await engine.execute(done, start())).workflow_run_id for _ in range(4)]
    page = await store.list(size=10)
    assert page.total == 3
    kept = {run.workflow_run_id for run in page.items}
    assert kept == {waiting.workflow_run_id, *finished[-2:]}


async def test_the_memory_store_drops_the_oldest_finished_run_then_the_oldest(
    llm: LLMClient, clock: FixedClock
) -> None:
    store = MemoryRunStore(max_runs=3)
    engine = Engine(llm=llm, clock=clock, store=store)
    done = workflow([say_static("a", "A")])

    async def waiting() -> str:
        run = await engine.execute(CHAT, start())
        assert run.status is RunStatus.WAITING_FOR_USER_INPUT
        return str(run.workflow_run_id)

    async def finished() -> str:
        run = await engine.execute(done, start())
        assert run.status is RunStatus.COMPLETED
        return str(run.workflow_run_id)

    async def kept() -> set[str]:
        return {str(run.workflow_run_id) for run in (await store.list(size=10)).items}

    w1, f1, w2, f2 = [await make() for make in (waiting, finished, waiting, finished)]
    assert await kept() == {w1, w2, f2}  # the oldest finished went, not the oldest run
    w3 = await waiting()
    assert await kept() == {w1, w2, w3}
    w4 = await waiting()  # nothing finished left: the oldest goes
    assert await kept() == {w2, w3, w4}
    assert f1 not in await kept()
