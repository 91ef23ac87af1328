"""The condition-expression language: operators, functions, precedence, typing rules, errors."""

from __future__ import annotations

from typing import Any

import pytest

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
from harness.engine.variables import ABSENT
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
        ("{{first name}} == 1", 1, "malformed variable"),
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
