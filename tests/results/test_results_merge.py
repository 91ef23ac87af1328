"""Shards merged equal one unsharded batch: the example suite run whole and as two shards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from results_factory import scenario

from harness.errors import HarnessError
from harness.models.result import BatchInfo, RunSummary
from harness.results import (
    ReportFilesSink,
    artifact_file,
    merge,
    merge_into,
    read_artifact,
    read_results,
    read_run_outputs,
)
from harness.runner import RunOptions
from harness.runner.suite import Selection, Shard, Suite

REPO = Path(__file__).parents[2]

VOLATILE = {"started_at", "finished_at", "duration_ms", "wall_ms", "e2e_ms", "workflow_run_id"}
# Where a result's run outputs are (a line of its batch's pack): compared through the line itself.
PLACE = {"artifact"}


def stable(value: Any) -> Any:
    """A result's JSON without what differs from run to run (clock times, wall times, run ids)
    and without where its run outputs are."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE | PLACE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def run(reports: Path, batch_id: str, shard: str | None = None) -> RunSummary:
    selection = Selection(paths=("scenarios",), shard=Shard.parse(shard) if shard else None)
    suite = Suite.select(selection, cwd=REPO)
    sink = ReportFilesSink(reports / batch_id)
    return suite.run(RunOptions(concurrency=4), [sink], batch_id=batch_id, argv=["harness"])


