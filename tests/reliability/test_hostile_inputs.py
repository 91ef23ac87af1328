"""Issue 14, inputs: every attack class found against the loaders ends in a clear error.

Each test writes the hostile input the attack used (or its shape), loads it through the public
entry point (`validate`, `load_workflow_file`, `harness validate`, `evaluate_expression`,
`load_cassette`, `harness run`, `read_results`) and asserts: a `HarnessError` / scenario issue
that names the file and line where there is a file, within a time bound, never a traceback. The
limits are documented in docs/reliability.md.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.engine.expressions import evaluate_expression
from harness.errors import HarnessError
from harness.recording import CassetteFormatError, load_cassette
from harness.results import read_results
from harness.scenarios import ScenarioLoadError, load_workflow_file, validate
from harness.scenarios._matrix import MAX_COMBINATIONS
from harness.scenarios._yaml import MAX_DEPTH, MAX_NUMBER_LENGTH, MAX_VALUES

WORKFLOW = Path(__file__).parents[1] / "data" / "workflows" / "two_node_say_static.json"
SCENARIO = f"version: 1\nname: x\nworkflow: {WORKFLOW}\nturns: [{{start: {{}}}}]\n"
SECONDS = 2.0


@contextmanager
def within(seconds: float = SECONDS) -> Iterator[None]:
    started = time.perf_counter()
    yield
    assert time.perf_counter() - started < seconds


def problems(tmp_path: Path, text: str, name: str = "s.scenario.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with within():
        report = validate([path], root=tmp_path)
    return [str(issue) for issue in report.issues]


def one_problem(tmp_path: Path, text: str, expected: str, line: int | None = None) -> str:
    found = problems(tmp_path, text)
    assert found, "the hostile file was accepted"
    match = [p for p in found if expected in p]
    assert match, found
    assert "s.scenario.yaml:" in match[0]
    if line is not None:
        assert f"s.scenario.yaml:{line}:" in match[0], match[0]
    return match[0]


def test_the_valid_base_scenario_loads(tmp_path: Path) -> None:
    assert problems(tmp_path, SCENARIO) == []


# ------------------------------------------------------------------ scenario loader


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ("{$schema: 5}", "`$schema` must be a dialect URI string, got int"),
        ("{$schema: {a: 1}}", "`$schema` must be a dialect URI string, got dict"),
        ("{$schema: 'http://x'}", "unknown `$schema` dialect 'http://x'"),
        ("{type: 5}", "not a valid JSON Schema"),
    ],
)
def test_json_schema_with_a_bad_dollar_schema(tmp_path: Path, schema: str, expected: str) -> None:
    text = SCENARIO + f"expect:\n  json_schema: {{schema: {schema}}}\n"
    one_problem(tmp_path, text, expected, line=6)


@pytest.mark.parametrize(
    ("regex", "expected"),
    [
        ("x{99999999999}", "repetition number is too large"),
        ("(" * 60 + ")" * 60, "nested 60 groups deep is more than the limit of 50"),
        ("(" * 2000 + ")" * 2000, "longer than the limit of 2,000"),
        ("a" * 3000, "longer than the limit of 2,000"),
    ],
)
def test_hostile_regexes(tmp_path: Path, regex: str, expected: str) -> None:
    text = SCENARIO + f"expect:\n  says: {{regex: '{regex}'}}\n"
    one_problem(tmp_path, text, expected, line=6)


@pytest.mark.parametrize(
    "value", ["[" * 5000 + "]" * 5000, "{a: " * 5000 + "1" + "}" * 5000, "[" * 150 + "]" * 150]
)
def test_deeply_nested_yaml(tmp_path: Path, value: str) -> None:
    one_problem(tmp_path, SCENARIO + f"dynamic_variables: {{v: {value}}}\n", "nest", line=5)


def test_deep_block_yaml(tmp_path: Path) -> None:
    deep = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)) + "  " * 110 + "v: 1\n"
    one_problem(
        tmp_path,
        SCENARIO + "dynamic_variables:\n" + "  " + deep.replace("\n", "\n  "),
        f"nested more than {MAX_DEPTH} levels deep",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9" * 4301, f"longer than the limit of {MAX_NUMBER_LENGTH}"),
        ("1." + "5" * 5000, f"longer than the limit of {MAX_NUMBER_LENGTH}"),
        ("!!int x", "`x` is not an integer"),
        ("!!float x", "`x` is not a number"),
        ("!!int 0xZZ", "is not an integer"),
    ],
)
def test_hostile_numbers(tmp_path: Path, value: str, expected: str) -> None:
    one_problem(tmp_path, SCENARIO + f"max_turns: {value}\n", expected, line=5)


def test_a_300_character_file_name(tmp_path: Path) -> None:
    text = SCENARIO.replace(str(WORKFLOW), "a" * 300 + ".json")
    one_problem(tmp_path, text, "not found", line=3)
    with within():
        assert validate([tmp_path / ("b" * 300 + ".yaml")]).issues  # a path given, too long


def test_a_matrix_is_sized_before_it_is_built(tmp_path: Path) -> None:
    # 12 lists of 10 values: 10^12 combinations from a file of about 400 bytes.
    variables = ", ".join(f"v{i}: [0,1,2,3,4,5,6,7,8,9]" for i in range(12))
    message = one_problem(tmp_path, SCENARIO + f"matrix: {{{variables}}}\n", "combinations")
    assert f"1,000,000,000,000 combinations is more than the limit of {MAX_COMBINATIONS:,}" in (
        message
    )


def test_a_matrix_times_a_large_scenario_is_refused(tmp_path: Path) -> None:
    big = "[" + ", ".join(["1"] * 20_000) + "]"
    variables = "v: [" + ", ".join(str(i) for i in range(1000)) + "]"
    text = SCENARIO + f"dynamic_variables: {{big: {big}}}\nmatrix: {{{variables}}}\n"
    one_problem(tmp_path, text, "would build")


BILLION_LAUGHS = "".join(
    f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" if i else "l0: &l0 [lol]\n"
    for i in range(10)
)


def test_billion_laughs_aliases(tmp_path: Path) -> None:
    one_problem(tmp_path, BILLION_LAUGHS, f"more than {MAX_VALUES:,} values")


def test_merge_key_chains(tmp_path: Path) -> None:
    chain = "m0: &m0 {k: 1}\n" + "".join(
        f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}\n" for i in range(1, 40)
    )
    one_problem(tmp_path, chain, f"more than {MAX_VALUES:,} values")


def test_a_recursive_alias(tmp_path: Path) -> None:
    one_problem(tmp_path, "a: &a [*a]\n", "recursive alias", line=1)


# ------------------------------------------------------------------ workflow-file loader


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 100_000 + "]" * 100_000, "invalid JSON"),
        ('{"a": ' + "[" * 150 + "]" * 150 + "}", f"nested more than {MAX_DEPTH} levels deep"),
        ('{"a": ' + "9" * 4301 + "}", f"longer than the limit of {MAX_NUMBER_LENGTH}"),
        ('{"a": 1.' + "5" * 5000 + "}", f"longer than the limit of {MAX_NUMBER_LENGTH}"),
    ],
)
def test_hostile_workflow_json(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "wf.json"
    path.write_text(text)
    with within(), pytest.raises(ScenarioLoadError, match=expected) as caught:
        load_workflow_file(path)
    assert "wf.json" in str(caught.value)
    with within():
        assert any(expected in str(i) for i in validate([path]).issues)


def test_hostile_workflow_yaml(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "wf.yaml").write_text(BILLION_LAUGHS)
    with within(), pytest.raises(ScenarioLoadError, match="values") as caught:
        load_workflow_file(folder / "wf.yaml")
    assert "wf.yaml:" in str(caught.value)


def test_harness_validate_exits_2_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.scenario.yaml").write_text(SCENARIO + "max_turns: !!int x\n")
    assert main(["validate", "s.scenario.yaml"]) == 2
    captured = capsys.readouterr()
    assert "s.scenario.yaml:5:" in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err


# ------------------------------------------------------------------ expressions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9" * 4301 + " == 1", "a number of more than 40 characters"),
        ("(" * 123 + "1" + ")" * 123, "nested more than 64 levels deep"),
        ("NOT " * 5000 + "true", "nested more than 64 levels deep"),
        ("[[a" + " | upcase" * 5000 + "]] == 1", "malformed variable"),
    ],
)
def test_hostile_expressions_are_parse_errors(text: str, expected: str) -> None:
    with within(), pytest.raises(HarnessError, match=expected):
        evaluate_expression(text, {}, {})


@pytest.mark.parametrize(
    "text",
    [
        "[[slots.²]] == 1",
        "isPresent([[slots.²]])",
        "[[a | divided_by: 0]] == 1",
        "[[a | times: 1e308 | times: 1e308]] > 1",
        "[[a | slice: 99999999999999999999999999]] == 1",
        "[[a[99999999999999999999999]]] == 1",
    ],
)
def test_evaluation_never_raises(text: str) -> None:
    with within():
        assert evaluate_expression(text, {"a": "x"}, {"a": 5, "slots": {"x": 1}}) in (True, False)


def test_long_chains_are_linear_and_bounded() -> None:
    with within():  # 11,000 operands: just under the length limit (149 ms measured)
        assert evaluate_expression(" AND ".join(["true"] * 11_000), {}, {}) is True
    with within(), pytest.raises(HarnessError, match="more than the limit of 100,000"):
        evaluate_expression(" AND ".join(["true"] * 50_000), {}, {})


# ------------------------------------------------------------------ cassettes


def interaction(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "request": {"method": "POST", "uri": "http://a.test/v1", "body": "{}", "headers": {}},
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"content-type": ["application/json"]},
            "body": {"string": "{}"},
        },
    }
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        holder = data
        for key in parents:
            holder = holder[key]
        holder[last] = value
    return data


def cassette_text(*interactions: dict[str, Any]) -> str:
    return json.dumps({"version": 1, "interactions": list(interactions)})


def assert_cassette_error(path: Path, text: str, expected: str) -> None:
    path.write_text(text)
    with within(), pytest.raises(CassetteFormatError, match=expected) as caught:
        load_cassette(path)
    assert str(path) in str(caught.value) and caught.value.hint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (cassette_text(interaction()).replace('"code": 200', '"code": Infinity'), "Infinity"),
        (cassette_text(interaction(response__status__code=200.5)), "HTTP status"),
        (cassette_text(interaction(response__status__code=True)), "HTTP status"),
        (cassette_text(interaction(response__status__code="200")), "HTTP status"),
        (cassette_text(interaction(response__body__string={"a": 1})), "must be a string"),
        (cassette_text(interaction(request__body=[1])), "must be a string"),
        (cassette_text(interaction(request__uri="http://[x/")), "not a URL"),
        (cassette_text(interaction(request__uri="http://a:port/")), "not a URL"),
        (cassette_text(interaction(request__uri="not a url")), "http\\(s\\) URL"),
        (cassette_text(interaction(request__method=[[[1]]])), "must be a string"),
        (cassette_text(interaction(request__headers={"a": {"b": 1}})), "header value"),
        (cassette_text(interaction(request__headers=[1])), "headers must be a mapping"),
        (
            cassette_text(interaction(request__body=None)).replace(
                '"body": null', '"body": ' + "[" * 100_000 + "]" * 100_000
            ),
            "not a readable cassette",
        ),
        (
            cassette_text(interaction(request__body=None)).replace(
                '"body": null', '"body": ' + "[" * 100 + "]" * 100
            ),
            "nested more than 64 levels deep",
        ),
        (cassette_text(interaction(request__body=None)).replace("null", "9" * 4301), "limit"),
    ],
)
def test_hostile_json_cassettes(tmp_path: Path, text: str, expected: str) -> None:
    assert_cassette_error(tmp_path / "c.json", text, expected)


def test_yaml_cassette_alias_bombs(tmp_path: Path) -> None:
    bomb = BILLION_LAUGHS + "version: 1\ninteractions: []\n"
    assert_cassette_error(tmp_path / "c.yaml", bomb, "values")
    chain = "m0: &m0 {k: 1}\n" + "".join(
        f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}\n" for i in range(1, 40)
    )
    assert_cassette_error(tmp_path / "c.yaml", chain + "version: 1\ninteractions: []\n", "values")
    assert_cassette_error(tmp_path / "c.yaml", "a: &a [*a]\n", "not a readable cassette")
    deep = "version: 1\ninteractions: " + "[" * 900 + "]" * 900 + "\n"
    assert_cassette_error(tmp_path / "c.yaml", deep, "not a readable cassette")


def test_yaml_cassettes_with_shared_headers_still_load(tmp_path: Path) -> None:
    # vcrpy's YAML writer emits an anchor for a value used twice: a small alias is fine.
    text = (
        "version: 1\ninteractions:\n"
        "- request: {method: POST, uri: 'http://a.test/v1', body: '{}', headers: &h {a: [b]}}\n"
        "  response: {status: {code: 200, message: OK}, headers: *h, body: {string: '{}'}}\n"
    )
    (tmp_path / "c.yaml").write_text(text)
    [loaded] = load_cassette(tmp_path / "c.yaml") or []
    assert loaded.response_headers == {"a": ["b"]}


# ------------------------------------------------------------------ results


def test_read_results_tolerates_a_truncated_last_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from harness.models.result import ScenarioResult, Verdict
    from harness.results.reading import JSONL_KIND

    header = {"kind": JSONL_KIND, "format_version": 2, "selected": ["a", "b", "c"]}
    result = ScenarioResult(scenario_id="a", name="a", verdict=Verdict.PASSED)
    whole = result.model_dump_json()
    cut = result.model_copy(update={"scenario_id": "b"}).model_dump_json()[:25]
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(header) + "\n" + whole + "\n" + cut)
    with caplog.at_level(logging.WARNING, logger="harness.results.reading"):
        summary = read_results(path)
    assert [r.scenario_id for r in summary.results] == ["a"]
    assert summary.interrupted and summary.not_run == ["b", "c"]
    assert "line 3 was cut short" in caplog.text
    # A broken line in the middle is an error naming the line.
    path.write_text(json.dumps(header) + "\n" + cut + "\n" + whole + "\n")
    with pytest.raises(HarnessError, match="line 2"):
        read_results(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (cassette_text(interaction(request__uri="http://[x/")), "interaction #0: malformed"),
        (cassette_text(interaction()).replace('"code": 200', '"code": Infinity'), "Infinity"),
        ('{"version": 1, "interactions": ' + "[" * 100 + "]" * 100 + "}", "nested more than 64"),
    ],
)
def test_harness_run_keeps_the_cassette_path_and_the_hint(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing may be called
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "s.yaml").write_text(SCENARIO)
    cassette = tmp_path / "cassettes" / "engine" / "s.json"
    cassette.parent.mkdir(parents=True)
    cassette.write_text(text)
    code = main(["run", "scenarios/s.yaml"])
    out = capsys.readouterr().out
    assert code == 3, out  # the scenario is an infrastructure error; the file is named
    assert f"{cassette}" in out and expected in out, out
    assert "hint: " in out and "--rerecord" in out
    assert "Traceback" not in out
