"""The workflow graph: validation (every problem at once) and the lookups the engine needs.

```python
graph = load_graph(workflow, name="clinic_scheduler.json")   # GraphValidationError lists problems
graph.start_node, graph.outgoing("node_greet"), graph.tools_for(node)
```

Validation is where the engine refuses what it cannot run, before a run starts: node types it has
no handler for (telephony, SMS, EHR, Google Docs, super nodes, ...), companions it cannot run, and
config the platform itself would refuse on save (e.g. the evaluate-while-waiting and companion
thread rules).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from harness.engine._plain_schema import plainly_valid
from harness.engine.companion_graph import CompanionIndex, companion_problems, index_companions
from harness.engine.expressions import ExpressionError, parse_expression
from harness.engine.options import options_problems
from harness.engine.structured_output import output_schema
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
    WaitingEvaluationTriggerMode,
    WorkflowConfigFullyHydrated,
)

__all__ = [
    "PLATFORM_ONLY_NODE_TYPES",
    "WorkflowGraph",
    "all_tools",
    "edge_label",
    "load_graph",
    "node_label",
    "unsupported_node_problem",
    "validate_graph",
]

PLATFORM_ONLY_NODE_TYPES: Mapping[str, str] = {
    "start_conversation": "a telephony conversation node",
    "end_conversation": "a telephony conversation node",
    "send_sms": "an SMS node",
    "google_docs": "a Google Docs node",
    "athena_patients_search": "an Athena EHR node",
    "athena_patients_update": "an Athena EHR node",
    "athena_patients_create": "an Athena EHR node",
    "athena_appointments_create": "an Athena EHR node",
    "deduplicate": "a data transformation node",
    "field_extractor": "a data transformation node",
    "super_node": "a super node (an inlined sub-workflow)",
}
"""Node types the platform runs and the built-in engine does not, with what they are."""

_API_BACKEND_HINT = (
    "run this scenario on the API backend (`backend: api` in the scenario, or "
    "`harness run --backend api`), or replace the node"
)


def node_label(node: NodeConfig) -> str:
    """`node 'Greet (node_1)'`: how problems and errors name a node."""
    return f"node {node.label!r}"


def edge_label(edge: EdgeConfig) -> str:
    """`edge 'to goodbye (edge_3)'`: how problems and errors name an edge."""
    text = f"{edge.name} ({edge.logical_id})" if edge.name else str(edge.logical_id)
    return f"edge {text!r}"


def unsupported_node_problem(node: NodeConfig) -> str:
    """Why the engine refuses `node`'s type, and what to do instead."""
    what = PLATFORM_ONLY_NODE_TYPES.get(node.type, "a node type this harness does not know")
    return (
        f"{node_label(node)} has type {node.type!r}, {what}, which the built-in engine cannot "
        f"run: {_API_BACKEND_HINT}"
    )


# ------------------------------------------------------------------ validation


def validate_graph(workflow: WorkflowConfigFullyHydrated) -> list[str]:
    """Every problem of the graph, each naming its node or edge; empty when it can run.

    Checks: logical ids present and unique; one start node; node types the engine runs; edges
    between existing nodes; companion edges and forks as the engine runs them and the platform
    accepts them (`companion_graph.py`); at most one main direct edge out of a node;
    conditions that are non-empty and whose expressions parse; global nodes with a condition;
    evaluate-while-waiting edges as the platform accepts them; tool nodes with a tool; valid JSON
    schemas; the `miscellaneous` settings the engine reads.
    """
    checks = (
        _identity_problems,
        _start_problems,
        _duplicate_problems,
        _node_problems,
        _edge_problems,
        companion_problems,
        _tool_problems,
        _settings_problems,
    )
    return [problem for check in checks for problem in check(workflow)]


def _identity_problems(workflow: WorkflowConfigFullyHydrated) -> Iterator[str]:
    for index, node in enumerate(workflow.node_configs):
        if not node.logical_id:
            yield (
                f"node #{index + 1} ({node.name or node.type}) has no logical_id: give it one "
                "(the platform generates node_<uuid4> on import)"
            )
    for index, edge in enumerate(workflow.edge_configs):
        where = edge_label(edge) if edge.logical_id else f"edge #{index + 1} ({edge.type})"
        if not edge.logical_id:
            yield f"{where} has no logical_id: give it one"
        for end in ("source", "destination"):
            if not getattr(edge, f"{end}_node_logical_id"):
                yield f"{where} has no {end}_node_logical_id: set it to a node logical id"


def _start_problems(workflow: WorkflowConfigFullyHydrated) -> Iterator[str]:
    starts = [n for n in workflow.node_configs if n.is_start]
    if not starts:
        yield "no start node: set is_start: true on exactly one node"
    elif len(starts) > 1:
        names = ", ".join(node_label(n) for n in starts)
        yield f"{len(starts)} start nodes ({names}): keep is_start: true on exactly one"


