"""`harness serve` fuzzed from its own OpenAPI document with schemathesis (in-process ASGI).

Every operation gets schema-conforming (positive) and schema-violating (negative) requests. No
input may produce a 500, and every 422 must name the offending field (`loc` in `detail` and the
`message` line). Half of the execute cases target a preloaded workflow, so random run inputs reach
the engine instead of stopping at "unknown workflow". The per-operation counts of generated cases
and statuses are printed by the last test (`pytest -s tests/test_server_fuzz.py`).
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from serve_helpers import direct, hydrated, node

from harness.config import HarnessSettings, ProviderConfig
from harness.server import WorkflowCatalog, create_app

MAX_EXAMPLES = 40
KNOWN_ID = "ab" * 12
STATIC = hydrated(
    [
        node("say_static", "hello", static_messages_config={"static_messages": ["Hi"]}),
        node("say_static", "bye", static_messages_config={"static_messages": ["Bye"]}),
    ],
    [direct("hello", "bye")],
)
# No LLM is reachable: a fuzzed workflow that gets to call one must fail as data, not crash.
SETTINGS = HarnessSettings(
    providers={"default_provider": ProviderConfig(base_url="http://127.0.0.1:9/v1")},
    max_retries=0,
)
CATALOG = WorkflowCatalog()
CATALOG.add(STATIC, KNOWN_ID)
APP = create_app(SETTINGS, catalog=CATALOG)

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES
)
CASES: Counter[str] = Counter()
STATUSES: Counter[tuple[str, int]] = Counter()


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_gets_a_500_and_every_422_names_the_field(case: schemathesis.Case) -> None:
    label = case.operation.label
    CASES[label] += 1
    if label.endswith("/execute") and CASES[label] % 2 == 0:
        case.path_parameters = {**(case.path_parameters or {}), "workflow_id": KNOWN_ID}
    response = case.call()
    STATUSES[(label, response.status_code)] += 1
    assert response.status_code < 500, response.text
    if response.status_code == 422:
        body = response.json()
        assert body["detail"], body
        assert all(item["loc"] for item in body["detail"]), body
        named = {str(item["loc"][-1]) for item in body["detail"]}
        assert any(name in body["message"] for name in named), body


def test_fuzz_counts() -> None:
    """Runs after the fuzz test: every operation was fuzzed; prints the counts."""
    operations = {op.ok().label for op in schema.get_all_operations()}
    if not CASES:
        pytest.skip("run together with the fuzz test to see its counts")
    assert set(CASES) == operations
    print(f"\nfuzz cases: {sum(CASES.values())} in total")
    for label in sorted(CASES):
        statuses = {s: n for (op, s), n in sorted(STATUSES.items()) if op == label}
        print(f"  {label}: {CASES[label]} cases, statuses {statuses}")
    assert any(status == 200 for (_, status) in STATUSES)
    assert any(status == 422 for (_, status) in STATUSES)
