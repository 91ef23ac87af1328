"""One attempt of a scenario: the turn loop, every turn kind, and the checks after each turn.

The attempt writes into an `AttemptState` as it goes, so a timeout or an interruption keeps the
turns already made. A failed check is an outcome; an exception from the backend (unreachable,
cassette miss, refused input) ends the attempt with an `error`, and never escapes.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field

from pydantic import SecretStr

from harness.backends.binding import ScenarioBinding
from harness.checks import RunView, check_turn, simulation_stop_reason
from harness.models.api import WorkflowRun, WorkflowRunInput
from harness.models.result import CheckOutcome, OutcomeStatus, TurnResult
from harness.models.scenario import (
    SIMULATION_STOP_TOKEN,
    Scenario,
    SimulatedUser,
    Turn,
    TurnKind,
    user_run_input,
)
from harness.runner.options import PhaseTimings
from harness.runner.simulate import persona_reply

__all__ = ["AttemptState", "describe_error", "run_turns"]

_MASK = "**********"  # what a secret becomes in an error message (as the engine masks it)


@dataclass
class AttemptState:
    """What an attempt has produced so far."""

    run: WorkflowRun | None = None
    turns: list[TurnResult] = field(default_factory=list)
    outcomes: list[CheckOutcome] = field(default_factory=list)
    error: str | None = None
    current_turn: int = 0


def describe_error(exc: BaseException) -> str:
    """An exception as one message: the harness's own text, else `Type: message`."""
    from harness.errors import HarnessError

    if isinstance(exc, HarnessError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _measure(timings: PhaseTimings | None, phase: str) -> contextlib.AbstractContextManager[None]:
    return timings.measure(phase) if timings is not None else contextlib.nullcontext()


class _TurnLoop:
    def __init__(
        self,
        scenario: Scenario,
        binding: ScenarioBinding,
        state: AttemptState,
        timings: PhaseTimings | None,
    ) -> None:
        self.scenario = scenario
        self.binding = binding
        self.state = state
        self.timings = timings

    async def run(self) -> None:
        for index, turn in enumerate(self.scenario.turns):
            self.state.current_turn = index
            if self.binding.cassette is not None:
                self.binding.cassette.set_context(turn=index + 1)
            if not self._can_continue(index, turn):
                return
            # (`simulate` first: `kind` is derived from the fields on each read)
            if turn.simulate is not None and turn.kind is TurnKind.SIMULATE:
                done = await self._simulate(index, turn, turn.simulate)
            else:
                done = await self._send_and_check(index, turn)
            if not done:
                return

    def _can_continue(self, index: int, turn: Turn) -> bool:
        run = self.state.run
        if run is None or not run.status.is_terminal:
            return True
        status = run.status.value
        self.state.outcomes.append(
            CheckOutcome(
                check="turns.run_ended",
                status=OutcomeStatus.FAILED,
                key=f"turns[{index}]",
                message=(
                    f"turn {index + 1} ({turn.label}) was not sent: the run was already "
                    f"{status} after turn {index}"
                ),
                expected="a run that takes this turn",
                got=status,
            )
        )
        return False

    async def _execute(
        self, index: int, turn: Turn, run_input: WorkflowRunInput, label: str
    ) -> tuple[WorkflowRun, float] | None:
        binding, run = self.binding, self.state.run
        update: dict[str, str] = {}
        if run is not None and run_input.workflow_run_id is None and run.workflow_run_id:
            update["workflow_run_id"] = run.workflow_run_id
        if run_input.workflow_id is None and binding.target.workflow_id:
            update["workflow_id"] = binding.target.workflow_id
        if update:
            run_input = run_input.model_copy(update=update)
        started = time.perf_counter()
        self._problems()  # anything left from before this turn (e.g. an evaluator) is not its
        try:
            with _measure(self.timings, "execute"):
                result = await binding.backend.execute(binding.target, run_input)
        except Exception as exc:  # infrastructure: recorded as this turn's error
            message = self._masked(f"turn {index + 1} ({turn.label}): {describe_error(exc)}")
            self.state.turns.append(
                TurnResult(
                    index=len(self.state.turns),
                    turn=index,
                    kind=turn.kind.value,
                    label=label,
                    input=run_input.model_dump(mode="json", exclude_none=True),
                    wall_ms=(time.perf_counter() - started) * 1000,
                    error=message,
                )
            )
            self.state.error = message
            return None
        if self.timings is not None:
            self.timings.calls += 1
        self.state.run = result
        wall_ms = (time.perf_counter() - started) * 1000
        problems = self._problems()
        if problems:
            self._infrastructure_error(index, turn, label, result, wall_ms, problems)
            return None
        return result, wall_ms

    def _problems(self) -> list[str]:
        take = self.binding.problems
        return take() if take is not None else []

    def _infrastructure_error(
        self,
        index: int,
        turn: Turn,
        label: str,
        run: WorkflowRun,
        wall_ms: float,
        problems: list[str],
    ) -> None:
        """The turn ran, but a call under it failed (the platform's fallback hid it): the turn
        is kept as it ran, its checks are not run (they would judge the fallback text), and the
        failure is the attempt's error, with its cause."""
        causes = "\n".join(f"  - {problem}" for problem in problems)
        message = self._masked(
            f"turn {index + 1} ({turn.label}): infrastructure error: {len(problems)} call(s) "
            f"failed, so the run went on without their answers (an LLM node says its "
            f"default_error_message) and the turn's checks were not run:\n{causes}"
        )
        with _measure(self.timings, "checks"):
            result = RunView.of_turn(run).to_turn_result(
                index=len(self.state.turns),
                turn=index,
                kind=turn.kind.value,
                label=label,
                wall_ms=wall_ms,
                error=message,
            )
        self.state.turns.append(result)
        self.state.error = message

    def _masked(self, message: str) -> str:
        """`message` without the scenario's secret values (a provider or tool may echo one)."""
        try:
            secrets = self.scenario.secret_values(os.environ)
        except ValueError:  # an unset secret is its own error; nothing to mask
            return message
        for value in sorted((v for v in secrets.values() if v), key=len, reverse=True):
            message = message.replace(value, _MASK)
        return message

    def _run_input(self, index: int, turn: Turn) -> WorkflowRunInput | None:
        return self._with_secrets(index, turn, self.scenario.run_input_for(turn))

    def _with_secrets(
        self, index: int, turn: Turn, run_input: WorkflowRunInput
    ) -> WorkflowRunInput | None:
        # Every turn carries them, as the platform's server fills them into each execution: the
        # engine resolves them in that turn's templates and masks them in what it records.
        if not self.scenario.secret_variables:
            return run_input
        try:
            secrets = self.scenario.secret_values(os.environ)
        except ValueError as exc:  # a usage problem of this scenario: its error, not a crash
            self.state.error = f"turn {index + 1} ({turn.label}): {exc}"
            return None
        values = {name: SecretStr(value) for name, value in secrets.items()}
        return run_input.model_copy(update={"secret_variables": values})

    async def _send_and_check(self, index: int, turn: Turn) -> bool:
        run_input = self._run_input(index, turn)
        if run_input is None:
            return False
        label = turn.label  # derived from the turn's fields on each read: once per turn
        done = await self._execute(index, turn, run_input, label)
        if done is None:
            return False
        run, wall_ms = done
        with _measure(self.timings, "checks"):
            view = RunView.of_turn(run)
            self.state.turns.append(
                view.to_turn_result(
                    index=len(self.state.turns),
                    turn=index,
                    kind=turn.kind.value,
                    label=label,
                    outcomes=check_turn(turn, view, index),
                    wall_ms=wall_ms,
                )
            )
        return True

    async def _simulate(self, index: int, turn: Turn, simulated: SimulatedUser) -> bool:
        llm = self.binding.llm
        if llm is None:
            self.state.error = f"turn {index + 1}: simulated users need an LLM client"
            return False
        first_pair = len(self.state.run.input_output_pairs) if self.state.run else 0
        sent, reason = 0, None
        while sent < simulated.max_turns and reason is None:
            if sent == 0 and simulated.first_message:
                reply = simulated.first_message
            else:
                try:
                    reply = await persona_reply(llm, simulated, self.state.run)
                except Exception as exc:  # the persona's LLM is infrastructure too
                    self.state.error = f"turn {index + 1} (simulated user): {describe_error(exc)}"
                    return False
            if simulated.stop_when.goal_reached and SIMULATION_STOP_TOKEN in reply:
                reason = "the simulated user reached the goal"
                break
            label = f"{turn.label} #{sent + 1}"
            run_input = self._with_secrets(index, turn, user_run_input(reply))
            if run_input is None:
                return False
            done = await self._execute(index, turn, run_input, label)
            if done is None:
                return False
            sent += 1
            run, wall_ms = done
            with _measure(self.timings, "checks"):
                view = RunView.of_turn(run)
                reason = simulation_stop_reason(simulated, view)
                self.state.turns.append(
                    view.to_turn_result(
                        index=len(self.state.turns),
                        turn=index,
                        kind=turn.kind.value,
                        label=label,
                        wall_ms=wall_ms,
                    )
                )
        self._check_simulation(index, turn, simulated, first_pair, sent, reason)
        return True

    def _check_simulation(
        self,
        index: int,
        turn: Turn,
        simulated: SimulatedUser,
        first_pair: int,
        sent: int,
        reason: str | None,
    ) -> None:
        run = self.state.run
        outcomes: list[CheckOutcome] = []
        if run is not None:
            with _measure(self.timings, "checks"):
                outcomes = check_turn(turn, RunView(run, first=first_pair), index)
        if reason is None and simulated.fail_on_max_turns:
            outcomes.append(
                CheckOutcome(
                    check="simulate.max_turns",
                    status=OutcomeStatus.FAILED,
                    key=f"turns[{index}].simulate.max_turns",
                    message=(
                        f"simulated user: expected a stop condition within {simulated.max_turns} "
                        f"message(s), got none after {sent}"
                    ),
                    expected=simulated.max_turns,
                    got=sent,
                )
            )
        mine = [t for t in self.state.turns if t.turn == index]
        if mine:
            last = mine[-1]
            last.outcomes.extend(outcomes)
            stop = reason or f"max_turns ({simulated.max_turns}) reached"
            last.label = f"{last.label} (stopped: {stop})"
        else:
            self.state.outcomes.extend(outcomes)


async def run_turns(
    scenario: Scenario,
    binding: ScenarioBinding,
    state: AttemptState,
    timings: PhaseTimings | None = None,
) -> None:
    """Play every turn of `scenario` on `binding`, writing results into `state` as it goes."""
    await _TurnLoop(scenario, binding, state, timings).run()
