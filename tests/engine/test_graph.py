"""Workflow graph validation (every problem, each named) and the graph's lookups."""

from __future__ import annotations

from typing import Any

import pytest

from harness.engine.graph import WorkflowGraph, load_graph, validate_graph
from harness.errors import GraphValidationError
from harness.models.api import WorkflowConfigFullyHydrated


def node(logical_id: str, type_: str = "say_llm", **fields: Any) -> dict[str, Any]:
    return {"logical_id": logical_id, "type": type_, **fields}


def direct(logical_id: str, source: str, destination: str, **fields: Any) -> dict[str, Any]:
    return {
        "logical_id": logical_id,
        "type": "direct",
        "source_node_logical_id": source,
        "destination_node_logical_id": destination,
        **fields,
    }


def conditional(
    logical_id: str,
    source: str,
    destination: str,
    *,
    expression: str | None = None,
    freeform: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    condition = {"condition_expression": expression, "condition_freeform": freeform}
    condition.update(fields.pop("condition", {}))
    return {
        **direct(logical_id, source, destination, **fields),
        "type": "conditional",
        "condition": condition,
    }


def tool(name: str, **fields: Any) -> dict[str, Any]:
    return {"type": "inline_python", "name": name, "code": "def f():\n    return 1\n", **fields}


def workflow(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]] | None = None, **config: Any
) -> WorkflowConfigFullyHydrated:
    return WorkflowConfigFullyHydrated.model_validate(
        {"workflow_config": config, "node_configs": nodes, "edge_configs": edges or []}
    )


def valid_workflow() -> WorkflowConfigFullyHydrated:
    return workflow(
        [
            node(
                "greet",
                is_start=True,
                name="Greet",
                tools_config={"tools": [tool("lookup"), tool("shared")]},
            ),
            node(
                "book", "worker_llm", structured_output_schema={"input_schema": {"type": "object"}}
            ),
            node("call", "tool_node", tool_config=tool("shared")),
            node("inline", "tool_node", tool_config=tool("own", args_schema={"type": "object"})),
            node("bye", "say_static"),
            node(
                "help",
                global_node_config={
                    "is_global": True,
                    "condition": {"condition_freeform": "the user asks for help"},
                    "reverse_conditional_edge": {"condition_expression": "[[helped]] == true"},
                },
            ),
        ],
        [
            direct("e_direct", "greet", "bye"),
            conditional("e_free1", "greet", "book", freeform="wants to book"),
            conditional("e_expr1", "greet", "call", expression="[[intent]] == 'call'"),
            conditional("e_free2", "greet", "inline", freeform="wants inline"),
            conditional("e_expr2", "greet", "help", expression="isPresent([[x]])"),
            conditional("e_off", "greet", "bye", expression="true", disabled=True),
            direct("e_off_direct", "greet", "book", disabled=True),
            direct("e_book", "book", "bye"),
        ],
        tools_config={
            "tools": [tool("shared", description="workflow version"), tool("global_tool")]
        },
    )


def test_a_valid_workflow_has_no_problems() -> None:
    assert validate_graph(valid_workflow()) == []


