"""Process-parallel runs (`harness run --workers N`): one scenario at a time to each core.

Replay is CPU-bound in one event loop, so `--concurrency` (asyncio) uses one core. Here the parent
has selected and loaded the scenarios; it forks N workers (the `fork` start method: imports and
loaded scenarios are inherited, nothing is pickled on the way in) and hands out scenario indices
as workers finish, so a slow scenario never leaves a core idle. Each worker runs its scenarios
with the ordinary `run_scenario` machinery in its own event loop (up to `options.concurrency` at
once, with more indices waiting, so that it never waits for the parent between two scenarios)
and sends the finished `ScenarioResult`s back, a few to a message in a large batch (`_BATCH`);
the parent gives each to the sinks exactly as a one-process run does, so reports, history and
console are the same.

The worker first appends the scenario's run outputs to an artifact pack of its own
(`artifacts/<batch id>-w<n>.jsonl`, n counting the workers started) through the report sink's
own `move_run_outputs` (what the sink would do first anyway): the result sent back is then small
and references its line, the parent's sink finds nothing left to move, and no two processes
append to one file.

Robustness: workers ignore SIGINT (the parent stops them on Ctrl-C, after keeping what finished);
they are killed when the parent dies (`PR_SET_PDEATHSIG` on Linux); a worker that dies turns each
scenario it was running into an `error` result naming the cause (each worker keeps the indices it
runs in a shared array the parent reads), the others it held go back to the queue (also those it
had finished but not yet sent: they run again), and a new worker takes its place while
scenarios remain.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import selectors
import signal
import sys
import time
import traceback
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness.backends.binding import BackendFactory, make_factory, release_sandbox
from harness.errors import HarnessError
from harness.models.result import ScenarioResult
from harness.models.scenario import Scenario
from harness.recording import RecordMode
from harness.results.artifacts import ArtifactPack
from harness.results.sinks import ReportFilesSink, ResultSink, move_run_outputs
from harness.runner.batch import batch_gc
from harness.runner.options import PhaseTimings, RunOptions
from harness.runner.scenario import base_result, run_scenario

if TYPE_CHECKING:  # multiprocessing (~18 ms of imports) only when a batch forks
    from multiprocessing.connection import Connection

__all__ = [
    "EARLY_AFTER",
    "MIN_SCENARIOS_PER_WORKER",
    "EarlyWorker",
    "FactoryMaker",
    "RunAhead",
    "WorkerPlan",
    "Workers",
    "auto_count",
    "can_fork",
    "cpu_count",
    "plan_workers",
    "run_in_workers",
    "worker_factory",
]

Workers = int | Literal["auto"]
"""How many worker processes: a number, or `auto` (see `plan_workers`)."""

FactoryMaker = Callable[[], BackendFactory | None]
"""Called once in each worker, in its event loop: the backend factory its scenarios run on, or
None for the one `options.backend` names (`make_factory`)."""

MIN_SCENARIOS_PER_WORKER = 32
"""`auto` starts one worker per this many scenarios (at most one per core): a worker's fork and
its own backend set-up cost about as much as a few dozen replayed scenarios, so a small suite
stays in one process and is not slowed down."""

_PR_SET_PDEATHSIG = 1
_KILL_GRACE_SECONDS = 2.0
_BATCH = 32
"""Results a worker sends in one message, at most (and indices it holds beyond those it runs).
A message per result woke the parent for every scenario, with three processes on two cores:
1,000 single-turn scenarios (`--concurrency 1`, two workers) took 1.91-2.07 s (median 1.96)
with one result a message, 1.69-1.84 s (median 1.75) with up to 8; up to 32 (in practice the
~13 that run in `_BATCH_SECONDS`) took 2% less again (median 1.526 -> 1.497 s, 12 rounds
alternating with 8)."""
_BATCH_SECONDS = 0.04
"""The work a worker holds ahead, about, and how long a finished result waits in it for others
to go with it, at most: so quick scenarios go in groups, and at the end of a batch no worker
holds more than this while another has nothing left. 40 ms rather than 20: 1,000 single-turn
scenarios (two workers) 1.495 -> 1.474 s and 1.552 -> 1.529 s (medians of 10 and 12 rounds
alternating)."""
_IDLE = -1
"""A worker's slot that runs no scenario."""


