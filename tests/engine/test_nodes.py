"""Each node type: say_static, say_llm, worker_llm, no_op, tool_node, http_request, disabled."""

from __future__ import annotations

from engine_helpers import (
    START,
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

from harness.engine import Engine, LLMClient, ManualClock, ToolMock, ToolRunner
from harness.engine.variables import FixedClock
from harness.models.api import RunStatus
from harness.testing.scripted_model import ScriptedModel

NAME_SCHEMA = {
    "name": "patient",
    "input_schema": {
        "type": "object",
        "properties": {"patient_name": {"type": "string"}, "age": {"type": "integer"}},
    },
}


async def test_say_static_random_picks_are_seeded(llm: LLMClient, clock: FixedClock) -> None:
    flow = workflow([say_static("hi", "a", "b", "c", "d")])

    async def picks(seed: int) -> list[str]:
        engine = Engine(llm=llm, clock=clock, seed=seed)
        return [said(await engine.execute(flow, start()))[0] for _ in range(12)]

    first = await picks(1)
    assert first == await picks(1)
    assert len(set(first)) > 1
    assert first != await picks(2)


async def test_say_static_sequence_advances_then_sticks_on_the_last(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load({"default": {"text": "ok"}})
    flow = workflow(
        [say_static("seq", "one", "two", mode="sequence"), say_llm("ask", self_loop=False)],
        [direct("seq", "ask"), direct("ask", "seq")],
    )
    run = await engine.execute(flow, start())
    spoken = [said(run)]
    for text in ("x", "y"):
        run = await engine.execute(flow, user(run, text))
        spoken.append(said(run))
    assert spoken == [["one"], ["ok", "two"], ["ok", "two"]]


async def test_no_op_writes_its_outcome_and_follows_its_edge(engine: Engine) -> None:
    flow = workflow(
        [
            node("no_op", "junction", output_runtime_variable_name="joined", note="fan-in"),
            say_static("ok", "joined"),
            say_static("bad", "failed"),
        ],
        [
            conditional("junction", "bad", expression="[[joined_success]] == false"),
            direct("junction", "ok"),
        ],
    )
    run = await engine.execute(flow, start())
    assert said(run) == ["joined"]
    output = event(run, "end_node_run").get("run_output")
    assert output["success"] is True and output.get("error_message") is None
    state = event(run, "workflow_show_state").get("runtime_variables")
    assert state == {"joined": None, "joined_success": True}


async def test_a_no_op_simulating_failure_reports_it_without_aborting(engine: Engine) -> None:
    flow = workflow(
        [node("no_op", "boom", simulate_failure=True), say_static("bad", "failed")],
        [conditional("boom", "bad", expression="[[no_op_result_success]] == false")],
    )
    run = await engine.execute(flow, start())
    assert said(run) == ["failed"]
    output = event(run, "end_node_run").get("run_output")
    assert output["success"] is False
    assert "simulate_failure" in output["error_message"]
    assert run.status == RunStatus.COMPLETED


async def test_a_no_op_delay_goes_through_the_injected_sleep(llm: LLMClient) -> None:
    clock = ManualClock(START)
    engine = Engine(llm=llm, clock=clock, sleep=clock.sleep, seed=7)
    run = await engine.execute(workflow([node("no_op", "slow", delay_seconds=2.5)]), start())
    assert clock.slept == [2.5]
    stamps = [e.timestamp for e in turn_events(run)]
    assert stamps[-1] - stamps[0] == 2.5


async def test_say_static_speaks_at_once_even_when_entered_first(engine: Engine) -> None:
    run = await engine.execute(
        workflow([say_static("hello", "Hi"), say_static("bye", "Bye")], [direct("hello", "bye")]),
        start(),
    )
    assert said(run) == ["Hi", "Bye"]
    assert "busy_wait_for_user_message" not in types(run)


async def test_no_op_runs_silently_and_follows_its_edge(engine: Engine) -> None:
    run = await engine.execute(
        workflow([node("no_op", "pass"), say_static("end", "done")], [direct("pass", "end")]),
        start(),
    )
    assert types(run)[:4] == [
        "start_node_run",
        "end_node_run",
        "workflow_show_state",
        "direct_edge",
    ]
    assert said(run) == ["done"]
    assert run.status == RunStatus.COMPLETED


async def test_disabled_nodes_are_skipped_silently(engine: Engine) -> None:
    flow = workflow(
        [say_static("a", "A"), say_static("b", "B", disabled=True), say_static("c", "C")],
        [direct("a", "b"), direct("b", "c")],
    )
    run = await engine.execute(flow, start())
    assert said(run) == ["A", "C"]
    assert path(run) == ["a", "c"]
    assert not [
        e
        for e in turn_events(run)
        if e.origin_node_logical_id == "b"
        and e.type not in ("direct_edge", "workflow_navigation_message")
    ]


async def test_a_disabled_start_node_passes_on_to_its_successor(engine: Engine) -> None:
    flow = workflow([say_static("a", "A", disabled=True), say_static("c", "C")], [direct("a", "c")])
    assert said(await engine.execute(flow, start())) == ["C"]


async def test_worker_structured_output_keys_become_runtime_variables(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(
        {
            "rules": [
                {
                    "when": {"response_format": "patient"},
                    "reply": {"json": {"patient_name": "Ana", "age": 41}},
                }
            ]
        }
    )
    flow = workflow(
        [
            worker("extract", "Extract the name.", structured_output_schema=NAME_SCHEMA),
            say_static("greet", "Hello [[patient_name]] ([[age]])"),
        ],
        [direct("extract", "greet")],
    )
    run = await engine.execute(
        flow,
        start(
            thread_to_node_inputs={
                "0": {"node_run_inputs": [{"messages": [{"type": "human", "content": "I am Ana"}]}]}
            }
        ),
    )

    assert said(run) == ["Hello Ana (41)"]
    # The structured output is the node's run output (the platform's WorkerLLMNodeRunOutput).
    end = event(run, "end_node_run").get("run_output")
    assert end["structured_output"] == {"patient_name": "Ana", "age": 41}
    assert event(run, "workflow_show_state").get("runtime_variables") == {
        "patient_name": "Ana",
        "age": 41,
    }
    output = run.input_output_pairs[-1].run_output.thread_to_node_outputs["0"][0]
    assert output.structured_output == {"patient_name": "Ana", "age": 41}
    body = model.requests[0].body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "patient", "schema": NAME_SCHEMA["input_schema"]},
    }
    assert model.requests[0].last_user_text == "I am Ana"


async def test_a_failed_llm_call_says_the_default_error_message_and_waits(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(
        {
            "rules": [
                {"when": {"last_user": "first"}, "reply": {"error": {"status": 500}}},
                {"when": {"last_user": "second"}, "reply": {"text": "Now it works."}},
            ]
        }
    )
    flow = workflow([say_llm("talk", default_error_message="Sorry, please repeat.")])
    run = await engine.execute(flow, start())
    run = await engine.execute(flow, user(run, "first"))

    assert run.status == RunStatus.WAITING_FOR_USER_INPUT
    assert said(run) == ["Sorry, please repeat."]
    # The failure is a workflow_warning (the platform's say_llm events and output hold no error).
    assert "HTTP 500" in event(run, "workflow_warning").get("warning_message")
    assert types(run)[-3:] == [
        "busy_wait_for_user_message",
        "end_workflow_iteration",
        "workflow_ready_for_input",
    ]

    run = await engine.execute(flow, user(run, "second"))
    assert said(run) == ["Now it works."]


async def test_a_worker_whose_structured_output_is_not_json_fails_like_an_llm_error(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load({"default": {"text": "not json"}})
    flow = workflow(
        [worker("extract", structured_output_schema=NAME_SCHEMA, default_error_message="Pardon?")]
    )
    run = await engine.execute(
        flow,
        start(
            thread_to_node_inputs={
                "0": {"node_run_inputs": [{"messages": [{"role": "user", "content": "hi"}]}]}
            }
        ),
    )
    assert said(run) == ["Pardon?"]
    assert "not JSON" in event(run, "workflow_warning").get("warning_message")


async def test_a_node_without_wait_speaks_first(engine: Engine, model: ScriptedModel) -> None:
    model.load({"default": {"text": "Hello, how can I help?"}})
    run = await engine.execute(workflow([say_llm("greet", wait_for_user_message=False)]), start())
    assert said(run) == ["Hello, how can I help?"]
    assert run.status == RunStatus.WAITING_FOR_USER_INPUT
    assert types(run)[-5:] == [
        "self_loop_edge",
        "start_node_run",
        "busy_wait_for_user_message",
        "end_workflow_iteration",
        "workflow_ready_for_input",
    ]


async def test_without_self_loop_or_edges_the_thread_ends(
    engine: Engine, model: ScriptedModel
) -> None:
    run = await engine.execute(
        workflow([say_llm("once", wait_for_user_message=False, self_loop=False)]), start()
    )
    assert run.status == RunStatus.COMPLETED
    assert types(run)[-4:] == [
        "workflow_show_state",
        "end_thread",
        "end_workflow_iteration",
        "end_workflow",
    ]


async def test_the_llm_self_loop_flag_and_a_bounded_self_loop_are_independent(
    engine: Engine, model: ScriptedModel
) -> None:
    # self_loop_config re-executes at once (no user message needed) until its bound; then the
    # say_llm's own self_loop parks it for the next user message.
    flow = workflow(
        [
            say_llm(
                "chat",
                wait_for_user_message=False,
                self_loop_config={"enabled": True, "max_retries": 1},
            )
        ]
    )
    run = await engine.execute(flow, start())
    assert said(run) == ["I am a scripted model.", "I am a scripted model."]
    order = types(run)
    assert order.count("self_loop_edge") == 2  # the bounded retry, then the flag's loop-back
    assert order.index("self_loop_exhausted") < len(order) - 5
    assert order[-3:] == [
        "busy_wait_for_user_message",
        "end_workflow_iteration",
        "workflow_ready_for_input",
    ]
    assert event(run, "self_loop_exhausted").get("total_attempts") == 2
    assert run.status == RunStatus.WAITING_FOR_USER_INPUT


async def test_llm_tool_calls_run_once_per_execution_then_tools_are_withdrawn(
    llm: LLMClient, clock: FixedClock, model: ScriptedModel
) -> None:
    model.load(
        {
            "rules": [
                {
                    "when": {"last_role": "tool"},
                    "reply": {"text": "Your slot is [[unused]] 09:30."},
                },
                {
                    "when": {"tool_offered": "find_slots"},
                    "reply": {
                        "tool_calls": [{"name": "find_slots", "arguments": {"day": "tuesday"}}]
                    },
                },
            ]
        }
    )
    tool = {
        "type": "inline_python",
        "name": "find_slots",
        "signature": "Find free slots for {{clinic}} on a day.",
        "args_schema": {"type": "object", "properties": {"day": {"type": "string"}}},
        "code": "def find_slots(day):\n    return []",
        "static_messages_config": {"static_messages": ["Let me check."]},
        "result_runtime_variable_name": "slots",
    }
    runner = ToolRunner(http=llm.http, mocks={"find_slots": ToolMock(returns=["09:30", "11:00"])})
    engine = Engine(llm=llm, clock=clock, tools=runner)
    flow = workflow(
        [say_llm("book", "Book a visit.", tools_config={"tools": [tool]})],
        dynamic_variables={"clinic": "Riverside"},
    )
    run = await engine.execute(flow, start())
    run = await engine.execute(flow, user(run, "Tuesday please"))

    assert said(run) == ["Let me check.", "Your slot is [[unused]] 09:30."]
    # The tool's answer is an LLM event carrying the ToolMessage, as on the platform.
    answers = [e.get("message") for e in turn_events(run) if e.type == "say_llm"]
    (answer,) = [m for m in answers if isinstance(m, dict) and m.get("type") == "tool"]
    assert (answer["name"], answer["status"]) == ("find_slots", "success")
    assert answer["response_metadata"]["tool_result"] == ["09:30", "11:00"]
    state = event(run, "workflow_show_state").get("runtime_variables")
    assert state == {"slots": ["09:30", "11:00"], "slots_success": True, "slots_error": None}
    first, second = model.requests[-2:]
    assert first.tool_names == ["find_slots"]
    assert (
        first.body["tools"][0]["function"]["description"]
        == "Find free slots for Riverside on a day."
    )
    assert second.tool_names == []  # max_consecutive_tool_calls = 1
    assert second.messages[-1]["role"] == "tool"
    assert second.messages[-1]["content"] == '["09:30", "11:00"]'
    assert second.messages[-2]["tool_calls"][0]["function"]["name"] == "find_slots"
    asked = [m for m in answers if isinstance(m, dict) and m.get("tool_calls")]
    assert len(answers) == 3 and [c["name"] for c in asked[0]["tool_calls"]] == ["find_slots"]
    assert asked[0]["tool_calls"][0]["args"] == {"day": "tuesday"}
    assert asked[0]["tool_calls"][0]["id"] == answer["tool_call_id"]


async def test_tool_node_calls_its_tool_with_substituted_arguments(
    llm: LLMClient, clock: FixedClock
) -> None:
    kb = {
        "type": "knowledge_base",
        "name": "faq",
        "target_knowledge_base_ids": ["kb_faq"],
        "result_runtime_variable_name": "answer",
    }
    flow = workflow(
        [
            node(
                "tool_node",
                "lookup",
                tool_config=kb,
                tool_arguments={"query": "{{topic}} on sundays"},
            ),
            say_static("tell", "[[answer_success]]: [[answer.results.0.document]]"),
        ],
        [direct("lookup", "tell")],
        miscellaneous={
            "harness_knowledge_bases": {
                "kb_faq": ["Parking is free on Sundays.", "The clinic opens at 8."]
            }
        },
        dynamic_variables={"topic": "parking"},
    )
    run = await Engine(llm=llm, clock=clock).execute(flow, start())
    assert said(run) == ["true: Parking is free on Sundays."]
    run_input = event(run, "start_node_run").get("run_input")
    assert run_input["miscellaneous"] == {
        "tool_name": "faq",
        "tool_arguments": {"query": "parking on sundays"},
    }
    output = run.input_output_pairs[0].run_output.thread_to_node_outputs["0"][0]
    assert output.success is True and output.type == "tool_node"


async def test_a_failing_tool_node_records_the_error_and_goes_on(
    llm: LLMClient, clock: FixedClock
) -> None:
    runner = ToolRunner(http=llm.http, mocks={"book": ToolMock(error="no slots left")})
    tool = {"type": "inline_python", "name": "book", "code": "def book():\n    return 1"}
    flow = workflow(
        [
            node("tool_node", "call", tool_config=tool),
            say_static("tell", "[[tool_result_success]] / [[tool_result_error]]"),
        ],
        [direct("call", "tell")],
    )
    run = await Engine(llm=llm, clock=clock, tools=runner).execute(flow, start())
    assert said(run) == ["false / no slots left"]
    assert run.status == RunStatus.COMPLETED


async def test_http_request_node_stores_the_answer(
    engine: Engine, scripted_server: tuple[ScriptedModel, str]
) -> None:
    _, base_url = scripted_server
    flow = workflow(
        [
            node(
                "http_request",
                "fetch",
                url=f"{base_url}/models",
                result_runtime_variable_name="models",
            ),
            say_static("tell", "[[models_success]] [[models.data.0.id]]"),
        ],
        [direct("fetch", "tell")],
    )
    run = await engine.execute(flow, start())
    assert said(run) == ["true scripted-model"]


async def test_per_node_llms_config_is_honoured(engine: Engine, model: ScriptedModel) -> None:
    llms_config = {
        "provider": "other",
        "model": "node-model",
        "temperature": 0.3,
        "max_tokens": 20,
        "model_kwargs": {"top_p": 0.9},
        "streaming": True,
    }
    flow = workflow(
        [
            say_llm("a", wait_for_user_message=False, self_loop=False, llms_config=llms_config),
            say_llm("b", wait_for_user_message=False, self_loop=False),
        ],
        [direct("a", "b")],
    )
    run = await engine.execute(flow, start())
    first, second = model.requests[-2:]
    assert {
        k: first.body[k] for k in ("model", "temperature", "max_tokens", "top_p", "stream")
    } == {
        "model": "node-model",
        "temperature": 0.3,
        "max_tokens": 20,
        "top_p": 0.9,
        "stream": True,
    }
    assert second.body["model"] == "scripted-model"
    assert "temperature" not in second.body and "stream" not in second.body
    usage = event(run, "say_llm").get("llm_usage_info")
    assert usage["provider"] == "other" and usage["was_streamed"] is True
    assert usage["response_model"] == "node-model"


async def test_a_global_default_llm_without_fields_uses_the_workflows(
    engine: Engine, model: ScriptedModel
) -> None:
    flow = workflow(
        [
            say_llm(
                "a",
                wait_for_user_message=False,
                self_loop=False,
                llms_config={"type": "global_default_llm"},
            )
        ],
        llms_config={"provider": "default_provider", "model": "workflow-model", "temperature": 0.1},
    )
    await engine.execute(flow, start())
    assert model.requests[-1].body["model"] == "workflow-model"
    assert model.requests[-1].body["temperature"] == 0.1
