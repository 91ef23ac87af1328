"""Reading results back: `results.json`, or `results.jsonl` of a batch that never finished, in
format version 2, or version 1 migrated on the way in.

Version 1 (before provenance, per-node usage and costs) is migrated: the batch id comes from the
folder name (else the start time), the usage rows of each turn are rebuilt from its inline run
output when there is one, and every total is recomputed; what version 1 never recorded stays at
its default (no prompt/completion split without run outputs, costs None). A version this harness
does not know is refused with a hint.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from harness.checks.view import node_usage_of
from harness.errors import HarnessError
from harness.models.api import RunEvent
from harness.models.result import (
    RESULT_FORMAT_VERSION,
    BatchInfo,
    RunSummary,
    ScenarioResult,
    new_batch_id,
)
from harness.results.artifacts import read_artifact
from harness.results.files import JSONL_NAME, RESULTS_NAME

__all__ = [
    "JSONL_KIND",
    "migrate_result",
    "migrate_summary",
    "read_results",
    "read_run_outputs",
    "result_from_json",
]

_log = logging.getLogger(__name__)

JSONL_KIND = "harness-results"
"""The `kind` of a results.jsonl header line."""

_BATCH_ID = re.compile(r"^\d{8}T\d{6}-\d{6}$")


def _refuse(version: Any) -> HarnessError:
    return HarnessError(
        f"results format version {version!r} is not readable by this harness (it reads versions "
        f"1 and {RESULT_FORMAT_VERSION})",
        hint="read it with the harness version that wrote it, or re-run the scenarios to write "
        "fresh results",
    )


def _version(data: dict[str, Any]) -> Any:
    version = data.get("format_version", 1)
    if version not in (1, RESULT_FORMAT_VERSION):
        raise _refuse(version)
    return version


def _turn_usage(turn: dict[str, Any]) -> list[dict[str, Any]]:
    output = turn.get("run_output")
    events = output.get("events") if isinstance(output, dict) else None
    if not isinstance(events, list):
        return []
    typed = [RunEvent.model_validate(e) for e in events if isinstance(e, dict) and "type" in e]
    return [row.model_dump(mode="json") for row in node_usage_of(typed)]


def migrate_result(data: dict[str, Any]) -> ScenarioResult:
    """A scenario result from its JSON (version 1 migrated; totals recomputed for version 1)."""
    version = _version(data)
    if version == RESULT_FORMAT_VERSION:
        return ScenarioResult.model_validate(data)
    data = {**data, "format_version": RESULT_FORMAT_VERSION}
    for attempt in data.get("attempts") or []:
        for turn in attempt.get("turns") or []:
            turn.setdefault("usage", _turn_usage(turn))
    result = ScenarioResult.model_validate(data)
    result.total_up()
    return result


def result_from_json(text: str) -> ScenarioResult:
    """A scenario result from one line of JSON (version 1 migrated)."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("a scenario result must be a JSON object")
    return migrate_result(data)


def _v1_batch(data: dict[str, Any], folder: str | None) -> BatchInfo:
    started = data.get("started_at")
    batch = BatchInfo.model_validate(
        {
            "started_at": started,
            "backend": data.get("backend"),
            "harness_version": data.get("harness_version"),
        }
    )
    if folder and _BATCH_ID.match(folder):
        batch.batch_id = folder
    elif batch.started_at is not None:
        batch.batch_id = new_batch_id(batch.started_at)
    return batch


def migrate_summary(data: dict[str, Any], folder: str | None = None) -> RunSummary:
    """A batch summary from its JSON (version 1 migrated; `folder` names its batch id)."""
    version = _version(data)
    if version == RESULT_FORMAT_VERSION:
        return RunSummary.model_validate(data)
    results = [migrate_result(r) for r in data.get("results") or []]
    fields = {k: v for k, v in data.items() if k not in ("results", "format_version")}
    summary = RunSummary.model_validate({**fields, "format_version": RESULT_FORMAT_VERSION})
    summary.results = results
    summary.batch = _v1_batch(data, folder)
    summary.batch.models = RunSummary.from_results(results, batch=summary.batch).batch.models
    return summary


def read_results(path: str | Path) -> RunSummary:
    """A batch's summary from `results.json`, or rebuilt from `results.jsonl` (a batch folder or
    either file may be given); version 1 files are migrated.

    Raises:
        HarnessError: nothing readable there, or a format version this harness cannot read.
    """
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_NAME if (path / RESULTS_NAME).exists() else path / JSONL_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HarnessError(
            f"cannot read results {path}: {exc.strerror}",
            hint="give a reports/<batch-id> folder (or its results.json) written by `harness run`",
        ) from None
    try:
        if path.suffix == ".jsonl":
            return _from_lines(path, text)
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a results file must be a JSON object")
        return migrate_summary(data, path.parent.name)
    except HarnessError as exc:
        raise HarnessError(f"{path}: {exc.message}", hint=exc.hint) from None
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deeply
        raise HarnessError(
            f"{path}: not a readable results file: {exc}",
            hint="give a results.json or results.jsonl written by `harness run`",
        ) from None


def _from_lines(path: Path, text: str) -> RunSummary:
    """A summary of the lines written so far; a last line cut short by a kill is left out (with a
    warning), and the complete lines before it stand."""
    complete = text.endswith("\n")
    lines = [(n, line) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    if not lines:
        raise ValueError("the file is empty")
    header = json.loads(lines[0][1])
    if not isinstance(header, dict) or header.get("kind") != JSONL_KIND:
        raise ValueError("the first line is not a harness results header")
    version = _version(header)
    results: list[ScenarioResult] = []
    last = lines[-1][0]
    for number, line in lines[1:]:
        try:
            results.append(result_from_json(line))
        except (ValueError, RecursionError) as exc:
            if number == last and not complete:
                # the line being written when the batch was killed
                _log.warning("%s: line %d was cut short and is left out", path, number)
                break
            raise ValueError(f"line {number}: {exc}") from None
    if version == RESULT_FORMAT_VERSION and isinstance(header.get("batch"), dict):
        batch = BatchInfo.model_validate(header["batch"])
    else:
        batch = _v1_batch({}, path.parent.name)
    done = {r.scenario_id for r in results}
    selected = header.get("selected") or []
    not_run = [str(s) for s in selected if s not in done]
    return RunSummary.from_results(results, batch=batch, interrupted=True, not_run=not_run)


def read_run_outputs(batch_dir: str | Path, artifact: str) -> dict[tuple[int, int], Any]:
    """The run outputs a result's `artifact` references, by (attempt, execute-call index): a
    line of an artifact pack (`artifacts/<pack>.jsonl#<byte offset>`) or, in report folders
    of earlier versions, a per-scenario file (`artifacts/<scenario id>.json`).

    Raises:
        HarnessError: the pack or file is missing or unreadable, the offset is not the start of
            a whole line, or what is there is not an artifact (`harness.results.artifacts`).
    """
    turns = read_artifact(batch_dir, artifact)["turns"]
    try:
        return {(t["attempt"], t["index"]): t["run_output"] for t in turns}
    except (TypeError, KeyError) as exc:
        raise HarnessError(
            f"artifact {artifact} in {batch_dir}: a turn without {exc}",
            hint="give a result's `artifact` and the batch folder it was written in",
        ) from None
