"""Shards into one batch: `merge` combines the results of several batches (CI shards of one
selection) into the summary one unsharded batch would have had.

Results are put in scenario-id order (each shard only knows its own run order); the counts are
recomputed; a scenario in two inputs is refused (overlapping shards). Provenance is merged:
earliest start, latest finish, the union of models; a field the inputs agree on is kept, one they
disagree on becomes None, except `git_dirty` (true when any was dirty). The batch id is the
inputs' common id when they share one, else a new id; `selection.merged_from` lists the inputs.
"""

from __future__ import annotations

import filecmp
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.models.result import BatchInfo, ModelRef, RunSummary, ScenarioResult, new_batch_id
from harness.results.artifacts import PACK_SUFFIX, artifact_file
from harness.results.files import ARTIFACTS_DIR, JSONL_NAME, RESULTS_NAME
from harness.results.reading import read_results
from harness.results.sinks import write_report_files

__all__ = ["merge", "merge_into"]

_SHARED = (
    "git_commit",
    "git_branch",
    "backend",
    "record_mode",
    "harness_version",
    "host",
    "python",
    "project_root",
)


def _common(values: list[Any]) -> Any:
    distinct = {repr(v) for v in values}
    return values[0] if len(distinct) == 1 else None


def _span(summaries: list[RunSummary]) -> tuple[datetime | None, datetime | None, float]:
    starts = [s.batch.started_at for s in summaries if s.batch.started_at is not None]
    ends = [s.batch.finished_at for s in summaries if s.batch.finished_at is not None]
    started, finished = (min(starts) if starts else None), (max(ends) if ends else None)
    if started is not None and finished is not None and len(ends) == len(summaries):
        return started, finished, (finished - started).total_seconds() * 1000
    return started, finished, max((s.duration_ms for s in summaries), default=0.0)


def _merged_batch(
    summaries: list[RunSummary], results: list[ScenarioResult], batch_id: str | None
) -> BatchInfo:
    batches = [s.batch for s in summaries]
    ids = [b.batch_id for b in batches]
    started, finished, _ = _span(summaries)
    models = {(m.model, m.provider) for b in batches for m in b.models}
    dirty = [b.git_dirty for b in batches]
    fields: dict[str, Any] = {
        name: _common([getattr(b, name) for b in batches]) for name in _SHARED
    }
    fields.update(
        batch_id=batch_id or (ids[0] if len(set(ids)) == 1 else new_batch_id()),
        started_at=started,
        finished_at=finished,
        git_dirty=True if any(dirty) else (None if None in dirty else False),
        argv=list(batches[0].argv) if len({tuple(b.argv) for b in batches}) == 1 else [],
        models=[
            ModelRef(model=m, provider=p)
            for m, p in sorted(models, key=lambda pair: (pair[0] or "", pair[1] or ""))
        ],
        selection={
            **{k: v for k, v in batches[0].selection.items() if k != "shard"},
            "merged_from": ids,
            "shards": [b.selection.get("shard") for b in batches],
        },
    )
    return BatchInfo.model_validate(fields)


def _load(item: RunSummary | str | Path) -> RunSummary:
    return item if isinstance(item, RunSummary) else read_results(item)


def merge(inputs: Sequence[RunSummary | str | Path], *, batch_id: str | None = None) -> RunSummary:
    """One summary from the summaries (or batch folders / results files) of several shards.

    Raises:
        HarnessError: no input, or a scenario present in two of them.
    """
    if not inputs:
        raise HarnessError(
            "nothing to merge", hint="give the reports/<batch-id> folders of the shards"
        )
    summaries = [_load(item) for item in inputs]
    owner: dict[str, int] = {}
    results: list[ScenarioResult] = []
    for index, summary in enumerate(summaries):
        for result in summary.results:
            if result.scenario_id in owner:
                first = summaries[owner[result.scenario_id]].batch.batch_id
                raise HarnessError(
                    f"scenario {result.scenario_id!r} is in two of the batches merged "
                    f"({first} and {summary.batch.batch_id})",
                    hint="merge the shards of one selection (`--shard i/n` with the same n), "
                    "each once",
                )
            owner[result.scenario_id] = index
            results.append(result)
    results.sort(key=lambda r: r.scenario_id)
    _, _, duration = _span(summaries)
    done = {r.scenario_id for r in results}
    not_run = sorted({s for summary in summaries for s in summary.not_run} - done)
    batch = _merged_batch(summaries, results, batch_id)
    return RunSummary.from_results(
        results,
        batch=batch,
        duration_ms=duration,
        interrupted=any(s.interrupted for s in summaries),
        not_run=not_run,
    )


