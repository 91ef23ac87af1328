"""The runner: scenarios on a backend, turn by turn, with repeats, budgets and evaluation.

```python
summary = await run_scenarios(load_scenarios(["scenarios/"]), RunOptions(backend="engine"))
```
Each scenario gets a `ScenarioResult` (never an exception); `Runner` adds bounded concurrency,
results handed over as they finish (`on_result`), and a summary of what finished after Ctrl-C.
"""

from __future__ import annotations

from harness.runner.attempt import AttemptState, describe_error, run_turns
from harness.runner.batch import ResultCallback, Runner, batch_gc, run_scenarios
from harness.runner.bindings import (
    ApiFactory,
    BackendFactory,
    EngineFactory,
    ScenarioBinding,
    make_factory,
    scenario_cassette_path,
)
from harness.runner.evaluate import evaluate_attempt, own_verdict
from harness.runner.options import (
    DEFAULT_TIMEOUT_SECONDS,
    PhaseTimings,
    RunOptions,
    TransportWrapper,
)
from harness.runner.scenario import run_scenario
from harness.runner.simulate import SIMULATED_USER_NODE, persona_prompt, persona_reply, transcript

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "SIMULATED_USER_NODE",
    "ApiFactory",
    "AttemptState",
    "BackendFactory",
    "EngineFactory",
    "PhaseTimings",
    "ResultCallback",
    "RunOptions",
    "Runner",
    "ScenarioBinding",
    "TransportWrapper",
    "batch_gc",
    "describe_error",
    "evaluate_attempt",
    "make_factory",
    "own_verdict",
    "persona_prompt",
    "persona_reply",
    "run_scenario",
    "run_scenarios",
    "run_turns",
    "scenario_cassette_path",
    "transcript",
]
