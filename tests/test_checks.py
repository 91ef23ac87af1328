"""Table-driven tests for every check: each case is a view of a recorded run, an expectation as it
would be written in YAML, and the exact outcomes (status and message) it must produce."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from harness.checks import (
    RunView,
    check_budget_max,
    check_budget_p95,
    check_expect,
    check_run,
    check_scenario_evaluation,
    check_turn,
    percentile,
    simulation_stop_reason,
)
from harness.models import WorkflowRun
from harness.models.api import RunStatus
from harness.models.result import OutcomeStatus, TurnResult, Usage
from harness.models.scenario import SIMULATION_STOP_TOKEN, Budgets, Expect, Scenario, SimulatedUser

RUNS = Path(__file__).parent / "data" / "runs"


def load_run(name: str) -> WorkflowRun:
    return WorkflowRun.model_validate(json.loads((RUNS / f"{name}.json").read_text()))


CLINIC = load_run("clinic_booked")
FAILED = load_run("greet_failed")
VIEWS = {
    "turn0": RunView.of_turn(CLINIC, 0),
    "turn1": RunView.of_turn(CLINIC, 1),
    "turn2": RunView.of_turn(CLINIC, 2),
    "run": RunView.of_run(CLINIC),
    "failed": RunView.of_run(FAILED),
}

CASES = [
    pytest.param(
        "turn2",
        {"status": "completed"},
        [
            ("passed", "status: ok (completed)"),
        ],
        id="status-pass-1",
    ),
    pytest.param(
        "failed",
        {"status": ["completed", "waiting_for_user_input"]},
        [
            ("failed", "status: expected one of completed, waiting_for_user_input, got failed"),
        ],
        id="status-fail-2",
    ),
    pytest.param(
        "run",
        {"termination_source": None},
        [
            ("passed", "termination source: ok (null)"),
        ],
        id="termination_source-pass-1",
    ),
    pytest.param(
        "failed",
        {"termination_source": None},
        [
            ("failed", 'termination source: expected null, got "execution_error"'),
        ],
        id="termination_source-fail-2",
    ),
    pytest.param(
        "failed",
        {"termination_source": "execution_error"},
        [
            ("passed", 'termination source: ok ("execution_error")'),
        ],
        id="termination_source-pass-3",
    ),
    pytest.param(
        "turn0",
        {"says": "Hello Ana Ruiz! How can I help you today?"},
        [
            ("passed", 'said text: ok (exactly "Hello Ana Ruiz! How can I help you today?")'),
        ],
        id="says-pass-1",
    ),
    pytest.param(
        "turn0",
        {"says": "Hello!"},
        [
            (
                "failed",
                'said text: expected exactly "Hello!", got "Hello Ana Ruiz! How can I help you today?"',
            ),
        ],
        id="says-fail-2",
    ),
    pytest.param(
        "turn0",
        {"says": {"equals": "hello ana ruiz! how can i help you today?", "ignore_case": True}},
        [
            ("passed", 'said text: ok (exactly "hello ana ruiz! how can i help you today?")'),
        ],
        id="says-pass-3",
    ),
    pytest.param(
        "turn1",
        {"says": {"contains": ["9:30", "Tuesday"]}},
        [
            ("passed", 'said text: ok (to contain "9:30")'),
            ("passed", 'said text: ok (to contain "Tuesday")'),
        ],
        id="says-pass-4",
    ),
    pytest.param(
        "turn1",
        {"says": {"contains": ["9:30", "Wednesday"]}},
        [
            ("passed", 'said text: ok (to contain "9:30")'),
            (
                "failed",
                'said text: expected to contain "Wednesday", got "I have 9:30 or 11:00 on Tuesday. Which works for you?"',
            ),
        ],
        id="says-fail-5",
    ),
    pytest.param(
        "turn1",
        {"says": {"contains": "tuesday", "ignore_case": True}},
        [
            ("passed", 'said text: ok (to contain "tuesday")'),
        ],
        id="says-pass-6",
    ),
    pytest.param(
        "turn2",
        {"says": {"not_contains": ["sorry", "error"]}},
        [
            ("passed", 'said text: ok (not to contain "sorry")'),
            ("passed", 'said text: ok (not to contain "error")'),
        ],
        id="says-pass-7",
    ),
    pytest.param(
        "turn2",
        {"says": {"not_contains": "booked"}},
        [
            (
                "failed",
                'said text: expected not to contain "booked", got "You\'re booked for Tuesday at 9:30. See you then!"',
            ),
        ],
        id="says-fail-8",
    ),
    pytest.param(
        "turn1",
        {"says": {"regex": "\\b\\d{1,2}:\\d{2}\\b"}},
        [
            ("passed", "said text: ok (to match /\\b\\d{1,2}:\\d{2}\\b/)"),
        ],
        id="says-pass-9",
    ),
    pytest.param(
        "turn0",
        {"says": {"regex": "\\d{1,2}:\\d{2}"}},
        [
            (
                "failed",
                'said text: expected to match /\\d{1,2}:\\d{2}/, got "Hello Ana Ruiz! How can I help you today?"',
            ),
        ],
        id="says-fail-10",
    ),
    pytest.param(
        "turn1",
        {"node": "confirm_slot"},
        [
            ("passed", "current node: ok (confirm_slot)"),
        ],
        id="node-pass-1",
    ),
    pytest.param(
        "turn1",
        {"node": ["goodbye", "handoff"]},
        [
            ("failed", "current node: expected one of goodbye, handoff, got confirm_slot"),
        ],
        id="node-fail-2",
    ),
    pytest.param(
        "run",
        {"path": ["greet", "collect_need", "confirm_slot", "goodbye"]},
        [
            ("passed", "node path: ok (exactly [greet, collect_need, confirm_slot, goodbye])"),
        ],
        id="path-pass-1",
    ),
    pytest.param(
        "turn1",
        {"path": ["greet", "confirm_slot"]},
        [
            (
                "failed",
                "node path: expected exactly [greet, confirm_slot], got [greet, collect_need, confirm_slot]",
            ),
        ],
        id="path-fail-2",
    ),
    pytest.param(
        "turn2",
        {"path": {"equals": ["confirm_slot", "goodbye"], "scope": "turn"}},
        [
            ("passed", "node path of the turn: ok (exactly [confirm_slot, goodbye])"),
        ],
        id="path-pass-3",
    ),
    pytest.param(
        "run",
        {"path": {"contains": ["greet", "goodbye"]}},
        [
            ("passed", "node path: ok ([greet, goodbye] in this order)"),
        ],
        id="path-pass-4",
    ),
    pytest.param(
        "run",
        {"path": {"contains": ["goodbye", "greet"]}},
        [
            (
                "failed",
                "node path: expected [goodbye, greet] in this order, got [greet, collect_need, confirm_slot, goodbye] (no `greet` after the earlier ones)",
            ),
        ],
        id="path-fail-5",
    ),
    pytest.param(
        "run",
        {"path": {"not_contains": ["handoff"]}},
        [
            ("passed", "node path: ok (no `handoff`)"),
        ],
        id="path-pass-6",
    ),
    pytest.param(
        "run",
        {"path": {"not_contains": ["collect_need"]}},
        [
            (
                "failed",
                "node path: expected no `collect_need`, got [greet, collect_need, confirm_slot, goodbye]",
            ),
        ],
        id="path-fail-7",
    ),
    pytest.param(
        "turn1",
        {"transitions": [{"type": "conditional", "to": "collect_need"}, {"edge": "edge_slot"}]},
        [
            (
                "passed",
                "transitions: ok ([conditional * -> collect_need; any edge_slot * -> *] in this order)",
            ),
        ],
        id="transitions-pass-1",
    ),
    pytest.param(
        "turn1",
        {"transitions": [{"edge": "edge_slot"}, {"type": "conditional", "to": "collect_need"}]},
        [
            (
                "failed",
                "transitions: expected [any edge_slot * -> *; conditional * -> collect_need] in this order, got [conditional edge_need greet -> collect_need; direct edge_slot collect_need -> confirm_slot] (no conditional * -> collect_need after the earlier ones)",
            ),
        ],
        id="transitions-fail-2",
    ),
    pytest.param(
        "turn1",
        {"transitions": [{"type": "conditional", "args": {"visit_type": "follow-up"}}]},
        [
            (
                "passed",
                'transitions: ok ([conditional * -> * with {"visit_type": "follow-up"}] in this order)',
            ),
        ],
        id="transitions-pass-3",
    ),
    pytest.param(
        "turn2",
        {
            "transitions": {
                "equals": [{"from": "confirm_slot", "to": "goodbye", "type": "conditional"}]
            }
        },
        [
            ("passed", "transitions: ok (exactly [conditional confirm_slot -> goodbye])"),
        ],
        id="transitions-pass-4",
    ),
    pytest.param(
        "turn2",
        {"transitions": {"equals": [{"type": "direct"}]}},
        [
            (
                "failed",
                "transitions: expected exactly [direct * -> *], got [conditional edge_booked confirm_slot -> goodbye]",
            ),
        ],
        id="transitions-fail-5",
    ),
    pytest.param(
        "run",
        {"transitions": {"not_contains": [{"type": "reverse_conditional"}]}},
        [
            ("passed", "transitions: ok (no reverse_conditional * -> *)"),
        ],
        id="transitions-pass-6",
    ),
    pytest.param(
        "run",
        {"transitions": {"not_contains": [{"to": "goodbye"}]}},
        [
            (
                "failed",
                "transitions: expected no any * -> goodbye, got [conditional edge_need greet -> collect_need; direct edge_slot collect_need -> confirm_slot; conditional edge_booked confirm_slot -> goodbye]",
            ),
        ],
        id="transitions-fail-7",
    ),
    pytest.param(
        "turn1",
        {"transitions": {"count": 2}},
        [
            ("passed", "number of transitions: ok (2)"),
        ],
        id="transitions-pass-8",
    ),
    pytest.param(
        "turn0",
        {"transitions": {"count": {"gte": 1}}},
        [
            ("failed", "number of transitions: expected >= 1, got 0"),
        ],
        id="transitions-fail-9",
    ),
    pytest.param(
        "failed",
        {"transitions": [{"type": "self_loop", "from": "greet", "to": "greet"}]},
        [
            ("passed", "transitions: ok ([self_loop greet -> greet] in this order)"),
        ],
        id="transitions-pass-10",
    ),
    pytest.param(
        "turn1",
        {"tool_calls": [{"name": "find_slots", "args": {"day": "tuesday"}}]},
        [
            ("passed", 'tool calls: ok ([find_slots(day="tuesday", ...)] in this order)'),
        ],
        id="tool_calls-pass-1",
    ),
    pytest.param(
        "turn1",
        {"tool_calls": [{"name": "find_slots", "args": {"day": "wednesday"}}]},
        [
            (
                "failed",
                'tool calls: expected [find_slots(day="wednesday", ...)] in this order, got [find_slots(day="tuesday", part_of_day="morning") -> ["09:30", "11:00"]] (no find_slots(day="wednesday", ...) after the earlier ones)',
            ),
        ],
        id="tool_calls-fail-2",
    ),
    pytest.param(
        "turn2",
        {
            "tool_calls": [
                {"name": "book_slot", "result": {"confirmation": "BK-1042"}},
                {"name": "send_sms", "error": True},
            ]
        },
        [
            (
                "passed",
                'tool calls: ok ([book_slot(...) -> {"confirmation": "BK-1042"}; send_sms(...) failing] in this order)',
            ),
        ],
        id="tool_calls-pass-3",
    ),
    pytest.param(
        "turn2",
        {"tool_calls": [{"name": "send_sms", "error": False}]},
        [
            (
                "failed",
                'tool calls: expected [send_sms(...) succeeding] in this order, got [book_slot(day="tuesday", time="09:30", patient="Ana Ruiz") -> {"confirmation": "BK-1042", "time": "09:30"}; send_sms(to="+15550100") -> error "SMS gateway unavailable"] (no send_sms(...) succeeding after the earlier ones)',
            ),
        ],
        id="tool_calls-fail-4",
    ),
    pytest.param(
        "run",
        {"tool_calls": {"equals": [{"name": "find_slots"}, {"name": "book_slot"}]}},
        [
            (
                "failed",
                'tool calls: expected exactly [find_slots(...); book_slot(...)], got [find_slots(day="tuesday", part_of_day="morning") -> ["09:30", "11:00"]; book_slot(day="tuesday", time="09:30", patient="Ana Ruiz") -> {"confirmation": "BK-1042", "time": "09:30"}; send_sms(to="+15550100") -> error "SMS gateway unavailable"]',
            ),
        ],
        id="tool_calls-fail-5",
    ),
    pytest.param(
        "run",
        {"tool_calls": {"not_contains": [{"name": "cancel_booking"}]}},
        [
            ("passed", "tool calls: ok (no cancel_booking(...))"),
        ],
        id="tool_calls-pass-6",
    ),
    pytest.param(
        "run",
        {"tool_calls": {"not_contains": [{"name": "book_slot", "args": {"time": "09:30"}}]}},
        [
            (
                "failed",
                'tool calls: expected no book_slot(time="09:30", ...), got [find_slots(day="tuesday", part_of_day="morning") -> ["09:30", "11:00"]; book_slot(day="tuesday", time="09:30", patient="Ana Ruiz") -> {"confirmation": "BK-1042", "time": "09:30"}; send_sms(to="+15550100") -> error "SMS gateway unavailable"]',
            ),
        ],
        id="tool_calls-fail-7",
    ),
    pytest.param(
        "run",
        {"tool_calls": {"count": {"lte": 3}}},
        [
            ("passed", "number of tool calls: ok (<= 3)"),
        ],
        id="tool_calls-pass-8",
    ),
    pytest.param(
        "turn0",
        {"tool_calls": {"count": {"gte": 1}}},
        [
            ("failed", "number of tool calls: expected >= 1, got 0"),
        ],
        id="tool_calls-fail-9",
    ),
    pytest.param(
        "turn1",
        {
            "tool_calls": [
                {"node": "collect_need", "name": "find_slots", "result": ["09:30", "11:00"]}
            ]
        },
        [
            (
                "passed",
                'tool calls: ok ([find_slots(...) -> ["09:30", "11:00"] in collect_need] in this order)',
            ),
        ],
        id="tool_calls-pass-10",
    ),
    pytest.param(
        "turn1",
        {"runtime_variables": {"preferred_day": "tuesday", "slots": ["09:30", "11:00"]}},
        [
            ("passed", 'runtime variable `preferred_day`: ok ("tuesday")'),
            ("passed", 'runtime variable `slots`: ok (["09:30", "11:00"])'),
        ],
        id="runtime_variables-pass-1",
    ),
    pytest.param(
        "turn1",
        {"runtime_variables": {"preferred_day": "monday", "booking": {"time": "09:30"}}},
        [
            ("failed", 'runtime variable `preferred_day`: expected "monday", got "tuesday"'),
            (
                "failed",
                'runtime variable `booking`: expected {"time": "09:30"}, got nothing (not set; set: attempts, preferred_day, slots)',
            ),
        ],
        id="runtime_variables-fail-2",
    ),
    pytest.param(
        "turn2",
        {"runtime_variables": {"booking": {"confirmation": "BK-1042"}, "attempts": 0}},
        [
            ("passed", 'runtime variable `booking`: ok ({"confirmation": "BK-1042"})'),
            ("passed", "runtime variable `attempts`: ok (0)"),
        ],
        id="runtime_variables-pass-3",
    ),
    pytest.param(
        "run",
        {
            "dynamic_variables": {
                "patient_name": "Ana Ruiz",
                "clinic": "Northside",
                "language": "en",
            }
        },
        [
            ("passed", 'dynamic variable `patient_name`: ok ("Ana Ruiz")'),
            ("passed", 'dynamic variable `clinic`: ok ("Northside")'),
            ("passed", 'dynamic variable `language`: ok ("en")'),
        ],
        id="dynamic_variables-pass-1",
    ),
    pytest.param(
        "run",
        {"dynamic_variables": {"language": "es"}},
        [
            ("failed", 'dynamic variable `language`: expected "es", got "en"'),
        ],
        id="dynamic_variables-fail-2",
    ),
    pytest.param(
        "turn2",
        {
            "events": [
                "start_node_run",
                {"type": "conditional_edge", "fields": {"edge_logical_id": "edge_booked"}},
                "end_workflow",
            ]
        },
        [
            (
                "passed",
                'events: ok ([start_node_run; conditional_edge with {"edge_logical_id": "edge_booked"}; end_workflow] in this order)',
            ),
        ],
        id="events-pass-1",
    ),
    pytest.param(
        "turn2",
        {"events": ["end_workflow", "start_node_run"]},
        [
            (
                "failed",
                'events: expected [end_workflow; start_node_run] in this order, got ["user_messages", "start_node_run", "say_llm", "tool_call", "tool_result", "tool_call", "tool_result", "end_node_run", "workflow_show_state", "conditional_edge", "workflow_navigation_message", "start_node_run", "say_static", "assistant_r... (no start_node_run after the earlier ones)',
            ),
        ],
        id="events-fail-2",
    ),
    pytest.param(
        "turn2",
        {
            "events": {
                "not_contains": [
                    "workflow_error",
                    {"type": "tool_result", "fields": {"success": False}},
                ]
            }
        },
        [
            ("passed", "events: ok (no workflow_error)"),
            (
                "failed",
                'events: expected no tool_result with {"success": false}, got ["user_messages", "start_node_run", "say_llm", "tool_call", "tool_result", "tool_call", "tool_result", "end_node_run", "workflow_show_state", "conditional_edge", "workflow_navigation_message", "start_node_run", "say_static", "assistant_r...',
            ),
        ],
        id="events-fail-3",
    ),
    pytest.param(
        "turn2",
        {
            "events": {
                "counts": {
                    "start_node_run": 2,
                    "assistant_response": {"gte": 2},
                    "workflow_error": 0,
                }
            }
        },
        [
            ("passed", "number of `start_node_run` events: ok (2)"),
            ("failed", "number of `assistant_response` events: expected >= 2, got 1"),
            ("passed", "number of `workflow_error` events: ok (0)"),
        ],
        id="events-fail-4",
    ),
    pytest.param(
        "turn2",
        {
            "output": {
                "select": "outputs.confirm_slot",
                "equals": {"slot": "09:30", "confirmed": True, "timestamp": 0, "price": 50},
                "ignore": ["timestamp"],
                "tolerance": 0.01,
            }
        },
        [
            (
                "passed",
                'output `outputs.confirm_slot`: ok ({"slot": "09:30", "confirmed": true, "timestamp": 0, "price": 50})',
            ),
        ],
        id="output-pass-1",
    ),
    pytest.param(
        "turn2",
        {
            "output": {
                "select": "outputs.confirm_slot",
                "equals": {
                    "slot": "11:00",
                    "confirmed": True,
                    "timestamp": 1700000123,
                    "price": 49.999,
                },
            }
        },
        [
            (
                "failed",
                'output `outputs.confirm_slot`: expected {"slot": "11:00", "confirmed": true, "timestamp": 1700000123, "price": 49.999}, got {"slot": "09:30", "confirmed": true, "timestamp": 1700000123, "price": 49.999}: Value of root[\'slot\'] changed from "11:00" to "09:30".',
            ),
        ],
        id="output-fail-2",
    ),
    pytest.param(
        "turn2",
        {
            "output": {
                "select": "runtime_variables.slots",
                "equals": ["11:00", "09:30"],
                "ignore_order": True,
            }
        },
        [
            ("passed", 'output `runtime_variables.slots`: ok (["11:00", "09:30"])'),
        ],
        id="output-pass-3",
    ),
    pytest.param(
        "turn2",
        {"output": {"select": "runtime_variables.slots", "equals": ["11:00", "09:30"]}},
        [
            (
                "failed",
                'output `runtime_variables.slots`: expected ["11:00", "09:30"], got ["09:30", "11:00"]: Value of root[0] changed from "11:00" to "09:30".; Value of root[1] changed from "09:30" to "11:00".',
            ),
        ],
        id="output-fail-4",
    ),
    pytest.param(
        "turn1",
        {
            "output": {
                "equals": {
                    "collect_need": {
                        "preferred_day": "tuesday",
                        "visit_type": "follow-up",
                        "urgency": 2,
                    }
                }
            }
        },
        [
            (
                "passed",
                'output `outputs`: ok ({"collect_need": {"preferred_day": "tuesday", "visit_type": "follow-up", "urgency": 2}})',
            ),
        ],
        id="output-pass-5",
    ),
    pytest.param(
        "turn1",
        {"output": {"select": "outputs.extract", "equals": {}}},
        [
            (
                "failed",
                "output `outputs.extract`: expected {}, got nothing (no key 'extract' (keys: collect_need) at `outputs`)",
            ),
        ],
        id="output-fail-6",
    ),
    pytest.param(
        "turn1",
        {
            "json_schema": {
                "select": "outputs.collect_need",
                "schema": {
                    "type": "object",
                    "required": ["preferred_day"],
                    "properties": {"urgency": {"type": "integer", "minimum": 1}},
                },
            }
        },
        [
            ("passed", "`outputs.collect_need`: ok (valid against the schema)"),
        ],
        id="json_schema-pass-1",
    ),
    pytest.param(
        "turn1",
        {
            "json_schema": {
                "select": "outputs.collect_need",
                "schema": {
                    "type": "object",
                    "required": ["preferred_day", "reason"],
                    "properties": {"urgency": {"type": "string"}},
                },
            }
        },
        [
            (
                "failed",
                '`outputs.collect_need`: expected valid against the schema, got {"preferred_day": "tuesday", "visit_type": "follow-up", "urgency": 2}, invalid at $: \'reason\' is a required property; at $.urgency: 2 is not of type \'string\'',
            ),
        ],
        id="json_schema-fail-2",
    ),
    pytest.param(
        "run",
        {
            "json_schema": [
                {
                    "select": "input_output_pairs[0].run_input.dynamic_variables",
                    "schema": {"type": "object", "additionalProperties": {"type": "string"}},
                }
            ]
        },
        [
            (
                "passed",
                "`input_output_pairs[0].run_input.dynamic_variables`: ok (valid against the schema)",
            ),
        ],
        id="json_schema-pass-3",
    ),
    pytest.param(
        "turn2",
        {
            "values": [
                {
                    "select": "input_output_pairs[-1].run_output.events[0].type",
                    "equals": "user_messages",
                }
            ]
        },
        [
            (
                "passed",
                '`input_output_pairs[-1].run_output.events[0].type`: ok (equals "user_messages")',
            ),
        ],
        id="values-pass-1",
    ),
    pytest.param(
        "turn2",
        {
            "values": [
                {
                    "select": "input_output_pairs[-1].run_output.events[0].type",
                    "equals": "start_node_run",
                }
            ]
        },
        [
            (
                "failed",
                '`input_output_pairs[-1].run_output.events[0].type`: expected equals "start_node_run", got "user_messages"',
            ),
        ],
        id="values-fail-2",
    ),
    pytest.param(
        "turn2",
        {"values": [{"select": "runtime_variables.slots", "length": 2, "contains": "09:30"}]},
        [
            ("passed", '`runtime_variables.slots`: ok (contains "09:30" and of length 2)'),
        ],
        id="values-pass-3",
    ),
    pytest.param(
        "turn2",
        {"values": [{"select": "runtime_variables.booking.confirmation", "regex": "^BK-\\d{4}$"}]},
        [
            ("passed", "`runtime_variables.booking.confirmation`: ok (matching /^BK-\\d{4}$/)"),
        ],
        id="values-pass-4",
    ),
    pytest.param(
        "turn2",
        {"values": [{"select": "llm_token_usage.total_tokens", "gte": 100, "lt": 500}]},
        [
            ("failed", "`llm_token_usage.total_tokens`: expected >= 100 and < 500, got 887"),
        ],
        id="values-fail-5",
    ),
    pytest.param(
        "turn2",
        {"values": [{"select": "runtime_variables.cancellation", "exists": False}]},
        [
            ("passed", "`runtime_variables.cancellation`: ok (absent)"),
        ],
        id="values-pass-6",
    ),
    pytest.param(
        "turn2",
        {"values": [{"select": "runtime_variables.cancellation", "equals": None}]},
        [
            (
                "failed",
                "`runtime_variables.cancellation`: expected equals null, got nothing (no key 'cancellation' (keys: attempts, booking, preferred_day, slots) at `runtime_variables`)",
            ),
        ],
        id="values-fail-7",
    ),
    pytest.param(
        "turn2",
        {
            "values": [
                {"select": "usage.llm_calls", "one_of": [1, 2]},
                {"select": "said", "not_contains": "sorry"},
            ]
        },
        [
            ("passed", "`usage.llm_calls`: ok (one of [1, 2])"),
            ("passed", '`said`: ok (not contains "sorry")'),
        ],
        id="values-pass-8",
    ),
    pytest.param(
        "turn2",
        {"values": [{"select": "outputs.confirm_slot.price", "eq": 50, "tolerance": 0.01}]},
        [
            ("passed", "`outputs.confirm_slot.price`: ok (= 50 (± 0.01))"),
        ],
        id="values-pass-9",
    ),
    pytest.param(
        "turn2",
        {"values": [{"select": "outputs.confirm_slot.price", "eq": 50}]},
        [
            ("failed", "`outputs.confirm_slot.price`: expected = 50 (± 1e-09), got 49.999"),
        ],
        id="values-fail-10",
    ),
    pytest.param(
        "turn2",
        {"evaluation": {"passed": True, "score": {"gte": 0.8}}},
        [
            ("passed", "evaluation `passed`: ok (equals true)"),
            ("passed", "evaluation `score`: ok (>= 0.8)"),
        ],
        id="evaluation-pass-1",
    ),
    pytest.param(
        "turn2",
        {"evaluation": {"score": {"gte": 0.95}, "scores.empathy": {"gte": 0.8, "lte": 1}}},
        [
            ("failed", "evaluation `score`: expected >= 0.95, got 0.92"),
            ("failed", "evaluation `scores.empathy`: expected >= 0.8 and <= 1, got 0.7"),
        ],
        id="evaluation-fail-2",
    ),
    pytest.param(
        "turn2",
        {"evaluation": {"verdict": "pass"}},
        [
            (
                "failed",
                "evaluation `verdict`: expected equals \"pass\", got nothing (no key 'verdict' (keys: passed, reason, score, scores))",
            ),
        ],
        id="evaluation-fail-3",
    ),
    pytest.param(
        "turn0",
        {"evaluation": {"passed": True}},
        [
            ("failed", "evaluation: expected a verdict with passed, got no evaluation"),
        ],
        id="evaluation-fail-4",
    ),
    pytest.param(
        "run",
        {"no_errors": True},
        [
            ("passed", "errors: ok (none)"),
        ],
        id="no_errors-pass-1",
    ),
    pytest.param(
        "failed",
        {"no_errors": True},
        [
            (
                "failed",
                'errors: expected none, got workflow_error "LLM provider timed out after 30 s" in greet; status failed; termination source execution_error',
            ),
        ],
        id="no_errors-fail-2",
    ),
]


@pytest.mark.parametrize(("view", "expect", "outcomes"), CASES)
def test_check(view: str, expect: dict[str, Any], outcomes: list[tuple[str, str]]) -> None:
    results = check_expect(Expect.model_validate(expect), VIEWS[view])
    assert [(o.status.value, o.message) for o in results] == outcomes


def test_the_table_has_a_passing_and_a_failing_case_for_every_expectation_key() -> None:
    seen: dict[str, set[bool]] = {}
    for case in CASES:
        _, expect, outcomes = case.values
        for key in expect:
            seen.setdefault(key, set()).add(all(status == "passed" for status, _ in outcomes))
    assert set(seen) == set(Expect.model_fields)
    assert {key for key, kinds in seen.items() if kinds != {True, False}} == set()


def test_outcomes_are_keyed_by_where_the_expectation_is_written() -> None:
    expect = Expect.model_validate(
        {"says": {"contains": ["Tuesday"]}, "runtime_variables": {"slots": []}}
    )
    results = check_expect(expect, VIEWS["turn1"], "turns[1].expect")
    assert [(o.check, o.key) for o in results] == [
        ("says.contains", "turns[1].expect.says.contains"),
        ("runtime_variables", "turns[1].expect.runtime_variables.slots"),
    ]
    assert results[1].expected == [] and results[1].got == ["09:30", "11:00"]


def test_a_check_that_raises_is_an_error_outcome_and_the_others_still_run() -> None:
    class BrokenSaid(RunView):
        @cached_property
        def said(self) -> str:
            raise RuntimeError("event stream truncated")

    view = BrokenSaid(CLINIC, first=1, last=1)
    results = check_expect(Expect.model_validate({"says": "x", "node": "confirm_slot"}), view)
    assert [(o.status, o.message) for o in results] == [
        (
            OutcomeStatus.ERROR,
            "says: the check could not run: RuntimeError: event stream truncated",
        ),
        (OutcomeStatus.PASSED, "current node: ok (confirm_slot)"),
    ]


# ------------------------------------------------------------------ budgets


@pytest.mark.parametrize(
    ("budgets", "outcomes"),
    [
        pytest.param(
            {"tokens": {"max": 600}, "llm_calls": {"max": 3}, "latency_ms": {"max": 1000}},
            [
                ("passed", "tokens of the turn: ok (<= 600)"),
                ("passed", "LLM calls of the turn: ok (<= 3)"),
                ("passed", "LLM latency (ms) of the turn: ok (<= 1000)"),
            ],
            id="max-pass",
        ),
        pytest.param(
            {"tokens": {"max": 500}, "llm_calls": {"max": 2}, "latency_ms": {"max": 999.5}},
            [
                ("failed", "tokens of the turn: expected <= 500, got 595"),
                ("failed", "LLM calls of the turn: expected <= 2, got 3"),
                ("failed", "LLM latency (ms) of the turn: expected <= 999.5, got 1000"),
            ],
            id="max-fail",
        ),
        pytest.param({"tokens": {"p95": 10}}, [], id="p95-is-not-a-max"),
    ],
)
def test_budget_max(budgets: dict[str, Any], outcomes: list[tuple[str, str]]) -> None:
    results = check_budget_max(Budgets.model_validate(budgets), VIEWS["turn1"].usage, "budgets")
    assert [(o.status.value, o.message) for o in results] == outcomes


@pytest.mark.parametrize(
    ("budgets", "outcomes"),
    [
        pytest.param(
            {"latency_ms": {"p95": 1000}, "tokens": {"max": 1}},
            [("passed", "95th percentile of LLM latency (ms) over 4 turns: ok (<= 1000)")],
            id="p95-pass",
        ),
        pytest.param(
            {"latency_ms": {"p95": 900}, "tokens": {"p95": 500}},
            [
                (
                    "failed",
                    "95th percentile of tokens over 4 turns: expected <= 500, got 895 (max 1000)",
                ),
                (
                    "failed",
                    "95th percentile of LLM latency (ms) over 4 turns: expected <= 900, got 955 (max 1000)",
                ),
            ],
            id="p95-fail",
        ),
    ],
)
def test_budget_p95(budgets: dict[str, Any], outcomes: list[tuple[str, str]]) -> None:
    samples = [
        Usage(tokens=100, latency_ms=300),
        Usage(tokens=200, latency_ms=400),
        Usage(tokens=300, latency_ms=700),
        Usage(tokens=1000, latency_ms=1000),
    ]
    results = check_budget_p95(Budgets.model_validate(budgets), samples, "budgets")
    assert [(o.status.value, o.message) for o in results] == outcomes
    assert all(o.key and o.key.startswith("budgets.") for o in results)


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 95) == 0.0
    assert percentile([5.0], 95) == 5.0
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50) == 5.5
    assert percentile([300, 400, 700, 1000], 95) == pytest.approx(955)


# ------------------------------------------------------------------ scenario-level helpers


SCENARIO = Scenario.model_validate(
    {
        "name": "books a follow-up",
        "workflow_id": "65a1b2c3d4e5f60718293a4b",
        "turns": [
            {
                "start": {},
                "expect": {"says": {"contains": "Ana"}},
                "budgets": {"tokens": {"max": 100}},
            },
            {"user": "next Tuesday", "expect": {"node": "confirm_slot"}},
        ],
        "expect": {
            "status": "completed",
            "path": ["greet", "collect_need", "confirm_slot", "goodbye"],
        },
        "budgets": {"tokens": {"max": 800}, "llm_calls": {"max": 5}},
        "evaluation": {"expect": {"passed": True, "score": {"gte": 0.9}}},
    }
)


def test_check_turn_applies_expect_and_budget_max_with_turn_keys() -> None:
    results = check_turn(SCENARIO.turns[0], RunView.of_turn(CLINIC, 0), 0)
    assert [(o.key, o.status.value, o.message) for o in results] == [
        ("turns[0].expect.says.contains", "passed", 'said text: ok (to contain "Ana")'),
        ("turns[0].budgets.tokens.max", "failed", "tokens of the turn: expected <= 100, got 120"),
    ]


def test_check_run_applies_the_top_level_expect_and_budgets_to_the_whole_run() -> None:
    results = check_run(SCENARIO, CLINIC)
    assert [(o.key, o.status.value, o.message) for o in results] == [
        ("expect.status", "passed", "status: ok (completed)"),
        (
            "expect.path.equals",
            "passed",
            "node path: ok (exactly [greet, collect_need, confirm_slot, goodbye])",
        ),
        ("budgets.tokens.max", "failed", "tokens of the run: expected <= 800, got 887"),
        ("budgets.llm_calls.max", "passed", "LLM calls of the run: ok (<= 5)"),
    ]


def test_check_scenario_evaluation_reads_the_verdict_fields() -> None:
    verdict = {"passed": True, "score": 0.85, "reason": "slot booked, no empathy"}
    results = check_scenario_evaluation(SCENARIO, verdict)
    assert [(o.key, o.status.value, o.message) for o in results] == [
        ("evaluation.expect.passed", "passed", "evaluation `passed`: ok (equals true)"),
        ("evaluation.expect.score", "failed", "evaluation `score`: expected >= 0.9, got 0.85"),
    ]
    missing = check_scenario_evaluation(SCENARIO, None)
    assert [o.message for o in missing] == [
        "evaluation: expected a verdict with passed, score, got no evaluation"
    ]


# ------------------------------------------------------------------ the view


def test_view_reads_said_text_path_transitions_and_usage_from_events() -> None:
    view = VIEWS["turn1"]
    assert view.said == "I have 9:30 or 11:00 on Tuesday. Which works for you?"
    assert view.path == ["greet", "collect_need", "confirm_slot"]
    assert view.turn_path == ["greet", "collect_need", "confirm_slot"]
    assert [(t.type, t.edge, t.source, t.destination) for t in view.transitions] == [
        ("conditional", "edge_need", "greet", "collect_need"),
        ("direct", "edge_slot", "collect_need", "confirm_slot"),
    ]
    # assistant_response repeats its say_llm call's usage: counted once
    assert view.usage == Usage(
        tokens=595, prompt_tokens=530, completion_tokens=65, llm_calls=3, latency_ms=1000
    )


def test_the_current_node_is_the_last_entered_up_to_the_view() -> None:
    """The end of the run's path up to the view's last turn; a turn that enters no node (here
    a copy of the clinic run with its last turn's node starts removed) is still at the node
    an earlier turn entered."""
    for view in [*VIEWS.values(), RunView(CLINIC, first=1, last=1)]:
        assert view.node == view.path[-1]
    data = CLINIC.model_dump(mode="json")
    events = data["input_output_pairs"][-1]["run_output"]["events"]
    events[:] = [e for e in events if e.get("type") != "start_node_run"]
    quiet = RunView.of_turn(WorkflowRun.model_validate(data))
    assert quiet.turn_path == [] and quiet.node == "confirm_slot"
    empty = WorkflowRun.model_validate({"input_output_pairs": [{"run_output": {"events": []}}]})
    assert RunView.of_turn(empty).node is None


def test_view_over_a_range_of_turns_joins_them() -> None:
    view = RunView(CLINIC, first=1, last=2)
    assert view.said.splitlines() == [
        "I have 9:30 or 11:00 on Tuesday. Which works for you?",
        "You're booked for Tuesday at 9:30. See you then!",
    ]
    assert [c.name for c in view.tool_calls] == ["find_slots", "book_slot", "send_sms"]
    assert view.usage.llm_calls == 4


def test_view_pairs_tool_results_without_ids_by_name_and_parses_json_arguments() -> None:
    events = [
        {"type": "tool_call", "tool_name": "lookup", "arguments": '{"id": 7}'},
        {"type": "tool_call", "name": "notify", "tool_arguments": {"to": "ana"}},
        {"type": "tool_result", "name": "notify", "result": "sent"},
        {"type": "tool_result", "tool_name": "lookup", "tool_result": {"found": True}},
        {"type": "tool_result", "tool_name": "orphan", "error": "boom"},
    ]
    run = WorkflowRun.model_validate({"input_output_pairs": [{"run_output": {"events": events}}]})
    calls = [c.model_dump(exclude_none=True) for c in RunView.of_run(run).tool_calls]
    assert calls == [
        {"name": "lookup", "arguments": {"id": 7}, "result": {"found": True}},
        {"name": "notify", "arguments": {"to": "ana"}, "result": "sent"},
        {"name": "orphan", "arguments": {}, "error": "boom"},
    ]


def test_view_selects_run_fields_and_view_names() -> None:
    view = VIEWS["turn2"]
    assert view.select("input_output_pairs[-1].run_output.events[0].type") == "user_messages"
    assert view.select("turn.run_input.command") == "data"
    assert view.select("tool_calls[1].error") == "SMS gateway unavailable"
    assert view.select("transitions[0].args.slot") == "09:30"
    assert view.select("outputs.notify.sent") is True
    assert view.select("status") == "completed"
    assert view.select("workflow_config_fully_hydrated.dynamic_variables.language") == "en"


def test_a_view_becomes_the_turn_result_the_runner_stores() -> None:
    outcomes = check_expect(Expect.model_validate({"node": "confirm_slot"}), VIEWS["turn1"])
    result = VIEWS["turn1"].to_turn_result(
        index=1, turn=1, kind="user", label="user: next Tuesday", outcomes=outcomes, wall_ms=12.5
    )
    assert (
        result.said,
        result.path,
        result.node,
        result.tokens,
        result.llm_calls,
        result.latency_ms,
    ) == (
        "I have 9:30 or 11:00 on Tuesday. Which works for you?",
        ["greet", "collect_need", "confirm_slot"],
        "confirm_slot",
        595,
        3,
        1000,
    )
    assert [c.name for c in result.tool_calls] == ["find_slots"]
    assert result.input["command"] == "data" and result.run_output is not None
    assert TurnResult.model_validate_json(result.model_dump_json()) == result


@pytest.mark.parametrize(
    ("stop_when", "view", "reply", "reason"),
    [
        pytest.param({}, "turn2", None, "the run is completed", id="terminal"),
        pytest.param(
            {"node": ["confirm_slot", "goodbye"]},
            "waiting",
            None,
            "the run reached confirm_slot",
            id="node",
        ),
        pytest.param(
            {"says": "Which works"}, "waiting", None, "the assistant said what ends it", id="says"
        ),
        pytest.param(
            {},
            "waiting",
            f"thanks {SIMULATION_STOP_TOKEN}",
            "the simulated user reached the goal",
            id="goal",
        ),
        pytest.param(
            {"goal_reached": False}, "waiting", SIMULATION_STOP_TOKEN, None, id="goal-off"
        ),
        pytest.param(
            {"node": "goodbye", "says": {"contains": "bye"}}, "waiting", "hmm", None, id="go-on"
        ),
    ],
)
def test_simulation_stop_reason(
    stop_when: dict[str, Any], view: str, reply: str | None, reason: str | None
) -> None:
    waiting = CLINIC.model_copy(update={"status": RunStatus.WAITING_FOR_USER_INPUT})
    views = VIEWS | {"waiting": RunView.of_turn(waiting, 1)}
    simulated = SimulatedUser.model_validate({"persona": "p", "goal": "g", "stop_when": stop_when})
    assert simulation_stop_reason(simulated, views[view], reply) == reason