def _folder(item: str | Path) -> Path:
    path = Path(item)
    return path.parent if path.name in (RESULTS_NAME, JSONL_NAME) else path


def merge_into(
    batch_dirs: Sequence[str | Path],
    out_dir: str | Path | None = None,
    *,
    batch_id: str | None = None,
    latest: bool = True,
) -> tuple[RunSummary, Path]:
    """Merge the shards' batch folders into one batch folder with every report file and the
    shards' artifacts; returns the summary and the folder (default `<reports>/<merged id>`,
    beside the first shard).

    Artifact packs are named after their batch, so shards' packs do not meet; shards that
    shared a batch id would, and a pack whose name is taken by different content is copied
    under a new name, with the references of that shard's results rewritten to it.

    Raises:
        HarnessError: as `merge`, or the output folder is one of the inputs.
    """
    folders = [_folder(item) for item in batch_dirs]
    summaries = [read_results(folder) for folder in folders]
    summary = merge(summaries, batch_id=batch_id)
    target = Path(out_dir) if out_dir is not None else folders[0].parent / summary.batch.batch_id
    if any(target.resolve() == f.resolve() for f in folders):
        raise HarnessError(
            f"{target}: the merged batch would overwrite one of the shards",
            hint="give another output folder (or leave it out: one is named after the batch)",
        )
    target.mkdir(parents=True, exist_ok=True)
    merged = {r.scenario_id: r for r in summary.results}
    for folder, shard in zip(folders, summaries, strict=True):
        renamed = _copy_artifacts(folder / ARTIFACTS_DIR, target / ARTIFACTS_DIR)
        if renamed:
            for result in shard.results:
                _rename_references(merged[result.scenario_id], renamed)
    write_report_files(target, summary, latest=latest)
    return summary, target


def _copy_artifacts(source: Path, target: Path) -> dict[str, str]:
    """Copy a shard's `artifacts/` into the merged folder's; returns the packs copied under a
    new name (old -> new, relative to the batch folder). Per-scenario files of earlier
    versions are copied as they are (scenario ids never repeat across merged shards)."""
    renamed: dict[str, str] = {}
    if not source.is_dir():
        return renamed
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        copy = target / path.relative_to(source)
        if path.parent == source and path.suffix == PACK_SUFFIX:
            copy = _pack_place(path, copy)
            if copy.name != path.name:
                renamed[f"{ARTIFACTS_DIR}/{path.name}"] = f"{ARTIFACTS_DIR}/{copy.name}"
            if copy.exists():
                continue  # the same pack, merged before
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
    return renamed


def _pack_place(pack: Path, copy: Path) -> Path:
    """Where `pack` goes: `copy`, or `copy` with `-2`, `-3`... before its suffix, whichever
    first names no file or a file with the same bytes (the pack, merged before)."""
    number = 1
    candidate = copy
    while candidate.exists() and not filecmp.cmp(pack, candidate, shallow=False):
        number += 1
        candidate = copy.with_name(f"{copy.stem}-{number}{copy.suffix}")
    return candidate


def _rename_references(result: ScenarioResult, renamed: dict[str, str]) -> None:
    """Point a result's artifact references (the scenario's and each turn's) at renamed packs."""

    def moved(artifact: str | None) -> str | None:
        if artifact is None:
            return None
        file = artifact_file(artifact)
        return renamed.get(file, file) + artifact[len(file) :]  # the `#<offset>` kept

    result.artifact = moved(result.artifact)
    for attempt in result.attempts:
        for turn in attempt.turns:
            turn.artifact = moved(turn.artifact)
