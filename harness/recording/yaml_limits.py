"""Bounds on a composed YAML node graph, checked before any value is built.

A YAML alias (`*name`) is the same node used again, so the composed graph stays small while the
data it stands for can be exponential (the "billion laughs": 10 levels of 9 aliases is 9^10
values), and `<<:` merge chains copy a mapping per use. Measuring each shared node once gives the
expanded size in time linear in the text. Used by the cassette loader and the scenario loader.
"""

from __future__ import annotations

from collections.abc import Iterator

import yaml

__all__ = ["GraphLimitError", "check_node_graph", "scalar_nodes"]


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
                raise GraphLimitError(
                    f"expands to more than {max_values:,} values (YAML aliases `*name` and "
                    "`<<:` merges count each time they are used)",
                    node,
                )
            continue
        if id(child) in sizes:
            continue
        if id(child) in visiting:
            raise GraphLimitError("a recursive alias: an anchor used inside itself", child)
        if len(stack) >= max_depth:
            raise GraphLimitError(f"nested more than {max_depth} levels deep", child)
        visiting.add(id(child))
        stack.append((child, iter(_children(child))))


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
