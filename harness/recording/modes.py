"""Record modes, with vcrpy's names and meanings (plus a stricter `all`, see below)."""

from __future__ import annotations

from enum import StrEnum

from harness.errors import ConfigError

__all__ = ["RecordMode", "parse_record_mode"]


class RecordMode(StrEnum):
    """What a cassette session does with a request.

    - `none` (default): replay only; a request with no recorded response raises, and no request
      ever reaches the network.
    - `once`: record everything when the cassette file does not exist yet, otherwise act as `none`.
    - `new_episodes`: replay what matches, send what doesn't to the network and append it.
    - `all`: send every request to the network and replace the cassette with exactly this
      session's interactions (this is how one scenario is re-recorded; vcrpy's `all` would keep
      the old interactions too, which leaves stale ones behind).
    """

    NONE = "none"
    ONCE = "once"
    NEW_EPISODES = "new_episodes"
    ALL = "all"


def parse_record_mode(text: str | RecordMode) -> RecordMode:
    """Parse a record mode name (case-insensitive, `-` accepted for `_`).

    Raises:
        ConfigError: the name is not one of none, once, new_episodes, all.
    """
    if isinstance(text, RecordMode):
        return text
    try:
        return RecordMode(text.strip().lower().replace("-", "_"))
    except ValueError:
        names = ", ".join(mode.value for mode in RecordMode)
        raise ConfigError(
            f"unknown record mode {text!r}", hint=f"use one of: {names} (default: none)"
        ) from None
