"""Variables inside the engine: where they are substituted, precedence, built-ins from clock+seed."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from engine_helpers import (
    START,
    conditional,
    direct,
    event,
    said,
    say_llm,
    say_static,
    start,
    user,
    worker,
    workflow,
)

from harness.engine import Engine, LLMClient
from harness.engine.variables import FixedClock, builtin_variables
from harness.testing.scripted_model import ScriptedModel


def _hello(text: str = "hello") -> dict:
    return {"0": {"node_run_inputs": [{"messages": [{"role": "user", "content": text}]}]}}


async def test_prompts_prefix_suffix_and_conditions_are_substituted(
    engine: Engine, model: ScriptedModel
) -> None:
    flow = workflow(
        [say_llm("a", "Help {{name}} with [[topic]] on {{day_of_week}}."), say_static("b", "B")],
        [conditional("a", "b", freeform="{{name}} is done with [[topic]].")],
        default_prompt_prefix="Clinic {{clinic}}.",
        default_prompt_suffix="Unknown stays: {{nobody}} [[nothing]] {{ name }}.",
        dynamic_variables={"name": "Ana", "clinic": "Riverside"},
        runtime_variables={"topic": "billing"},
    )
    await engine.execute(flow, start(thread_to_node_inputs=_hello()))
    request = model.requests[-1]
    assert request.system_text == (
        "Clinic Riverside.\n\nHelp Ana with billing on Monday.\n\nUnknown stays: {{nobody}} [[nothing]] Ana."
    )
    assert request.body["tools"][0]["function"]["description"] == "Ana is done with billing."


async def test_run_input_variables_override_the_workflow_defaults_and_persist(
    engine: Engine, model: ScriptedModel
) -> None:
    flow = workflow(
        [say_llm("a", "{{name}} / [[mood]] / {{extra}}")],
        dynamic_variables={"name": "Default", "extra": "kept"},
        runtime_variables={"mood": "calm"},
    )
    run = await engine.execute(
        flow,
        start(
            dynamic_variables={"name": "Ana"},
            runtime_variables={"mood": "happy"},
            thread_to_node_inputs=_hello(),
        ),
    )
    assert model.requests[-1].system_text == "Ana / happy / kept"
    await engine.execute(flow, user(run, "again", dynamic_variables={"extra": "changed"}))
    assert model.requests[-1].system_text == "Ana / happy / changed"


async def test_builtins_come_from_the_clock_and_the_seed(
    llm: LLMClient, model: ScriptedModel
) -> None:
    flow = workflow(
        [
            say_static(
                "a",
                "{{date}} {{time}} {{year}} {{day_of_week}} {{timestamp}} | {{rand_int}} {{rand_str}} {{rand_uuid}} {{rand_bool}}",
            )
        ]
    )

    async def say(seed: int, clock: FixedClock) -> str:
        return said(await Engine(llm=llm, clock=clock, seed=seed).execute(flow, start()))[0]

    first = await say(3, FixedClock(START))
    assert first.startswith(f"2026-01-05 09:30:00 2026 Monday {int(START.timestamp())} | ")
    assert first == await say(3, FixedClock(START))
    assert first.split("|")[1] != (await say(4, FixedClock(START))).split("|")[1]
    later = await say(3, FixedClock(START + timedelta(days=1)))
    assert later.startswith("2026-01-06 09:30:00 2026 Tuesday")


async def test_rand_builtins_stay_fixed_within_a_run_and_time_moves(
    llm: LLMClient, model: ScriptedModel
) -> None:
    flow = workflow(
        [
            say_static("a", "{{rand_uuid}} {{time}}"),
            say_llm("b", self_loop=False),
            say_static("c", "{{rand_uuid}} {{time}}"),
        ],
        [direct("a", "b"), direct("b", "c")],
    )
    engine = Engine(llm=llm, clock=FixedClock(START, step=timedelta(minutes=1)))
    run = await engine.execute(flow, start())
    run = await engine.execute(flow, user(run, "hello"))
    first, last = said(run, 0)[0], said(run)[-1]
    assert first.split()[0] == last.split()[0]
    assert first.split()[1] != last.split()[1]


class _StillClock:
    """A clock that stands still at one reading, as the clock of a replay does."""

    def __init__(self, reading: datetime) -> None:
        self.reading = reading

    def now(self) -> datetime:
        return self.reading


@pytest.mark.parametrize(
    "reading",
    [START, START.replace(tzinfo=None), START.astimezone(timezone(timedelta(hours=2)))],
    ids=["utc", "naive", "utc+2"],
)
async def test_builtins_of_a_still_clock_are_the_readings_own_every_turn(
    llm: LLMClient, model: ScriptedModel, reading: datetime
) -> None:
    # Built once per reading and run: each zone (or none) keeps its own text.
    flow = workflow(
        [say_static("a", "{{iso_datetime}} {{now}} {{timestamp}}"), say_llm("b")],
        [direct("a", "b")],
    )
    engine = Engine(llm=llm, clock=_StillClock(reading))
    run = await engine.execute(flow, start())
    first = said(run)[0]
    expected = builtin_variables(_StillClock(reading), random.Random(0))
    assert first == f"{expected['iso_datetime']} {expected['now']} {expected['timestamp']}"
    run = await engine.execute(flow, user(run, "hello"))
    state = event(run, "workflow_show_state").get("workflow_runtime_variables")
    assert state["_evaluated_dynamic_variables"]["iso_datetime"] == expected["iso_datetime"]


async def test_structured_output_feeds_later_prompts_and_the_state_event(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(
        {
            "rules": [
                {
                    "when": {"response_format": "slots"},
                    "reply": {"json": {"day": "friday", "nested": {"hour": 9}}},
                }
            ]
        }
    )
    schema = {
        "name": "slots",
        "input_schema": {"type": "object", "properties": {"day": {"type": "string"}}},
    }
    flow = workflow(
        [
            worker("w", structured_output_schema=schema),
            say_llm("s", "Confirm [[day]] at [[nested.hour]]; raw [[nested]].", self_loop=False),
        ],
        [direct("w", "s")],
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))
    assert model.requests[-1].system_text == 'Confirm friday at 9; raw {"hour": 9}.'
    assert event(run, "workflow_show_state").get("runtime_variables") == {
        "day": "friday",
        "nested": {"hour": 9},
    }


async def test_a_raw_json_schema_is_requested_as_the_worker_s_response_format(
    engine: Engine, model: ScriptedModel
) -> None:
    """The platform stores `structured_output_schema` as a plain dict: a raw schema works too."""
    model.load(
        {"rules": [{"when": {"response_format": "Slots"}, "reply": {"json": {"day": "mon"}}}]}
    )
    schema = {"title": "Slots", "type": "object", "properties": {"day": {"type": "string"}}}
    flow = workflow(
        [worker("w", structured_output_schema=schema), say_static("s", "On [[day]].")],
        [direct("w", "s")],
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))
    sent = model.requests[-1].body["response_format"]
    assert sent == {"type": "json_schema", "json_schema": {"name": "Slots", "schema": schema}}
    assert said(run)[-1] == "On mon."


async def test_liquid_filters_route_and_render_a_run(engine: Engine, model: ScriptedModel) -> None:
    """The platform's example 9 pattern: branch on `[[result.level | upcase ]]`, render filters."""
    model.load(
        {
            "rules": [
                {
                    "when": {"response_format": "triage"},
                    "reply": {
                        "json": {
                            "assessment": {"urgency_level": "emergency"},
                            "slots": ["09:30", "11:00"],
                        }
                    },
                }
            ]
        }
    )
    schema = {"name": "triage", "input_schema": {"type": "object"}}
    emergency = (
        "{{ name | capitalize }}: [[assessment.urgency_level | upcase ]] at "
        "[[ slots | join: ', ' ]] ([[slots | size]] slots, first [[slots[0]]]); "
        "clinic {{ clinic | default: 'n/a' }}; kept [[ missing | upcase ]]."
    )
    flow = workflow(
        [
            worker("triage", structured_output_schema=schema),
            say_static("routine", "Routine."),
            say_static("emergency", emergency),
        ],
        [
            conditional(
                "triage",
                "routine",
                expression="[[assessment.urgency_level | upcase ]] == 'ROUTINE'",
            ),
            conditional(
                "triage",
                "emergency",
                expression="[[assessment.urgency_level | upcase ]] == 'EMERGENCY'",
            ),
        ],
        dynamic_variables={"name": "ana"},
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))
    assert said(run) == [
        "Ana: EMERGENCY at 09:30, 11:00 (2 slots, first 09:30); clinic n/a; kept [[ missing | upcase ]]."
    ]