@pytest.mark.slow
def test_two_shards_merged_equal_one_unsharded_batch(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    whole = run(reports, "20260105T090000-000000")
    one = run(reports, "20260105T090000-000001", "1/2")
    two = run(reports, "20260105T090000-000002", "2/2")
    assert one.total and two.total and one.total + two.total == whole.total

    merged, folder = merge_into([reports / one.batch.batch_id, reports / two.batch.batch_id])
    assert folder.parent == reports and read_results(folder) == merged
    assert (folder / "junit.xml").is_file() and (folder / "summary.md").is_file()
    # same scenario results and totals as the unsharded batch
    whole_dir = reports / whole.batch.batch_id
    by_id = {r.scenario_id: r for r in read_results(whole_dir).results}
    assert [r.scenario_id for r in merged.results] == sorted(by_id)
    for result in merged.results:
        unsharded = by_id[result.scenario_id]
        assert stable(result.model_dump(mode="json")) == stable(unsharded.model_dump(mode="json"))
        # every reference reads the same run outputs as the unsharded batch's
        assert result.artifact is not None and unsharded.artifact is not None
        assert stable(read_run_outputs(folder, result.artifact)) == stable(
            read_run_outputs(whole_dir, unsharded.artifact)
        )
    packs = sorted(p.name for p in (folder / "artifacts").iterdir())
    assert packs == [f"{one.batch.batch_id}-main.jsonl", f"{two.batch.batch_id}-main.jsonl"]
    counts = ("total", "passed", "failed", "errored", "skipped")
    assert [getattr(merged, c) for c in counts] == [getattr(whole, c) for c in counts]
    assert (merged.tokens, merged.llm_calls, merged.cost_usd) == (
        whole.tokens,
        whole.llm_calls,
        whole.cost_usd,
    )
    assert sorted(merged.latencies_ms) == sorted(whole.latencies_ms)
    # provenance merged: shared fields kept, times spanning both shards, the shards named
    batch, first = merged.batch, one.batch
    assert batch.batch_id not in (one.batch.batch_id, two.batch.batch_id)
    assert (batch.git_commit, batch.backend, batch.record_mode, batch.project_root) == (
        first.git_commit,
        first.backend,
        first.record_mode,
        first.project_root,
    )
    assert batch.models == whole.batch.models and batch.argv == ["harness"]
    assert batch.started_at == first.started_at and batch.finished_at == two.batch.finished_at
    assert batch.selection["merged_from"] == [one.batch.batch_id, two.batch.batch_id]
    assert batch.selection["shards"] == ["1/2", "2/2"] and batch.selection["paths"] == ["scenarios"]
    assert not merged.interrupted and merged.not_run == []


def test_merging_overlapping_batches_or_nothing_is_refused(tmp_path: Path) -> None:
    summary = RunSummary.from_results([], batch=BatchInfo(batch_id="a"))
    first = RunSummary.from_results([scenario("s/1")], batch=BatchInfo(batch_id="a"))
    second = RunSummary.from_results([scenario("s/1")], batch=BatchInfo(batch_id="a"))
    with pytest.raises(HarnessError, match="'s/1' is in two of the batches merged"):
        merge([first, second])
    with pytest.raises(HarnessError, match="nothing to merge"):
        merge([])
    # inputs sharing one batch id (workers of one batch) keep it
    other = RunSummary.from_results([scenario("s/2")], batch=BatchInfo(batch_id="a"))
    assert merge([first, other, summary]).batch.batch_id == "a"
    with pytest.raises(HarnessError, match="would overwrite one of the shards"):
        ReportFilesSink(tmp_path / "x").finish(first)
        merge_into([tmp_path / "x"], tmp_path / "x")


def shard(folder: Path, ids: list[str]) -> RunSummary:
    """A finished batch of `ids` written into `folder` (its name is the batch id)."""
    sink = ReportFilesSink(folder, latest=False)
    batch = BatchInfo(batch_id=folder.name)
    sink.start(batch, ids)
    results = [scenario(sid, attempts=1 + n % 2) for n, sid in enumerate(ids)]
    for result in results:
        sink.add(result)
    summary = RunSummary.from_results(results, batch=batch)
    sink.finish(summary)
    return summary


def test_shards_with_the_same_batch_id_keep_every_reference_valid(tmp_path: Path) -> None:
    """CI jobs download each shard's folder; two shards given one batch id write packs of the
    same name: the second is copied under a new name and its references follow."""
    first = shard(tmp_path / "job1" / "B", ["s/a", "s/b"])
    second = shard(tmp_path / "job2" / "B", ["s/c", "s/d", "s/e"])
    merged, folder = merge_into([tmp_path / "job1" / "B", tmp_path / "job2" / "B"], tmp_path / "m")
    assert sorted(p.name for p in (folder / "artifacts").iterdir()) == [
        "B-main-2.jsonl",
        "B-main.jsonl",
    ]
    written = {r.scenario_id: r for r in first.results + second.results}
    for result in read_results(folder).results:
        references = {result.artifact} | {t.artifact for a in result.attempts for t in a.turns}
        assert len(references) == 1 and result.artifact is not None
        document = read_artifact(folder, result.artifact)
        assert document["scenario_id"] == result.scenario_id
        assert len(document["turns"]) == len(written[result.scenario_id].attempts)
    assert {artifact_file(r.artifact or "") for r in merged.results} == {
        "artifacts/B-main.jsonl",
        "artifacts/B-main-2.jsonl",
    }
    # merged again into the same folder: the same packs are recognised, not copied anew
    merge_into([tmp_path / "job1" / "B", tmp_path / "job2" / "B"], tmp_path / "m")
    assert len(list((folder / "artifacts").iterdir())) == 2
    for result in read_results(folder).results:
        assert read_artifact(folder, result.artifact or "")["scenario_id"] == result.scenario_id


def test_a_shard_written_before_packs_merges_with_its_per_scenario_files(tmp_path: Path) -> None:
    new = shard(tmp_path / "B1", ["s/a"])
    old = tmp_path / "B0"
    result = scenario("s/old")
    document = {
        "format_version": 2,
        "kind": "harness-artifact",
        "scenario_id": "s/old",
        "turns": [{"attempt": 0, "index": 0, "turn": 0, "run_output": {"events": []}}],
    }
    (old / "artifacts" / "s").mkdir(parents=True)
    (old / "artifacts" / "s" / "old.json").write_text(json.dumps(document))
    result.artifact = "artifacts/s/old.json"
    for turn in result.attempts[0].turns:
        turn.run_output, turn.artifact = None, result.artifact
    ReportFilesSink(old, latest=False).finish(RunSummary.from_results([result]))
    merged, folder = merge_into([old, tmp_path / "B1"], tmp_path / "m")
    assert read_run_outputs(folder, "artifacts/s/old.json") == {(0, 0): {"events": []}}
    by_id = {r.scenario_id: r for r in merged.results}
    assert by_id["s/a"].artifact == new.results[0].artifact == "artifacts/B1-main.jsonl#0"
    assert read_artifact(folder, "artifacts/B1-main.jsonl#0")["scenario_id"] == "s/a"
