"""Results files of a run: `reports/<run-id>/results.jsonl` as results finish, then `results.json`
(a versioned `RunSummary`) and `junit.xml`, both written atomically.

The JSON Lines file starts with a header line `{"format_version": 1, "kind": "harness-results"}`
and gets one `ScenarioResult` per line, flushed as each scenario finishes, so an interrupted run
loses nothing it finished: `read_results` rebuilds a summary from it when `results.json` is missing.
"""

from __future__ import annotations

import json
import os
import tempfile
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from harness.errors import HarnessError
from harness.models.result import (
    RESULT_FORMAT_VERSION,
    RunSummary,
    ScenarioResult,
    Verdict,
)

__all__ = [
    "JSONL_NAME",
    "JUNIT_NAME",
    "RESULTS_NAME",
    "ResultsWriter",
    "new_run_id",
    "read_results",
    "write_atomic",
    "write_junit",
]

RESULTS_NAME = "results.json"
JSONL_NAME = "results.jsonl"
JUNIT_NAME = "junit.xml"
_KIND = "harness-results"


def new_run_id(now: datetime | None = None) -> str:
    """A sortable run id: the UTC time to the microsecond, e.g. `20260105T090000-123456`."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S-%f")


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temp file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class ResultsWriter:
    """Writes one run's results under `report_dir/run_id/`.

    Call `add` as each scenario finishes and `finish` once at the end (also after Ctrl-C).
    """

    def __init__(self, report_dir: str | Path, run_id: str | None = None) -> None:
        self.run_id = run_id or new_run_id()
        self.folder = Path(report_dir) / self.run_id
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lines: IO[str] | None = (self.folder / JSONL_NAME).open("a", encoding="utf-8")
        self._write_line({"format_version": RESULT_FORMAT_VERSION, "kind": _KIND})

    @property
    def results_path(self) -> Path:
        """The final `results.json`."""
        return self.folder / RESULTS_NAME

    @property
    def junit_path(self) -> Path:
        """The JUnit XML report."""
        return self.folder / JUNIT_NAME

    def _write_line(self, data: object) -> None:
        if self._lines is None:
            raise HarnessError("the results writer is already finished")
        self._lines.write(json.dumps(data, separators=(",", ":")) + "\n")
        self._lines.flush()

    def add(self, result: ScenarioResult) -> None:
        """Append one finished scenario's result (flushed at once)."""
        if self._lines is None:
            raise HarnessError("the results writer is already finished")
        self._lines.write(result.model_dump_json() + "\n")
        self._lines.flush()

    def finish(self, summary: RunSummary) -> Path:
        """Write `results.json` and `junit.xml` atomically; returns the results path."""
        if self._lines is not None:
            self._lines.close()
            self._lines = None
        write_atomic(self.results_path, summary.model_dump_json(indent=1))
        write_junit(self.junit_path, summary)
        return self.results_path


def read_results(path: str | Path) -> RunSummary:
    """A run's summary from `results.json`, or rebuilt from `results.jsonl` (a run folder or
    either file may be given).

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
            hint="give a reports/<run-id> folder written by `harness run`",
        ) from None
    try:
        if path.suffix == ".jsonl":
            return _from_lines(path, text)
        return RunSummary.model_validate_json(text)
    except ValueError as exc:
        raise HarnessError(f"{path}: not a readable results file: {exc}") from None


def _from_lines(path: Path, text: str) -> RunSummary:
    lines = [line for line in text.splitlines() if line.strip()]
    header = json.loads(lines[0]) if lines else {}
    if header.get("kind") != _KIND:
        raise ValueError("the first line is not a harness results header")
    if header.get("format_version") != RESULT_FORMAT_VERSION:
        raise ValueError(
            f"results format version {header.get('format_version')!r} is not readable by this "
            f"harness (it reads {RESULT_FORMAT_VERSION}); re-run the scenarios"
        )
    results = [ScenarioResult.model_validate_json(line) for line in lines[1:]]
    return RunSummary.from_results(results, interrupted=True)


def write_junit(path: Path, summary: RunSummary) -> None:
    """A JUnit XML report: one test case per scenario, failures with their messages."""
    suite = ET.Element(
        "testsuite",
        name="harness",
        tests=str(summary.total),
        failures=str(summary.failed),
        errors=str(summary.errored),
        skipped=str(summary.skipped),
        time=f"{summary.duration_ms / 1000:.3f}",
    )
    for result in summary.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=(result.file or "scenarios").replace("/", "."),
            name=result.scenario_id,
            time=f"{result.duration_ms / 1000:.3f}",
        )
        if result.verdict is Verdict.PASSED:
            continue
        if result.verdict is Verdict.SKIPPED:
            ET.SubElement(case, "skipped", message=result.error or "skipped")
            continue
        lines = [o.message for o in result.failures()]
        lines += [a.error for a in result.attempts if a.error]
        lines += [result.error] if result.error else []
        tag = "failure" if result.verdict is Verdict.FAILED else "error"
        element = ET.SubElement(case, tag, message=(lines[0] if lines else tag)[:500])
        element.text = "\n".join(lines)
    write_atomic(path, ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n")
