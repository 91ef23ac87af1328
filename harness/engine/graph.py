"""The workflow graph: validation (every problem at once) and the lookups the engine needs.

```python
graph = load_graph(workflow, name="clinic_scheduler.json")   # GraphValidationError lists problems
graph.start_node, graph.outgoing("node_greet"), graph.tools_for(node)
```
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator, SchemaError, validators

from harness.engine.expressions import ExpressionError, parse_expression
from harness.errors import GraphValidationError
from harness.models.api import (
    CompanionEdgeConfig,
    Condition,
    ConditionalEdgeConfig,
    DirectEdgeConfig,
    EdgeConfig,
    LLMNodeConfig,
    NodeConfig,
    ToolConfig,
    ToolNodeConfig,
    UnsupportedNodeConfig,
    WorkflowConfigFullyHydrated,
)

__all__ = ["WorkflowGraph", "edge_label", "load_graph", "node_label", "validate_graph"]


def node_label(node: NodeConfig) -> str:
    """`node 'Greet (node_1)'`: how problems and errors name a node."""
    return f"node {node.label!r}"


def edge_label(edge: EdgeConfig) -> str:
    """`edge 'to goodbye (edge_3)'`: how problems and errors name an edge."""
    text = f"{edge.name} ({edge.logical_id})" if edge.name else edge.logical_id
    return f"edge {text!r}"


# ------------------------------------------------------------------ validation


def validate_graph(workflow: WorkflowConfigFullyHydrated) -> list[str]:
    """Every problem of the graph, each naming its node or edge; empty when it can run.

    Checks: one start node (or a valid `workflow_config.start_node_logical_id`); unique logical
    ids; node types the engine runs; edges between existing nodes; no companion edges; at most
    one enabled direct edge out of a node; conditions that are non-empty and whose expressions
    parse; global nodes with a condition; tool nodes naming an existing tool; valid JSON schemas
    (tool and condition `args_schema`, `structured_output_schema.input_schema`).
    """
    checks = (
        _start_problems,
        _duplicate_problems,
        _node_problems,
        _edge_problems,
        _tool_problems,
    )
    return [problem for check in checks for problem in check(workflow)]


def _start_problems(workflow: WorkflowConfigFullyHydrated) -> Iterator[str]:
    nodes = workflow.node_configs
    configured = workflow.workflow_config.start_node_logical_id
    if configured:
        if not any(n.logical_id == configured for n in nodes):
            yield (
                f"workflow_config.start_node_logical_id {configured!r} names no node; "
                "set it to one of the node logical ids"
            )
        return
    starts = [n for n in nodes if n.is_start]
    if not starts:
        yield (
            "no start node: set is_start: true on exactly one node, "
            "or set workflow_config.start_node_logical_id"
        )
    elif len(starts) > 1:
        names = ", ".join(node_label(n) for n in starts)
        yield f"{len(starts)} start nodes ({names}): keep is_start: true on exactly one"


def _duplicate_problems(workflow: WorkflowConfigFullyHydrated) -> Iterator[str]:
    for kind, ids in (
        ("node", [n.logical_id for n in workflow.node_configs]),
        ("edge", [e.logical_id for e in workflow.edge_configs]),
    ):
        for logical_id, count in Counter(ids).items():
            if count > 1:
                yield f"{count} {kind}s share the logical id {logical_id!r}: logical ids must be unique"


def _node_problems(workflow: WorkflowConfigFullyHydrated) -> Iterator[str]:
    for node in workflow.node_configs:
        where = node_label(node)
        if isinstance(node, UnsupportedNodeConfig):
            yield (
                f"{where} has type {node.type!r}, which the built-in engine does not run; "
                "replace it or run this workflow with the api backend"
            )
        config = node.global_node_config
        if config is not None and config.is_global and not _has_condition(config.condition):
            yield f"{where} is global but has no condition: give global_node_config.condition a condition"
        if config is not None:
            yield from _condition_problems(config.condition, f"{where} global condition")
            yield from _condition_problems(
                config.reverse_conditional_edge, f"{where} reverse_conditional_edge"
            )
        if isinstance(node, LLMNodeConfig) and node.structured_output_schema is not None:
            schema = node.structured_output_schema.input_schema
            if schema:
                yield from _schema_problems(
                    schema, f"{where} structured_output_schema.input_schema"
                )


def _edge_problems(workflow: WorkflowConfigFullyHydrated) -> Iterator[str]:
    node_ids = {n.logical_id for n in workflow.node_configs}
    direct: dict[str, list[EdgeConfig]] = {}
    for edge in workflow.edge_configs:
        where = edge_label(edge)
        for end in ("source", "destination"):
            target = getattr(edge, f"{end}_node_logical_id")
            if target not in node_ids:
                yield f"{where} {end} {target!r} is not a node of this workflow"
        if isinstance(edge, CompanionEdgeConfig):
            yield (
                f"{where} is a companion edge (background thread), which the built-in engine "
                "does not run; make it a direct or conditional edge"
            )
        if isinstance(edge, ConditionalEdgeConfig):
            if not _has_condition(edge.condition):
                yield f"{where} is conditional but its condition is empty: set condition_expression or condition_freeform"
            yield from _condition_problems(edge.condition, where)
        if isinstance(edge, DirectEdgeConfig) and not edge.disabled:
            direct.setdefault(edge.source_node_logical_id, []).append(edge)
    for source, edges in direct.items():
        if len(edges) > 1:
            names = ", ".join(edge_label(e) for e in edges)
            yield f"node {source!r} has {len(edges)} direct edges out ({names}): keep one, make the others conditional"


def _tool_problems(workflow: WorkflowConfigFullyHydrated) -> Iterator[str]:
    tools = list(workflow.workflow_config.tools_config.tools)
    for tool in tools:
        yield from _schema_problems(tool.args_schema, f"workflow tool {tool.name!r} args_schema")
    for node in workflow.node_configs:
        where = node_label(node)
        if isinstance(node, LLMNodeConfig) and node.tools_config is not None:
            for tool in node.tools_config.tools:
                yield from _schema_problems(
                    tool.args_schema, f"{where} tool {tool.name!r} args_schema"
                )
        if isinstance(node, ToolNodeConfig):
            yield from _tool_node_problems(workflow, node)


def _tool_node_problems(
    workflow: WorkflowConfigFullyHydrated, node: ToolNodeConfig
) -> Iterator[str]:
    where = node_label(node)
    if node.tool is not None:
        yield from _schema_problems(
            node.tool.args_schema, f"{where} tool {node.tool.name!r} args_schema"
        )
    elif not node.tool_name:
        yield f"{where} names no tool: set tool (an inline tool) or tool_name"
    elif _find_tool(workflow, node.tool_name) is None:
        known = sorted({t.name for t in _all_tools(workflow)})
        yield (
            f"{where} calls tool {node.tool_name!r}, which no tools_config defines "
            f"(known tools: {', '.join(known) or 'none'})"
        )


def _has_condition(condition: Condition | None) -> bool:
    return condition is not None and bool(
        (condition.condition_expression or "").strip()
        or (condition.condition_freeform or "").strip()
    )


def _condition_problems(condition: Condition | None, where: str) -> Iterator[str]:
    if condition is None:
        return
    if condition.condition_expression and condition.condition_expression.strip():
        try:
            parse_expression(condition.condition_expression)
        except ExpressionError as exc:
            yield (
                f"{where} condition_expression {exc.expression!r}: {exc.reason} "
                f"(column {exc.column})"
            )
    yield from _schema_problems(condition.args_schema, f"{where} condition args_schema")


def _schema_problems(schema: dict[str, Any], where: str) -> Iterator[str]:
    if not schema:
        return
    validator = validators.validator_for(schema, default=Draft202012Validator)
    try:
        validator.check_schema(schema)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        yield f"{where} is not a valid JSON schema at {path}: {exc.message}"


def _all_tools(workflow: WorkflowConfigFullyHydrated) -> Iterator[ToolConfig]:
    yield from workflow.workflow_config.tools_config.tools
    for node in workflow.node_configs:
        if isinstance(node, LLMNodeConfig) and node.tools_config is not None:
            yield from node.tools_config.tools


def _find_tool(workflow: WorkflowConfigFullyHydrated, name: str) -> ToolConfig | None:
    return next((t for t in _all_tools(workflow) if t.name == name), None)


# ------------------------------------------------------------------ the graph


def _transition_rank(edge: EdgeConfig) -> int:
    # Expressions are free and deterministic, so they are tried before anything costs an LLM call.
    if isinstance(edge, ConditionalEdgeConfig):
        expression = edge.condition.condition_expression
        return 0 if expression and expression.strip() else 1
    return 2


class WorkflowGraph:
    """A validated workflow with its nodes and edges indexed.

    Build it with `load_graph`, which validates first; the constructor assumes a valid graph.

    Attributes:
        workflow: the hydrated workflow.
        nodes: nodes by logical id, in config order.
        edges: edges by logical id, in config order.
        start_node: where a run starts.
    """

    def __init__(self, workflow: WorkflowConfigFullyHydrated) -> None:
        self.workflow = workflow
        self.nodes: dict[str, NodeConfig] = {n.logical_id: n for n in workflow.node_configs}
        self.edges: dict[str, EdgeConfig] = {e.logical_id: e for e in workflow.edge_configs}
        start_id = workflow.workflow_config.start_node_logical_id or next(
            (n.logical_id for n in workflow.node_configs if n.is_start), None
        )
        if start_id is None or start_id not in self.nodes:
            raise GraphValidationError(list(_start_problems(workflow)))
        self.start_node: NodeConfig = self.nodes[start_id]
        self._outgoing: dict[str, list[EdgeConfig]] = {}
        for edge in workflow.edge_configs:
            if not edge.disabled and not isinstance(edge, CompanionEdgeConfig):
                self._outgoing.setdefault(edge.source_node_logical_id, []).append(edge)
        for edges in self._outgoing.values():
            edges.sort(key=_transition_rank)  # stable: config order within each group

    def outgoing(self, node_id: str) -> list[EdgeConfig]:
        """Enabled edges out of `node_id` in transition order.

        Order: conditional edges with an expression, then conditional edges judged freeform,
        then the direct edge; config order within each group.
        """
        return list(self._outgoing.get(node_id, []))

    def global_nodes(self) -> list[NodeConfig]:
        """Enabled global nodes (`global_node_config.is_global`), in config order."""
        return [
            n
            for n in self.nodes.values()
            if not n.disabled
            and n.global_node_config is not None
            and n.global_node_config.is_global
        ]

    def tools_for(self, node: NodeConfig) -> list[ToolConfig]:
        """The tools an LLM node offers: its own, then the workflow's not shadowed by name."""
        own = (
            list(node.tools_config.tools)
            if isinstance(node, LLMNodeConfig) and node.tools_config
            else []
        )
        names = {t.name for t in own}
        shared = [
            t for t in self.workflow.workflow_config.tools_config.tools if t.name not in names
        ]
        return own + shared

    def find_tool(self, name: str) -> ToolConfig | None:
        """A tool by name: the workflow's tools first, then every LLM node's tools."""
        return _find_tool(self.workflow, name)


def load_graph(workflow: WorkflowConfigFullyHydrated, *, name: str = "workflow") -> WorkflowGraph:
    """Validate `workflow` and index it.

    Args:
        workflow: the hydrated workflow.
        name: how errors name the workflow (e.g. its file).

    Raises:
        GraphValidationError: listing every problem found.
    """
    problems = validate_graph(workflow)
    if problems:
        raise GraphValidationError(problems, workflow=name)
    return WorkflowGraph(workflow)
