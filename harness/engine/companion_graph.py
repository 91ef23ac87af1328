"""The companions of a workflow graph: which edges are companion edges and forks, and what the
platform refuses about them on save (see `companions.py` for how the engine runs them).

Imported by `graph.py`, so it depends on the models only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from harness.models.api import (
    CompanionEdgeConfig,
    DirectEdgeConfig,
    EdgeConfig,
    NodeConfig,
    WorkflowConfigFullyHydrated,
)

__all__ = [
    "COMPANION_THREAD_DELIMITER",
    "MAIN_THREAD_ID",
    "CompanionIndex",
    "companion_problems",
    "configured_thread_id",
    "index_companions",
    "internal_thread_id",
    "is_fork_flagged",
    "thread_reference_id",
]

MAIN_THREAD_ID = "0"
COMPANION_THREAD_DELIMITER = "_companion_"
"""Joins a companion's internal thread id: `<parent>_companion_<configured id>` (the platform's)."""
_THREAD_ID_CHARS = re.compile(r"[A-Za-z0-9_-]+")


# ------------------------------------------------------------------ thread ids


def internal_thread_id(parent: str, configured: str) -> str:
    """`0_companion_labpoll`: the id events, state and `active_companion_thread_ids` carry."""
    return f"{parent}{COMPANION_THREAD_DELIMITER}{configured}"


def thread_reference_id(thread_id: str) -> str:
    """The author-facing id: `"0"` for the main thread, else the configured part of the id."""
    return thread_id.rsplit(COMPANION_THREAD_DELIMITER, 1)[-1]


# ------------------------------------------------------------------ the graph's companions


def is_fork_flagged(edge: EdgeConfig) -> bool:
    """A direct edge carrying `companion_thread_config.is_companion_thread: true`."""
    if not isinstance(edge, DirectEdgeConfig):
        return False
    config = getattr(edge, "companion_thread_config", None)
    if isinstance(config, Mapping):  # a model without the field keeps it as a plain extra
        return bool(config.get("is_companion_thread"))
    return bool(getattr(config, "is_companion_thread", False))


def configured_thread_id(edge: EdgeConfig) -> str | None:
    config = getattr(edge, "companion_thread_config", None)
    value = (
        config.get("thread_id")
        if isinstance(config, Mapping)
        else getattr(config, "thread_id", None)
    )
    return value if isinstance(value, str) else None


class CompanionIndex:
    """The companion edges and the forks of a workflow, by source node (enabled edges only)."""

    def __init__(
        self,
        companions: dict[str, list[CompanionEdgeConfig]],
        forks: dict[str, list[DirectEdgeConfig]],
    ) -> None:
        self.companions = companions
        self.forks = forks

    def companions_of(self, node_id: str) -> list[CompanionEdgeConfig]:
        """`companion` edges out of `node_id`, in config order."""
        return self.companions.get(node_id, [])

    def forks_of(self, node_id: str) -> list[DirectEdgeConfig]:
        """Direct edges out of `node_id` that fork a companion thread, in config order."""
        return self.forks.get(node_id, [])

    def is_fork(self, edge: EdgeConfig) -> bool:
        """Whether `edge` forks a thread (so it is not one of the main thread's transitions)."""
        return any(edge is fork for fork in self.forks.get(_source(edge), []))


def _source(edge: EdgeConfig) -> str:
    return edge.source_node_logical_id or ""


def _destination(edge: EdgeConfig) -> str:
    return edge.destination_node_logical_id or ""


def index_companions(edges: list[EdgeConfig]) -> CompanionIndex:
    """Index `edges`: a flagged direct edge forks only when its source has other direct edges."""
    companions: dict[str, list[CompanionEdgeConfig]] = {}
    direct: dict[str, list[DirectEdgeConfig]] = {}
    for edge in edges:
        if edge.disabled:
            continue
        if isinstance(edge, CompanionEdgeConfig):
            companions.setdefault(_source(edge), []).append(edge)
        elif isinstance(edge, DirectEdgeConfig):
            direct.setdefault(_source(edge), []).append(edge)
    forks = {
        source: flagged
        for source, out in direct.items()
        if len(out) > 1 and (flagged := [e for e in out if is_fork_flagged(e)])
    }
    return CompanionIndex(companions, forks)


# ------------------------------------------------------------------ validation


def companion_problems(workflow: WorkflowConfigFullyHydrated) -> Iterator[str]:
    """What the platform refuses on save about companions, and what the engine cannot run.

    Companion edges: the companion node must not wait for user messages, and its own edges are
    never followed (a node with outgoing edges is refused rather than silently cut short).
    Forks (the platform's four graph rules and its `thread_id` rules): exactly one main direct
    edge; companion sub-graphs reach no node that waits for the user, fork nothing themselves and
    share no node with the main thread; thread ids `[A-Za-z0-9_-]`, not `0`, without
    `_companion_`, unique.
    """
    nodes = {n.logical_id: n for n in workflow.node_configs if n.logical_id}
    edges = [e for e in workflow.edge_configs if not e.disabled]
    index = index_companions(list(workflow.edge_configs))
    yield from _companion_edge_problems(index, nodes, edges)
    yield from _main_edge_problems(edges)
    yield from _thread_id_problems(index)
    yield from _sub_graph_problems(workflow, index, nodes, edges)


def _edge_name(edge: EdgeConfig) -> str:
    text = f"{edge.name} ({edge.logical_id})" if edge.name else str(edge.logical_id)
    return f"edge {text!r}"


def _node_name(node: NodeConfig) -> str:
    return f"node {node.label!r}"


def _waits(node: NodeConfig) -> bool:
    return bool(getattr(node, "wait_for_user_message", False))


def _companion_edge_problems(
    index: CompanionIndex, nodes: Mapping[str, NodeConfig], edges: list[EdgeConfig]
) -> Iterator[str]:
    leaving = {_source(e) for e in edges}
    for group in index.companions.values():
        for edge in group:
            node = nodes.get(_destination(edge))
            if node is None:
                continue  # the graph's own checks name the missing node
            where = f"{_edge_name(edge)} (companion edge) leads to {_node_name(node)}"
            if _waits(node):
                yield (
                    f"{where}, which waits for user messages; a companion node runs inside its "
                    "source's turn: set wait_for_user_message: false on it"
                )
            if node.logical_id in leaving:
                yield (
                    f"{where}, which has edges of its own; the engine runs a companion node once "
                    "beside its source and follows none of its edges: remove them (share results "
                    "through runtime variables) or run this scenario on the API backend"
                )


def _main_edge_problems(edges: list[EdgeConfig]) -> Iterator[str]:
    direct: dict[str, list[EdgeConfig]] = {}
    for edge in edges:
        if isinstance(edge, DirectEdgeConfig):
            direct.setdefault(_source(edge), []).append(edge)
    for source, out in direct.items():
        main = [e for e in out if not is_fork_flagged(e)]
        if len(out) > 1 and not main:
            names = ", ".join(_edge_name(e) for e in out)
            yield (
                f"node {source!r} forks only companion threads ({names}): exactly one of its "
                "direct edges must continue the main thread (is_companion_thread: false)"
            )


def _thread_id_problems(index: CompanionIndex) -> Iterator[str]:
    seen: dict[str, str] = {}
    for group in index.forks.values():
        for edge in group:
            configured = configured_thread_id(edge)
            if configured is None:
                continue
            where = f"{_edge_name(edge)} companion_thread_config.thread_id {configured!r}"
            if not _THREAD_ID_CHARS.fullmatch(configured):
                yield f"{where} may only use letters, digits, '_' and '-' (no dots)"
            if COMPANION_THREAD_DELIMITER in configured:
                yield f"{where} must not contain {COMPANION_THREAD_DELIMITER!r}"
            if configured == MAIN_THREAD_ID:
                yield f"{where} is reserved for the main thread: choose another id"
            if configured in seen:
                yield f"{where} is also the thread id of {seen[configured]}: make it unique"
            seen.setdefault(configured, _edge_name(edge))


def _sub_graph_problems(
    workflow: WorkflowConfigFullyHydrated,
    index: CompanionIndex,
    nodes: Mapping[str, NodeConfig],
    edges: list[EdgeConfig],
) -> Iterator[str]:
    if not index.forks:
        return
    onward: dict[str, list[str]] = {}
    for edge in edges:
        if not index.is_fork(edge):
            onward.setdefault(_source(edge), []).append(_destination(edge))
    roots = [n.logical_id for n in workflow.node_configs if n.is_start or _is_global(n)]
    main = _reachable([r for r in roots if r], onward)
    for group in index.forks.values():
        for edge in group:
            where = f"the companion thread of {_edge_name(edge)}"
            reached = _reachable([_destination(edge)], onward)
            for node_id in sorted(reached):
                node = nodes.get(node_id)
                if node is None:
                    continue
                if _waits(node):
                    yield (
                        f"{where} reaches {_node_name(node)}, which waits for user messages; "
                        "companions never receive them: set wait_for_user_message: false"
                    )
                if index.forks_of(node_id):
                    yield f"{where} reaches {_node_name(node)}, which forks again: companions may not fork"
                if node_id in main:
                    yield (
                        f"{where} reaches {_node_name(node)}, which the main thread also reaches: "
                        "keep the companion sub-graph separate and share results through variables"
                    )


def _is_global(node: NodeConfig) -> bool:
    config = node.global_node_config
    return config is not None and config.is_global


def _reachable(roots: list[str], onward: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        stack.extend(onward.get(node_id, []))
    return seen
