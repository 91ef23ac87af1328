"""The runner: scenarios on a backend, turn by turn, with repeats, budgets and evaluation.

```python
summary = run_suite(Selection(paths=("scenarios/",)), RunOptions(backend="engine"), sinks)
summary = await run_scenarios(load_scenarios(["scenarios/"]), RunOptions(backend="engine"))
```
`run_suite` / `Suite` (`harness.runner.suite`) is the front ends' entry: selection, shards,
repeats, the project root, sinks, Ctrl-C and closed pipes. Below it each scenario gets a
`ScenarioResult` (never an exception); `Runner` adds bounded concurrency, results handed over as
they finish (`on_result`), and a summary of what finished after Ctrl-C.
"""

from __future__ import annotations

from harness.backends.binding import (
    ApiFactory,
    BackendFactory,
    EngineFactory,
    ScenarioBinding,
    make_factory,
    scenario_cassette_path,
)
from harness.runner.attempt import AttemptState, describe_error, run_turns
from harness.runner.batch import ResultCallback, Runner, batch_gc, run_scenarios
from harness.runner.evaluate import evaluate_attempt, own_verdict
from harness.runner.options import (
    DEFAULT_TIMEOUT_SECONDS,
    PhaseTimings,
    RunOptions,
    TransportWrapper,
)
from harness.runner.scenario import run_scenario
from harness.runner.simulate import SIMULATED_USER_NODE, persona_prompt, persona_reply, transcript
from harness.runner.suite import Selection, Shard, Suite, assign_shards, exit_code, run_suite

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
    "Selection",
    "Shard",
    "Suite",
    "TransportWrapper",
    "assign_shards",
    "batch_gc",
    "describe_error",
    "evaluate_attempt",
    "exit_code",
    "make_factory",
    "own_verdict",
    "persona_prompt",
    "persona_reply",
    "run_scenario",
    "run_scenarios",
    "run_suite",
    "run_turns",
    "scenario_cassette_path",
    "transcript",
]
