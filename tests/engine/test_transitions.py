"""Transitions in PLATFORM.md §5 order: globals, expressions, freeform (both methods), direct, loops."""

from __future__ import annotations

import itertools

import pytest
from engine_helpers import (
    command,
    conditional,
    direct,
    event,
    node,
    path,
    said,
    say_llm,
    say_static,
    start,
    turn_events,
    types,
    user,
    worker,
    workflow,
)

from harness.engine import Engine, LLMClient
from harness.engine.variables import FixedClock
from harness.errors import GraphValidationError
from harness.models.api import RunStatus
from harness.testing.scripted_model import ScriptedModel

CALL_ANY_GO_TO = [
    {
        "when": {"tool_offered": f"go_to_{name}"},
        "reply": {"tool_calls": [{"name": f"go_to_{name}"}]},
    }
    for name in ("n2", "n3", "n4", "n5")
]


def _hello() -> dict:
    return {"0": {"node_run_inputs": [{"messages": [{"role": "user", "content": "hello"}]}]}}


async def test_an_expression_edge_wins_over_a_freeform_edge_the_llm_chose(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(
        {
            "rules": [
                {
                    "when": {"tool_offered": "go_to_a"},
                    "reply": {"tool_calls": [{"name": "go_to_a"}]},
                }
            ]
        }
    )
    flow = workflow(
        [say_llm("route"), say_static("a", "A"), say_static("b", "B")],
        [
            conditional("route", "a", freeform="The user is happy."),
            conditional(
                "route",
                "b",
                expression="{{tier}} == 'gold' AND isPresent({{tier}})",
                freeform="ignored",
            ),
        ],
        dynamic_variables={"tier": "gold"},
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))
    assert said(run) == ["B"]
    edge = event(run, "conditional_edge")
    assert edge.get("edge_logical_id") == "route_if_b"
    assert "expression" in edge.get("reason")
    assert model.requests[0].tool_names == ["go_to_a"]  # expression conditions are never offered


async def test_a_freeform_edge_is_a_tool_described_by_its_condition(
    engine: Engine, model: ScriptedModel
) -> None:
    schema = {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]}
    model.load(
        {
            "rules": [
                {
                    "when": {"tool_offered": "day_chosen"},
                    "reply": {
                        "tool_calls": [{"name": "day_chosen", "arguments": {"day": "friday"}}]
                    },
                }
            ]
        }
    )
    flow = workflow(
        [say_llm("ask"), say_static("done", "Booked for [[day]].")],
        [
            conditional(
                "ask",
                "done",
                freeform="The user chose a day at {{clinic}}.",
                args_schema=schema,
                name="day chosen",
            )
        ],
        dynamic_variables={"clinic": "Riverside"},
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))

    offered = model.requests[0].body["tools"]
    assert offered == [
        {
            "type": "function",
            "function": {
                "name": "day_chosen",
                "description": "The user chose a day at Riverside.",
                "parameters": schema,
            },
        }
    ]
    assert event(run, "conditional_edge").get("args_filled") == {"day": "friday"}
    assert said(run) == ["Booked for friday."]


async def test_an_edge_static_message_is_said_and_the_next_node_still_answers(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(
        {
            "rules": [
                {
                    "when": {"tool_offered": "go_to_help"},
                    "reply": {"tool_calls": [{"name": "go_to_help"}]},
                },
                {"when": {"system": "You help."}, "reply": {"text": "Here is help."}},
            ]
        }
    )
    flow = workflow(
        [say_llm("route"), say_llm("help", "You help.")],
        [
            conditional(
                "route", "help", freeform="The user needs help.", static_messages=["One moment."]
            )
        ],
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))
    assert said(run) == ["One moment.", "Here is help."]
    order = types(run)
    edge_at = order.index("conditional_edge")
    assert order[edge_at : edge_at + 4] == [
        "conditional_edge",
        "say_static",
        "assistant_response",
        "workflow_navigation_message",
    ]
    assert model.requests[-1].messages[-1] == {"role": "assistant", "content": "One moment."}


