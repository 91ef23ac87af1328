"""Acceptance: a five-node intake with a global "talk to a human" node, over real HTTP.

Mid-conversation the user asks for a human: the run leaves `ask_reason` for the global node
`human` (the main response of `ask_reason` is discarded), and when the user is ready to go on,
the global node's reverse edge returns to `ask_reason`, where the intake continues to the end.
"""

from __future__ import annotations

from engine_helpers import event, load_workflow, path, said, start, types, user

from harness.engine import Engine
from harness.models.api import RunStatus
from harness.testing.scripted_model import ScriptedModel

SCRIPT = {
    "rules": [
        {
            "name": "extract-name",
            "when": {"response_format": "patient_name"},
            "reply": {"json": {"patient_name": "Ana Ruiz"}},
        },
        {
            "name": "wants-human",
            "when": {"tool_offered": "go_to_human", "last_user": "human"},
            "reply": {
                "text": "Let us finish the intake first.",
                "tool_calls": [{"name": "go_to_human"}],
            },
        },
        {
            "name": "human-reply",
            "when": {"system": "wants a human", "last_user": "human"},
            "reply": {"text": "A staff member will call you back. Shall we continue meanwhile?"},
        },
        {
            "name": "go-back",
            "when": {"tool_offered": "return_to_previous_node", "last_user": "continue"},
            "reply": {"tool_calls": [{"name": "return_to_previous_node"}]},
        },
        {
            "name": "reason-given",
            "when": {"tool_offered": "reason_given", "last_user": "headache"},
            "reply": {
                "tool_calls": [{"name": "reason_given", "arguments": {"reason": "a bad headache"}}]
            },
        },
        {
            "name": "ask-reason",
            "when": {"system": "what brings them in"},
            "reply": {"text": "What brings you in today?"},
        },
        {
            "name": "confirm-reason",
            "when": {"system": "ask the patient to confirm", "last_user": "headache"},
            "reply": {"text": "You are here for a bad headache, correct?"},
        },
        {
            "name": "confirmed",
            "when": {"tool_offered": "confirmed", "last_user": "right"},
            "reply": {"tool_calls": [{"name": "confirmed"}]},
        },
    ]
}


async def test_the_global_node_is_entered_and_its_reverse_edge_returns(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(SCRIPT)
    flow = load_workflow("intake.yaml")

    run = await engine.execute(flow, start())
    assert run.status == RunStatus.WAITING_FOR_USER_INPUT
    assert said(run) == ["Welcome to Riverside Clinic. What is your full name?"]

    run = await engine.execute(flow, user(run, "My name is Ana Ruiz"))
    assert said(run) == ["What brings you in today?"]
    outputs = run.input_output_pairs[-1].output.thread_to_node_outputs["0"]
    assert outputs[0].structured_output == {"patient_name": "Ana Ruiz"}
    worker_request = model.requests[0]
    assert worker_request.body["response_format"]["json_schema"]["name"] == "patient_name"
    assert worker_request.tool_names == ["go_to_human"]
    assert model.requests[1].system_text == (
        "You are the intake assistant of Riverside Clinic.\n\n"
        "Ask Ana Ruiz what brings them in today.\n\nBe brief."
    )

    run = await engine.execute(flow, user(run, "Actually, can I talk to a human?"))
    assert said(run) == ["A staff member will call you back. Shall we continue meanwhile?"]
    discarded = event(run, "discarded_main_llm")
    assert discarded.get("message")["content"] == "Let us finish the intake first."
    jump = event(run, "conditional_edge")
    assert (jump.get("source_node_logical_id"), jump.get("destination_node_logical_id")) == (
        "ask_reason",
        "human",
    )
    human_request = model.requests[-1]
    assert "go_to_human" not in human_request.tool_names  # never offered at the node itself
    assert "return_to_previous_node" in human_request.tool_names

    run = await engine.execute(flow, user(run, "Yes, let's continue"))
    back = event(run, "reverse_conditional_edge")
    assert (back.get("source_node_logical_id"), back.get("destination_node_logical_id")) == (
        "human",
        "ask_reason",
    )
    assert said(run) == ["What brings you in today?"]

    run = await engine.execute(flow, user(run, "I have a bad headache"))
    edge = event(run, "conditional_edge")
    assert edge.get("edge_logical_id") == "reason_given"
    assert edge.get("args_filled") == {"reason": "a bad headache"}
    assert said(run) == ["You are here for a bad headache, correct?"]

    run = await engine.execute(flow, user(run, "Yes, that's right"))
    assert run.status == RunStatus.COMPLETED
    assert said(run) == ["Thank you Ana Ruiz, a nurse will see you soon. Goodbye."]
    assert types(run)[-3:] == ["end_thread", "end_workflow_iteration", "end_workflow"]
    assert path(run) == [
        "welcome",
        "ask_name",
        "ask_reason",
        "ask_reason",  # its self-loop: parked for the next message
        "human",
        "human",
        "ask_reason",
        "ask_reason",
        "confirm",
        "confirm",
        "goodbye",
    ]
    assert len(run.input_output_pairs) == 6
    assert run.llm_token_usage.call_count == len(model.requests) == 9
