"""Loud misses and stale interactions: what was asked, what was recorded, and what changed."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import CassetteMissError
from harness.recording.cassette import Interaction
from harness.recording.matching import MatchOptions, RequestKey, parse_json_body, url_key

__all__ = [
    "PROVIDER_SETTINGS_HINT",
    "MissContext",
    "ReplayMissError",
    "StaleInteraction",
    "closest_interaction",
    "describe_stale",
    "display_path",
    "flatten_body",
    "miss_hint",
    "record_once_command",
    "request_diff",
    "rerecord_command",
]

_MAX_DIFF_LINES = 40
_MAX_VALUE_CHARS = 240


@dataclass(frozen=True)
class MissContext:
    """Where a request came from, for the miss report (set by the runner per scenario and turn).

    Attributes:
        scenario: the scenario's name.
        scenario_path: the scenario file, used in the re-record command.
        turn: the turn number (1-based) being executed.
        rerecord_command: overrides the suggested command that re-records the cassette.
        backend: the backend whose cassette this is (`api` adds `--backend api` to commands).
    """

    scenario: str | None = None
    scenario_path: str | None = None
    turn: int | None = None
    rerecord_command: str | None = None
    backend: str | None = None


def _backend_flag(context: MissContext) -> str:
    return f" --backend {context.backend}" if context.backend not in (None, "engine") else ""


@dataclass(frozen=True)
class StaleInteraction:
    """A recorded interaction that this session never replayed (the scenario no longer asks it)."""

    position: int
    method: str
    uri: str
    summary: str


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it is inside it (shorter messages)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def rerecord_command(context: MissContext) -> str:
    """The command that re-records the cassette of the scenario in `context`."""
    if context.rerecord_command:
        return context.rerecord_command
    target = context.scenario_path or "<scenario file>"
    return f"harness run {target}{_backend_flag(context)} --rerecord"


def record_once_command(context: MissContext) -> str:
    """The command that records the scenario in `context` when it has no cassette yet."""
    target = context.scenario_path or "<scenario file>"
    return f"harness run {target}{_backend_flag(context)} --record-mode once"


# What recording needs: it sends the workflow's LLM calls to a real (OpenAI-compatible) provider.
PROVIDER_SETTINGS_HINT = (
    "recording calls the live provider: export OPENAI_BASE_URL and OPENAI_API_KEY (or configure "
    "[tool.harness.providers.NAME] with base_url and api_key_env for a workflow's provider NAME), "
    "and HARNESS_DEFAULT_MODEL for nodes that name no model"
)


def miss_hint(context: MissContext, *, cassette_exists: bool) -> str:
    """How to fix a miss: the record mode to use, and the settings recording needs."""
    if cassette_exists:
        how = (
            f"if the change is intended, re-record this scenario: {rerecord_command(context)} "
            "(record mode all: the cassette is replaced by exactly this run's calls), or add only "
            "the new calls with --record-mode new_episodes"
        )
    else:
        how = f"record this scenario first: {record_once_command(context)}"
    return f"{how}; {PROVIDER_SETTINGS_HINT}"


def flatten_body(body: str | None) -> list[str]:
    """A body as `path: value` lines; multi-line strings give one line per text line.

    Diffing these lines shows the one prompt line that changed, where a diff of raw JSON would
    show a whole message as one changed line.
    """
    data = parse_json_body(body)
    if data is None:
        return (body or "").splitlines()
    lines: list[str] = []
    _flatten(data, "", lines)
    return lines


def _flatten(value: Any, path: str, out: list[str]) -> None:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            _flatten(value[key], f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            _flatten(item, f"{path}[{i}]", out)
    elif isinstance(value, str):
        for line in value.split("\n") or [""]:
            out.append(f"{path}: {line}")
    else:
        out.append(f"{path}= {json.dumps(value)}")


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_VALUE_CHARS else text[:_MAX_VALUE_CHARS] + "..."


def request_diff(
    recorded: Interaction, method: str, uri: str, body: str | None, match: MatchOptions
) -> str:
    """A unified diff from the recorded request to this one (method, URL as matched, body lines).

    The URL is shown as it is compared, so a host that matching ignores is not shown as a change.
    """
    before = [
        f"{recorded.method} {url_key(recorded.uri, match)}",
        *flatten_body(recorded.request_body),
    ]
    after = [f"{method} {url_key(uri, match)}", *flatten_body(body)]
    lines = list(
        difflib.unified_diff(before, after, "recorded request", "this request", n=1, lineterm="")
    )
    lines = [_clip(line) for line in lines]
    if len(lines) > _MAX_DIFF_LINES:
        hidden = len(lines) - _MAX_DIFF_LINES
        lines = [*lines[:_MAX_DIFF_LINES], f"... ({hidden} more diff lines)"]
    return "\n".join(lines)


def closest_interaction(
    interactions: Sequence[Interaction],
    keys: Sequence[RequestKey],
    key: RequestKey,
    body: str | None,
    used: Sequence[bool],
) -> int | None:
    """The recorded request most like this one: same method, then same URL, then body likeness.

    Runs only on a miss, so a plain scan is fine here.
    """
    wanted = flatten_body(body)
    best: tuple[float, int] | None = None
    for position, candidate in enumerate(keys):
        if candidate.method != key.method:
            continue
        matcher = difflib.SequenceMatcher(
            None, flatten_body(interactions[position].request_body), wanted, autojunk=False
        )
        score = (candidate.url == key.url) * 2.0 + matcher.ratio() + (not used[position]) * 0.01
        if best is None or score > best[0]:
            best = (score, position)
    return None if best is None else best[1]


class ReplayMissError(CassetteMissError):
    """A request has no recorded response: it is new, changed, or asked more often than recorded.

    Attributes:
        cassette: the cassette file.
        context: scenario, turn and re-record command.
        node: the node that made the request (from the request's `harness` extension).
        purpose: why the node called (e.g. main response, condition), from the same extension.
        method: the request method.
        uri: the request URL.
        reason: why nothing matched.
        closest: the closest recorded interaction, if any.
        diff: a unified diff from the closest recorded request to this one.
    """

    def __init__(
        self,
        *,
        cassette: Path,
        context: MissContext,
        node: str | None,
        method: str,
        purpose: str | None = None,
        uri: str,
        reason: str,
        closest: Interaction | None,
        closest_position: int | None,
        diff: str,
        cassette_exists: bool = True,
    ) -> None:
        self.cassette = cassette
        self.context = context
        self.node = node
        self.purpose = purpose
        self.method = method
        self.uri = uri
        self.reason = reason
        self.closest = closest
        self.diff = diff
        where = ", ".join(
            part
            for part in (
                f"scenario {context.scenario!r}" if context.scenario else None,
                f"turn {context.turn}" if context.turn is not None else None,
                f"node {node!r}" if node else None,
                f"purpose {purpose!r}" if purpose else None,
            )
            if part
        )
        lines = [
            f"cassette miss: no recorded response for {method} {uri}",
            f"  cassette: {display_path(cassette)}",
        ]
        if where:
            lines.append(f"  where: {where}")
        lines.append(f"  why: {reason}")
        if closest is not None:
            lines.append(
                f"  closest recorded request: #{closest_position} {closest.method} {closest.uri}"
            )
        if diff:
            lines.append("  what changed (- recorded, + this request):")
            lines.extend(f"    {line}" for line in diff.splitlines())
        super().__init__("\n".join(lines), hint=miss_hint(context, cassette_exists=cassette_exists))


def describe_stale(interaction: Interaction, position: int) -> StaleInteraction:
    """A short description of an unused interaction (the last user or system line it asked)."""
    summary = ""
    data = parse_json_body(interaction.request_body)
    if isinstance(data, dict) and isinstance(data.get("messages"), list) and data["messages"]:
        last = data["messages"][-1]
        if isinstance(last, dict):
            summary = f"{last.get('role', '?')}: {_clip(str(last.get('content', '')))}"
    elif interaction.request_body:
        summary = _clip(interaction.request_body.replace("\n", " "))
    return StaleInteraction(position, interaction.method, interaction.uri, summary)