async def test_independent_llm_evaluations_make_one_yes_no_call_per_condition(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(
        {
            "rules": [
                {
                    "when": {"response_format": "condition_evaluation", "system": "emergency"},
                    "reply": {"json": {"is_condition_met": False}},
                },
                {
                    "when": {"response_format": "condition_evaluation", "system": "billing"},
                    "reply": {"json": {"is_condition_met": False}},
                },
                {
                    "when": {"response_format": "condition_evaluation", "system": "appointment"},
                    "reply": {"json": {"is_condition_met": True, "args": {"when": "monday"}}},
                },
                {
                    "when": {"response_format": "condition_evaluation"},
                    "reply": {"json": {"is_condition_met": True}},
                },
            ],
            "default": {"text": "Let me see."},
        }
    )
    flow = workflow(
        [
            say_llm("route"),
            say_static(
                "urgent",
                "Call 911.",
                global_node_config={
                    "is_global": True,
                    "condition": {"condition_freeform": "The user has an emergency."},
                },
            ),
            say_static("bill", "Billing."),
            say_static("book", "Booking for [[when]]."),
            say_static("never", "Never."),
        ],
        [
            conditional("route", "bill", freeform="The user asks about billing."),
            conditional(
                "route",
                "book",
                freeform="The user wants an appointment.",
                args_schema={"type": "object", "properties": {"when": {"type": "string"}}},
            ),
            conditional("route", "never", freeform="Anything else."),
        ],
        global_condition_evaluation_method="independent_llm_evaluations",
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))

    assert model.requests[0].tool_names == []  # no transition tools in this mode
    verdicts = [
        (e.get("destination_node_logical_id"), e.get("is_condition_met"))
        for e in turn_events(run)
        if e.type == "condition_evaluator_llm"
    ]
    assert verdicts == [("urgent", False), ("bill", False), ("book", True)]
    assert said(run) == ["Let me see.", "Booking for monday."]
    assert event(run, "conditional_edge").get("args_filled") == {"when": "monday"}
    assert all(
        e.get("llm_usage_info")["total_tokens"] > 0
        for e in turn_events(run)
        if e.type == "condition_evaluator_llm"
    )
    assert run.llm_token_usage.call_count == 4
    evaluation_request = model.requests[1]
    assert evaluation_request.last_user_text == "hello"
    assert (
        evaluation_request.body["response_format"]["json_schema"]["name"] == "condition_evaluation"
    )


async def test_a_failed_condition_evaluation_counts_as_not_met(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(
        {
            "rules": [
                {
                    "when": {"response_format": "condition_evaluation"},
                    "reply": {"error": {"status": 500}},
                }
            ],
            "default": {"text": "ok"},
        }
    )
    flow = workflow(
        [say_llm("route", self_loop=False), say_static("a", "A"), say_static("b", "B")],
        [conditional("route", "a", freeform="never judged true"), direct("route", "b")],
        global_condition_evaluation_method="independent_llm_evaluations",
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))
    assert said(run) == ["ok", "B"]
    verdict = event(run, "condition_evaluator_llm")
    assert verdict.get("is_condition_met") is False
    assert "HTTP 500" in event(run, "workflow_warning").get("warning_message")


async def test_the_hop_limit_withdraws_transition_tools_until_the_next_user_message(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load({"rules": CALL_ANY_GO_TO, "default": {"text": "staying"}})
    names = ["n1", "n2", "n3", "n4", "n5"]
    flow = workflow(
        [say_llm(n) for n in names],
        [conditional(a, b, freeform=f"go to {b}") for a, b in itertools.pairwise(names)],
        miscellaneous={"consecutive_conditional_edges_max_limit": "2"},
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))
    assert [r.tool_names for r in model.requests] == [["go_to_n2"], ["go_to_n3"], []]
    assert said(run) == ["staying"]
    assert run.status == RunStatus.WAITING_FOR_USER_INPUT

    run = await engine.execute(flow, user(run, "again"))
    assert model.requests[3].tool_names == ["go_to_n4"]


async def test_the_default_hop_limit_is_three(engine: Engine, model: ScriptedModel) -> None:
    model.load({"rules": CALL_ANY_GO_TO, "default": {"text": "staying"}})
    names = ["n1", "n2", "n3", "n4", "n5"]
    flow = workflow(
        [say_llm(n) for n in names],
        [conditional(a, b, freeform=f"to {b}") for a, b in itertools.pairwise(names)],
    )
    await engine.execute(flow, start(thread_to_node_inputs=_hello()))
    assert [bool(r.tool_names) for r in model.requests] == [True, True, True, False]


