"""The scenario loader: every problem is reported with file:line:col, the key and a hint; defaults
files merge into their folder and below; a matrix expands into one scenario per combination."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness.models.scenario import Scenario, TurnKind
from harness.scenarios import (
    ScenarioFileLoader,
    ScenarioIssue,
    ScenarioLoadError,
    discover_scenario_files,
    format_issues,
    load_scenario_file,
    load_scenarios,
    load_workflow_file,
    validate_paths,
)

WORKFLOW = {
    "workflow_config": {"name": "clinic scheduler", "nodes": ["greet"]},
    "node_configs": [{"type": "say_llm", "logical_id": "greet", "is_start": True}],
    "edge_configs": [],
}

HEADER = """\
version: 1
name: books a follow-up visit
workflow: workflows/clinic.json
"""


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """A suite folder with one workflow file."""
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "clinic.json").write_text(json.dumps(WORKFLOW))
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def only_issue(path: Path, root: Path) -> ScenarioIssue:
    issues = validate_paths([path], root=root)
    assert len(issues) == 1, format_issues(issues)
    return issues[0]


# ------------------------------------------------------------------ a valid file


def test_the_design_sketch_loads(suite: Path) -> None:
    path = write(
        suite,
        "clinic/books_followup.scenario.yaml",
        """\
        version: 1
        name: books a follow-up visit
        workflow: ../workflows/clinic.json
        workflow_id: 65a1b2c3d4e5f60718293a4b
        tags: [smoke, scheduling]
        dynamic_variables: {patient_name: Ana Ruiz}
        mocks: {tools: {find_slots: {returns: ["09:30", "11:00"]}}}
        turns:
          - start: {}
            expect: {status: waiting_for_user_input, says: {contains: Ana}}
          - user: I need a follow-up next Tuesday morning
            expect:
              node: confirm_slot
              tool_calls: [{name: find_slots, args: {day: tuesday}}]
              runtime_variables: {preferred_day: tuesday}
          - user: Yes, 9:30 works
            expect:
              status: completed
              path: [greet, collect_need, confirm_slot, goodbye]
              output: {equals: {slot: "09:30"}, ignore: ["root['timestamp']"]}
        evaluation: {expect: {passed: true, score: {gte: 0.8}}}
        budgets: {tokens: {max: 3000}, latency_ms: {p95: 2500}}
        repeat: {runs: 5, min_pass: 4}
        """,
    )
    [scenario] = load_scenarios([path], root=suite)
    assert scenario.id == "clinic/books_followup"
    assert scenario.workflow == str(suite / "workflows" / "clinic.json")
    assert [t.kind for t in scenario.turns] == [TurnKind.START, TurnKind.USER, TurnKind.USER]
    assert scenario.source is not None and scenario.source.file == str(path)
    assert scenario.repeat.required == 4
    assert validate_paths([path], root=suite) == []


def test_yaml_1_2_scalars_no_and_dates_stay_strings(suite: Path) -> None:
    path = write(
        suite,
        "answers.yaml",
        HEADER + "dynamic_variables: {visit: 2024-05-01, flag: on, count: 0x1f}\n"
        "turns:\n  - start: {}\n  - user: no\n  - user: [yes, 'off']\n",
    )
    [scenario] = load_scenarios([path], root=suite)
    assert scenario.turns[1].user == ["no"]
    assert scenario.turns[2].user == ["yes", "off"]
    assert scenario.dynamic_variables == {"visit": "2024-05-01", "flag": "on", "count": 31}


# ------------------------------------------------------------------ typos

TYPOS = [
    pytest.param(
        "expext: {status: completed}\nturns: [{start: {}}]\n",
        4,
        1,
        "expext",
        "expect",
        id="top-level",
    ),
    pytest.param(
        "turns:\n  - start: {}\n    expcet: {}\n", 6, 5, "turns[0].expcet", "expect", id="turn-key"
    ),
    pytest.param(
        "turns:\n  - start: {}\n  - usr: hello\n", 6, 5, "turns[1].usr", "user", id="turn-action"
    ),
    pytest.param(
        "turns:\n  - start: {}\n    expect:\n      says: {contians: Ana}\n",
        7,
        14,
        "turns[0].expect.says.contians",
        "contains",
        id="nested",
    ),
    pytest.param(
        "turns: [{start: {}}]\nmocks:\n  tools:\n    find_slots: {retuns: []}\n",
        7,
        18,
        "mocks.tools.find_slots.retuns",
        "returns",
        id="tool-mock",
    ),
    pytest.param(
        "turns: [{start: {}}]\nrepeat: {runs: 3, min_pas: 2}\n",
        5,
        19,
        "repeat.min_pas",
        "min_pass",
        id="repeat",
    ),
    pytest.param(
        "turns: [{start: {}}]\nevaluation:\n  expect: {score: {gtee: 0.8}}\n",
        6,
        20,
        "evaluation.expect.score.gtee",
        "gte",
        id="threshold",
    ),
    pytest.param(
        "turns:\n  - start: {}\n    expect: {transitions: [{form: greet}]}\n",
        6,
        29,
        "turns[0].expect.transitions[0].form",
        "from",
        id="alias",
    ),
    pytest.param(
        "turns:\n  - start: {}\n  - simulate: {persona: p, goal: g, stop_when: {nodes: end}}\n",
        6,
        49,
        "turns[1].simulate.stop_when.nodes",
        "node",
        id="simulated-user",
    ),
]


@pytest.mark.parametrize(("body", "line", "column", "key", "suggestion"), TYPOS)
def test_a_typo_names_file_line_key_and_the_near_miss(
    suite: Path, body: str, line: int, column: int, key: str, suggestion: str
) -> None:
    path = write(suite, "typo.yaml", HEADER + body)
    issue = only_issue(path, suite)
    assert (issue.file, issue.line, issue.column, issue.key) == (str(path), line, column, key)
    assert issue.message == f"unknown key `{key.rsplit('.', 1)[-1]}`"
    assert issue.hint == f"did you mean `{suggestion}`?"


def test_an_unknown_key_without_a_near_miss_lists_the_allowed_keys(suite: Path) -> None:
    path = write(suite, "x.yaml", HEADER + "turns: [{start: {}}]\nrepeat: {zzz: 1}\n")
    issue = only_issue(path, suite)
    assert issue.hint == "allowed keys: k, min_pass, runs"


# ------------------------------------------------------------------ wrong types and values

WRONG = [
    pytest.param(
        "turns: [{start: {}}]\nrepeat: {runs: many}\n",
        5,
        10,
        "repeat.runs",
        "Input should be a valid integer, unable to parse string as an integer; got 'many'",
        id="integer",
    ),
    pytest.param(
        "turns: hello\n", 4, 1, "turns", "Input should be a valid list; got 'hello'", id="list"
    ),
    pytest.param(
        "turns:\n  - start: {}\n    expect: {status: done}\n",
        6,
        14,
        "turns[0].expect.status",
        "Input should be 'not_started', 'started', 'running', 'failed', 'completed', 'paused', "
        "'waiting_for_user_input', 'cancelled' or 'aborted_looping_risk'; got 'done'",
        id="enum",
    ),
    pytest.param(
        "turns:\n  - start: {}\n    expect: {says: 5}\n",
        6,
        14,
        "turns[0].expect.says",
        "Input should be a mapping; got 5",
        id="shorthand-or-mapping",
    ),
    pytest.param(
        "workflow_id: not-an-id\nturns: [{start: {}}]\n",
        4,
        1,
        "workflow_id",
        "String should have at least 24 characters; got 'not-an-id'",
        id="object-id",
    ),
    pytest.param(
        "turns:\n  - start: {}\n  - simulate: {persona: p, goal: g, max_turns: 0}\n",
        6,
        37,
        "turns[1].simulate.max_turns",
        "Input should be greater than or equal to 1; got 0",
        id="bound",
    ),
    pytest.param(
        "turns:\n  - user: hi\n",
        4,
        1,
        "turns",
        "the first turn must be `start` (or a raw `input`), not `user`; add `- start: {}` first",
        id="first-turn",
    ),
    pytest.param(
        "turns:\n  - start: {}\n  - {user: hi, stop: {}}\n",
        6,
        5,
        "turns[1]",
        "a turn needs exactly one of start, user, input, simulate, pause, resume, stop; got `user`, `stop`",
        id="two-actions",
    ),
    pytest.param(
        "turns:\n  - start: {}\n    expect: {says: {regex: '(unclosed'}}\n",
        6,
        21,
        "turns[0].expect.says.regex",
        "not a valid regular expression: missing ), unterminated subpattern at position 0",
        id="regex",
    ),
    pytest.param(
        "turns:\n  - start: {}\n    expect: {values: [{select: 'events[x]', equals: 1}]}\n",
        6,
        24,
        "turns[0].expect.values[0].select",
        "expected `[<integer>]` or `['<key>']` at column 7 of selector 'events[x]'",
        id="selector",
    ),
    pytest.param(
        "turns:\n  - start: {}\n    expect: {json_schema: {schema: {type: objekt}}}\n",
        6,
        28,
        "turns[0].expect.json_schema.schema",
        "not a valid JSON Schema: 'objekt' is not valid under any of the given schemas",
        id="json-schema",
    ),
    pytest.param(
        "turns: [{start: {}}]\nmocks: {tools: {t: {returns: 1, raises: boom}}}\n",
        5,
        17,
        "mocks.tools.t",
        "give `returns` or `raises`, not both",
        id="mock",
    ),
]


@pytest.mark.parametrize(("body", "line", "column", "key", "message"), WRONG)
def test_a_wrong_type_or_value_names_file_line_key_and_what_was_got(
    suite: Path, body: str, line: int, column: int, key: str, message: str
) -> None:
    path = write(suite, "wrong.yaml", HEADER + body)
    issue = only_issue(path, suite)
    assert (issue.file, issue.line, issue.column, issue.key, issue.message) == (
        str(path),
        line,
        column,
        key,
        message,
    )


def test_an_enum_typo_gets_a_suggestion(suite: Path) -> None:
    path = write(
        suite, "x.yaml", HEADER + "turns:\n  - start: {}\n    expect: {status: complted}\n"
    )
    assert only_issue(path, suite).hint == "did you mean `completed`?"


def test_an_unsupported_version_says_how_to_fix_it(suite: Path) -> None:
    path = write(
        suite, "v.yaml", HEADER.replace("version: 1", "version: 2") + "turns: [{start: {}}]\n"
    )
    issue = only_issue(path, suite)
    assert (issue.line, issue.key) == (1, "version")
    assert "this harness reads version 1: upgrade harness or write `version: 1`" in issue.message


def test_missing_keys_are_reported_at_the_top_of_the_file(suite: Path) -> None:
    path = write(suite, "m.yaml", "version: 1\nworkflow: workflows/clinic.json\n")
    issues = validate_paths([path], root=suite)
    assert [(i.line, i.key, i.message) for i in issues] == [
        (1, None, "missing required key `name`"),
        (1, None, "missing required key `turns`"),
    ]


def test_every_problem_of_a_file_is_listed(suite: Path) -> None:
    path = write(
        suite,
        "many.yaml",
        HEADER + "tagz: [a]\nturns:\n  - start: {}\n    expect: {sayz: hi, node: 3}\n  - usr: x\n",
    )
    issues = validate_paths([path], root=suite)
    assert [(i.line, i.key) for i in issues] == [
        (4, "tagz"),
        (7, "turns[0].expect.sayz"),
        (7, "turns[0].expect.node"),
        (8, "turns[1].usr"),
    ]


# ------------------------------------------------------------------ bad YAML

BAD_YAML = [
    pytest.param(
        "name: [unclosed\nturns: []\n",
        2,
        6,
        "invalid YAML: did not find expected ',' or ']'",
        id="flow",
    ),
    pytest.param("name: a\nname: b\n", 2, 1, "duplicate key `name`", id="duplicate-key"),
    pytest.param(
        "name: a\n\tturns: []\n",
        2,
        1,
        "invalid YAML: found a tab character that violates indentation",
        id="tab",
    ),
    pytest.param(
        "turns:\n  - start: {}\n   - user: x\n",
        3,
        4,
        "invalid YAML: did not find expected '-' indicator",
        id="indent",
    ),
    pytest.param(
        "- start: {}\n", 1, 1, "a scenario file must be a mapping of keys, got a list", id="list"
    ),
    pytest.param(
        "", 1, 1, "a scenario file must be a mapping of keys, got an empty file", id="empty"
    ),
    pytest.param(
        "name: !!binary aGk=\n",
        1,
        7,
        "unsupported YAML tag tag:yaml.org,2002:binary; use plain values",
        id="tag",
    ),
]


@pytest.mark.parametrize(("text", "line", "column", "message"), BAD_YAML)
def test_bad_yaml_names_file_and_line(
    suite: Path, text: str, line: int, column: int, message: str
) -> None:
    path = write(suite, "bad.yaml", text)
    issue = only_issue(path, suite)
    assert (issue.file, issue.line, issue.column) == (str(path), line, column)
    assert issue.message.startswith(message), issue.message


# ------------------------------------------------------------------ missing files


def test_a_missing_workflow_file_is_reported_with_the_nearest_name(suite: Path) -> None:
    path = write(
        suite, "w.yaml", HEADER.replace("clinic.json", "clinc.json") + "turns: [{start: {}}]\n"
    )
    issue = only_issue(path, suite)
    assert (issue.line, issue.column, issue.key) == (3, 1, "workflow")
    assert (
        issue.message
        == f"file `workflows/clinc.json` not found (looked for {suite / 'workflows' / 'clinc.json'})"
    )
    assert issue.hint == "did you mean `clinic.json`?"


def test_a_missing_evaluator_workflow_file_is_reported(suite: Path) -> None:
    path = write(
        suite,
        "e.yaml",
        HEADER + "turns: [{start: {}}]\nevaluation:\n  workflow: workflows/judge.json\n",
    )
    issue = only_issue(path, suite)
    assert (issue.line, issue.key) == (6, "evaluation.workflow")


def test_a_missing_path_argument_is_an_issue(suite: Path) -> None:
    write(suite, "clinic/a.yaml", HEADER + "turns: [{start: {}}]\n")
    [issue] = validate_paths([suite / "clinik"], root=suite)
    assert (issue.file, issue.message, issue.hint) == (
        str(suite / "clinik"),
        "no such file or folder",
        "did you mean `clinic`?",
    )
    with pytest.raises(ScenarioLoadError):
        discover_scenario_files([suite / "clinik"])


def test_validate_reports_problems_inside_the_workflow_files(suite: Path) -> None:
    (suite / "workflows" / "broken.json").write_text(
        '{"workflow_config": {"name": "x"},\n "node_configs": [}'
    )
    (suite / "workflows" / "wrong.json").write_text(
        json.dumps({"node_configs": [{"type": "say_llm", "logical_id": 5}]}, indent=1)
    )
    write(suite, "a.yaml", HEADER.replace("clinic", "broken") + "turns: [{start: {}}]\n")
    write(suite, "b.yaml", HEADER.replace("clinic", "wrong") + "turns: [{start: {}}]\n")
    issues = validate_paths([suite / "a.yaml", suite / "b.yaml"], root=suite)
    assert [(Path(i.file).name, i.line, i.key, i.message) for i in issues] == [
        ("broken.json", 2, None, "invalid JSON: Expecting value"),
        (
            "wrong.json",
            5,
            "node_configs[0].logical_id",
            "not a workflow config: Input should be a valid string; got 5",
        ),
    ]
    with pytest.raises(ScenarioLoadError, match="invalid JSON"):
        load_workflow_file(suite / "workflows" / "broken.json")
    assert (
        load_workflow_file(suite / "workflows" / "clinic.json").node_configs[0].logical_id
        == "greet"
    )


# ------------------------------------------------------------------ defaults


def test_defaults_merge_into_the_folder_and_below_nearest_first(suite: Path) -> None:
    write(
        suite,
        "clinic/_defaults.yaml",
        """\
        workflow: ../workflows/clinic.json
        tags: [clinic]
        dynamic_variables: {clinic: Northside, language: en}
        budgets: {tokens: {max: 3000}}
        """,
    )
    write(
        suite, "clinic/urgent/_defaults.yaml", "tags: [urgent]\ndynamic_variables: {language: es}\n"
    )
    write(
        suite,
        "clinic/urgent/triage.yaml",
        "version: 1\nname: triage\ntags: [smoke, clinic]\ndynamic_variables: {patient: Bo}\nturns: [{start: {}}]\n",
    )
    write(
        suite,
        "other/plain.yaml",
        HEADER.replace("workflows/", "../workflows/") + "turns: [{start: {}}]\n",
    )
    triage, plain = load_scenarios([suite / "clinic", suite / "other"], root=suite)
    assert triage.id == "clinic/urgent/triage"
    assert triage.workflow == str(
        suite / "workflows" / "clinic.json"
    )  # relative to the defaults file
    assert triage.tags == ["clinic", "urgent", "smoke"]
    assert triage.dynamic_variables == {"clinic": "Northside", "language": "es", "patient": "Bo"}
    assert triage.budgets is not None and triage.budgets.tokens is not None
    assert triage.source is not None and [
        Path(f).parent.name for f in triage.source.defaults_files
    ] == [
        "clinic",
        "urgent",
    ]
    assert plain.tags == [] and plain.budgets is None


def test_a_file_reference_is_relative_to_the_nearest_file_that_sets_it(suite: Path) -> None:
    (suite / "clinic" / "flows").mkdir(parents=True)
    (suite / "clinic" / "flows" / "own.json").write_text(json.dumps(WORKFLOW))
    (suite / "workflows" / "judge.json").write_text(json.dumps(WORKFLOW))
    write(
        suite,
        "_defaults.yaml",
        "workflow: workflows/clinic.json\nevaluation: {workflow: workflows/judge.json}\n",
    )
    write(
        suite,
        "clinic/own.yaml",
        "version: 1\nname: own\nworkflow: flows/own.json\nevaluation: {}\nturns: [{start: {}}]\n",
    )
    write(suite, "clinic/inherits.yaml", "version: 1\nname: inherits\nturns: [{start: {}}]\n")
    inherits, own = load_scenarios([suite / "clinic"], root=suite)
    assert own.workflow == str(suite / "clinic" / "flows" / "own.json")  # the scenario's own
    assert own.evaluation is not None
    assert own.evaluation.workflow == str(suite / "workflows" / "judge.json")  # the defaults'
    assert inherits.workflow == str(suite / "workflows" / "clinic.json")


def test_a_problem_in_a_defaults_file_points_into_that_file(suite: Path) -> None:
    defaults = write(suite, "_defaults.yaml", "tags: [x]\nrepeat: {runz: 2}\nturns: []\n")
    write(suite, "a.yaml", HEADER + "turns: [{start: {}}]\n")
    write(suite, "b.yaml", HEADER + "turns: [{start: {}}]\n")
    issues = validate_paths([suite], root=suite)
    assert [(i.file, i.line, i.column, i.key, i.message) for i in issues] == [
        (str(defaults), 2, 10, "repeat.runz", "unknown key `runz`"),
        (str(defaults), 3, 1, "turns", "`turns` cannot be set in _defaults.yaml"),
    ]


def test_a_file_loader_gives_each_file_what_load_scenario_file_gives(suite: Path) -> None:
    # One loader, files one at a time (the pytest plugin's collection): the folder's defaults
    # are looked up once, yet each file gets them, and each file of a folder whose defaults
    # have a problem reports it, as a loader per file does.
    write(suite, "clinic/_defaults.yaml", "workflow: ../workflows/clinic.json\ntags: [clinic]\n")
    files = [
        write(suite, f"clinic/{name}.yaml", f"version: 1\nname: {name}\nturns: [{{start: {{}}}}]\n")
        for name in ("a", "b")
    ]
    write(suite, "broken/_defaults.yaml", "repeat: {runz: 2}\n")
    broken = [write(suite, f"broken/{n}.yaml", HEADER + "turns: [{start: {}}]\n") for n in "cd"]
    loader = ScenarioFileLoader(suite)

    for file in files:
        assert loader.load(file) == load_scenario_file(file, root=suite)
        assert loader.load(file)[0].tags == ["clinic"]
    for file in broken:
        with pytest.raises(ScenarioLoadError) as shared:
            loader.load(file)
        with pytest.raises(ScenarioLoadError) as alone:
            load_scenario_file(file, root=suite)
        assert shared.value.issues == alone.value.issues
        assert "repeat.runz" in [i.key for i in shared.value.issues]


# ------------------------------------------------------------------ matrix


def test_a_matrix_expands_into_one_scenario_per_combination(suite: Path) -> None:
    path = write(
        suite,
        "greets.scenario.yaml",
        HEADER.replace("books a follow-up visit", "greets ${patient}")
        + """\
