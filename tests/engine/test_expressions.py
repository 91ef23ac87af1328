"""The condition-expression language: operators, functions, precedence, typing rules, errors."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import conditional, say_static, workflow

from harness.engine._references import (
    PLACEHOLDER_PATTERN,
    ParsedPath,
    parse_reference,
    template_reference,
)
from harness.engine.expressions import (
    BoolOp,
    Call,
    Compare,
    Constant,
    Expression,
    ExpressionError,
    Not,
    Reference,
    Template,
    evaluate_expression,
    is_truthy,
    parse_expression,
    values_equal,
)
from harness.engine.graph import validate_graph
from harness.engine.variables import ABSENT, substitute
from harness.errors import EngineError

DYNAMIC: dict[str, Any] = {
    "name": "Ana",
    "age": 42,
    "age_text": "42",
    "shared": "from dynamic",
    "patient": {"id": 7, "tags": ["vip"]},
    "date": "2026-11-29",
}
RUNTIME: dict[str, Any] = {
    "slot": "09:30",
    "count": 3,
    "ratio": 0.5,
    "flag": True,
    "off": False,
    "flag_text": "TRUE",
    "nothing": None,
    "blank": "   ",
    "empty_list": [],
    "empty_dict": {},
    "items": [1, 2],
    "obj": {"a": 1},
    "shared": "from runtime",
    "zero": 0,
    "name_copy": "Ana",
}


def holds(text: str) -> bool:
    return evaluate_expression(text, DYNAMIC, RUNTIME)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # == and != on each type
        ("{{name}} == 'Ana'", True),
        ("{{name}} == 'ana'", False),
        ("{{name}} != 'Bob'", True),
        ("[[count]] == 3", True),
        ("[[count]] == 3.0", True),
        ("[[ratio]] == 0.5", True),
        ("[[flag]] == true", True),
        ("[[off]] == false", True),
        ("[[nothing]] == null", True),
        ("[[items]] == [[items]]", True),
        ("[[obj]] != [[items]]", True),
        ("{{name}} == [[name_copy]]", True),
        # ordering
        ("[[count]] < 4", True),
        ("[[count]] <= 3", True),
        ("[[count]] > 3", False),
        ("[[count]] >= 3", True),
        ("-1 < [[zero]]", True),
        ("[[ratio]] > -0.5", True),
        ("1e2 == 100", True),
        ("'abc' < 'abd'", True),
        ("{{date}} >= '2026-01-01'", True),
        # logic
        ("[[flag]] AND [[count]] == 3", True),
        ("[[flag]] AND [[off]]", False),
        ("[[off]] OR [[flag]]", True),
        ("[[off]] OR [[zero]]", False),
        ("NOT [[off]]", True),
        ("NOT NOT [[flag]]", True),
        ("[[flag]] and [[count]] == 3 or [[off]]", True),
        ("true", True),
        ("false", False),
        ("null", False),
        # functions
        ("isPresent([[slot]])", True),
        ("isPresent([[missing]])", False),
        ("isPresent([[nothing]])", False),
        ("isPresent([[off]])", True),
        ("isAbsent([[missing]])", True),
        ("isAbsent([[nothing]])", True),
        ("isAbsent({{name}})", False),
        ("isEmpty([[blank]])", True),
        ("isEmpty([[empty_list]])", True),
        ("isEmpty([[empty_dict]])", True),
        ("isEmpty([[missing]])", True),
        ("isEmpty([[nothing]])", True),
        ("isEmpty([[zero]])", False),
        ("isEmpty([[slot]])", False),
        ("isNonEmpty([[items]])", True),
        ("isNonEmpty([[blank]])", False),
        ("isNonEmpty('')", False),
        ("ISPRESENT(slot)", True),
        ("isPresent([[count]] == 3)", True),
        # bare names: runtime first, then dynamic
        ("shared == 'from runtime'", True),
        ("name == 'Ana'", True),
        ("patient.id == 7", True),
        ("{{patient.tags.0}} == 'vip'", True),
        ("unknown == 'x'", False),
        # placeholders inside quoted strings are substituted textually
        ("'{{name}} Ruiz' == 'Ana Ruiz'", True),
        ("'[[slot]]' == '09:30'", True),
        ("'at [[ slot ]]' == 'at 09:30'", True),
        ("'[[missing]]' == '[[missing]]'", True),
        ('\'{{patient}}\' == \'{"id": 7, "tags": ["vip"]}\'', True),
        ("\"{{name}}\" == 'Ana'", True),
        ("'it\\'s' == \"it's\"", True),
        # whitespace inside the placeholder brackets
        ("{{ name }} == 'Ana'", True),
        ("[[  count ]] == 3", True),
    ],
)
def test_operators_and_functions(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ABSENT is unequal to everything, itself included, and never ordered
        ("[[missing]] == null", False),
        ("[[missing]] == [[missing]]", False),
        ("[[missing]] != [[missing]]", True),
        ("[[missing]] != 'x'", True),
        ("[[missing]] < 1", False),
        ("[[missing]] >= 1", False),
        ("NOT [[missing]]", True),
        # mismatched types: false for == and ordering, != is its negation
        ("[[count]] == 'three'", False),
        ("[[count]] != 'three'", True),
        ("[[flag]] == 1", False),
        ("[[off]] == 0", False),
        ("[[count]] < 'abc'", False),
        ("[[items]] > 1", False),
        ("[[nothing]] < 1", False),
        ("[[flag]] > false", False),
        ("[[obj]] == 'obj'", False),
        # the documented exceptions: numeric strings vs numbers, 'true'/'false' vs booleans
        ("{{age_text}} == 42", True),
        ("{{age_text}} > 18", True),
        ("18 < {{age_text}}", True),
        ("' 42 ' == 42", True),
        ("[[flag_text]] == true", True),
        ("false == 'False'", True),
        ("'nan' == 'nan'", True),
        ("'nan' < 1", False),
        ("{{age}} == '42'", True),
    ],
)
def test_absent_and_mismatched_types(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # AND binds tighter than OR
        ("true OR false AND false", True),
        ("(true OR false) AND false", False),
        ("false AND false OR true", True),
        ("false AND (false OR true)", False),
        # comparison binds tighter than AND / OR
        ("[[count]] == 3 AND {{name}} == 'Ana'", True),
        ("[[count]] == 4 OR {{name}} == 'Ana'", True),
        # NOT binds tightest: NOT x == y is (NOT x) == y
        ("NOT [[off]] == true", True),
        ("NOT [[count]] == 3", False),  # (NOT 3) == 3 -> false == 3 -> false
        ("NOT ([[count]] == 3)", False),
        ("NOT ([[count]] == 4)", True),
        ("NOT [[off]] AND [[flag]]", True),
        ("NOT ([[off]] OR [[flag]])", False),
        ("((([[flag]])))", True),
        ("(true) == (true)", True),
        ("(1 == 1) == true", True),
    ],
)
def test_precedence_and_parentheses(text: str, expected: bool) -> None:
    assert holds(text) is expected


def test_precedence_shapes_the_tree() -> None:
    root = parse_expression("a OR b AND NOT c == d").root
    assert isinstance(root, BoolOp) and root.op == "OR"
    right = root.operands[1]
    assert isinstance(right, BoolOp) and right.op == "AND"
    comparison = right.operands[1]
    assert isinstance(comparison, Compare) and comparison.op == "=="
    assert isinstance(comparison.left, Not)
    assert comparison.left.operand == Reference("bare", "c", 16)
    assert parse_expression("-2.5").root == Constant(-2.5, 1)
    assert parse_expression("isEmpty('[[a]]')").root == Call("isEmpty", Template("[[a]]", 9), 1)


def test_short_circuit_does_not_evaluate_the_rest() -> None:
    class Exploding(dict[str, Any]):
        def __contains__(self, key: object) -> bool:
            raise AssertionError("evaluated")

    assert evaluate_expression("true OR [[x]]", {}, Exploding()) is True
    assert evaluate_expression("false AND [[x]]", {}, Exploding()) is False


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("", 1, "the expression is empty"),
        ("   ", 1, "the expression is empty"),
        ("a ==", 5, "expected a value after '==', found the end of the expression"),
        ("(a == 1", 8, "expected ')' to close the '(' at column 1"),
        ("a == 1)", 7, "unexpected ')' after a complete expression"),
        ("a = 1", 3, "unexpected character '='; use '==' to compare"),
        ("a && b", 3, "use AND instead of '&&'"),
        ("a || b", 3, "use OR instead of '||'"),
        ("!a", 1, "use NOT, or '!=' for not-equal"),
        ("a == 'abc", 6, "unterminated string: add the closing '"),
        ('a == "abc', 6, 'unterminated string: add the closing "'),
        ("{{name == 1", 1, "malformed variable: write {{name}}"),
        ("[[slot}} == 1", 1, "malformed variable: write [[name]]"),
        ("{{first name}} == 1", 9, "malformed variable {{first name}}: unexpected 'name'"),
        ("a b", 3, "unexpected 'b' after a complete expression; join conditions with AND or OR"),
        ("a == 1 b == 2", 8, "unexpected 'b'"),
        (
            "contains(a)",
            1,
            "unknown function 'contains'; known: isPresent, isAbsent, isEmpty, isNonEmpty",
        ),
        ("isEmpty()", 9, "isEmpty() takes one argument, got none"),
        ("isEmpty(a, b)", 10, "isEmpty() takes one argument, got more"),
        ("isEmpty(a b)", 11, "expected ')' to close isEmpty( at column 1, found 'b'"),
        ("a < b < c", 7, "comparisons cannot be chained; combine them with AND"),
        ("NOT", 4, "expected a value after 'NOT', found the end of the expression"),
        ("a AND", 6, "expected a value after 'AND'"),
        ("OR a", 1, "expected a value, found 'OR'"),
        ("a == == b", 6, "expected a value after '==', found '=='"),
        ("- a", 3, "expected a number after '-', found 'a'"),
        ("()", 2, "expected a value after '(', found ')'"),
        ("a == 1 #", 8, "unexpected character '#'"),
        ("isPresent(a", 12, "expected ')' to close isPresent( at column 1"),
    ],
)
def test_malformed_expressions_name_the_column(text: str, column: int, reason: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    error = info.value
    assert error.column == column
    assert reason in error.reason
    assert f"at column {column}" in str(error)
    # the message shows the expression and a caret under the column
    lines = str(error).splitlines()
    assert lines[1] == f"    {text}"
    assert lines[2] == "    " + " " * (column - 1) + "^"
    assert "docs/engine-expressions.md" in str(error)


def test_expression_error_is_an_engine_error() -> None:
    assert issubclass(ExpressionError, EngineError)
    with pytest.raises(EngineError):
        evaluate_expression("a ==", {}, {})


def test_parse_is_cached_and_immutable() -> None:
    first = parse_expression("[[a]] == 1")
    assert parse_expression("[[a]] == 1") is first
    assert isinstance(first, Expression)
    assert first.evaluate({}, {"a": 1}) is True
    assert first.evaluate({}, {"a": 2}) is False


def test_references_lists_every_variable() -> None:
    expression = parse_expression(
        "isPresent([[a]]) AND ({{b}} == c OR NOT [[d.e]]) AND 'x[[f]]' == 1"
    )
    assert expression.references() == [
        ("runtime", "a"),
        ("dynamic", "b"),
        ("bare", "c"),
        ("runtime", "d.e"),
    ]


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        (ABSENT, False),
        (None, False),
        (False, False),
        (0, False),
        (0.0, False),
        ("", False),
        ("  ", False),
        ([], False),
        ({}, False),
        (True, True),
        (1, True),
        ("false", True),
        ([0], True),
        ({"a": None}, True),
        (object(), True),
    ],
)
def test_truthiness(value: Any, truthy: bool) -> None:
    assert is_truthy(value) is truthy


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        ("1", 1, True),
        ("1.0", 1, True),
        ("x", 1, False),
        (None, None, True),
        (ABSENT, ABSENT, False),
        (ABSENT, None, False),
        ([1, 2], [1, 2], True),
        ({"a": 1}, {"a": 1}, True),
        ("true", True, True),
        ("yes", True, False),
    ],
)
def test_values_equal(left: Any, right: Any, equal: bool) -> None:
    assert values_equal(left, right) is equal
    assert values_equal(right, left) is equal


def test_no_eval_of_python() -> None:
    with pytest.raises(ExpressionError):
        parse_expression("__import__('os').system('true')")
    # a Python-looking name is just an unset variable
    assert evaluate_expression("__import__ == 'x'", {}, {}) is False


# ------------------------------------------------------------------ Liquid references in conditions

LIQUID_RUNTIME: dict[str, Any] = {
    "patient_assessment_result": {"urgency_level": "emergency", "symptoms": ["pain", "fever"]},
    "items": [{"name": "A"}, {"name": "B"}],
    "result": {"key": "v"},
    "thread_labpoll.lab_attempts": 3,
    "word": "  Yes ",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the platform's own example 9
        ("[[patient_assessment_result.urgency_level | upcase ]] == 'EMERGENCY'", True),
        ("[[patient_assessment_result.urgency_level | upcase ]] == 'URGENT'", False),
        ("[[items[1].name]] == 'B'", True),
        ("[[result[\"key\"]]] == 'v'", True),
        ("[[thread_labpoll.lab_attempts]] >= 3", True),
        # a filter's result keeps its type
        ("[[patient_assessment_result.symptoms | size]] == 2", True),
        ("[[patient_assessment_result.symptoms.size]] > 1", True),
        ("[[items | map: 'name' | join: ',']] == 'A,B'", True),
        ("[[word | strip | downcase]] == 'yes'", True),
        ("[[ patient_assessment_result.symptoms | first ]] == 'pain'", True),
        # an unset variable stays unset through filters, unless a default gives it a value
        ("[[missing | upcase]] == ''", False),
        ("isAbsent([[missing | upcase]])", True),
        ("[[missing | default: 'none']] == 'none'", True),
        ("isPresent([[missing | default: 'none']])", True),
        # a filter that fails on its value leaves it unset: false, never an exception
        ("[[items | divided_by: 0]] == 0", False),
        ("isAbsent([[items | divided_by: 0]])", True),
        # references inside quoted strings get the same filters
        ("'[[word | strip]]!' == 'Yes!'", True),
    ],
)
def test_liquid_references_in_conditions(text: str, expected: bool) -> None:
    assert evaluate_expression(text, {}, LIQUID_RUNTIME) is expected


def test_a_filtered_reference_parses_to_its_path_and_filters() -> None:
    root = parse_expression("[[ a.b[0] | upcase | default: 'x' ]] == 1").root
    assert isinstance(root, Compare) and isinstance(root.left, Reference)
    assert root.left.scope == "runtime"
    assert root.left.name == "a.b[0]"
    assert [f.name for f in root.left.filters] == ["upcase", "default"]
    assert parse_expression("[[x | join: sep]] == 1").references() == [
        ("runtime", "x"),
        ("runtime", "sep"),
    ]


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("[[x | upcas]] == 1", 7, "unknown filter 'upcas'; did you mean 'upcase'?"),
        ("[[x |]] == 1", 6, "expected a filter name after '|'"),
        (
            "[[x | upcase: 1]] == 1",
            7,
            "filter 'upcase': too many positional arguments; write it as `| upcase`",
        ),
        ("[[x | join: 1, 2]] == 1", 7, "write it as `| join: [separator]`"),
        (
            "[[x | default: 'a', allow_falsy: true]] == 1",
            7,
            "unexpected keyword argument 'allow_falsy'",
        ),
        ("[[x | truncate: ]] == 1", 17, "expected a filter argument"),
        ("[[x | replace: 'a]] == 1", 1, "malformed variable: write [[name]]"),
        ("[[ x[0 ]] == 1", 1, "malformed variable"),
        ("{{x | times: " + "9" * 50 + "}} == 1", 14, "a number of more than 40 characters"),
        (
            "'{{ x | nope }}' == 1",
            1,
            "malformed variable {{ x | nope }} in the string: unknown filter 'nope'",
        ),
        ("(" * 70 + "a" + ")" * 70, 65, "nested more than 64 levels deep"),
        ("NOT " * 70 + "a", 257, "nested more than 64 levels deep"),
        ("a == " + "1" * 50, 6, "a number of more than 40 characters"),
    ],
)
def test_malformed_references_name_the_column(text: str, column: int, reason: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    assert reason in info.value.reason
    assert info.value.column == column


def test_graph_validation_accepts_filters_and_names_a_bad_one() -> None:
    def flow(expression: str) -> Any:
        return workflow(
            [say_static("a", "A"), say_static("b", "B")],
            [conditional("a", "b", expression=expression)],
        )

    assert validate_graph(flow("[[r.level | upcase ]] == 'EMERGENCY'")) == []
    problems = validate_graph(flow("[[r.level | upcas ]] == 'EMERGENCY'"))
    assert len(problems) == 1
    assert "unknown filter 'upcas'; did you mean 'upcase'?" in problems[0]
    assert "edge 'a_if_b'" in problems[0]


# ------------------------------------------------------------------ the platform's own configs

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "platform" / "corpus"


def _corpus_files() -> list[Path]:
    folders = [CORPUS]
    extra = os.environ.get("HARNESS_PLATFORM_CORPUS_EXTRA", "")
    folders += [Path(p) for p in extra.split(os.pathsep) if p]
    return sorted(f for folder in folders if folder.is_dir() for f in folder.glob("wf_*.json"))


def _strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key)
    elif isinstance(value, str):
        yield key, value


def _platform_name(inner: str) -> str:
    """The variable name as the platform's `utils.py` derives it: the text before the filters."""
    return re.split(r"\s*\|", inner.strip())[0].strip()


