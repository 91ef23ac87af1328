"""Shards merged equal one unsharded batch: the example suite run whole and as two shards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from results_factory import scenario

from harness.errors import HarnessError
from harness.models.result import BatchInfo, RunSummary
from harness.results import ReportFilesSink, merge, merge_into, read_results
from harness.runner import RunOptions
from harness.runner.suite import Selection, Shard, Suite

REPO = Path(__file__).parents[2]

VOLATILE = {"started_at", "finished_at", "duration_ms", "wall_ms", "e2e_ms", "workflow_run_id"}


def stable(value: Any) -> Any:
    """A result's JSON without what differs from run to run (clock times, wall times, run ids)."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
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
    by_id = {r.scenario_id: r for r in read_results(reports / whole.batch.batch_id).results}
    assert [r.scenario_id for r in merged.results] == sorted(by_id)
    for result in merged.results:
        assert stable(result.model_dump(mode="json")) == stable(
            by_id[result.scenario_id].model_dump(mode="json")
        )
        assert result.artifact is not None and (folder / result.artifact).is_file()
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