matrix:
  patient: [Ana Ruiz, Bo Chen]
  slots: [1, 3]
turns:
  - start: {}
    expect:
      says: {contains: "${patient}"}
      values: [{select: runtime_variables.count, equals: "${slots}"}]
""",
    )
    scenarios = load_scenarios([path], root=suite)
    assert [s.id for s in scenarios] == [
        "greets[patient=Ana_Ruiz,slots=1]",
        "greets[patient=Ana_Ruiz,slots=3]",
        "greets[patient=Bo_Chen,slots=1]",
        "greets[patient=Bo_Chen,slots=3]",
    ]
    last = scenarios[-1]
    assert last.name == "greets Bo Chen"
    assert last.dynamic_variables == {"patient": "Bo Chen", "slots": 3}
    expect = last.turns[0].expect
    assert expect is not None and expect.says is not None and expect.values is not None
    assert expect.says.contains == ["Bo Chen"]
    assert expect.values[0].equals == 3  # a whole-string placeholder keeps the value's type
    assert last.source is not None and last.source.parameters == {"patient": "Bo Chen", "slots": 3}
    assert last.matrix is None


def test_a_matrix_may_list_its_combinations(suite: Path) -> None:
    path = write(
        suite,
        "langs.yaml",
        HEADER
        + "id: greet-lang\nmatrix:\n  - {lang: en, hello: Hello}\n  - {lang: es, hello: Hola}\n"
        "turns:\n  - start: {}\n    expect: {says: {contains: '${hello}, $${literal}'}}\n",
    )
    scenarios = load_scenarios([path], root=suite)
    assert [s.id for s in scenarios] == [
        "greet-lang[lang=en,hello=Hello]",
        "greet-lang[lang=es,hello=Hola]",
    ]
    expect = scenarios[1].turns[0].expect
    assert expect is not None and expect.says is not None
    assert expect.says.contains == ["Hola, ${literal}"]


def test_an_unknown_matrix_variable_is_reported_where_it_is_used(suite: Path) -> None:
    path = write(
        suite,
        "m.yaml",
        HEADER + "matrix: {patient: [Ana]}\nturns:\n  - start: {}\n  - user: hi ${patient_name}\n",
    )
    issue = only_issue(path, suite)
    assert (issue.line, issue.column, issue.key) == (7, 5, "turns[1].user")
    assert (issue.message, issue.hint) == (
        "unknown matrix variable `${patient_name}`",
        "did you mean `patient`?",
    )


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        pytest.param("{lang: en}", "give a non-empty list of values", id="not-a-list"),
        pytest.param("{lang: []}", "give a non-empty list of values", id="empty"),
        pytest.param(
            "[{a: 1}, {b: 2}]", "every combination must set the same variables", id="uneven"
        ),
        pytest.param(
            "plain",
            "`matrix` must map variables to lists of values, or list combinations",
            id="scalar",
        ),
    ],
)
def test_a_malformed_matrix_is_reported(suite: Path, matrix: str, message: str) -> None:
    path = write(suite, "m.yaml", HEADER + f"matrix: {matrix}\nturns: [{{start: {{}}}}]\n")
    issue = only_issue(path, suite)
    assert issue.message == message and issue.line == 4


def test_duplicate_ids_are_reported(suite: Path) -> None:
    write(suite, "a.yaml", HEADER + "id: same\nturns: [{start: {}}]\n")
    write(suite, "b.yaml", HEADER + "id: same\nturns: [{start: {}}]\n")
    [issue] = validate_paths([suite], root=suite)
    assert issue.message == f"duplicate scenario id `same` (also in {suite / 'a.yaml'})"


# ------------------------------------------------------------------ discovery and reporting


def test_discovery_skips_workflows_defaults_hidden_folders_and_other_files(suite: Path) -> None:
    for name in [
        "b.yaml",
        "a.scenario.yml",
        "sub/c.yaml",
        "_defaults.yaml",
        ".hidden/x.yaml",
        "notes.md",
    ]:
        write(suite, name, "name: x\n")
    (suite / "workflows" / "w.yaml").write_text("x: 1\n")
    (suite / "cassettes").mkdir()
    (suite / "cassettes" / "c.yaml").write_text("x: 1\n")
    found = discover_scenario_files([suite])
    assert [p.relative_to(suite).as_posix() for p in found] == [
        "a.scenario.yml",
        "b.yaml",
        "sub/c.yaml",
    ]
    assert discover_scenario_files([suite / "b.yaml", suite]) == [
        suite / "b.yaml",
        *found[:1],
        *found[2:],
    ]


def test_load_scenarios_raises_every_issue_at_once(suite: Path) -> None:
    write(suite, "a.yaml", HEADER + "turns: [{start: {}, expct: {}}]\n")
    write(suite, "b.yaml", "name: [\n")
    with pytest.raises(ScenarioLoadError) as caught:
        load_scenarios([suite], root=suite)
    assert [(Path(i.file).name, i.line) for i in caught.value.issues] == [
        ("a.yaml", 4),
        ("b.yaml", 2),
    ]
    assert "harness validate" in str(caught.value)


def test_format_issues_prints_file_line_column_key_message_and_hint(suite: Path) -> None:
    issues = [
        ScenarioIssue(
            "s/b.yaml", 7, 5, "turns[1].usr", "unknown key `usr`", "did you mean `user`?"
        ),
        ScenarioIssue("s/a.yaml", None, None, None, "no such file or folder"),
    ]
    assert format_issues(issues) == (
        "s/a.yaml: no such file or folder\n"
        "s/b.yaml:7:5: `turns[1].usr`: unknown key `usr`\n"
        "  hint: did you mean `user`?\n"
        "2 problem(s) in 2 file(s)"
    )
    assert format_issues([]) == "no problems found"


def test_ids_are_relative_to_the_root_and_files_outside_it_use_their_name(
    suite: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    inside = write(
        suite,
        "clinic/refill.scenario.yaml",
        HEADER.replace("workflows/", "../workflows/") + "turns: [{start: {}}]\n",
    )
    [scenario] = load_scenarios([inside], root=suite)
    assert scenario.id == "clinic/refill"
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    [outside] = load_scenarios([inside], root=elsewhere)
    assert outside.id == "refill"


def test_scenarios_built_in_code_need_no_loader() -> None:
    scenario = Scenario.model_validate(
        {"name": "n", "workflow_id": "65a1b2c3d4e5f60718293a4b", "turns": [{"start": {}}]}
    )
    assert scenario.source is None and scenario.id is None


def test_the_example_at_the_top_of_the_reference_loads(suite: Path) -> None:
    reference = Path(__file__).parents[1] / "docs" / "scenarios.md"
    example = reference.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    (suite / "workflows" / "clinic_scheduler.json").write_text(json.dumps(WORKFLOW))
    path = write(suite, "example.yaml", example)
    assert validate_paths([path], root=suite) == []


def test_validate_reports_the_engine_graph_problems_of_a_workflow_file(suite: Path) -> None:
    graph = {"node_configs": [{"type": "say_llm", "logical_id": "greet"}], "edge_configs": []}
    (suite / "workflows" / "nostart.json").write_text(json.dumps(graph))
    path = write(suite, "g.yaml", HEADER.replace("clinic", "nostart") + "turns: [{start: {}}]\n")
    issue = only_issue(path, suite)
    assert (Path(issue.file).name, issue.line) == ("nostart.json", None)
    assert issue.message.startswith("no start node")


def test_the_top_level_keys_are_those_of_the_json_schema() -> None:
    """Defaults files check their keys against the scenario's top-level fields, read from the
    model rather than from the JSON Schema (building it costs ~40 ms of start-up): the same set."""
    from harness.models.scenario import scenario_json_schema
    from harness.scenarios._issues import allowed_keys

    assert allowed_keys(()) == set(scenario_json_schema()["properties"])