def test_an_invalid_hop_limit_is_a_graph_problem(engine: Engine) -> None:
    flow = workflow(
        [say_static("a", "A")], miscellaneous={"consecutive_conditional_edges_max_limit": "many"}
    )
    with pytest.raises(GraphValidationError, match="consecutive_conditional_edges_max_limit"):
        engine.plan(flow)


async def test_the_node_cap_aborts_a_looping_turn(llm: LLMClient, clock: FixedClock) -> None:
    flow = workflow([node("no_op", "a"), node("no_op", "b")], [direct("a", "b"), direct("b", "a")])
    run = await Engine(llm=llm, clock=clock).execute(flow, start())

    assert run.status == RunStatus.ABORTED_LOOPING_RISK
    assert types(run).count("start_node_run") == 50
    assert types(run)[-3:] == ["workflow_warning", "end_workflow_iteration", "end_workflow"]
    assert "more than 50 node executions" in event(run, "workflow_warning").get("warning_message")

    small = await Engine(llm=llm, clock=clock, max_node_runs_per_turn=5).execute(flow, start())
    assert types(small).count("start_node_run") == 5


async def test_a_global_expression_condition_fires_from_any_node(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(
        {"rules": [{"when": {"response_format": "triage"}, "reply": {"json": {"urgent": True}}}]}
    )
    triage = {
        "name": "triage",
        "input_schema": {"type": "object", "properties": {"urgent": {"type": "boolean"}}},
    }
    flow = workflow(
        [
            worker("triage", structured_output_schema=triage),
            say_static("normal", "Normal."),
            say_static(
                "er",
                "Go to the ER.",
                global_node_config={
                    "is_global": True,
                    "condition": {"condition_expression": "[[urgent]] == true"},
                },
            ),
        ],
        [direct("triage", "normal")],
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))
    assert said(run) == ["Go to the ER."]
    assert path(run) == ["triage", "er"]
    jump = event(run, "conditional_edge")
    assert (jump.get("destination_node_logical_id"), jump.get("destination_node_name")) == (
        "er",
        "er",
    )


async def test_a_reverse_expression_edge_returns_to_where_the_global_node_was_entered(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(
        {
            "rules": [
                {
                    "when": {"tool_offered": "go_to_faq", "last_user": "question"},
                    "reply": {"tool_calls": [{"name": "go_to_faq"}]},
                }
            ],
            "default": {"text": "Main flow."},
        }
    )
    faq = {
        "is_global": True,
        "condition": {"condition_freeform": "The user has a question."},
        "reverse_conditional_edge": {"condition_expression": "isPresent([[hours]])"},
    }
    flow = workflow(
        [
            say_llm("main"),
            node(
                "tool_node",
                "faq",
                global_node_config=faq,
                tool_config={
                    "type": "knowledge_base",
                    "name": "kb",
                    "target_knowledge_base_ids": ["kb_hours"],
                    "result_runtime_variable_name": "hours",
                },
                tool_arguments={"query": "open"},
            ),
        ],
        miscellaneous={"harness_knowledge_bases": {"kb_hours": ["We open at 8."]}},
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))
    run = await engine.execute(flow, user(run, "I have a question"))

    started = [e.origin_node_logical_id for e in turn_events(run) if e.type == "start_node_run"]
    assert started == ["faq", "main"]
    back = event(run, "reverse_conditional_edge")
    assert (back.get("source_node_logical_id"), back.get("destination_node_logical_id")) == (
        "faq",
        "main",
    )
    # `main` already read this message (and chose to leave), so back there it waits.
    assert types(run)[-3:] == [
        "busy_wait_for_user_message",
        "end_workflow_iteration",
        "workflow_ready_for_input",
    ]
    run = await engine.execute(flow, user(run, "thanks"))
    assert said(run) == ["Main flow."]


async def test_a_direct_edge_follows_when_no_condition_holds_and_nothing_ends_the_thread(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load({"default": {"text": "fine"}})
    flow = workflow(
        [
            say_llm("ask", self_loop=False),
            say_static("next", "Next."),
            say_static("never", "Never."),
        ],
        [direct("ask", "next"), conditional("ask", "never", expression="1 == 2")],
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))
    assert said(run) == ["fine", "Next."]
    assert event(run, "direct_edge").get("edge_logical_id") == "ask_to_next"
    assert run.status == RunStatus.COMPLETED


