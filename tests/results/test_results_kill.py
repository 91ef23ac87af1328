"""A batch killed with SIGKILL midway: the history opens cleanly and holds every scenario that
had finished but the last uncommitted group, each whole; every report file is complete or absent,
never half-written, and `results.jsonl` has every finished scenario."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.results import (
    HistorySink,
    HistoryStore,
    read_artifact,
    read_results,
    resolve_latest,
)

HERE = Path(__file__).parent
BATCH = "20260105T090000-000001"
GROUP = HistorySink.GROUP_SIZE


def _next(sid: str) -> str:
    return f"scenarios/s{int(sid.rsplit('s', 1)[1]) + 1:05d}"


BATCH_PROCESS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from results_factory import scenario
    from harness.models.result import BatchInfo, RunSummary
    from harness.results import HistorySink, HistoryStore, ReportFilesSink, write_report_files

    reports, batch_id = Path(sys.argv[2]), sys.argv[3]
    batch = BatchInfo(batch_id=batch_id)
    files = ReportFilesSink(reports / batch_id)
    sinks = [files, HistorySink(HistoryStore(reports / "history.sqlite"))]
    selected = [f"scenarios/s{n:05d}" for n in range(100_000)]
    for sink in sinks:
        sink.start(batch, selected)
    done = []
    for sid in selected:
        result = scenario(sid)
        for sink in sinks:
            sink.add(result)
        done.append(result)
        print(sid, flush=True)  # finished: every sink has it
        if len(done) % 7 == 0:  # rewrite the final files now and then: the kill may land inside
            write_report_files(files.batch_dir, RunSummary.from_results(done, batch=batch))
    """
)


@pytest.mark.slow
def test_a_batch_killed_midway_keeps_every_finished_scenario(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    child = subprocess.Popen(
        [sys.executable, "-c", BATCH_PROCESS, str(HERE), str(reports), BATCH],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    finished: list[str] = []
    while len(finished) < 2 * GROUP + 50:  # two groups or more committed, one waiting
        line = child.stdout.readline()
        assert line, child.stderr.read() if child.stderr else "the batch process ended"
        finished.append(line.strip())
    os.kill(child.pid, signal.SIGKILL)
    rest, _ = child.communicate(timeout=30)
    finished += rest.split()  # printed before the kill, still in the pipe
    assert child.returncode == -signal.SIGKILL

    # the history opens cleanly, is consistent, and holds every finished scenario
    with HistoryStore(reports / "history.sqlite") as store:
        db = store.connection()
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {r[0] for r in db.execute("SELECT scenario_id FROM scenario_results")}
        calls = db.execute("SELECT count(*) FROM llm_calls").fetchone()[0]
        db.close()
        # all but the last group, which was not committed yet (the one being added may be in)
        assert stored <= set(finished) | {_next(finished[-1])}
        missing = [sid for sid in finished if sid not in stored]
        assert missing == finished[len(finished) - len(missing) :] and len(missing) < GROUP
        assert calls == 2 * len(stored)  # each scenario whole: its rows came in one transaction
        summary = store.load_summary(BATCH)
        assert summary.interrupted and summary.total == len(stored)

    # every file is whole: the lines (a cut last line is left out), results.json, junit.xml
    folder = reports / BATCH
    lines = read_results(folder / "results.jsonl")
    assert set(finished) <= {r.scenario_id for r in lines.results}
    if (folder / "results.json").exists():
        final = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        assert final["total"] == len(final["results"]) >= 7
        ET.parse(folder / "junit.xml")
        assert (folder / "summary.md").read_text(encoding="utf-8").endswith("\n")
        assert resolve_latest(reports) == folder.resolve()
    # every result written references a whole line of the pack (a line cut by the kill, if
    # any, is after the last one referenced)
    for result in lines.results:
        assert result.artifact is not None
        assert read_artifact(folder, result.artifact)["scenario_id"] == result.scenario_id
    # a new process appends to the same history after the crash
    with HistoryStore(reports / "history.sqlite") as store:
        store.record_result("next", read_results(folder / "results.jsonl").results[0])
        db = sqlite3.connect(reports / "history.sqlite")
        assert db.execute("SELECT count(*) FROM scenario_results WHERE batch_id='next'").fetchone()
        db.close()
