"""Regression analysis: a batch against a baseline, per scenario, turn and node.

```python
baseline = load_baseline("reports/baseline.json", history=None, root=project_root)
report = compare(summary, baseline, Thresholds.of(settings.regression, scenarios))
print(report.to_text()); sys.exit(1 if report.has_regressions else 0)
```
A baseline is a committed file (`write_baseline`), a batch id, `latest` or `branch:NAME` from the
history database, or a batch's report folder. It needs numpy (imported with this package, which
a run imports only to compare), never pandas; the reference is docs/regressions.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError
from harness.models.regression import RegressionSettings, ScenarioRegression, Threshold
from harness.regression.compare import SINGLE_RUN, Thresholds, compare
from harness.regression.profile import Baseline, write_baseline
from harness.regression.report import Change, RegressionReport, Skipped

if TYPE_CHECKING:
    from harness.models.scenario import Scenario

__all__ = [
    "DEFAULT_BASELINE",
    "DEFAULT_HISTORY",
    "SINGLE_RUN",
    "Baseline",
    "Change",
    "RegressionReport",
    "RegressionSettings",
    "ScenarioRegression",
    "Skipped",
    "Threshold",
    "Thresholds",
    "compare",
    "load_baseline",
    "thresholds_for",
    "write_baseline",
]

DEFAULT_BASELINE = Path("reports") / "baseline.json"
"""Where `harness baseline update` writes, relative to the project root."""
DEFAULT_HISTORY = Path("reports") / "history.sqlite"
"""The history database, relative to the project root."""


def _history_ref(ref: str) -> bool:
    return ref == "latest" or ref.startswith("branch:")


def load_baseline(ref: str, *, history: Path | None = None, root: Path | None = None) -> Baseline:
    """The baseline that `ref` names.

    `ref` is tried, in order, as: `latest` or `branch:NAME` (the newest finished batch of the
    history, on that branch; `latest` without a history: `reports/latest`); an existing baseline
    file; an existing report folder or results file (`reports/<batch>/`, `results.json`); a
    batch id: its folder `root/reports/<id>/`, else the history. Relative paths are relative to
    `root` when they do not exist as given.

    Raises:
        HarnessError: nothing by that name (the message says what was looked for and where).
    """
    root = root or Path.cwd()
    history = history or root / DEFAULT_HISTORY
    if _history_ref(ref):
        if ref == "latest" and not history.is_file():  # no history: the last report folder
            from harness.results.files import resolve_latest

            folder = resolve_latest(root / "reports")
            if folder is not None:
                return _from_path(folder) or _from_history(history, ref)
        return _from_history(history, ref)
    for candidate in (Path(ref), root / ref):
        found = _from_path(candidate)
        if found is not None:
            return found
    found = _from_path(root / "reports" / ref) if ref and "/" not in ref else None
    if found is not None:  # a batch's report folder, by its id
        return found
    looks_like_path = "/" in ref or Path(ref).suffix in (".json", ".jsonl")
    if history.is_file() and not looks_like_path:  # a batch id only in the history
        return _from_history(history, ref)
    raise HarnessError(
        f"no baseline {ref!r}: not a file, not a report folder, and no history at {history}",
        hint="give reports/baseline.json (harness baseline update writes it), a batch id, "
        "`latest` or `branch:NAME`",
    )


def _from_path(path: Path) -> Baseline | None:
    if path.is_file() and _is_baseline_file(path):
        return Baseline.read(path)
    if path.is_dir() or path.is_file():  # a report folder or a results file
        from harness.results.reading import read_results

        baseline = Baseline.from_summary(read_results(path))
        baseline.source.setdefault("file", str(path))
        return baseline
    return None


def _is_baseline_file(path: Path) -> bool:
    with path.open("rb") as handle:
        return b'"harness-baseline"' in handle.read(200)


def _from_history(path: Path, ref: str) -> Baseline:
    from harness.regression.history import baseline_from_history, resolve_batch
    from harness.results.history import HistoryStore

    if not path.is_file():
        raise HarnessError(
            f"no history database at {path} to find {ref!r} in",
            hint="run the suite once with history on (harness run), or give a baseline file",
        )
    with HistoryStore(path) as store:  # opening checks (and migrates) the schema
        connection = store.connection()
    try:
        return baseline_from_history(connection, resolve_batch(connection, ref))
    finally:
        connection.close()


def thresholds_for(
    side: Baseline, root: Path, settings: RegressionSettings
) -> tuple[Thresholds, str | None]:
    """The thresholds that apply to a batch: the project's `settings` and the `regression:` keys
    of the scenario files named in it (read, never run; best effort: when the files no longer
    load, their scenarios keep the project's thresholds and the note says so).

    Returns:
        The thresholds, and a note for the user when scenario files did not load (else None).
    """
    scenarios, note = _scenarios_of(side, root)
    return Thresholds.of(settings, scenarios), note


def _scenarios_of(side: Baseline, root: Path) -> tuple[list[Scenario], str | None]:
    from harness.scenarios import load_scenarios

    files = sorted({s.file for s in side.scenarios.values() if s.file})
    existing = [f for f in files if (root / f).is_file() or Path(f).is_file()]
    if not existing:
        return [], None
    try:
        paths = [f if Path(f).is_file() else str(root / f) for f in existing]
        return load_scenarios(paths, root=root), None
    except HarnessError as exc:
        return [], (
            f"scenario files did not load, their own regression thresholds are not used:\n{exc}"
        )