# ------------------------------------------------------------------ platform edge semantics


def _billing_flow(workflow_method: str, global_method: str) -> object:
    return workflow(
        [
            say_llm("route"),
            say_static(
                "urgent",
                "Call 911.",
                global_node_config={
                    "is_global": True,
                    "condition": {"condition_freeform": "The user has an emergency."},
                    "global_condition_edge_evaluation_method": global_method,
                },
            ),
            say_static("bill", "Billing."),
        ],
        [conditional("route", "bill", freeform="The user asks about billing.")],
        global_condition_evaluation_method=workflow_method,
    )


@pytest.mark.parametrize(
    ("workflow_method", "global_method", "tools", "judged"),
    [
        ("independent_llm_evaluations", "tool_call", ["go_to_urgent"], ["bill"]),
        ("tool_call", "independent_llm_evaluations", ["go_to_bill"], ["urgent"]),
        ("tool_call", "workflow_default", ["go_to_urgent", "go_to_bill"], []),
    ],
)
async def test_a_global_node_may_override_the_workflows_evaluation_method(
    engine: Engine,
    model: ScriptedModel,
    workflow_method: str,
    global_method: str,
    tools: list[str],
    judged: list[str],
) -> None:
    model.load(
        {
            "rules": [
                {
                    "when": {"response_format": "condition_evaluation"},
                    "reply": {"json": {"is_condition_met": False}},
                }
            ],
            "default": {"text": "Let me see."},
        }
    )
    flow = _billing_flow(workflow_method, global_method)
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))  # type: ignore[arg-type]
    assert model.requests[0].tool_names == tools
    evaluated = [
        e.get("destination_node_logical_id")
        for e in turn_events(run)
        if e.type == "condition_evaluator_llm"
    ]
    assert evaluated == judged


async def test_a_dynamic_message_is_a_tool_argument_said_as_the_edge_fires(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(
        {
            "rules": [
                {
                    "when": {"tool_offered": "go_to_help"},
                    "reply": {
                        "tool_calls": [
                            {
                                "name": "go_to_help",
                                "arguments": {"topic": "bills", "dynamic_message": "On it!"},
                            }
                        ]
                    },
                }
            ]
        }
    )
    edge = conditional(
        "route",
        "help",
        freeform="The user needs help.",
        args_schema={"type": "object", "properties": {"topic": {"type": "string"}}},
    )
    edge["condition"]["dynamic_messages_config"] = {
        "dynamic_message_prompt": "Tell {{name}} you are connecting them."
    }
    flow = workflow(
        [say_llm("route"), say_static("help", "Help here.")],
        [edge],
        dynamic_variables={"name": "Ann"},
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))
    parameters = model.requests[0].body["tools"][0]["function"]["parameters"]
    assert parameters["properties"]["dynamic_message"] == {
        "type": "string",
        "description": "Tell Ann you are connecting them.",
    }
    assert parameters["required"] == ["dynamic_message"]
    assert said(run) == ["On it!", "Help here."]
    assert event(run, "conditional_edge").get("args_filled") == {"topic": "bills"}
    order = types(run)
    assert order.index("conditional_edge") < order.index("assistant_response")


