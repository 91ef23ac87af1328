"""The script of the scripted model: ordered rules (`when` -> `reply`) loaded from YAML or JSON.

A script is data, parsed once into these models (unknown keys are errors). The first rule whose
`when` holds answers the request; `default` answers when none does. Example:

```yaml
version: 1
model: scripted-model
rules:
  - name: greet
    when: {last_user: {contains: hello}}
    reply: {text: "Hi! How can I help?"}
  - when: {tool_offered: find_slots, last_role: user}
    reply: {tool_calls: [{name: find_slots, arguments: {day: tuesday}}]}
  - when: {response_format: verdict}
    reply: {json: {passed: true, score: 0.9}}
  - when: {last_user: rate limit}
    times: 1
    reply: {error: {status: 429, headers: {retry-after: "0"}}}
default: {text: "I am a scripted model."}
routes:                                   # optional static JSON answers beside the model
  - {path: "/pharmacy/refills/{rx}", json: {rx: "{rx}", in_stock: true}}
```
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import HarnessError

__all__ = [
    "ErrorReply",
    "Reply",
    "Rule",
    "Script",
    "ScriptError",
    "StaticRoute",
    "TextMatch",
    "ToolCallReply",
    "UsageOverride",
    "When",
    "bundled_script",
    "load_script",
    "parse_script",
]

_SCRIPTS_DIR = Path(__file__).parent / "scripts"


class ScriptError(HarnessError):
    """A scripted-model script cannot be loaded (syntax, unknown key, bad regex)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TextMatch(_Strict):
    """How a piece of text must look; every given test must hold. A bare string means `contains`."""

    contains: str | None = None
    """The text contains this substring."""
    regex: str | None = None
    """`re.search` finds this pattern in the text."""
    equals: str | None = None
    """The text equals this exactly (after stripping surrounding whitespace)."""
    ignore_case: bool = False
    """Compare case-insensitively (all three tests)."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"contains": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.contains is None and self.regex is None and self.equals is None:
            raise ValueError("give at least one of contains, regex, equals")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"invalid regex {self.regex!r}: {exc}") from exc
        return self

    def matches(self, text: str) -> bool:
        """Whether `text` passes every test given."""
        flags = re.IGNORECASE if self.ignore_case else 0
        folded = text.casefold() if self.ignore_case else text
        if self.contains is not None:
            needle = self.contains.casefold() if self.ignore_case else self.contains
            if needle not in folded:
                return False
        if self.equals is not None:
            wanted = self.equals.casefold() if self.ignore_case else self.equals
            if folded.strip() != wanted.strip():
                return False
        return self.regex is None or re.search(self.regex, text, flags) is not None


class When(_Strict):
    """Conditions on the request; all given ones must hold. Empty matches every request."""

    last_user: TextMatch | None = None
    """The text of the last `user` message."""
    last_message: TextMatch | None = None
    """The text of the last message, whatever its role (e.g. a tool result)."""
    last_role: Literal["system", "developer", "user", "assistant", "tool"] | None = None
    """The role of the last message (`tool` right after a tool result)."""
    system: TextMatch | None = None
    """Some system (or developer) message."""
    any_message: TextMatch | None = None
    """Some message of any role."""
    tool_offered: str | None = None
    """A tool of this name is in the request's `tools`."""
    response_format: str | None = None
    """The `response_format` json_schema name (or its `type` when it has no schema); `*` = any."""
    model: str | None = None
    """The request's `model` equals this."""
    stream: bool | None = None
    """The request asked (true) or did not ask (false) for streaming."""


class ToolCallReply(_Strict):
    """One tool call the model makes."""

    name: str
    """The function name."""
    arguments: dict[str, Any] | str = Field(default_factory=dict)
    """The arguments object (sent as compact JSON) or a raw string, sent verbatim."""
    id: str | None = None
    """The call id; default `call_<request>_<position>`."""

    def arguments_json(self) -> str:
        """The arguments as the string the API carries."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, separators=(",", ":"), ensure_ascii=False)


class ErrorReply(_Strict):
    """An HTTP error answer, e.g. 429 or 500."""

    status: int = Field(ge=400, le=599)
    """The HTTP status code."""
    body: Any = None
    """The JSON body; default an OpenAI-style `{"error": {...}}`."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra response headers, e.g. `retry-after`."""


class UsageOverride(_Strict):
    """Token counts to report instead of the computed ones."""

    prompt_tokens: int | None = Field(default=None, ge=0)
    """Reported prompt tokens."""
    completion_tokens: int | None = Field(default=None, ge=0)
    """Reported completion tokens."""


