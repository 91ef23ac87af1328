"""The simulated user: an LLM persona writes the user's next message from the conversation so far.

Its calls go through the scenario's LLM client, so they are recorded in the scenario's cassette and
replay offline like the engine's. The request is built only from the run (what was said, in
order), so it is the same on replay.
"""

from __future__ import annotations

from typing import Any

from harness.backends.binding import HarnessLLM
from harness.checks import RunView
from harness.errors import HarnessError
from harness.models.api import WorkflowRun
from harness.models.scenario import SIMULATION_STOP_TOKEN, SimulatedUser

__all__ = ["SIMULATED_USER_NODE", "persona_prompt", "persona_reply", "transcript"]

SIMULATED_USER_NODE = "simulated_user"
"""The `node_logical_id` the simulated user's LLM calls carry (shown in cassette miss reports)."""


def persona_prompt(simulated: SimulatedUser) -> str:
    """The system prompt of the simulated user."""
    lines = [
        "You are role-playing a user who talks to an assistant. Stay in character.",
        f"Who you are: {simulated.persona}",
        f"Your goal: {simulated.goal}",
        "Answer with the user's next message only, as the user would say it.",
    ]
    if simulated.stop_when.goal_reached:
        lines.append(
            f"When your goal is reached, or cannot be reached, answer exactly {SIMULATION_STOP_TOKEN}."
        )
    return "\n".join(lines)


def transcript(run: WorkflowRun | None) -> list[dict[str, Any]]:
    """The conversation from the simulated user's side: the assistant speaks as `user`."""
    messages: list[dict[str, Any]] = []
    pairs = run.input_output_pairs if run is not None else []
    for index, pair in enumerate(pairs):
        for thread in pair.input.thread_to_node_inputs.values():
            for node_input in thread.node_run_inputs:
                messages += [{"role": "assistant", "content": t} for t in node_input.user_texts()]
        said = RunView(run, first=index, last=index).said if run is not None else ""
        if said:
            messages.append({"role": "user", "content": said})
    if not messages or messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": "(the assistant is waiting for you)"})
    return messages


async def persona_reply(llm: HarnessLLM, simulated: SimulatedUser, run: WorkflowRun | None) -> str:
    """The simulated user's next message.

    Raises:
        HarnessError: the LLM call failed, or answered nothing (a replay miss passes through).
    """
    reply = await llm.reply(
        [{"role": "system", "content": persona_prompt(simulated)}, *transcript(run)],
        model=simulated.model,
        provider=simulated.provider,
        temperature=simulated.temperature,
        context={"node_logical_id": SIMULATED_USER_NODE, "purpose": "simulated_user"},
    )
    text = reply.strip()
    if not text:
        raise HarnessError(
            "the simulated user's LLM answered with no text",
            hint="check the persona's provider and model, or give `first_message`",
        )
    return text