async def test_an_expression_edge_with_a_dynamic_message_asks_the_llm_for_it(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(
        {"rules": [{"when": {"system": "Welcome them warmly."}, "reply": {"text": "Welcome!"}}]}
    )
    edge = conditional("gate", "done", expression="[[ready]] == true")
    edge["condition"]["dynamic_messages_config"] = {
        "dynamic_message_prompt": "Welcome them warmly."
    }
    flow = workflow(
        [node("no_op", "gate"), say_static("done", "Done.")],
        [edge],
        runtime_variables={"ready": True},
    )
    run = await engine.execute(flow, start())
    assert said(run) == ["Welcome!", "Done."]
    assert len(model.requests) == 1
    welcome = next(e for e in turn_events(run) if e.type == "assistant_response")
    assert welcome.get("llm_usage_info")["total_tokens"] > 0


async def test_a_static_message_wins_over_a_dynamic_one(
    engine: Engine, model: ScriptedModel
) -> None:
    edge = conditional("gate", "done", expression="true", static_messages=["Static."])
    edge["condition"]["dynamic_messages_config"] = {"dynamic_message_prompt": "Say something."}
    flow = workflow([node("no_op", "gate"), say_static("done", "Done.")], [edge])
    run = await engine.execute(flow, start())
    assert said(run) == ["Static.", "Done."]
    assert model.requests == []


async def test_default_dynamic_variables_sit_under_the_workflows_and_the_runs(
    engine: Engine,
) -> None:
    flow = workflow(
        [say_static("hi", "{{name}} at {{clinic}} ({{plan}})")],
        dynamic_variables={"clinic": "Northside"},
        miscellaneous={
            "default_dynamic_variables": {"name": "Guest", "clinic": "Main", "plan": "basic"}
        },
    )
    run = await engine.execute(flow, start(dynamic_variables={"name": "Ann"}))
    assert said(run) == ["Ann at Northside (basic)"]


@pytest.mark.parametrize(("flag", "destination"), [(None, "plain"), ("false", "guard2")])
async def test_guardrail_nodes_do_not_hop_to_each_other_by_default(
    engine: Engine, flag: str | None, destination: str
) -> None:
    misc = {} if flag is None else {"no_hopping_between_guardrail_nodes": flag}
    flow = workflow(
        [
            node("no_op", "guard1", is_guardrail_node=True),
            say_static("guard2", "Guard 2.", is_guardrail_node=True),
            say_static("plain", "Plain."),
        ],
        [conditional("guard1", "guard2", expression="true"), direct("guard1", "plain")],
        miscellaneous=misc,
    )
    run = await engine.execute(flow, start())
    assert path(run) == ["guard1", destination]


@pytest.mark.parametrize(("flag", "offered"), [(None, []), ("false", ["go_to_done"])])
async def test_after_a_reverse_edge_the_next_llm_call_gets_no_transition_tools(
    engine: Engine, model: ScriptedModel, flag: str | None, offered: list[str]
) -> None:
    misc = (
        {}
        if flag is None
        else {"no_consecutive_conditional_edge_after_reverse_conditional_edge_taken": flag}
    )
    faq = {
        "is_global": True,
        "condition": {"condition_expression": "[[turn]] == 1"},
        "reverse_conditional_edge": {"condition_expression": "true"},
    }
    flow = workflow(
        [
            say_llm("main"),
            node("no_op", "faq", global_node_config=faq),
            say_static("done", "Bye."),
        ],
        [conditional("main", "done", freeform="The user is done.")],
        miscellaneous=misc,
    )
    run = await engine.execute(
        flow, start(thread_to_node_inputs=_hello(), runtime_variables={"turn": 1})
    )
    assert path(run) == ["main", "faq", "main"]  # back on main, which waits for the user
    assert event(run, "reverse_conditional_edge").get("destination_node_logical_id") == "main"
    run = await engine.execute(flow, user(run, "again", runtime_variables={"turn": 2}))
    assert model.requests[-1].tool_names == offered
    run = await engine.execute(flow, user(run, "more"))
    assert model.requests[-1].tool_names == ["go_to_done"]


async def test_a_waiting_edge_fires_without_a_user_message(engine: Engine) -> None:
    waiting = conditional(
        "chat",
        "results",
        expression="[[ready]] == true",
        evaluate_while_waiting_config={
            "enabled": True,
            "trigger_node_logical_ids": ["poller"],
            "max_transitions_per_wait": 1,
        },
    )
    flow = workflow(
        [
            say_llm("chat"),
            node("no_op", "poller"),
            say_static("results", "Your results are in."),
        ],
        [waiting],
    )
    run = await engine.execute(flow, start())
    assert run.status == RunStatus.WAITING_FOR_USER_INPUT
    no_messages = {"0": {"node_run_inputs": []}}
    run = await engine.execute(
        flow,
        command(run, "data", thread_to_node_inputs=no_messages, runtime_variables={"ready": True}),
    )
    order = types(run)
    assert order[:3] == ["waiting_condition_matched", "end_node_run", "workflow_show_state"]
    matched = event(run, "waiting_condition_matched")
    assert matched.get("hydrated_condition_expression") == "true == true"
    assert matched.get("transitions_this_wait") == 1
    assert matched.get("trigger_mode") == "on_node_completion"
    assert event(run, "conditional_edge").get("destination_node_logical_id") == "results"
    assert said(run) == ["Your results are in."]