# Each case: a broken workflow and the fragments its one problem must contain.
CASES: list[tuple[str, WorkflowConfigFullyHydrated, list[str]]] = [
    ("no start", workflow([node("a")]), ["no start node", "is_start"]),
    (
        "two starts",
        workflow([node("a", is_start=True), node("b", is_start=True, name="B")]),
        ["2 start nodes", "node 'a'", "node 'B (b)'", "exactly one"],
    ),
    (
        "node without a logical id",
        workflow([node("a", is_start=True), {"type": "say_static", "logical_id": None}]),
        ["node #2 (say_static) has no logical_id"],
    ),
    (
        "edge without ends",
        workflow(
            [node("a", is_start=True)],
            [{"type": "direct", "logical_id": "e1", "destination_node_logical_id": "a"}],
        ),
        ["edge 'e1' has no source_node_logical_id"],
    ),
    (
        "duplicate node ids",
        workflow([node("a", is_start=True), node("a", "say_static")]),
        ["2 nodes share the logical id 'a'"],
    ),
    (
        "duplicate edge ids",
        workflow(
            [node("a", is_start=True), node("b")],
            [direct("e", "a", "b"), conditional("e", "b", "a", freeform="x")],
        ),
        ["2 edges share the logical id 'e'"],
    ),
    (
        "unsupported node type",
        workflow([node("a", is_start=True), node("sms", "send_sms", name="Text them")]),
        ["node 'Text them (sms)'", "type 'send_sms', an SMS node,", "API backend"],
    ),
    (
        "super node",
        workflow([node("a", is_start=True), node("s", "super_node", super_workflow_id="w2")]),
        ["node 's'", "type 'super_node', a super node", "--backend api"],
    ),
    (
        "edge to a missing node",
        workflow([node("a", is_start=True)], [direct("e1", "a", "ghost", name="to ghost")]),
        ["edge 'to ghost (e1)'", "destination 'ghost' is not a node"],
    ),
    (
        "edge from a missing node",
        workflow([node("a", is_start=True)], [direct("e1", "ghost", "a")]),
        ["edge 'e1'", "source 'ghost' is not a node"],
    ),
    (
        "waiting edge with a freeform condition",
        workflow(
            [node("a", is_start=True), node("b"), node("t", "no_op")],
            [
                conditional(
                    "w1",
                    "a",
                    "b",
                    expression="[[ready]] == true",
                    freeform="ready",
                    evaluate_while_waiting_config={
                        "enabled": True,
                        "trigger_node_logical_ids": ["t"],
                    },
                )
            ],
        ),
        ["edge 'w1' evaluate_while_waiting_config", "condition_freeform"],
    ),
    (
        "waiting edge with an unknown trigger",
        workflow(
            [node("a", is_start=True), node("b")],
            [
                conditional(
                    "w1",
                    "a",
                    "b",
                    expression="[[ready]] == true",
                    evaluate_while_waiting_config={
                        "enabled": True,
                        "trigger_node_logical_ids": ["ghost"],
                    },
                )
            ],
        ),
        ["trigger node 'ghost' is not a node"],
    ),
    (
        "waiting edge polling without a debounce",
        workflow(
            [node("a", is_start=True), node("b")],
            [
                conditional(
                    "w1",
                    "a",
                    "b",
                    expression="[[ready]] == true",
                    evaluate_while_waiting_config={
                        "enabled": True,
                        "trigger_mode": "on_every_background_tick",
                    },
                )
            ],
        ),
        ["on_every_background_tick needs min_seconds_between_evaluations > 0"],
    ),
    (
        "waiting edge beside a direct edge",
        workflow(
            [node("a", is_start=True), node("b"), node("t", "no_op")],
            [
                direct("d1", "a", "t"),
                conditional(
                    "w1",
                    "a",
                    "b",
                    expression="[[ready]] == true",
                    evaluate_while_waiting_config={
                        "enabled": True,
                        "trigger_node_logical_ids": ["t"],
                    },
                ),
            ],
        ),
        ["edge 'w1' evaluate_while_waiting_config", "also has a direct edge out"],
    ),
    (
        "hop limit that is not a number",
        workflow(
            [node("a", is_start=True)],
            miscellaneous={"consecutive_conditional_edges_max_limit": "many"},
        ),
        ["consecutive_conditional_edges_max_limit must be a whole number >= 0", "'many'"],
    ),
    (
        "default dynamic variables that are not an object",
        workflow([node("a", is_start=True)], miscellaneous={"default_dynamic_variables": [1]}),
        ["default_dynamic_variables must be an object"],
    ),
    (
        "bad expression on an edge",
        workflow(
            [node("a", is_start=True), node("b")],
            [conditional("e1", "a", "b", expression="[[x]] = 1")],
        ),
        ["edge 'e1' condition_expression '[[x]] = 1'", "use '=='", "column 7"],
    ),
    (
        "empty condition",
        workflow(
            [node("a", is_start=True), node("b")], [conditional("e1", "a", "b", freeform="  ")]
        ),
        ["edge 'e1' is conditional but its condition is empty"],
    ),
    (
        "bad expression in a global condition",
        workflow(
            [
                node("a", is_start=True),
                node(
                    "g",
                    global_node_config={
                        "is_global": True,
                        "condition": {"condition_expression": "isEmpty("},
                    },
                ),
            ]
        ),
        ["node 'g' global condition condition_expression 'isEmpty('", "column 9"],
    ),
    (
        "bad expression in a reverse edge",
        workflow(
            [
                node("a", is_start=True),
                node(
                    "g",
                    global_node_config={
                        "is_global": True,
                        "condition": {"condition_freeform": "help"},
                        "reverse_conditional_edge": {"condition_expression": "a b"},
                    },
                ),
            ]
        ),
        ["node 'g' reverse_conditional_edge condition_expression 'a b'"],
    ),
    (
        "global node without condition",
        workflow([node("a", is_start=True), node("g", global_node_config={"is_global": True})]),
        ["node 'g' is global but has no condition"],
    ),
    (
        "tool node without a tool",
        workflow([node("a", "tool_node", is_start=True)]),
        ["node 'a' has no tool_config"],
    ),
    (
        "two direct edges out of a node",
        workflow(
            [node("a", is_start=True), node("b"), node("c")],
            [direct("e1", "a", "b"), direct("e2", "a", "c")],
        ),
        ["node 'a' has 2 direct edges out", "edge 'e1'", "edge 'e2'"],
    ),
    (
        "invalid workflow tool schema",
        workflow(
            [node("a", is_start=True)],
            tools_config={"tools": [tool("t", args_schema={"type": "objekt"})]},
        ),
        ["workflow tool 't' args_schema is not a valid JSON schema"],
    ),
    (
        "invalid node tool schema",
        workflow(
            [
                node(
                    "a",
                    is_start=True,
                    tools_config={"tools": [tool("t", args_schema={"required": "x"})]},
                )
            ]
        ),
        ["node 'a' tool 't' args_schema is not a valid JSON schema"],
    ),
    (
        "invalid inline tool-node schema",
        workflow(
            [
                node(
                    "a",
                    "tool_node",
                    is_start=True,
                    tool_config=tool("t", args_schema={"properties": 3}),
                )
            ]
        ),
        ["node 'a' tool 't' args_schema is not a valid JSON schema"],
    ),
    (
        "invalid condition args schema",
        workflow(
            [node("a", is_start=True), node("b")],
            [conditional("e1", "a", "b", freeform="x", condition={"args_schema": {"type": 5}})],
        ),
        ["edge 'e1' condition args_schema is not a valid JSON schema"],
    ),
    (
        "invalid structured output schema",
        workflow(
            [
                node(
                    "a",
                    "worker_llm",
                    is_start=True,
                    structured_output_schema={"input_schema": {"minLength": -1}},
                )
            ]
        ),
        ["node 'a' structured_output_schema is not a valid JSON schema at minLength"],
    ),
    (
        "invalid raw structured output schema (the evaluator form)",
        workflow(
            [
                node(
                    "a",
                    "worker_llm",
                    is_start=True,
                    structured_output_schema={"type": "object", "required": "passed"},
                )
            ]
        ),
        ["node 'a' structured_output_schema is not a valid JSON schema at required"],
    ),
]