def _fill(path: ParsedPath, variables: dict[str, Any], leaf: str) -> None:
    """Give `variables` a value at `path` (dicts and lists as its segments ask)."""
    segments = list(path.segments)
    container: Any = variables
    for segment, after in zip(segments, [*segments[1:], None], strict=True):
        assert not isinstance(segment, ParsedPath)
        default: Any = leaf if after is None else ([] if isinstance(after, int) else {})
        if isinstance(container, list):
            assert isinstance(segment, int)
            container.extend({} for _ in range(segment + 1 - len(container)))
            if after is None:
                container[segment] = default
            container = container[segment]
        else:
            container = container.setdefault(segment, default)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/platform/corpus is not beside the repo")
@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_expression_and_template_of_the_platform_configs(path: Path) -> None:
    """Each `condition_expression` parses; each `{{ }}`/`[[ ]]` in any string is a reference."""
    config = json.loads(path.read_text())
    strings = list(_strings(config))
    for key, text in strings:
        if key == "condition_expression":
            expression = parse_expression(text)
            assert expression.evaluate({}, {}) in (True, False)
    dynamic: dict[str, Any] = {}
    runtime: dict[str, Any] = {}
    for _, text in strings:
        for match in re.finditer(r"\{\{.*?\}\}|\[\[.*?\]+\]", text, re.S):
            found = PLACEHOLDER_PATTERN.fullmatch(match.group())
            assert found is not None, f"{path.name}: {match.group()!r} is not read as a reference"
            inner = found.group("dynamic") or found.group("runtime")
            reference = parse_reference(inner)
            assert reference.key == _platform_name(inner)
            assert reference.path is not None
            scope = dynamic if found.group("dynamic") is not None else runtime
            _fill(reference.path, scope, "value")
    for key, text in strings:
        if key == "condition_expression":
            parse_expression(text).evaluate(dynamic, runtime)
            continue
        rendered = substitute(text, dynamic, runtime)
        leftover = [
            m.group()
            for m in PLACEHOLDER_PATTERN.finditer(rendered)
            if template_reference(m.group("dynamic") or m.group("runtime"))
        ]
        # with every variable set, nothing is left unresolved
        assert leftover == [], f"{path.name}: {leftover} stayed verbatim"
