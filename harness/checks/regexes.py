"""Scenario regexes matched against model output, in bounded time.

Python's `re` has no time limit: a pattern such as `(a|aa)+$` can backtrack for minutes on a long
model reply. The `regex` package (re-compatible in its default VERSION0 mode) takes a `timeout`;
a search that runs out of time is a failed check that says so, never a hung run.
"""

from __future__ import annotations

__all__ = ["REGEX_TIMEOUT_SECONDS", "RegexTimeoutError", "regex_search"]

REGEX_TIMEOUT_SECONDS = 1.0
"""Longest time one scenario regex may take on one text (docs/reliability.md)."""


class RegexTimeoutError(ValueError):
    """A scenario regex took longer than `REGEX_TIMEOUT_SECONDS` on a text."""


def regex_search(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """Whether `pattern` matches somewhere in `text`.

    Raises:
        RegexTimeoutError: the search ran out of time (the message names the pattern and the fix).
    """
    # Imported here: `regex` costs ~8 ms of start-up and most scenarios match no pattern.
    import regex

    flags = regex.IGNORECASE if ignore_case else 0
    try:
        return regex.search(pattern, text, flags, timeout=REGEX_TIMEOUT_SECONDS) is not None
    except TimeoutError:
        raise RegexTimeoutError(
            f"/{pattern}/ took more than {REGEX_TIMEOUT_SECONDS:g} s on a text of "
            f"{len(text):,} characters (catastrophic backtracking): simplify the pattern, e.g. "
            "no nested repeats such as (a+)+"
        ) from None
