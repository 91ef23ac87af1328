"""The run inputs a scenario's turns send: the same models, fields and values as built by hand."""

from __future__ import annotations

from harness.models.api import ChatMessage, Command, NodeRunInput, ThreadInput, WorkflowRunInput
from harness.models.scenario import Scenario, user_run_input


def _thread(*texts: str) -> dict[str, ThreadInput]:
    messages: list[ChatMessage] = [ChatMessage(role="user", content=t) for t in texts]
    return {"0": ThreadInput(node_run_inputs=[NodeRunInput(type="llm", messages=messages)])}


def _same(got: WorkflowRunInput, expected: WorkflowRunInput) -> None:
    assert got == expected
    assert got.model_fields_set == expected.model_fields_set
    node, expected_node = (i.thread_to_node_inputs["0"].node_run_inputs[0] for i in (got, expected))
    assert node.model_fields_set == expected_node.model_fields_set == {"type", "messages"}
    assert type(node.messages[0]) is ChatMessage
    assert node.messages[0].model_fields_set == {"role", "content"}
    assert got.model_dump_json() == expected.model_dump_json()


def test_a_user_turn_sends_its_messages_to_thread_0() -> None:
    expected = WorkflowRunInput(command=Command.DATA, thread_to_node_inputs=_thread("a", "b"))
    _same(user_run_input(["a", "b"]), expected)
    _same(
        user_run_input("a"),
        WorkflowRunInput(command=Command.DATA, thread_to_node_inputs=_thread("a")),
    )


def test_a_start_turn_with_user_text_sends_it_with_the_variables() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "n",
            "workflow_id": "65a1b2c3d4e5f60718293a4b",
            "dynamic_variables": {"clinic": "North"},
            "turns": [{"start": {"user": "hi", "welcome_message": "Hello"}}],
        }
    )
    expected = WorkflowRunInput(
        command=Command.START,
        dynamic_variables={"clinic": "North"},
        runtime_variables={},
        miscellaneous={},
        version_number=0,
        thread_to_node_inputs=_thread("hi"),
        start_node_logical_id=None,
        welcome_message="Hello",
    )
    _same(scenario.run_input_for(scenario.turns[0]), expected)
