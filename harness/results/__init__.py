"""Results of batches on disk and in the history (results format v2, docs/results.md).

- `read_results`: a batch's `results.json` / `results.jsonl` (version 1 migrated).
- sinks (`ResultSink`): `ReportFilesSink` (reports/<batch>/: results.jsonl and the artifact
  pack as results finish, then results.json, junit.xml, summary.md; reports/latest) and
  `HistorySink`.
- `read_run_outputs` / `read_artifact`: a result's run outputs from its `artifact` reference.
- `HistoryStore`: the SQLite history (reports/history.sqlite).
- `merge` / `merge_into`: shards into one batch.
- `batch_info`: a batch's provenance (git, host, versions).
"""

from __future__ import annotations

from harness.models.result import new_batch_id
from harness.results.artifacts import ArtifactPack, artifact_file, read_artifact
from harness.results.files import (
    ARTIFACTS_DIR,
    JSONL_NAME,
    JUNIT_NAME,
    RESULTS_NAME,
    SUMMARY_NAME,
    artifact_path,
    point_latest,
    resolve_latest,
    write_atomic,
)
from harness.results.history import DEFAULT_HISTORY_PATH, SCHEMA_VERSION, BatchRow, HistoryStore
from harness.results.merge import merge, merge_into
from harness.results.provenance import batch_info
from harness.results.reading import read_results, read_run_outputs
from harness.results.report import junit_xml, summary_markdown
from harness.results.sinks import (
    HistorySink,
    ReportFilesSink,
    ResultSink,
    ResultsWriter,
    move_run_outputs,
    write_report_files,
)

__all__ = [
    "ARTIFACTS_DIR",
    "DEFAULT_HISTORY_PATH",
    "JSONL_NAME",
    "JUNIT_NAME",
    "RESULTS_NAME",
    "SCHEMA_VERSION",
    "SUMMARY_NAME",
    "ArtifactPack",
    "BatchRow",
    "HistorySink",
    "HistoryStore",
    "ReportFilesSink",
    "ResultSink",
    "ResultsWriter",
    "artifact_file",
    "artifact_path",
    "batch_info",
    "junit_xml",
    "merge",
    "merge_into",
    "move_run_outputs",
    "new_batch_id",
    "new_run_id",
    "point_latest",
    "read_artifact",
    "read_results",
    "read_run_outputs",
    "resolve_latest",
    "summary_markdown",
    "write_atomic",
    "write_report_files",
]

new_run_id = new_batch_id
"""The version 1 name of `new_batch_id`."""