def _batch_size(scenarios: int, workers: int) -> int:
    """Results per message, at most: up to `_BATCH` in a batch with many scenarios per worker,
    1 (each result as it finishes, one index waiting) in a small one."""
    return max(1, min(_BATCH, scenarios // (16 * max(1, workers))))


def _depth(seconds: float, batch: int) -> int:
    """Indices a worker holds beyond those it runs, and results it sends together, after a
    scenario that took `seconds`: as many as run in about `_BATCH_SECONDS`, 1 to `batch`."""
    return max(1, min(batch, int(_BATCH_SECONDS / max(seconds, 1e-6))))


def can_fork() -> bool:
    """Whether this platform can fork (POSIX); elsewhere runs use 1 worker."""
    return hasattr(os, "fork")


def cpu_count() -> int:
    """The cores this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class WorkerPlan:
    """How many processes a batch runs in, and why not more when it is 1."""

    count: int
    reason: str | None = None


def auto_count(scenarios: int) -> int:
    """What `auto` starts for `scenarios` replays: one worker per core, at most one per
    `MIN_SCENARIOS_PER_WORKER` scenarios (below 2: one process)."""
    return min(cpu_count(), scenarios // MIN_SCENARIOS_PER_WORKER)


def plan_workers(requested: Workers, scenarios: int, options: RunOptions) -> WorkerPlan:
    """The number of worker processes for `scenarios` scenarios.

    `auto` is one per core, but only for replays on the built-in engine (`--record-mode none`:
    a recording writes cassettes, kept in one process) and at most one per
    `MIN_SCENARIOS_PER_WORKER` scenarios. A number is taken as given (never more workers than
    scenarios). Without `fork` (Windows) a batch runs in one process.

    Raises:
        HarnessError: a number above 1 with a record mode that writes cassettes (exit code 2).
    """
    replay = str(options.record_mode) == RecordMode.NONE
    if requested == "auto":
        if not replay or options.backend != "engine":
            return WorkerPlan(1, "auto uses workers for engine replays only")
        count = auto_count(scenarios)
    else:
        if requested > 1 and not replay:
            raise HarnessError(
                f"--workers {requested} replays only: recording writes cassettes in one process",
                hint="record with --workers 1 (the default when recording), then replay in workers",
            )
        count = min(requested, scenarios)
    if count > 1 and not can_fork():
        return WorkerPlan(1, "this platform cannot fork: one process")
    return WorkerPlan(max(1, count))


# -- the worker ------------------------------------------------------------------------------


def worker_factory(options: RunOptions) -> BackendFactory:
    """The backend factory of a worker (`make_factory` for `options`), which leaves the sandbox
    to start on the first inline-Python call: every core runs a worker, so a sandbox started
    ahead (`BindingConfig.sandbox_ahead`) would only take CPU from them, and did so even in
    batches that call no inline Python (2% of 1,000 single-turn scenarios whose workflow has
    an inline-Python tool none of them calls, 5% of 1,000 x 5).

    Raises:
        ConfigError: the settings file is invalid, or the API backend has no URL.
    """
    config = replace(options.binding_config(), sandbox_ahead=False)
    return make_factory(options.backend, config)


def _die_with_parent(parent: int) -> None:
    """SIGKILL this worker when the parent exits (Linux); exit now if it already has."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            # The symbols this process has loaded, libc's among them: `find_library("c")`
            # runs `ldconfig -p` in a subprocess, 5-14 ms of every worker's start.
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _slimmers(sinks: Sequence[ResultSink]) -> list[Path]:
    """The batch folders whose sink moves run outputs to artifact packs (`ReportFilesSink`)."""
    return [
        s.batch_dir for s in sinks if isinstance(s, ReportFilesSink) and not s.inline_run_output
    ]


def _worker_main(
    conn: Connection,
    parent: int,
    scenarios: Sequence[Scenario],
    options: RunOptions,
    batch_dirs: Sequence[Path] | None,
    number: int,
    factory: FactoryMaker | None,
    slots: Any,
    batch: int,
) -> None:
    """A worker process (the `number`th started): run the indices the parent sends until it
    sends None. `batch_dirs` None: the parent sends them later (`EarlyWorker`), and until then
    the worker keeps its results."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent(parent)
    if options.timings is not None:
        options.timings = PhaseTimings()  # this worker's own share, sent back at the end
    try:
        with batch_gc():
            packs = _Packs(number, batch_dirs)
            asyncio.run(_serve(conn, scenarios, options, packs, factory, slots, batch))
            packs.close()
        conn.send(("done", options.timings))
    except BaseException:  # the parent reports its scenarios as errors; say why here
        traceback.print_exc()
        sys.stderr.flush()
        with contextlib.suppress(Exception):
            release_sandbox()
        os._exit(1)
    # A worker ends with `os._exit` (multiprocessing), so no exit handler removes its idle
    # sandbox children's folders: done here.
    release_sandbox()


class _Packs:
    """A worker's artifact packs, one per batch folder (`_slimmers`), once it knows them."""

    def __init__(self, number: int, batch_dirs: Sequence[Path] | None) -> None:
        self.number = number
        self.packs: list[ArtifactPack] | None = None
        if batch_dirs is not None:
            self.place(batch_dirs)

    def place(self, batch_dirs: Sequence[Path]) -> None:
        self.packs = [ArtifactPack(batch_dir, f"w{self.number}") for batch_dir in batch_dirs]

    def close(self) -> None:
        for pack in self.packs or ():
            pack.close()


async def _serve(
    conn: Connection,
    scenarios: Sequence[Scenario],
    options: RunOptions,
    packs: _Packs,
    make: FactoryMaker | None,
    slots: Any,
    batch: int,
) -> None:
    loop = asyncio.get_running_loop()
    factory = make() if make is not None else None
    if factory is None:
        factory = worker_factory(options)
    no_more = asyncio.Event()
    running: dict[asyncio.Task[None], int] = {}  # task -> its slot
    free = list(range(len(slots)))
    queued: collections.deque[int] = collections.deque()
    holding = 0  # indices received and not finished (queued or running)
    depth = 1  # held beyond `len(slots)`, and results sent together (`_depth`)
    outbox: list[tuple[int, str]] = []
    timer: asyncio.TimerHandle | None = None
    placed = asyncio.Event()  # the packs are known (until then, results wait in `kept`)
    kept: list[tuple[int, ScenarioResult]] = []
    if packs.packs is not None:
        placed.set()

    def send() -> None:
        """The finished results, with how many more indices this worker asks for."""
        nonlocal timer
        if timer is not None:
            timer.cancel()
            timer = None
        if outbox:
            want = 0 if no_more.is_set() else max(0, len(slots) + depth - holding)
            conn.send(("results", outbox.copy(), want))
            outbox.clear()

    async def one(index: int, slot: int) -> None:
        nonlocal timer, holding, depth
        slots[slot] = index  # read by the parent if this worker dies
        started = time.perf_counter()
        result = await run_scenario(scenarios[index], factory, options)
        depth = _depth(time.perf_counter() - started, batch)
        slots[slot] = _IDLE
        holding -= 1
        if not placed.is_set():
            kept.append((index, result))
            return
        post(index, result)
        if len(outbox) >= depth or not queued:  # (nothing queued: the parent's turn)
            send()
        elif timer is None:
            timer = loop.call_later(_BATCH_SECONDS, send)

    def post(index: int, result: ScenarioResult) -> None:
        for pack in packs.packs or ():
            move_run_outputs(result, pack)
        # As JSON: dumping and validating it costs half of pickling and unpickling the models.
        outbox.append((index, result.model_dump_json()))

    def start_queued() -> None:
        while queued and free:
            slot = free.pop()
            task = loop.create_task(one(queued.popleft(), slot))
            running[task] = slot
            task.add_done_callback(finished)

    def finished(task: asyncio.Task[None]) -> None:
        free.append(running.pop(task))
        start_queued()

    def receive() -> None:
        # One message per call: the reader is called again while more are waiting
        # (`conn.poll` would build a selector each time).
        nonlocal holding
        message = conn.recv()
        given: list[int] = []
        if isinstance(message, tuple):  # ("packs", batch folders): what was kept goes now
            packs.place(message[1])
            placed.set()
            for index, result in kept:
                post(index, result)
            kept.clear()
        else:
            if message[-1] is None:  # the last ones, if any: the worker ends after them
                no_more.set()
            given = [index for index in message if index is not None]
        if no_more.is_set() and placed.is_set():
            loop.remove_reader(conn.fileno())  # nothing more will come
        holding += len(given)
        queued.extend(given)
        start_queued()
        if not running:
            send()

    loop.add_reader(conn.fileno(), receive)
    try:
        await no_more.wait()
        while running:  # (a task that ends starts the next queued one: see `finished`)
            await asyncio.gather(*running)
        await placed.wait()
        send()
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(conn.fileno())
        await factory.aclose()


# -- the parent ------------------------------------------------------------------------------


@dataclass
class _Worker:
    process: Any  # multiprocessing.context.ForkProcess (not exported for typing)
    conn: Connection
    slots: Any  # the indices it runs (`_IDLE`: none), in memory shared with it
    held: list[int] = field(default_factory=list)


def _death_cause(process: Any) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exited with code {code}"


def _lost_result(scenario: Scenario, options: RunOptions, cause: str) -> ScenarioResult:
    """The `error` result of a scenario whose worker died (as `run_scenario` would start it)."""
    result = base_result(scenario, options.backend, options.project_root)
    result.error = cause
    return result


def _fork_worker(
    context: Any,
    scenarios: Sequence[Scenario],
    options: RunOptions,
    batch_dirs: Sequence[Path] | None,
    number: int,
    factory: FactoryMaker | None,
    batch: int,
) -> _Worker:
    """Fork the `number`th worker of a batch, with `scenarios` (the indices it is sent are
    theirs); `batch_dirs` None: sent later (see `_worker_main`)."""
    mine, theirs = context.Pipe(duplex=True)
    slots = context.RawArray("q", [_IDLE] * max(1, options.concurrency))
    process = context.Process(
        target=_worker_main,
        args=(theirs, os.getpid(), scenarios, options, batch_dirs, number, factory, slots, batch),
        name="harness-worker",
    )
    process.start()
    theirs.close()
    return _Worker(process, mine, slots)


EARLY_AFTER = 2 * MIN_SCENARIOS_PER_WORKER
"""Selected scenarios read before `EarlyWorker` starts its worker: as many as make `auto` start
two workers."""


class EarlyWorker:
    """A batch's first worker, started while the scenario files are still read.

    The parent reads and validates the files one after the other (~0.12 ms each), and until it
    has read them all the other cores wait. `look` is given the selected scenarios of each file
    as they are read (`Suite.select`); once it has `after` of them it forks a worker with those
    and hands it all of them at once (the scenarios read later are not in its memory). The pool
    of the batch adopts that worker as one of its own (`run_in_workers`) and only then tells it
    where the batch's artifact packs are: it keeps its results until then, and sends them as
    any worker does. The pool starts its full count of workers besides it: it has run all or
    most of its share by then, and ends when it has.

    The batch has not begun while this worker runs. When the reading ends in a problem (a file
    that does not load, a duplicate id), or the batch is not run with the options it was started
    for, `discard` stops it and what it ran is dropped unseen: it replays recorded calls on the
    built-in engine (workers run nothing else), so nothing outside the process saw it run.
    """

    def __init__(self, options: RunOptions, *, after: int = EARLY_AFTER) -> None:
        self.options = options
        self.after = after
        self.scenarios: list[Scenario] = []
        self.worker: _Worker | None = None
        self._stop: weakref.finalize[Any, Any] | None = None

    @property
    def started(self) -> bool:
        """Whether it forked its worker (which may have been taken or discarded since)."""
        return self._stop is not None

    def look(self, scenarios: Iterable[Scenario]) -> None:
        """The selected scenarios of the file just read, in run order."""
        if not self.started:
            self.scenarios.extend(scenarios)
            if len(self.scenarios) >= self.after:
                self._start()

    def _start(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        scenarios = self.scenarios
        batch = _batch_size(len(scenarios), 2)
        worker = _fork_worker(context, scenarios, self.options, None, 0, None, batch)
        indices = list(range(len(scenarios)))
        worker.held.extend(indices)
        worker.conn.send([*indices, None])  # all it will run; None: it ends after them
        self.worker = worker
        # Stopped at the latest when this is dropped or the interpreter exits (a suite selected
        # and never run); `take` hands it to a pool instead.
        self._stop = weakref.finalize(self, _stop_worker, worker)

    def take(self) -> _Worker | None:
        """The worker, for a pool to adopt (once); None when there is none."""
        worker, self.worker = self.worker, None
        if self._stop is not None:
            self._stop.detach()
        return worker

    def discard(self) -> None:
        """Stop the worker, if no pool adopted it (what it ran is dropped)."""
        self.worker = None
        if self._stop is not None:
            self._stop()  # (once: nothing after `take` or an earlier call)


def _stop_worker(worker: _Worker) -> None:
    """SIGTERM, then SIGKILL after a grace period; waited for (no zombie)."""
    with contextlib.suppress(OSError):
        worker.process.terminate()
    worker.process.join(_KILL_GRACE_SECONDS)
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()
    worker.conn.close()


class _Pool:
    """The parent's side: start workers, hand out indices, collect results, replace the dead."""

    def __init__(
        self,
        count: int,
        scenarios: Sequence[Scenario],
        options: RunOptions,
        sinks: Sequence[ResultSink],
        on_result: Callable[[int, ScenarioResult, str | None], None],
        factory: FactoryMaker | None = None,
    ) -> None:
        self.count = count
        self.scenarios = scenarios
        self.options = options
        self.on_result = on_result
        self.factory = factory
        self.batch_dirs = _slimmers(sinks)
        import multiprocessing

        self.context = multiprocessing.get_context("fork")
        self.pending = list(range(len(scenarios)))
        self.pending.reverse()  # popped from the end: run order is file order
        self.workers: dict[int, _Worker] = {}
        # One selector for the batch, on every worker's pipe and sentinel: `connection.wait`
        # would build and fill one for every message.
        self.selector = selectors.DefaultSelector()
        # One more than a worker runs at once: the next index is there when a scenario ends,
        # so the worker does not wait for the parent between two scenarios. A worker whose
        # scenarios are quick asks for more with its results (up to `batch` more).
        self.batch = _batch_size(len(scenarios), count)
        self.per_worker = max(1, options.concurrency) + 1
        self.started = 0  # workers started so far, replacements included: names their packs

    def start(self, early: EarlyWorker | None = None) -> None:
        """Start the workers and hand out their first indices; the worker `early` started while
        the files were read (if any) keeps the indices it holds, and sends what it ran once told
        where the artifact packs are (it ends when it has run them)."""
        adopted = early.take() if early is not None else None
        if adopted is not None:
            self._add(adopted)  # (first: `stop` stops it, whatever happens next)
            held = set(adopted.held)
            self.pending = [index for index in self.pending if index not in held]
        started = [self._spawn(hand_out=False) for _ in range(min(self.count, len(self.pending)))]
        for _ in range(self.per_worker):  # in turns: a small batch is spread over every worker
            for worker in started:
                self._hand_out(worker)
        if adopted is not None:
            with contextlib.suppress(OSError):  # (a dead worker is noticed by its sentinel)
                adopted.conn.send(("packs", self.batch_dirs))

    def _spawn(self, *, hand_out: bool = True) -> _Worker:
        self.started += 1
        worker = _fork_worker(
            self.context,
            self.scenarios,
            self.options,
            self.batch_dirs,
            self.started,
            self.factory,
            self.batch,
        )
        self._add(worker)
        if hand_out:
            for _ in range(self.per_worker):
                self._hand_out(worker)
        return worker

    def _add(self, worker: _Worker) -> None:
        self.workers[worker.process.sentinel] = worker
        self.selector.register(worker.conn, selectors.EVENT_READ, worker)
        self.selector.register(worker.process.sentinel, selectors.EVENT_READ, worker)

    def _hand_out(self, worker: _Worker, count: int = 1) -> None:
        """Send the worker up to `count` more indices, in one message; None after them when
        none are left (it then ends after what it holds)."""
        given = [self.pending.pop() for _ in range(min(count, len(self.pending)))]
        worker.held.extend(given)
        message: list[int | None] = [*given, None] if len(given) < count else [*given]
        with contextlib.suppress(OSError):  # a dead worker is noticed by its sentinel
            worker.conn.send(message)

    def serve(self, wake: int | None) -> bool:
        """Run until every worker finished; False when `wake` became readable (a stop)."""
        if wake is not None:
            self.selector.register(wake, selectors.EVENT_READ, None)
        while self.workers:
            ready = [key for key, _ in self.selector.select()]
            if any(key.data is None for key in ready):
                return False
            if not self.handle(ready):
                return False
        return True

    def poll(self, timeout: float | None) -> bool:
        """Wait up to `timeout` seconds (None: until something happens) and take what is ready;
        False when nothing was."""
        ready = [key for key, _ in self.selector.select(timeout)]
        if ready:
            self.handle(ready)
        return bool(ready)

    def handle(self, ready: list[selectors.SelectorKey]) -> bool:
        """Take what the selector found ready on the workers' pipes and sentinels; False when
        a sink asked to stop. Results first, so a worker that sent its last result and exited
        has that result delivered before its death is seen."""
        pipes: list[_Worker] = [key.data for key in ready if key.fileobj is key.data.conn]
        for worker in pipes:
            if not self._receive_one(worker):
                return False
        deaths: list[_Worker] = [key.data for key in ready if key.fileobj is not key.data.conn]
        for worker in deaths:
            # (reaped already when both its pipe and its sentinel were ready: a new worker
            # may have its sentinel's number by now)
            if self.workers.get(worker.process.sentinel) is worker and not self._reap(worker):
                return False
        return True

    def _receive_one(self, worker: _Worker) -> bool:
        """Take one message of the worker (the selector reports the pipe again while more are
        waiting); False when a sink asked to stop."""
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            return True  # it died: its sentinel says how
        return self._take(worker, message)

    def _receive(self, worker: _Worker) -> bool:
        """Take every message the worker left; False when a sink asked to stop."""
        while worker.conn.poll():
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                return True  # (the pipe reads as ready at its end)
            if not self._take(worker, message):
                return False
        return True

    def _take(self, worker: _Worker, message: tuple[Any, ...]) -> bool:
        if message[0] == "done":
            self._add_timings(message[1])
            return True
        _, results, want = message
        for index, _payload in results:
            worker.held.remove(index)
        if want:
            # First, so the worker goes on while these are taken. Near the end no worker gets
            # more than its share of what is left (`_share`): whatever a worker holds, it runs.
            self._hand_out(worker, min(want, self._share()))
        for index, payload in results:
            if not self._deliver(index, ScenarioResult.model_validate_json(payload), payload):
                return False
        return True

    def _share(self) -> int:
        """Indices one request may take: a half share of those left per worker (1 at least),
        so the last ones are spread over the workers rather than queued behind one of them
        (a slow scenario would hold them back while the others have nothing to run)."""
        return max(1, len(self.pending) // (2 * max(1, len(self.workers))))

    def _deliver(self, index: int, result: ScenarioResult, line: str | None = None) -> bool:
        """Give `result` (and the JSON it came as, `line`) to `on_result`; False to stop."""
        try:
            self.on_result(index, result, line)
        except _StopBatch:
            return False
        return True

    def _add_timings(self, timings: PhaseTimings | None) -> None:
        mine = self.options.timings
        if mine is None or timings is None:
            return
        for f in fields(PhaseTimings):
            setattr(mine, f.name, getattr(mine, f.name) + getattr(timings, f.name))

    def _reap(self, worker: _Worker) -> bool:
        """A worker ended: take its last messages, turn what it still held into errors;
        False when a sink asked to stop."""
        if not self._receive(worker):
            return False
        worker.process.join()
        self._forget(worker)
        if not worker.held:
            return True
        # The scenarios in its slots were running: errors. The others go back to the queue: not
        # started, or finished with their results not yet sent. When it ran none (it died
        # before its first), the first it held counts as started: every death costs at least
        # one scenario, so a worker that cannot start does not come back forever.
        running = [index for index in worker.slots if index != _IDLE and index in worker.held]
        started = running or worker.held[:1]
        unstarted = [index for index in worker.held if index not in started]
        self.pending.extend(reversed(unstarted))
        cause = f"the worker process (pid {worker.process.pid}) {_death_cause(worker.process)}"
        for index in started:
            result = _lost_result(self.scenarios[index], self.options, cause)
            if not self._deliver(index, result):
                return False
        if self.pending:
            self._spawn()  # the batch goes on: every death costs at least one scenario
        return True

    def stop(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL) and wait for them: no orphan, no zombie."""
        for worker in self.workers.values():  # all at once, then each waited for
            with contextlib.suppress(OSError):
                worker.process.terminate()
        for worker in self.workers.values():
            _stop_worker(worker)
        self.workers.clear()
        self.selector.close()

    def _forget(self, worker: _Worker) -> None:
        """A worker that ended: out of the pool and the selector (before its pipe closes)."""
        del self.workers[worker.process.sentinel]
        self.selector.unregister(worker.conn)
        self.selector.unregister(worker.process.sentinel)
        worker.conn.close()


class _StopBatch(Exception):
    """Raised by `on_result` to end the batch (the reader of stdout went away)."""


def run_in_workers(
    count: int,
    scenarios: Sequence[Scenario],
    options: RunOptions,
    sinks: Sequence[ResultSink],
    on_result: Callable[[ScenarioResult, str | None], bool],
    wake: int | None = None,
    early: EarlyWorker | None = None,
) -> bool:
    """Run `scenarios` in `count` forked workers, giving each result to `on_result` in the
    parent as it arrives (in completion order), with the JSON it came as (`model_dump_json()`,
    for sinks that write it: `ResultSink` extensions in `harness.results.sinks`), or None for
    a result the parent made (a scenario whose worker died).

    `on_result` returns False to stop the batch; a byte written to the file descriptor `wake`
    (from any thread) stops it too. Ctrl-C stops the workers and propagates
    (`KeyboardInterrupt`). Returns True when every scenario ran, False when stopped early; the
    workers are gone either way. `early`: a worker started while the files were read
    (`EarlyWorker`, for these `scenarios` and `options`), run besides the `count`.
    """

    def deliver(_index: int, result: ScenarioResult, line: str | None) -> None:
        if not on_result(result, line):
            raise _StopBatch

    pool = _Pool(count, scenarios, options, sinks, deliver)
    try:
        with batch_gc():  # frozen before the fork: the workers' collections skip what they inherit
            pool.start(early)
            return pool.serve(wake)
    finally:
        pool.stop()
        if early is not None:
            early.discard()


class RunAhead:
    """Scenarios run in forked workers ahead of a consumer that takes their results one at a
    time, in any order (the pytest plugin: each item takes its own when pytest runs it).

    The workers start at once (`count` of them, each handed `options.concurrency` + 1 indices)
    and get the next index as each result arrives; results arrive only while the consumer
    waits in `take` (the parent has no thread of its own), so a result taken late costs the
    workers nothing as long as they hold work. A worker that dies turns the scenarios it had
    started into `error` results naming the cause, as in `run_in_workers`. `close` stops the
    workers (those still running, e.g. after Ctrl-C or an early stop of the consumer): results
    never taken are dropped.
    """

    def __init__(
        self,
        count: int,
        scenarios: Sequence[Scenario],
        options: RunOptions,
        sinks: Sequence[ResultSink] = (),
        factory: FactoryMaker | None = None,
    ) -> None:
        self._results: dict[int, ScenarioResult] = {}
        self._pool = _Pool(count, scenarios, options, sinks, self._keep, factory)
        self._pool.start()

    def _keep(self, index: int, result: ScenarioResult, _line: str | None) -> None:
        self._results[index] = result

    def take(self, index: int) -> ScenarioResult:
        """The result of `scenarios[index]`, waiting for it; each index can be taken once.

        Raises:
            KeyError: `index` was taken already, or is not one of the scenarios.
        """
        pool = self._pool
        while index not in self._results and pool.workers:
            pool.poll(None)
        # Whatever else is already there, so the workers get their next indices now rather
        # than when the consumer comes back.
        while pool.workers and pool.poll(0):
            pass
        return self._results.pop(index)

    def close(self) -> None:
        """Stop the workers and wait for them (no orphan, no zombie).

        Workers with nothing left to run (every result delivered) are let end on their own
        first, for up to a couple of seconds: a worker then removes its sandbox's folders,
        which a stopped one leaves to the next run's clean-up (as after Ctrl-C)."""
        pool = self._pool
        if not pool.pending and not any(worker.held for worker in pool.workers.values()):
            deadline = time.monotonic() + _KILL_GRACE_SECONDS
            while pool.workers and (left := deadline - time.monotonic()) > 0:
                pool.poll(left)
        pool.stop()
