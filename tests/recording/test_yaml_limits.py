"""`check_yaml_limits`: a text without anchors is measured as a tree, with the same verdicts."""

from __future__ import annotations

import pytest
import yaml

from harness.recording.yaml_limits import GraphLimitError, check_node_graph, check_yaml_limits

DEEP_BLOCK = "".join("  " * i + f"k{i}:\n" for i in range(12)) + "  " * 12 + "v: 1\n"
TREES = [
    "a: 1\n",
    "[1, 2, 3]\n",
    "scalar\n",
    "{a: [1, {b: 2}], c: {d: [3, 4]}}\n",
    DEEP_BLOCK,
    "[" * 9 + "]" * 9 + "\n",
    "[" * 10 + "]" * 10 + "\n",
    "k: [" * 6 + "1" + "]" * 6 + "\n",
    "[" + ", ".join(["1"] * 40) + "]\n",
    "{" + ", ".join(f"k{i}: [1, 2]" for i in range(8)) + "}\n",
    "<<: {a: 1}\nb: 2\n",
]


def outcome(check: object) -> tuple[str, int, int] | None:
    """The error a check raises (message, line, column), or None."""
    try:
        check()  # type: ignore[operator]
    except GraphLimitError as exc:
        mark = exc.node.start_mark
        return str(exc), mark.line, mark.column
    return None


@pytest.mark.parametrize("text", TREES)
@pytest.mark.parametrize(("max_values", "max_depth"), [(1_000, 100), (25, 100), (1_000, 8)])
def test_a_tree_gets_the_verdict_of_the_graph_check(
    text: str, max_values: int, max_depth: int
) -> None:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    limits = {"max_values": max_values, "max_depth": max_depth}
    expected = outcome(lambda: check_node_graph(node, **limits))
    assert outcome(lambda: check_yaml_limits(node, text, **limits)) == expected


def test_the_verdicts_differ_from_none_in_the_table() -> None:
    # The table above must exercise both limits, or it would prove nothing.
    found = set()
    for text in TREES:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        for limits in ({"max_values": 25, "max_depth": 100}, {"max_values": 1_000, "max_depth": 8}):
            result = outcome(lambda: check_yaml_limits(node, text, **limits))  # noqa: B023
            found.add(result[0].split(" ")[0] if result else None)
    assert found == {None, "expands", "nested"}


def test_a_text_with_an_anchor_is_checked_as_a_graph() -> None:
    text = "a: &a [1, 2]\nb: [*a, *a, *a]\n"
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    with pytest.raises(GraphLimitError, match="expands to more than 10 values"):
        check_yaml_limits(node, text, max_values=10, max_depth=100)
    recursive = "a: &a [*a]\n"
    with pytest.raises(GraphLimitError, match="recursive alias"):
        check_yaml_limits(
            yaml.compose(recursive, Loader=yaml.SafeLoader), recursive, max_values=10, max_depth=100
        )