def _duplicate_problems(workflow: WorkflowConfigFullyHydrated) -> Iterator[str]:
    for kind, ids in (
        ("node", [n.logical_id for n in workflow.node_configs if n.logical_id]),
        ("edge", [e.logical_id for e in workflow.edge_configs if e.logical_id]),
    ):
        for logical_id, count in Counter(ids).items():
            if count > 1:
                yield f"{count} {kind}s share the logical id {logical_id!r}: logical ids must be unique"


def _node_problems(workflow: WorkflowConfigFullyHydrated) -> Iterator[str]:
    for node in workflow.node_configs:
        where = node_label(node)
        if isinstance(node, UnsupportedNodeConfig):
            yield unsupported_node_problem(node)
        config = node.global_node_config
        if config is not None and config.is_global and not _has_condition(config.condition):
            yield f"{where} is global but has no condition: give global_node_config.condition a condition"
        if config is not None:
            yield from _condition_problems(config.condition, f"{where} global condition")
            yield from _condition_problems(
                config.reverse_conditional_edge, f"{where} reverse_conditional_edge"
            )
        if isinstance(node, LLMNodeConfig):
            schema = output_schema(node.structured_output_schema)
            if schema is not None:
                yield from _schema_problems(schema.schema, f"{where} structured_output_schema")


def _edge_problems(workflow: WorkflowConfigFullyHydrated) -> Iterator[str]:
    nodes = {n.logical_id: n for n in workflow.node_configs if n.logical_id}
    direct: dict[str, list[EdgeConfig]] = {}
    for edge in workflow.edge_configs:
        where = edge_label(edge)
        for end in ("source", "destination"):
            target = getattr(edge, f"{end}_node_logical_id")
            if target and target not in nodes:
                yield f"{where} {end} {target!r} is not a node of this workflow"
        if isinstance(edge, ConditionalEdgeConfig):
            if not _has_condition(edge.condition):
                yield f"{where} is conditional but its condition is empty: set condition_expression or condition_freeform"
            yield from _condition_problems(edge.condition, where)
            yield from _waiting_problems(workflow, edge, nodes, where)
        if isinstance(edge, DirectEdgeConfig) and not edge.disabled and not edge.is_companion:
            direct.setdefault(edge.source, []).append(edge)
    for source, edges in direct.items():
        if len(edges) > 1:
            names = ", ".join(edge_label(e) for e in edges)
            yield f"node {source!r} has {len(edges)} direct edges out ({names}): keep one, make the others conditional"


def _waiting_problems(
    workflow: WorkflowConfigFullyHydrated,
    edge: ConditionalEdgeConfig,
    nodes: Mapping[str, NodeConfig],
    where: str,
) -> Iterator[str]:
    """The platform's save-time rules for `evaluate_while_waiting_config` (docs/guides)."""
    config = edge.evaluate_while_waiting_config
    if config is None or not config.enabled:
        return
    where = f"{where} evaluate_while_waiting_config"
    condition = edge.condition
    if condition is None or not (condition.condition_expression or "").strip():
        yield f"{where} needs a condition_expression: only expressions are evaluated while waiting"
    if condition is not None and (condition.condition_freeform or "").strip():
        yield f"{where}: a condition_freeform cannot be evaluated while waiting; remove it"
    mode = config.trigger_mode
    if mode == WaitingEvaluationTriggerMode.ON_NODE_COMPLETION:
        if not config.trigger_node_logical_ids:
            yield f"{where}: trigger_mode on_node_completion needs trigger_node_logical_ids"
        for trigger in config.trigger_node_logical_ids:
            if trigger not in nodes:
                yield f"{where} trigger node {trigger!r} is not a node of this workflow"
    elif not config.min_seconds_between_evaluations:
        yield f"{where}: trigger_mode {mode.value} needs min_seconds_between_evaluations > 0"
    has_direct = any(
        isinstance(other, DirectEdgeConfig)
        and not other.disabled
        and other.source_node_logical_id == edge.source_node_logical_id
        for other in workflow.edge_configs
    )
    if has_direct:
        yield (
            f"{where}: its source node also has a direct edge out, which always wins after the "
            "node runs; fork companions upstream of the waiting node"
        )


def _tool_problems(workflow: WorkflowConfigFullyHydrated) -> Iterator[str]:
    tools_config = workflow.settings.tools_config
    for tool in tools_config.tools if tools_config is not None else []:
        yield from _schema_problems(tool.args_schema, f"workflow tool {tool.name!r} args_schema")
    for node in workflow.node_configs:
        where = node_label(node)
        if isinstance(node, LLMNodeConfig) and node.tools_config is not None:
            for tool in node.tools_config.tools:
                yield from _schema_problems(
                    tool.args_schema, f"{where} tool {tool.name!r} args_schema"
                )
        if isinstance(node, ToolNodeConfig):
            if node.tool_config is None:
                yield f"{where} has no tool_config: give it the tool it runs"
            else:
                yield from _schema_problems(
                    node.tool_config.args_schema,
                    f"{where} tool {node.tool_config.name!r} args_schema",
                )