@pytest.mark.parametrize(
    ("broken", "fragments"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_problem_is_reported_and_named(
    broken: WorkflowConfigFullyHydrated, fragments: list[str]
) -> None:
    problems = validate_graph(broken)
    assert len(problems) == 1, problems
    for fragment in fragments:
        assert fragment in problems[0]


def test_all_problems_are_listed_at_once() -> None:
    broken = workflow(
        [
            node("a"),
            node("a", "send_fax"),
            node("g", global_node_config={"is_global": True}),
            node("t", "tool_node"),
        ],
        [
            direct("e1", "a", "ghost"),
            conditional("e2", "a", "g", expression="(("),
            direct("e4", "t", "a"),
            direct("e5", "t", "g"),
        ],
    )
    problems = validate_graph(broken)
    expected = [
        "no start node",
        "2 nodes share the logical id 'a'",
        "type 'send_fax'",
        "node 'g' is global but has no condition",
        "destination 'ghost'",
        "edge 'e2' condition_expression",
        "node 't' has 2 direct edges out",
        "node 't' has no tool_config",
    ]
    assert len(problems) == len(expected), problems
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem


def test_load_graph_raises_with_every_problem() -> None:
    broken = workflow([node("a"), node("b", "send_fax")])
    with pytest.raises(GraphValidationError) as info:
        load_graph(broken, name="clinic.json")
    assert info.value.problems == validate_graph(broken)
    assert len(info.value.problems) == 2
    assert str(info.value).startswith("clinic.json has 2 graph problem(s):")


def test_outgoing_is_in_transition_order_and_skips_disabled_edges() -> None:
    graph = load_graph(valid_workflow())
    assert [e.logical_id for e in graph.outgoing("greet")] == [
        "e_expr1",
        "e_expr2",
        "e_free1",
        "e_free2",
        "e_direct",
    ]
    assert [e.logical_id for e in graph.outgoing("book")] == ["e_book"]
    assert graph.outgoing("bye") == []
    assert graph.outgoing("nowhere") == []


def test_lookups() -> None:
    graph = load_graph(valid_workflow())
    assert isinstance(graph, WorkflowGraph)
    assert graph.start_node.logical_id == "greet"
    assert list(graph.nodes) == ["greet", "book", "call", "inline", "bye", "help"]
    assert list(graph.edges)[:2] == ["e_direct", "e_free1"]
    assert [n.logical_id for n in graph.global_nodes()] == ["help"]
    greet = graph.nodes["greet"]
    # node tools first; a node tool shadows the workflow tool of the same name
    tools = graph.tools_for(greet)
    assert [t.name for t in tools] == ["lookup", "shared", "global_tool"]
    assert tools[1].description is None
    assert [t.name for t in graph.tools_for(graph.nodes["bye"])] == ["shared", "global_tool"]
    found = graph.find_tool("shared")
    assert found is not None and found.description == "workflow version"
    node_only = graph.find_tool("lookup")
    assert node_only is not None and node_only.name == "lookup"
    assert graph.find_tool("nope") is None


def test_disabled_global_nodes_are_not_listed() -> None:
    graph = load_graph(
        workflow(
            [
                node("a", is_start=True),
                node(
                    "g",
                    disabled=True,
                    global_node_config={
                        "is_global": True,
                        "condition": {"condition_freeform": "x"},
                    },
                ),
            ]
        )
    )
    assert graph.global_nodes() == []


def test_constructing_a_graph_without_a_start_is_refused() -> None:
    with pytest.raises(GraphValidationError, match="no start node"):
        WorkflowGraph(workflow([node("a")]))
