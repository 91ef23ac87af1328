"""Tokenizer, AST and recursive-descent parser of the condition-expression language.

Grammar (lowest precedence first; docs/engine-expressions.md explains the choices):

    expression := or_expr EOF
    or_expr    := and_expr ( OR and_expr )*
    and_expr   := comparison ( AND comparison )*
    comparison := unary ( ( == | != | < | <= | > | >= ) unary )?      -- no chaining
    unary      := NOT unary | primary
    primary    := NUMBER | '-' NUMBER | STRING | true | false | null
                | {{reference}} | [[reference]] | IDENT | IDENT '(' or_expr ')' | '(' or_expr ')'

A `reference` is Liquid's path-and-filters (`[[result.level | upcase ]]`), parsed by
`harness.engine._references`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, Literal, NoReturn

from harness.engine._references import (
    PLACEHOLDER_PATTERN,
    FilterCall,
    ParsedReference,
    ReferenceSyntaxError,
    parse_reference,
    template_reference,
)
from harness.errors import EngineError

__all__ = [
    "FUNCTIONS",
    "MAX_EXPRESSION_LENGTH",
    "BoolOp",
    "Call",
    "Compare",
    "Constant",
    "ExpressionError",
    "Node",
    "Not",
    "Reference",
    "Template",
    "parse",
]

FUNCTIONS: Final = ("isPresent", "isAbsent", "isEmpty", "isNonEmpty")
"""The functions of the language, each taking one argument."""

_FUNCTION_BY_FOLDED = {name.casefold(): name for name in FUNCTIONS}
_COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")
_KEYWORD_VALUES = {"true": True, "false": False, "null": None}

_HINT = (
    "the language has == != < <= > >= AND OR NOT, parentheses, 'strings', numbers, "
    "true/false/null, {{dynamic}}/[[runtime]] variables with paths and filters "
    "([[x.y | upcase]]) and isPresent/isAbsent/isEmpty/isNonEmpty; "
    "see docs/engine-expressions.md"
)


class ExpressionError(EngineError):
    """A condition expression cannot be parsed.

    Attributes:
        expression: the expression text.
        column: 1-based column of the problem.
        reason: what is wrong, without the location.
    """

    def __init__(self, expression: str, column: int, reason: str) -> None:
        self.expression = expression
        self.column = column
        self.reason = reason
        caret = " " * (column - 1) + "^"
        super().__init__(
            f"invalid condition expression at column {column}: {reason}\n"
            f"    {expression}\n    {caret}",
            hint=_HINT,
        )


# ------------------------------------------------------------------ AST


@dataclass(frozen=True)
class Constant:
    """A number, true/false/null, or a string without placeholders."""

    value: object
    column: int


@dataclass(frozen=True)
class Template:
    """A quoted string with placeholders, substituted textually when evaluated."""

    text: str
    column: int


@dataclass(frozen=True)
class Reference:
    """A variable: `{{name}}` (dynamic), `[[name]]` (runtime) or a bare name (runtime, dynamic).

    `name` is the path as written (`items[2].name`); `filters` the chain after its pipes
    (bracketed references only).
    """

    scope: Literal["dynamic", "runtime", "bare"]
    name: str
    column: int
    filters: tuple[FilterCall, ...] = ()


@dataclass(frozen=True)
class Not:
    """`NOT operand`."""

    operand: Node
    column: int


@dataclass(frozen=True)
class BoolOp:
    """`a AND b AND ...` or `a OR b OR ...` (short-circuit, left to right)."""

    op: Literal["AND", "OR"]
    operands: tuple[Node, ...]
    column: int


@dataclass(frozen=True)
class Compare:
    """`left op right`."""

    op: str
    left: Node
    right: Node
    column: int


@dataclass(frozen=True)
class Call:
    """`function(argument)`; `function` is the canonical name from `FUNCTIONS`."""

    function: str
    argument: Node
    column: int


Node = Constant | Template | Reference | Not | BoolOp | Compare | Call


# ------------------------------------------------------------------ tokens


@dataclass(frozen=True)
class _Token:
    kind: str  # NUMBER STRING TEMPLATE VAR IDENT OP KEYWORD ( ) - EOF
    text: str
    column: int
    value: object = None


_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
MAX_EXPRESSION_LENGTH: Final = 100_000
"""Longest expression parsed (parsing is linear: 100,000 characters take about 0.2 s)."""
_MAX_NUMBER_LENGTH = 40
_MAX_NESTING = 64
"""Parentheses, NOTs and function calls inside each other; deeper is refused, not recursed."""
_MISTAKES = {
    "&": "use AND instead of '&&'",
    "|": "use OR instead of '||'",
    "!": "use NOT, or '!=' for not-equal",
    "=": "use '==' to compare",
}


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, pos: int, reason: str) -> NoReturn:
        raise ExpressionError(self.text, pos + 1, reason)

    def tokens(self) -> list[_Token]:
        out: list[_Token] = []
        while True:
            while self.pos < len(self.text) and self.text[self.pos].isspace():
                self.pos += 1
            if self.pos >= len(self.text):
                out.append(_Token("EOF", "end of expression", self.pos + 1))
                return out
            out.append(self._next())

    def _next(self) -> _Token:
        # Matching at `start` (never slicing the rest off) keeps a long expression linear.
        text, start = self.text, self.pos
        char = text[start]
        for op in _COMPARISONS:
            if text.startswith(op, start):
                self.pos += len(op)
                return _Token("OP", op, start + 1)
        if char in "()-,":
            self.pos += 1
            return _Token(char, char, start + 1)
        if char in "'\"":
            return self._string(char)
        if text.startswith(("{{", "[["), start):
            return self._placeholder()
        if match := _NUMBER.match(text, start):
            return self._number(match.group(), start)
        if match := _IDENT.match(text, start):
            self.pos = match.end()
            return self._word(match.group(), start)
        self.fail(
            start,
            f"unexpected character {char!r}"
            + (f"; {_MISTAKES[char]}" if char in _MISTAKES else ""),
        )

    def _number(self, digits: str, start: int) -> _Token:
        if len(digits) > _MAX_NUMBER_LENGTH:
            self.fail(start, f"a number of more than {_MAX_NUMBER_LENGTH} characters")
        self.pos = start + len(digits)
        number = float(digits) if any(c in digits for c in ".eE") else int(digits)
        return _Token("NUMBER", digits, start + 1, number)

    def _string(self, quote: str) -> _Token:
        start, chars, pos = self.pos, [], self.pos + 1
        while pos < len(self.text):
            char = self.text[pos]
            if char == "\\" and pos + 1 < len(self.text) and self.text[pos + 1] in (quote, "\\"):
                chars.append(self.text[pos + 1])
                pos += 2
                continue
            if char == quote:
                self.pos = pos + 1
                value = "".join(chars)
                kind = "TEMPLATE" if self._has_reference(value, start) else "STRING"
                return _Token(kind, self.text[start : pos + 1], start + 1, value)
            chars.append(char)
            pos += 1
        self.fail(start, f"unterminated string: add the closing {quote}")

    def _placeholder(self) -> _Token:
        start = self.pos
        match = PLACEHOLDER_PATTERN.match(self.text, start)
        opener = self.text[start : start + 2]
        closer = "}}" if opener == "{{" else "]]"
        if match is None:
            self.fail(
                start,
                f"malformed variable: write {opener}name{closer} or {opener}path | filter{closer} "
                "(no spaces inside a name)",
            )
        inner = match.group("dynamic") or match.group("runtime")
        try:
            reference = parse_reference(inner)
        except ReferenceSyntaxError as exc:
            self.fail(start + 2 + exc.offset, f"malformed variable {match.group(0)}: {exc.reason}")
        self.pos = match.end()
        return _Token("VAR", match.group(0), start + 1, reference)

    def _has_reference(self, value: str, start: int) -> bool:
        """Whether a quoted string holds a reference; one with a broken filter part is an error."""
        found = False
        for match in PLACEHOLDER_PATTERN.finditer(value):
            inner = match.group("dynamic") or match.group("runtime")
            if template_reference(inner) is not None:
                found = True
            elif "|" in inner:
                try:
                    parse_reference(inner)
                except ReferenceSyntaxError as exc:
                    self.fail(
                        start, f"malformed variable {match.group(0)} in the string: {exc.reason}"
                    )
        return found

    def _word(self, word: str, start: int) -> _Token:
        folded = word.casefold()
        if folded in ("and", "or", "not"):
            return _Token("KEYWORD", folded.upper(), start + 1)
        if folded in _KEYWORD_VALUES:
            return _Token("CONST", word, start + 1, _KEYWORD_VALUES[folded])
        return _Token("IDENT", word, start + 1, word)


# ------------------------------------------------------------------ parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _Lexer(text).tokens()
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def fail(self, column: int, reason: str) -> NoReturn:
        raise ExpressionError(self.text, column, reason)

    def is_keyword(self, word: str) -> bool:
        return self.current.kind == "KEYWORD" and self.current.text == word

    def parse(self) -> Node:
        if self.current.kind == "EOF":
            self.fail(1, "the expression is empty")
        node = self.or_expr()
        if self.current.kind != "EOF":
            token = self.current
            self.fail(
                token.column,
                f"unexpected {_describe(token)} after a complete expression; join conditions with AND or OR",
            )
        return node

    def or_expr(self) -> Node:
        return self._chain("OR", self.and_expr)

    def and_expr(self) -> Node:
        return self._chain("AND", self.comparison)

    def _chain(self, word: Literal["AND", "OR"], operand: Callable[[], Node]) -> Node:
        first = operand()
        operands = [first]
        while self.is_keyword(word):
            self.advance()
            operands.append(operand())
        if len(operands) == 1:
            return first
        return BoolOp(word, tuple(operands), _column(first))

    def comparison(self) -> Node:
        left = self.unary()
        if self.current.kind != "OP":
            return left
        op = self.advance()
        right = self.unary()
        if self.current.kind == "OP":
            self.fail(self.current.column, "comparisons cannot be chained; combine them with AND")
        return Compare(op.text, left, right, op.column)

    def unary(self) -> Node:
        if self.is_keyword("NOT"):
            token = self.advance()
            with self.nested(token):
                return Not(self.unary(), token.column)
        return self.primary()

    @contextlib.contextmanager
    def nested(self, token: _Token) -> Iterator[None]:
        """One level deeper; past `_MAX_NESTING` an error rather than a blown stack."""
        if self.depth == _MAX_NESTING:
            self.fail(token.column, f"nested more than {_MAX_NESTING} levels deep; simplify it")
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def primary(self) -> Node:
        token = self.current
        handler = _PRIMARY.get(token.kind)
        if handler is None:
            after = self.tokens[self.index - 1] if self.index else None
            where = f" after {_describe(after)}" if after is not None else ""
            self.fail(token.column, f"expected a value{where}, found {_describe(token)}")
        return handler(self)

    def _literal(self) -> Node:
        token = self.advance()
        return Constant(token.value, token.column)

    def _template(self) -> Node:
        token = self.advance()
        return Template(str(token.value), token.column)

    def _variable(self) -> Node:
        token = self.advance()
        scope: Literal["dynamic", "runtime"] = "dynamic" if token.text[0] == "{" else "runtime"
        reference = token.value
        assert isinstance(reference, ParsedReference)
        return Reference(scope, reference.key, token.column, reference.filters)

    def _negative(self) -> Node:
        minus = self.advance()
        if self.current.kind != "NUMBER":
            self.fail(
                self.current.column, f"expected a number after '-', found {_describe(self.current)}"
            )
        number = self.advance()
        return Constant(-number.value, minus.column)  # type: ignore[operator]

    def _group(self) -> Node:
        opening = self.advance()
        with self.nested(opening):
            inner = self.or_expr()
        if self.current.kind != ")":
            self.fail(
                self.current.column,
                f"expected ')' to close the '(' at column {opening.column}, found {_describe(self.current)}",
            )
        self.advance()
        return inner

    def _identifier(self) -> Node:
        token = self.advance()
        if self.current.kind != "(":
            return Reference("bare", token.text, token.column)
        function = _FUNCTION_BY_FOLDED.get(token.text.casefold())
        if function is None:
            self.fail(
                token.column, f"unknown function {token.text!r}; known: {', '.join(FUNCTIONS)}"
            )
        self.advance()
        if self.current.kind == ")":
            self.fail(self.current.column, f"{function}() takes one argument, got none")
        with self.nested(token):
            argument = self.or_expr()
        if self.current.kind == ",":
            self.fail(self.current.column, f"{function}() takes one argument, got more")
        if self.current.kind != ")":
            self.fail(
                self.current.column,
                f"expected ')' to close {function}( at column {token.column}, found {_describe(self.current)}",
            )
        self.advance()
        return Call(function, argument, token.column)


_PRIMARY = {
    "NUMBER": _Parser._literal,
    "STRING": _Parser._literal,
    "CONST": _Parser._literal,
    "TEMPLATE": _Parser._template,
    "VAR": _Parser._variable,
    "-": _Parser._negative,
    "(": _Parser._group,
    "IDENT": _Parser._identifier,
}


def _describe(token: _Token) -> str:
    if token.kind == "EOF":
        return "the end of the expression"
    return repr(token.text)


def _column(node: Node) -> int:
    return node.column


def parse(text: str) -> Node:
    """Parse `text` into its AST.

    Raises:
        ExpressionError: with the column of the first problem.
    """
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            text[:60] + "...",
            1,
            f"the expression is {len(text):,} characters long, more than the limit of "
            f"{MAX_EXPRESSION_LENGTH:,}; split the condition",
        )
    return _Parser(text).parse()
