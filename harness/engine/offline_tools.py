"""What the built-in engine runs offline for tools that live on the platform.

- Inbuilt functions: the platform's registry is server-side Python named by `tool_id` (e.g.
  `math_add`, `call_forward`). The engine runs a few pure ones itself (`INBUILT_FUNCTIONS`); any
  other fails the call with a message naming the tool and how to mock it.
- Knowledge bases: the platform searches its vector stores (`target_knowledge_base_ids`), which are
  out of reach offline. The documented stand-in: documents given per knowledge base id in
  `workflow_config.miscellaneous.harness_knowledge_bases` (`{"kb_id": ["text", ...]}`; the platform
  keeps unknown `miscellaneous` keys), searched by keywords. Without documents for any of the
  tool's ids the call fails, naming the tool, its ids and the two ways out (mock it, or give
  documents).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from harness.engine.variables import Clock

__all__ = [
    "INBUILT_FUNCTIONS",
    "KNOWLEDGE_BASES_KEY",
    "InbuiltFunction",
    "knowledge_bases_of",
    "search_documents",
    "search_knowledge_bases",
]

KNOWLEDGE_BASES_KEY = "harness_knowledge_bases"
"""The `workflow_config.miscellaneous` key holding stand-in knowledge base documents."""

_WORD = re.compile(r"\w+")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "the",
        "to",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
        "you",
        "your",
    ]
)


InbuiltFunction = Callable[[dict[str, Any], Clock | None], Any]
"""An inbuilt function: (arguments, clock) -> JSON-serialisable result; raise to fail."""


# ------------------------------------------------------------------ inbuilt functions


def _end_call(arguments: dict[str, Any], _clock: Clock | None) -> Any:
    return {"call_ended": True, "reason": arguments.get("reason")}


def _current_time(arguments: dict[str, Any], clock: Clock | None) -> Any:
    now = clock.now() if clock is not None else datetime.now(UTC)
    zone = arguments.get("timezone")
    if zone:
        try:
            now = now.astimezone(ZoneInfo(str(zone)))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown timezone {zone!r}; use an IANA name such as 'Europe/Paris'"
            ) from exc
    return {
        "iso_datetime": now.isoformat(),
        "date": now.date().isoformat(),
        "time": now.strftime("%H:%M"),
        "day_of_week": _DAY_NAMES[now.weekday()],  # not %A: that follows the process locale
    }


def _number(arguments: dict[str, Any], name: str) -> float:
    value = arguments.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"argument {name!r} must be a number, got {value!r}")
    return float(value)


def _math_add(arguments: dict[str, Any], _clock: Clock | None) -> Any:
    # The platform's `math_add` is `add(a: float, b: float) -> float` (docs/guides/nodes_edges_tools.md).
    return _number(arguments, "a") + _number(arguments, "b")


INBUILT_FUNCTIONS: Mapping[str, InbuiltFunction] = {
    "math_add": _math_add,
    "end_call": _end_call,
    "current_time": _current_time,
}
"""Inbuilt functions the engine runs, by `tool_id`: the platform's `math_add`, and `end_call` and
`current_time` (harness stand-ins); others fail with a hint to mock them."""


def search_documents(documents: list[str], query: str, top_k: int = 3) -> list[dict[str, Any]]:
    """Naive keyword retrieval: rank documents by distinct query words found, then by frequency.

    Args:
        documents: the knowledge base's texts.
        query: the question; words are lower-cased and common stop words dropped.
        top_k: how many matching documents to return.

    Returns:
        Up to `top_k` `{"document", "score"}` dicts, best first; documents with no query word are
        left out. Ties keep the documents' order.
    """
    terms = {w for w in _WORD.findall(query.lower()) if w not in _STOPWORDS} or set(
        _WORD.findall(query.lower())
    )
    scored = []
    for index, document in enumerate(documents):
        words = _WORD.findall(document.lower())
        distinct = sum(1 for term in terms if term in words)
        if distinct:
            frequency = sum(words.count(term) for term in terms)
            scored.append((-distinct, -frequency, index, document))
    scored.sort()
    return [
        {"document": doc, "score": -distinct} for distinct, _, _, doc in scored[: max(top_k, 0)]
    ]


def knowledge_bases_of(miscellaneous: Mapping[str, Any]) -> dict[str, list[str]]:
    """The stand-in documents of `workflow_config.miscellaneous`, by knowledge base id.

    Raises:
        ValueError: the key is there but is not `{"kb_id": ["text", ...]}`.
    """
    raw = miscellaneous.get(KNOWLEDGE_BASES_KEY)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(
        isinstance(docs, list) and all(isinstance(d, str) for d in docs) for docs in raw.values()
    ):
        raise ValueError(
            f"workflow_config.miscellaneous.{KNOWLEDGE_BASES_KEY} must map knowledge base ids to "
            'lists of texts, e.g. {"kb_faq": ["We open at 8."]}'
        )
    return {str(kb): list(docs) for kb, docs in raw.items()}


def search_knowledge_bases(
    label: str,
    ids: Sequence[str],
    arguments: Mapping[str, Any],
    documents: Mapping[str, list[str]],
) -> dict[str, Any]:
    """The stand-in search: `arguments["query"]` over the documents of the tool's `ids`.

    Raises:
        ValueError: no documents for any of `ids`, or no query (the message names the tool).
    """
    texts = [text for kb in ids for text in documents.get(kb, [])]
    if not any(kb in documents for kb in ids):
        raise ValueError(
            f"knowledge base tool {label!r} searches the platform's knowledge bases "
            f"{list(ids)}, which the built-in engine cannot reach: mock the tool in the scenario "
            f"(mocks: tools: {label}: ...), or give stand-in documents under "
            f"workflow_config.miscellaneous.{KNOWLEDGE_BASES_KEY} (docs/engine.md, Tools)"
        )
    query = arguments.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"knowledge base tool {label!r} needs a `query` string argument")
    return {"query": query, "results": search_documents(texts, query)}