class Reply(_Strict):
    """What the model answers: text and/or tool calls, a JSON object, or an HTTP error."""

    text: str | None = None
    """The assistant message content."""
    tool_calls: list[ToolCallReply] | None = None
    """Tool calls (may come with `text`)."""
    json_value: Any = Field(default=None, alias="json")
    """A structured-output object, sent as its JSON text in the content."""
    error: ErrorReply | None = None
    """Answer with this HTTP error instead of a completion."""
    usage: UsageOverride | None = None
    """Override the computed token usage."""
    finish_reason: str | None = None
    """Override the finish reason (default `tool_calls` with tool calls, else `stop`)."""
    delay_seconds: float = Field(default=0.0, ge=0)
    """Wait this long before answering (latency and timeout tests)."""
    chunk_delay_seconds: float = Field(default=0.0, ge=0)
    """When streaming, wait this long between chunks."""

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        has_json = "json_value" in self.model_fields_set
        kinds = [self.text is not None or self.tool_calls is not None, has_json]
        kinds.append(self.error is not None)
        if sum(kinds) != 1:
            raise ValueError(
                "a reply is exactly one of: text and/or tool_calls, json, error "
                f"(got {sorted(self.model_fields_set)})"
            )
        return self

    @property
    def has_json(self) -> bool:
        """Whether this reply is a structured-output object."""
        return "json_value" in self.model_fields_set

    def content(self) -> str | None:
        """The assistant message content this reply produces (None with tool calls only)."""
        if self.has_json:
            return json.dumps(self.json_value, ensure_ascii=False)
        return self.text


class Rule(_Strict):
    """One `when` -> `reply` rule."""

    name: str | None = None
    """A label, recorded with each request it answered."""
    when: When = Field(default_factory=When)
    """Conditions; empty matches every request."""
    reply: Reply
    """The answer."""
    times: int | None = Field(default=None, ge=1)
    """Answer at most this many requests, then let later rules answer."""


class StaticRoute(_Strict):
    """A fixed JSON answer on another path of the same server (e.g. a fake pharmacy API).

    `path` is a Starlette route path (`/pharmacy/refills/{rx}`); `{name}` parts of it are
    replaced in string values of `json`, so one route answers every id.
    """

    path: str = Field(pattern=r"^/")
    """The route path, starting with `/`; must not be under `/v1/`."""
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    """The HTTP method answered."""
    status: int = Field(default=200, ge=100, le=599)
    """The HTTP status."""
    json_value: Any = Field(default=None, alias="json")
    """The JSON body."""

    @field_validator("path")
    @classmethod
    def _not_v1(cls, path: str) -> str:
        if path.startswith("/v1/"):
            raise ValueError("static routes cannot shadow the model's /v1/ routes")
        return path


class Script(_Strict):
    """A whole script: ordered rules, first match wins, then `default`."""

    version: Literal[1] = 1
    """Format version."""
    model: str = "scripted-model"
    """The model id listed by `GET /v1/models` (answers echo the request's model)."""
    rules: list[Rule] = Field(default_factory=list)
    """Tried in order."""
    default: Reply | None = None
    """Answers when no rule matches; without it such a request gets a 400 naming the request."""
    routes: list[StaticRoute] = Field(default_factory=list)
    """Static JSON routes served beside the model (for HTTP tools recorded with the LLM calls)."""

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[Rule]) -> list[Rule]:
        names = [r.name for r in rules if r.name is not None]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate rule names: {', '.join(duplicates)}")
        return rules


def parse_script(data: Mapping[str, Any] | Script, *, source: str = "<script>") -> Script:
    """Validate already-parsed data as a `Script`.

    Raises:
        ScriptError: naming each problem with its location inside the script.
    """
    if isinstance(data, Script):
        return data
    try:
        return Script.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(
            f"  - {'.'.join(str(p) for p in err['loc']) or '<top>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ScriptError(
            f"{source}: invalid scripted-model script:\n{problems}",
            hint="see harness/testing/script.py for the format",
        ) from None


def load_script(path: str | Path) -> Script:
    """Load a script from a YAML or JSON file (JSON is YAML, so one parser reads both).

    Raises:
        ScriptError: the file is missing, is not YAML, or is not a valid script.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScriptError(f"cannot read script {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScriptError(f"{path}: not valid YAML/JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise ScriptError(f"{path}: a script is a mapping with `rules`, got {type(data).__name__}")
    return parse_script(data, source=str(path))


def bundled_script(name: str) -> Path:
    """The path of a script shipped in `harness/testing/scripts/` (e.g. `"basic"`).

    Raises:
        ScriptError: no such script; the message lists the available ones.
    """
    for suffix in (".yaml", ".json", ""):
        candidate = _SCRIPTS_DIR / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    available = ", ".join(sorted(p.stem for p in _SCRIPTS_DIR.glob("*.yaml")))
    raise ScriptError(f"no bundled script {name!r}", hint=f"available: {available}")
