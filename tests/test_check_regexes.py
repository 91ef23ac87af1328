"""Scenario regexes run in bounded time: catastrophic backtracking is a failed check, not a hang."""

from __future__ import annotations

import time

import pytest

from harness.checks.regexes import REGEX_TIMEOUT_SECONDS, RegexTimeoutError, regex_search

EVIL = "(a|aa)+$"
TEXT = "a" * 60 + "b"


def test_an_ordinary_regex_matches_like_re() -> None:
    assert regex_search(r"\b\d{1,2}:\d{2}\b", "at 9:30 today")
    assert not regex_search(r"^\d+$", "9:30")
    assert regex_search("HELLO", "hello there", ignore_case=True)


def test_catastrophic_backtracking_stops_at_the_time_limit_naming_the_pattern() -> None:
    started = time.monotonic()
    with pytest.raises(RegexTimeoutError, match=r"\(a\|aa\)\+\$.*catastrophic backtracking"):
        regex_search(EVIL, TEXT)
    assert time.monotonic() - started < REGEX_TIMEOUT_SECONDS + 2


def test_a_value_regex_that_runs_out_of_time_does_not_match() -> None:
    from harness.checks.matching import value_problems
    from harness.models.expect import ValueMatch

    started = time.monotonic()
    assert value_problems(ValueMatch(regex=EVIL), TEXT) == [f"matching /{EVIL}/"]
    assert time.monotonic() - started < REGEX_TIMEOUT_SECONDS + 2
