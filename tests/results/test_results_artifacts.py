"""Artifact packs: a line per scenario result in one append-only file per writer, referenced as
`artifacts/<pack>.jsonl#<byte offset>`; per-scenario files of earlier versions still read; a
bad reference says what is wrong and how to fix it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from results_factory import scenario

from harness.errors import HarnessError
from harness.models.result import RESULT_FORMAT_VERSION, BatchInfo, RunSummary
from harness.results import (
    ArtifactPack,
    ReportFilesSink,
    artifact_file,
    move_run_outputs,
    read_artifact,
    read_results,
    read_run_outputs,
)
from harness.results.files import artifact_path, file_mode

BATCH = "20260105T090000-000001"


def test_pack_lines_and_references_round_trip(tmp_path: Path) -> None:
    folder = tmp_path / BATCH
    pack = ArtifactPack(folder)
    assert not (folder / "artifacts").exists(), "a pack is created by its first line only"
    results = [scenario(f"scenarios/s{n}", attempts=2) for n in range(3)]
    expected = [
        {(a.attempt, t.index): t.run_output for a in r.attempts for t in a.turns} for r in results
    ]
    documents = []
    for result in results:
        documents.append(
            {
                "format_version": RESULT_FORMAT_VERSION,
                "kind": "harness-artifact",
                "scenario_id": result.scenario_id,
                "turns": [
                    {
                        "attempt": a.attempt,
                        "index": t.index,
                        "turn": t.turn,
                        "run_output": t.run_output,
                    }
                    for a in result.attempts
                    for t in a.turns
                ],
            }
        )
        move_run_outputs(result, pack)
    pack.close()

    path = folder / "artifacts" / f"{BATCH}-main.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == file_mode()
    # each line is the document a per-scenario file held, compact, one line per result
    data = path.read_bytes()
    assert data == b"".join(
        json.dumps(d, separators=(",", ":")).encode() + b"\n" for d in documents
    )
    offsets = [0]
    for line in data.splitlines(keepends=True)[:-1]:
        offsets.append(offsets[-1] + len(line))
    for result, want, offset in zip(results, expected, offsets, strict=True):
        reference = f"artifacts/{BATCH}-main.jsonl#{offset}"
        assert result.artifact == reference
        assert {t.artifact for a in result.attempts for t in a.turns} == {reference}
        assert all(t.run_output is None for a in result.attempts for t in a.turns)
        assert read_run_outputs(folder, reference) == want
        assert read_artifact(folder, reference)["scenario_id"] == result.scenario_id
        assert artifact_file(reference) == f"artifacts/{BATCH}-main.jsonl"
    # nothing left to move: the reference stays
    assert move_run_outputs(results[0], pack) == results[0].artifact


def test_a_second_writer_of_the_same_folder_gets_a_pack_of_its_own(tmp_path: Path) -> None:
    first, second = ArtifactPack(tmp_path / "b"), ArtifactPack(tmp_path / "b")
    one = move_run_outputs(scenario("scenarios/a"), first)
    two = move_run_outputs(scenario("scenarios/b"), second)
    assert one == "artifacts/b-main.jsonl#0" and two == "artifacts/b-main-2.jsonl#0"
    assert read_artifact(tmp_path / "b", two)["scenario_id"] == "scenarios/b"
    worker = ArtifactPack(tmp_path / "b", "w3")
    assert move_run_outputs(scenario("scenarios/c"), worker) == "artifacts/b-w3.jsonl#0"


def test_a_result_added_again_references_its_own_line(tmp_path: Path) -> None:
    """A rerun (e.g. pytest's rerun of a flaky item) adds the same scenario again: each result
    keeps the run outputs of its own run."""
    sink = ReportFilesSink(tmp_path / BATCH, latest=False)
    sink.start(BatchInfo(batch_id=BATCH), ["scenarios/a"])
    first, rerun = scenario("scenarios/a"), scenario("scenarios/a", attempts=2)
    sink.add(first)
    sink.add(rerun)
    sink.finish(RunSummary.from_results([rerun]))
    assert first.artifact != rerun.artifact
    assert first.artifact is not None and rerun.artifact is not None
    assert set(read_run_outputs(tmp_path / BATCH, first.artifact)) == {(0, 0)}
    assert set(read_run_outputs(tmp_path / BATCH, rerun.artifact)) == {(0, 0), (1, 0)}
    assert read_results(tmp_path / BATCH).results[0].artifact == rerun.artifact


def test_per_scenario_files_of_earlier_versions_still_read(tmp_path: Path) -> None:
    folder = tmp_path / BATCH
    result = scenario("scenarios/day[tue]")
    outputs = {(0, 0): result.attempts[0].turns[0].run_output}
    relative = artifact_path(result.scenario_id)
    document = {
        "format_version": 2,
        "kind": "harness-artifact",
        "scenario_id": result.scenario_id,
        "turns": [{"attempt": 0, "index": 0, "turn": 0, "run_output": outputs[(0, 0)]}],
    }
    (folder / relative).parent.mkdir(parents=True)
    (folder / relative).write_text(json.dumps(document, separators=(",", ":")))
    assert "#" not in relative and artifact_file(relative) == relative
    assert read_run_outputs(folder, relative) == outputs


def _pack_with_two_lines(folder: Path) -> tuple[str, str]:
    pack = ArtifactPack(folder)
    first = move_run_outputs(scenario("scenarios/a"), pack)
    second = move_run_outputs(scenario("scenarios/b"), pack)
    pack.close()
    assert first is not None and second is not None
    return first, second


def test_bad_references_say_what_and_how_to_fix(tmp_path: Path) -> None:
    folder = tmp_path / BATCH
    first, second = _pack_with_two_lines(folder)
    pack, offset = second.split("#")
    (folder / "results.jsonl").write_text('{"kind": "harness-results"}\n')

    cases = {
        f"artifacts/{BATCH}-w9.jsonl#0": ("does not exist", "give the batch folder"),
        f"{pack}#{int(offset) - 5}": ("is not the start of a line", "do not belong together"),
        f"{pack}#{int(offset) + 10**6}": ("is past the end of", "do not belong together"),
        f"{pack}#x1": ("'x1' after '#' is not a byte offset", "artifacts/<pack>.jsonl#<offset>"),
        f"{pack}#\u00b2": ("after '#' is not a byte offset", "artifacts/<pack>.jsonl#<offset>"),
        "results.jsonl#0": ("holds a 'harness-results', not a 'harness-artifact'", "artifact"),
        "artifacts": ("cannot read the artifact", ""),
    }
    for reference, (what, fix) in cases.items():
        with pytest.raises(HarnessError) as caught:
            read_run_outputs(folder, reference)
        assert what in caught.value.message, reference
        assert fix in (caught.value.hint or ""), reference
    assert set(read_run_outputs(folder, first)) == {(0, 0)}


def test_a_line_cut_by_a_kill_is_refused_not_misread(tmp_path: Path) -> None:
    folder = tmp_path / BATCH
    first, second = _pack_with_two_lines(folder)
    path = folder / artifact_file(second)
    path.write_bytes(path.read_bytes()[:-7])  # the second line as a kill may leave it
    with pytest.raises(HarnessError, match="cut short") as caught:
        read_run_outputs(folder, second)
    assert "never references such a line" in (caught.value.hint or "")
    assert set(read_run_outputs(folder, first)) == {(0, 0)}


def test_a_failed_write_starts_a_new_pack(tmp_path: Path) -> None:
    """A line cut by a full disk (here: the file size limit) leaves the pack's offsets unknown:
    the next line goes to a new pack, and every reference handed out still reads."""
    import resource
    import signal

    folder = tmp_path / BATCH
    pack = ArtifactPack(folder)
    document = {
        "format_version": RESULT_FORMAT_VERSION,
        "kind": "harness-artifact",
        "scenario_id": "s",
        "turns": [{"attempt": 1, "index": 0, "turn": 0, "run_output": {"x": "y" * 3000}}],
    }
    first = pack.append(document)
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, limits[1]))
        with pytest.raises(OSError):
            pack.append(document)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous)
    second = pack.append(document)
    pack.close()
    assert artifact_file(first) != artifact_file(second)
    assert second.endswith("#0")
    assert read_artifact(folder, first) == document
    assert read_artifact(folder, second) == document


def _document(run_output: dict[str, object]) -> dict[str, object]:
    return {
        "format_version": RESULT_FORMAT_VERSION,
        "kind": "harness-artifact",
        "scenario_id": "scenarios/ünïcode",
        "turns": [{"attempt": 0, "index": 0, "turn": 0, "run_output": run_output}],
    }


def test_a_pack_line_reads_back_as_the_document_given(tmp_path: Path) -> None:
    """Lines are written by pydantic-core: text outside ASCII goes in as UTF-8 and a float may
    be spelt differently than `json.dumps` spells it, but a reader gets the same document."""
    run_output = {
        "events": [{"type": "assistant_response", "content": "Grüße ✓ 😀 \u2028 line\nbreak"}],
        "numbers": [1e-05, 1e16, 0.1, -0.0, 123456789.123456789, 2**70, True, None],
        "nested": {"1": {"deep": [[], {}, ""]}},
    }
    document = _document(run_output)
    pack = ArtifactPack(tmp_path / BATCH)
    reference = pack.append(document)
    pack.close()
    line = (tmp_path / BATCH / artifact_file(reference)).read_bytes()
    assert line.count(b"\n") == 1 and line.endswith(b"\n"), "one line, newlines escaped"
    assert "Grüße ✓ 😀".encode() in line, "UTF-8, not \\u escapes"
    assert read_artifact(tmp_path / BATCH, reference) == document
    assert json.loads(line) == json.loads(json.dumps(document))


def test_what_pydantic_core_cannot_write_is_written_as_before(tmp_path: Path) -> None:
    """A lone surrogate (from a `\\ud800` escape in a model's JSON) is not UTF-8: that line is
    written by `json.dumps`, escaped, as before; NaN is written as `json.dumps` writes it."""
    pack = ArtifactPack(tmp_path / BATCH)
    odd = _document({"said": "half a pair: \ud800"})
    nan = _document({"latency": float("nan"), "limit": float("inf")})
    first, second = pack.append(odd), pack.append(nan)
    pack.close()
    lines = (tmp_path / BATCH / artifact_file(first)).read_bytes().splitlines(keepends=True)
    assert lines[0] == json.dumps(odd, separators=(",", ":")).encode() + b"\n"
    assert read_artifact(tmp_path / BATCH, first) == odd
    assert b'"latency":NaN,"limit":Infinity' in lines[1]
    assert read_artifact(tmp_path / BATCH, second)["turns"][0]["run_output"]["limit"] == float(
        "inf"
    )
