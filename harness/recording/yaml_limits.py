"""Bounds on a composed YAML node graph, checked before any value is built.

A YAML alias (`*name`) is the same node used again, so the composed graph stays small while the
data it stands for can be exponential (the "billion laughs": 10 levels of 9 aliases is 9^10
values), and `<<:` merge chains copy a mapping per use. Measuring each shared node once gives the
expanded size in time linear in the text. Used by the cassette loader and the scenario loader.

A text without an anchor (`&name`) has no alias, so its graph is a tree: `check_yaml_limits`
then measures it in one recursive pass without the bookkeeping for shared nodes (a third of the
time of reading a typical scenario file went to that bookkeeping), with the same errors.
"""

from __future__ import annotations

from collections.abc import Iterator

import yaml

__all__ = ["GraphLimitError", "check_node_graph", "check_yaml_limits", "scalar_nodes"]


def check_node_graph(root: yaml.Node, *, max_values: int, max_depth: int) -> None:
    """Refuse a graph that expands to more than `max_values` values or nests deeper than
    `max_depth`, or that holds a cycle (an anchor used inside itself).

    Raises:
        ValueError: naming the limit; `.node` is where it was exceeded (for a line number).
    """
    sizes: dict[int, int] = {}
    visiting = {id(root)}
    stack = [(root, iter(_children(root)))]
    while stack:  # depth-first without recursion; the stack is as deep as the document
        node, pending = stack[-1]
        child = next(pending, None)
        if child is None:
            stack.pop()
            visiting.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[id(node)] > max_values:
                raise GraphLimitError(_too_many(max_values), node)
            continue
        if id(child) in sizes:
            continue
        if id(child) in visiting:
            raise GraphLimitError("a recursive alias: an anchor used inside itself", child)
        if len(stack) >= max_depth:
            raise GraphLimitError(_too_deep(max_depth), child)
        visiting.add(id(child))
        stack.append((child, iter(_children(child))))


def check_yaml_limits(root: yaml.Node, text: str, *, max_values: int, max_depth: int) -> None:
    """`check_node_graph` for the graph composed from `text`, cheaper when `text` has no anchor.

    The cheaper pass recurses up to `max_depth` levels: keep it well under the recursion limit
    (the loaders use 100 and 64).

    Raises:
        GraphLimitError: as `check_node_graph`, at the same node with the same message.
    """
    if "&" in text:  # maybe an anchor, so maybe aliases: nodes may be shared
        check_node_graph(root, max_values=max_values, max_depth=max_depth)
    else:
        _tree_size(root, 1, max_values, max_depth)


def _tree_size(node: yaml.Node, depth: int, max_values: int, max_depth: int) -> int:
    """The size of a tree whose root is `depth` deep, checked as `check_node_graph` checks it
    (depth when going down, size when coming back up). The recursion stops at `max_depth`."""
    size = 1
    for child in _children(node):
        if depth >= max_depth:
            raise GraphLimitError(_too_deep(max_depth), child)
        size += _tree_size(child, depth + 1, max_values, max_depth)
    if size > max_values:
        raise GraphLimitError(_too_many(max_values), node)
    return size


def _too_many(max_values: int) -> str:
    return (
        f"expands to more than {max_values:,} values (YAML aliases `*name` and `<<:` merges "
        "count each time they are used)"
    )


def _too_deep(max_depth: int) -> str:
    return f"nested more than {max_depth} levels deep"


class GraphLimitError(ValueError):
    """A limit of `check_node_graph` exceeded at `node`."""

    def __init__(self, message: str, node: yaml.Node) -> None:
        super().__init__(message)
        self.node = node


def scalar_nodes(root: yaml.Node) -> Iterator[yaml.ScalarNode]:
    """Every distinct scalar node of an (acyclic, checked) graph."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            yield node
        stack.extend(_children(node))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