def _settings_problems(workflow: WorkflowConfigFullyHydrated) -> Iterator[str]:
    yield from options_problems(workflow)


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


def _schema_problems(schema: dict[str, Any] | None, where: str) -> Iterator[str]:
    if not schema or plainly_valid(schema):
        return
    # Imported here: jsonschema (with attrs, referencing, rpds) costs ~30 ms, and many workflows
    # declare no schema at all or only plain ones (`plainly_valid`).
    from jsonschema import Draft202012Validator, SchemaError, validators

    validator = validators.validator_for(schema, default=Draft202012Validator)
    try:
        validator.check_schema(schema)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        yield f"{where} is not a valid JSON schema at {path}: {exc.message}"


def all_tools(
    workflow: WorkflowConfigFullyHydrated, *, tool_nodes: bool = False
) -> Iterator[ToolConfig]:
    """The tools LLMs can call (the workflow's own, then its LLM nodes'); with `tool_nodes`,
    also the tool each tool node runs."""
    tools_config = workflow.settings.tools_config
    yield from tools_config.tools if tools_config is not None else []
    for node in workflow.node_configs:
        if isinstance(node, LLMNodeConfig) and node.tools_config is not None:
            yield from node.tools_config.tools
        elif tool_nodes and isinstance(node, ToolNodeConfig) and node.tool_config is not None:
            yield node.tool_config


# ------------------------------------------------------------------ the graph


def _transition_rank(edge: EdgeConfig) -> int:
    # Expressions are free and deterministic, so they are tried before anything costs an LLM call.
    if isinstance(edge, ConditionalEdgeConfig):
        expression = edge.condition.condition_expression if edge.condition else None
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
        node_names: node logical id -> name (what edge and navigation events name).
        edge_names: edge logical id -> name.
    """

    def __init__(self, workflow: WorkflowConfigFullyHydrated) -> None:
        self.workflow = workflow
        self.nodes: dict[str, NodeConfig] = {n.node_id: n for n in workflow.node_configs}
        self.edges: dict[str, EdgeConfig] = {e.edge_id: e for e in workflow.edge_configs}
        self.node_names: dict[str, str | None] = {k: n.name for k, n in self.nodes.items()}
        self.edge_names: dict[str, str | None] = {k: e.name for k, e in self.edges.items()}
        start = next((n for n in workflow.node_configs if n.is_start), None)
        if start is None:
            raise GraphValidationError(list(_start_problems(workflow)))
        self.start_node: NodeConfig = start
        # Companion edges and forks are run by `companions.py`, never taken as transitions.
        self.companion_index: CompanionIndex = index_companions(list(workflow.edge_configs))
        self._outgoing: dict[str, list[EdgeConfig]] = {}
        for edge in workflow.edge_configs:
            if (
                not edge.disabled
                and not isinstance(edge, CompanionEdgeConfig)
                and not self.companion_index.is_fork(edge)
            ):
                self._outgoing.setdefault(edge.source, []).append(edge)
        for edges in self._outgoing.values():
            edges.sort(key=_transition_rank)  # stable: config order within each group
        self._global_nodes = tuple(
            n
            for n in self.nodes.values()
            if not n.disabled
            and n.global_node_config is not None
            and n.global_node_config.is_global
        )

    def outgoing(self, node_id: str) -> list[EdgeConfig]:
        """Enabled edges out of `node_id` in transition order.

        Order: conditional edges with an expression, then conditional edges judged freeform,
        then the direct edge; config order within each group.
        """
        return list(self._outgoing.get(node_id, []))

    def global_nodes(self) -> list[NodeConfig]:
        """Enabled global nodes (`global_node_config.is_global`), in config order."""
        return list(self._global_nodes)  # found once: every node's transitions look them up

    def tools_for(self, node: NodeConfig) -> list[ToolConfig]:
        """The tools an LLM node offers: its own, then the workflow's not shadowed by name."""
        own = (
            list(node.tools_config.tools)
            if isinstance(node, LLMNodeConfig) and node.tools_config
            else []
        )
        names = {t.name for t in own}
        tools_config = self.workflow.settings.tools_config
        shared = tools_config.tools if tools_config is not None else []
        return own + [t for t in shared if t.name not in names]

    def find_tool(self, name: str) -> ToolConfig | None:
        """A tool by name: the workflow's tools first, then every LLM node's tools."""
        return next((t for t in all_tools(self.workflow) if t.name == name), None)


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
