"""Property-based fuzzing of every loader of user input (issue 14).

Targets: the scenario loader (`validate` on a scenario file), the workflow-file loader
(`load_workflow_file` and the strict check), the expression parser and evaluator, and the cassette
loader. Inputs mix four kinds: structured documents with random values, the same documents with
random text spliced in, random text over the format's own punctuation, and the attack shapes of
issue 14 with random sizes (aliases, merges, nesting, long numbers, tags, regexes, matrices).

The property: every input ends in success or in the target's documented error (a scenario issue
with file:line, `ScenarioLoadError`, `ExpressionError`, `CassetteFormatError`), never another
exception, within 2 s, and the process's RSS grows by less than 300 MB over the whole run. A
scenario issue from the loaders' safety net ("this is a bug in harness") fails the test too.
Counts: conftest.py (`HARNESS_FUZZ_EXAMPLES`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzz_budget import FUZZ_SETTINGS, Budget
from hypothesis import given
from hypothesis import strategies as st

from harness.engine._expression_syntax import ExpressionError
from harness.engine.expressions import parse_expression
from harness.recording import CassetteFormatError, load_cassette
from harness.scenarios import ScenarioLoadError, load_workflow_file, validate

DATA = Path(__file__).parents[1] / "data" / "workflows"
BASE_WORKFLOW = (DATA / "two_node_say_static.json").read_text()
SAFETY_NET = "this is a bug in harness"
pytestmark = pytest.mark.fuzz

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
KEYS = st.sampled_from(
    [
        "version", "name", "id", "workflow", "turns", "expect", "matrix", "dynamic_variables",
        "runtime_variables", "tags", "mocks", "budgets", "repeat", "evaluation", "skip", "start",
        "user", "says", "regex", "contains", "json_schema", "schema", "$schema", "node", "path",
        "status", "output", "values", "simulate", "persona", "goal", "max_turns", "type", "<<",
    ]
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS | TEXT, inner, max_size=4),
    max_leaves=25,
)
YAML_PUNCTUATION = st.text(
    st.sampled_from(list("{}[]&*!<>:-,|'\"#%@`?\n \t0123456789abcxyz.eE+_$\\")), max_size=120
)


def splice(text: str, insert: str, at: int) -> str:
    position = at % (len(text) + 1)
    return text[:position] + insert + text[position:]


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


# ------------------------------------------------------------------ attack shapes


@st.composite
def alias_bomb(draw: st.DrawFn) -> str:
    levels, width = draw(st.integers(1, 14)), draw(st.integers(1, 12))
    lines = ["l0: &l0 [lol]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@st.composite
def merge_chain(draw: st.DrawFn) -> str:
    count, fan = draw(st.integers(1, 40)), draw(st.integers(1, 4))
    lines = ["m0: &m0 {k: 1}"]
    for i in range(1, count):
        sources = ", ".join([f"*m{i - 1}"] * fan)
        lines.append(f"m{i}: &m{i} {{<<: [{sources}], k{i}: 1}}")
    return "\n".join(lines) + "\n"


@st.composite
def nesting(draw: st.DrawFn) -> str:
    depth = draw(st.integers(1, 3000))
    opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}"), ("[{a: ", "}]")]))
    return f"dynamic_variables: {{v: {opener * depth}1{closer * depth}}}\n"


@st.composite
def number(draw: st.DrawFn) -> str:
    digits = "9" * draw(st.integers(1, 6000))
    shape = draw(st.sampled_from(["{}", "-{}", "0x{}", "0o{}", "1.{}", "{}e5", "1e{}"]))
    tag = draw(st.sampled_from(["", "!!int ", "!!float ", "!!str ", "!!binary ", "!!bool "]))
    return f"max_turns: {tag}{shape.format(digits)}\n"


@st.composite
def tagged(draw: st.DrawFn) -> str:
    tag = draw(
        st.sampled_from(
            ["!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq", "!!set", "!!omap",
             "!!timestamp", "!!binary", "!!python/object:os.system", "!custom", "!!str"]
        )
    )  # fmt: skip
    value = draw(st.sampled_from(["x", "1", "", "[1]", "{a: 1}", "2001-12-14", "~", "0x1G"]))
    return f"name: {tag} {value}\n"


@st.composite
def regex(draw: st.DrawFn) -> str:
    pattern = draw(
        st.text(st.sampled_from(list("()[]{}*+?|\\^$.,0123456789ax-:<>=!P")), max_size=80)
    )
    repeat = draw(st.sampled_from(["", "{99999999999}", "{1,4294967296}", "(" * 200 + ")" * 200]))
    return "expect:\n  says:\n    regex: " + json.dumps(pattern + repeat) + "\n"


@st.composite
def matrix(draw: st.DrawFn) -> str:
    variables, values = draw(st.integers(1, 20)), draw(st.integers(1, 12))
    listed = ", ".join(str(v) for v in range(values))
    return "matrix: {" + ", ".join(f"v{i}: [{listed}]" for i in range(variables)) + "}\n"


@st.composite
def json_schema(draw: st.DrawFn) -> str:
    schema = draw(
        st.dictionaries(KEYS | st.sampled_from(["$schema", "$ref", "type"]), JSON, max_size=4)
    )
    return "expect:\n  json_schema:\n    schema: " + json.dumps(schema) + "\n"


def file_name() -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(list("ab./_-\\~")), min_size=1, max_size=400)


ATTACKS = st.one_of(
    alias_bomb(), merge_chain(), nesting(), number(), tagged(), regex(), matrix(), json_schema()
)


# ------------------------------------------------------------------ scenario loader


@st.composite
def scenario_text(draw: st.DrawFn) -> str:
    workflow = str(DATA / "two_node_say_static.json")
    base: dict[str, Any] = {"version": 1, "name": "fuzz", "workflow": workflow}
    base["turns"] = draw(
        st.lists(st.dictionaries(KEYS, JSON, max_size=3), max_size=3).map(
            lambda turns: [{"start": {}}, *turns]
        )
    )
    base.update(draw(st.dictionaries(KEYS, JSON, max_size=3)))
    kind = draw(st.sampled_from(["structured", "spliced", "punctuation", "attack", "file"]))
    if kind == "structured":
        return dump(base)
    if kind == "spliced":
        return splice(dump(base), draw(YAML_PUNCTUATION | ATTACKS), draw(st.integers(0, 10_000)))
    if kind == "punctuation":
        return draw(YAML_PUNCTUATION)
    if kind == "file":
        return dump({**base, "workflow": draw(file_name())})
    return dump(base) + draw(ATTACKS)


@FUZZ_SETTINGS
@given(text=scenario_text())
def test_scenario_loader(tmp_path_factory: Any, budget: Budget, text: str) -> None:
    folder = tmp_path_factory.mktemp("s", numbered=True)
    path = folder / "fuzz.scenario.yaml"
    path.write_text(text, encoding="utf-8")

    def load() -> str:
        issues = validate([path], root=folder).issues
        assert not any(SAFETY_NET in (i.hint or "") for i in issues), issues
        return "issues" if issues else "ok"

    budget.run(load, text)


# ------------------------------------------------------------------ workflow-file loader


@st.composite
def workflow_text(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["values", "spliced", "json", "attack"]))
    config = json.loads(BASE_WORKFLOW)
    if kind == "values":
        target = draw(st.sampled_from([config, *config.get("nodes", []), *config.get("edges", [])]))
        target.update(draw(st.dictionaries(KEYS | TEXT, JSON, min_size=1, max_size=3)))
        return json.dumps(config)
    if kind == "spliced":
        insert = draw(
            st.text(st.sampled_from(list('{}[]",:0123456789.eE-+ntrufalse\\')), max_size=40)
        )
        return splice(BASE_WORKFLOW, insert, draw(st.integers(0, 10_000)))
    if kind == "json":
        return json.dumps(draw(JSON))
    depth = draw(st.integers(1, 5000))
    digits = "9" * draw(st.integers(1, 6000))
    return draw(
        st.sampled_from(
            [
                '{"nodes": ' + "[" * depth + "]" * depth + "}",
                '{"edges": [], "nodes": [], "version": ' + digits + "}",
                '{"a": 1.' + digits + "}",
                '{"a": NaN, "b": Infinity, "c": -Infinity}',
                '{"a": "\\ud800"}',
            ]
        )
    )


@FUZZ_SETTINGS
@given(text=workflow_text(), suffix=st.sampled_from([".json", ".yaml"]))
def test_workflow_file_loader(
    tmp_path_factory: Any, budget: Budget, text: str, suffix: str
) -> None:
    folder = tmp_path_factory.mktemp("w", numbered=True) / "workflows"
    folder.mkdir()
    path = folder / f"wf{suffix}"
    path.write_text(text, encoding="utf-8")

    def load() -> str:
        try:
            load_workflow_file(path)
            outcome = "ok"
        except ScenarioLoadError as exc:
            assert SAFETY_NET not in str(exc), str(exc)
            outcome = "error"
        issues = validate([path]).issues
        assert not any(SAFETY_NET in (i.hint or "") for i in issues), issues
        return outcome

    budget.run(load, text)


# ------------------------------------------------------------------ expressions

TOKENS = st.sampled_from(
    [
        "(", ")", "AND", "OR", "NOT", "and", "not", "==", "!=", "<", "<=", ">", ">=", "-", ",",
        "'a'", '"x"', "'{{a}} and [[b]]'", "1", "-2.5", "1e308", "9" * 45, "0", "true", "null",
        "False", "[[a]]", "{{a}}", "[[slots.²]]", "[[a.b[0]]]", "[[a[99999999999999999999]]]",
        "[[a | upcase]]", "[[a | slice: 1, 2]]", "[[a | default: 'x']]", "[[a | divided_by: 0]]",
        "[[a | times: 1e308 | times: 1e308]]", "[[a | split: '' | join: ', ']]", "[[ a ]]",
        "[[a | date: '%Y']]", "[[a | truncate: 99999999999]]", "[[a | round: 400]]", "[[",
        "]]", "{{", "}}", "isPresent(", "isEmpty(", "isNonEmpty(", "isAbsent(", "unknown(", "x",
        "a.b", "'", '"', "\\", "&&", "||", "=", "!", "²", "\u0660", "\x00",
    ]
)  # fmt: skip
FILTER_NAMES = st.sampled_from(
    [
        "abs", "append", "at_least", "at_most", "capitalize", "ceil", "compact", "concat", "date",
        "default", "divided_by", "downcase", "escape", "first", "floor", "join", "last", "map",
        "minus", "modulo", "plus", "prepend", "remove", "replace", "reverse", "round", "size",
        "slice", "sort", "split", "strip", "times", "truncate", "uniq", "upcase", "where", "sum",
        "nope",
    ]
)  # fmt: skip


OPERANDS = st.sampled_from(
    [
        "1", "-2.5", "'a'", "true", "null", "[[a]]", "{{a}}", "[[a.b]]", "[[slots.²]]", "x",
        "[[a | size]]", "[[a | default: 0]]", "'{{a}}-[[b]]'", "[[a[0]]]", "1e308", "[[b | first]]",
    ]
)  # fmt: skip
COMPARISON = st.tuples(OPERANDS, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), OPERANDS)
FUNCTION = st.sampled_from(["isPresent", "isAbsent", "isEmpty", "isNonEmpty"])
VALID: st.SearchStrategy[str] = st.deferred(
    lambda: (
        OPERANDS
        | COMPARISON.map(" ".join)
        | st.tuples(VALID, st.sampled_from(["AND", "OR"]), VALID).map(" ".join)
        | VALID.map(lambda e: f"NOT ({e})")
        | st.tuples(FUNCTION, VALID).map(lambda pair: f"{pair[0]}({pair[1]})")
    )
)


@st.composite
def expression_text(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["valid", "valid", "tokens", "filters", "text", "deep"]))
    if kind == "valid":
        return draw(VALID)
    if kind == "tokens":
        return " ".join(draw(st.lists(TOKENS, max_size=30)))
    if kind == "filters":
        chain = draw(st.lists(st.tuples(FILTER_NAMES, st.lists(TOKENS, max_size=2)), max_size=25))
        parts = [name + (": " + ", ".join(args) if args else "") for name, args in chain]
        operator = draw(st.sampled_from(["==", ">", "!="]))
        return f"[[a | {' | '.join(parts)}]] {operator} {draw(TOKENS)}"
    if kind == "text":
        return draw(st.text(max_size=200))
    depth = draw(st.integers(1, 3000))
    opener, closer = draw(st.sampled_from([("(", ")"), ("NOT ", ""), ("isPresent(", ")")]))
    return opener * depth + draw(TOKENS) + closer * depth


VARIABLES = st.dictionaries(st.sampled_from(["a", "b", "x", "slots", "²"]) | TEXT, JSON, max_size=4)


@FUZZ_SETTINGS
@given(text=expression_text(), dynamic=VARIABLES, runtime=VARIABLES)
def test_expression_parser_and_evaluator(
    budget: Budget, text: str, dynamic: dict[str, Any], runtime: dict[str, Any]
) -> None:
    def evaluate() -> str:
        try:
            expression = parse_expression(text)
        except ExpressionError:
            return "parse error"
        assert expression.evaluate(dynamic, runtime) in (True, False)  # evaluation never raises
        return "evaluated"

    budget.run(evaluate, text)


# ------------------------------------------------------------------ cassette loader


def interaction(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "request": {
            "method": values.get("method", "POST"),
            "uri": values.get("uri", "http://a.test/v1/chat/completions"),
            "body": values.get("body", "{}"),
            "headers": values.get("headers", {"content-type": ["application/json"]}),
        },
        "response": {
            "status": {"code": values.get("code", 200), "message": values.get("message", "OK")},
            "headers": values.get("response_headers", {}),
            "body": {"string": values.get("string", "{}")},
        },
    }


FIELDS = st.sampled_from(
    ["method", "uri", "body", "headers", "code", "message", "response_headers", "string"]
)
FIELD_VALUES = JSON | st.sampled_from(
    [
        "http://[x/", "http://a:port/", "ftp://a/", "", "http://", "nan", float("inf"),
        float("nan"), 10**400, -1, 99, 600, True, "x" * 10_000,
    ]
)  # fmt: skip


@st.composite
def cassette_text(draw: st.DrawFn) -> tuple[str, str]:
    suffix = draw(st.sampled_from([".json", ".yaml"]))
    fields = draw(st.lists(st.dictionaries(FIELDS, FIELD_VALUES, max_size=3), max_size=3))
    document: Any = {"version": 1, "interactions": [interaction(f) for f in fields]}
    kind = draw(st.sampled_from(["structured", "spliced", "attack", "json"]))
    if kind == "json":
        document = draw(JSON)
    try:
        text = json.dumps(document) if suffix == ".json" else dump(document)
    except (ValueError, OverflowError):  # a value the writer itself refuses: send text instead
        text = repr(document)
    if kind == "spliced":
        punctuation = (
            YAML_PUNCTUATION
            if suffix == ".yaml"
            else st.text(
                st.sampled_from(list('{}[]",:0123456789.eE-+ntrufalseInityNa\\')), max_size=40
            )
        )
        text = splice(text, draw(punctuation), draw(st.integers(0, 10_000)))
    if kind == "attack":
        depth = draw(st.integers(1, 5000))
        text = draw(
            st.sampled_from(
                [
                    text.replace('"{}"', "[" * depth + "]" * depth, 1),
                    text.replace("200", "Infinity", 1),
                    text.replace("200", "9" * depth, 1),
                    draw(alias_bomb()) + "version: 1\ninteractions: []\n",
                    draw(merge_chain()) + "version: 1\ninteractions: []\n",
                    "version: 1\ninteractions: &i [*i]\n",
                ]
            )
        )
    return text, suffix


@FUZZ_SETTINGS
@given(case=cassette_text())
def test_cassette_loader(tmp_path_factory: Any, budget: Budget, case: tuple[str, str]) -> None:
    text, suffix = case
    path = tmp_path_factory.mktemp("c", numbered=True) / f"cassette{suffix}"
    path.write_text(text, encoding="utf-8")

    def load() -> str:
        try:
            load_cassette(path)
        except CassetteFormatError as exc:
            assert str(path) in str(exc) and exc.hint
            return "error"
        return "ok"

    budget.run(load, case)
