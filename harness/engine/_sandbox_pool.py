"""A few sandbox workers started ahead, so a tool call does not wait for an interpreter to boot.

- Lazy: the first call of an (interpreter, policy) creates its pool, or `Sandbox.start_ahead`
  when a run is about to call inline Python; a run without inline Python starts nothing.
- Bounded: at most `size` idle workers per pool (the sandbox's `max_concurrency`), at most
  `_MAX_POOLS` pools (the least recently used one is closed when another is needed).
- One use each: a used worker is discarded and a fresh one started in the background.
- Fast starts: workers are forked by the zygote of their interpreter (`_sandbox_zygote`), which
  the first worker of a run starts.
- No leaks: the zygote and workers arm `PR_SET_PDEATHSIG` at boot and are started from one
  long-lived thread (the signal fires when the *thread* that started a process exits, not only
  the process), so they die with a SIGKILLed harness; at interpreter exit idle workers are killed
  and their folders removed, then the zygote is killed and any folder the process made that is
  still there removed (`_sandbox_workers`); a worker whose stdin closes without a call exits at
  once.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import contextlib
import json
import os
import threading
from collections.abc import Callable
from typing import Any

from harness.engine._sandbox_workers import Worker, kill_uid, start_worker
from harness.engine._sandbox_zygote import stop_zygotes

__all__ = ["WorkerPool", "stop_idle_workers", "worker_pool"]

_MAX_POOLS = 4


_spawner_executor: concurrent.futures.ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()


def _spawner() -> concurrent.futures.ThreadPoolExecutor:
    """The one long-lived thread that starts and discards workers; see the module docstring."""
    global _spawner_executor
    with _spawner_lock:
        if _spawner_executor is None:
            _spawner_executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="harness-sandbox-workers"
            )
        return _spawner_executor


def _in_background(work: Callable[[], object]) -> None:
    """Run `work` on the spawner thread; inline once the interpreter is exiting."""
    try:
        _spawner().submit(work)
    except RuntimeError:  # cannot schedule new futures after interpreter shutdown
        work()


def _discard_started(future: concurrent.futures.Future[Worker]) -> None:
    """A worker started for a call that was cancelled meanwhile: nobody will use it."""
    if not future.cancelled() and future.exception() is None:
        future.result().discard()


# ------------------------------------------------------------------ the pool


class WorkerPool:
    """Idle workers of one (interpreter, policy); at most `size` wait at any time."""

    def __init__(self, python: str, policy: dict[str, Any], size: int) -> None:
        self.python = python
        self.policy = policy
        self.size = size
        self._lock = threading.Lock()
        self._idle: collections.deque[Worker] = collections.deque()
        self._starting = 0
        # Calls waiting for a worker already being started (each gets the next one to start).
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._closed = False

    async def acquire(self) -> Worker:
        """A worker for one call: an idle one, else the next one being started, else one
        started now; give it back to `release`.

        Raises:
            OSError: the interpreter could not be started.
        """
        while True:
            with self._lock:
                worker = self._idle.popleft() if self._idle else None
                waiter = None if worker else self._wait_for_a_start()
            if waiter is not None:
                worker = await waiter.worker()
                if worker is None:  # that start failed: start one here, which reports why
                    break
            if worker is None:
                break
            if worker.process.poll() is None:
                return worker
            _in_background(worker.discard)  # died while idle (e.g. with its zygote): no call sent
        # Queued behind any start already under way, on the one spawner thread.
        started = _spawner().submit(start_worker, self.python, self.policy)
        try:
            return await asyncio.wrap_future(started)
        except asyncio.CancelledError:
            started.add_done_callback(_discard_started)
            raise

    def release(self, worker: Worker) -> None:
        """Discard a used worker and start replacements in the background.

        Replacements start after the call rather than when it began, so their boot does not
        compete for the CPU with the call that is being waited for.
        """
        _in_background(worker.discard)
        self.fill()

    def close(self) -> list[Worker]:
        """Stop handing out workers; discard the idle ones (blocks a moment) and return them."""
        with self._lock:
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
        for worker in idle:
            worker.discard()
        return idle

    def fill(self, up_to: int | None = None) -> None:
        """Start workers in the background until `up_to` (default `size`) are idle or starting."""
        with self._lock:
            wanted = self.size if up_to is None else min(up_to, self.size)
            missing = 0 if self._closed else wanted - len(self._idle) - self._starting
            self._starting += max(missing, 0)
        for _ in range(missing):
            _spawner().submit(self._start_idle)

    def _wait_for_a_start(self) -> _Waiter | None:
        """With the lock held: a place in line for a worker being started, if one is free.

        Waiting beats starting another: a new start would queue behind it on the spawner.
        """
        if self._closed or self._starting <= len(self._waiters):
            return None
        waiter = _Waiter(self)
        self._waiters.append(waiter)
        return waiter

    def _start_idle(self) -> None:
        try:
            worker: Worker | None = start_worker(self.python, self.policy)
        except Exception:  # whatever it is, the count and any waiter below must be settled
            worker = None  # the waiting (or next) call starts its own worker and reports the error
        with self._lock:
            self._starting -= 1
            waiter = self._waiters.popleft() if self._waiters else None
            keep = worker is not None and not self._closed and waiter is None
            if keep and worker is not None:
                self._idle.append(worker)
        if waiter is not None:
            waiter.hand_over(worker)
        elif worker is not None and not keep:
            worker.discard()

    def _take_back(self, worker: Worker | None) -> None:
        """A started worker whose waiting call was cancelled: idle, or discarded when closed."""
        with self._lock:
            keep = worker is not None and not self._closed
            if keep and worker is not None:
                self._idle.append(worker)
        if worker is not None and not keep:
            _in_background(worker.discard)


class _Waiter:
    """A call's place in line for the next worker that finishes starting (any thread).

    The hand-over and a cancellation meet under the pool's lock, so a worker is never lost
    between them: whichever comes second gives the worker back to the pool.
    """

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool
        self._loop = asyncio.get_running_loop()
        self._woken: asyncio.Future[None] = self._loop.create_future()
        self._handed: list[Worker | None] = []  # the worker handed over, once it is
        self._left = False

    async def worker(self) -> Worker | None:
        """The worker handed over (None: its start failed)."""
        try:
            await self._woken
        except asyncio.CancelledError:
            with self._pool._lock:
                self._left = True
                handed = self._handed[:]
                if self in self._pool._waiters:
                    self._pool._waiters.remove(self)
            for worker in handed:
                self._pool._take_back(worker)
            raise
        return self._handed[0]

    def hand_over(self, worker: Worker | None) -> None:
        """From the spawner thread: give the call its worker (back to the pool if it left)."""
        with self._pool._lock:
            left = self._left
            if not left:
                self._handed.append(worker)
        if left:
            self._pool._take_back(worker)
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: its task is gone already
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if not self._woken.done():
            self._woken.set_result(None)


_pools: collections.OrderedDict[tuple[str, str], WorkerPool] = collections.OrderedDict()
_pools_lock = threading.Lock()
_inherited: list[WorkerPool] = []  # pools of the parent of a fork(): never used, never collected


def worker_pool(python: str, policy: dict[str, Any], size: int) -> WorkerPool:
    """The process-wide pool for `python` and `policy` (created on first use), at least `size`."""
    key = (python, json.dumps(policy, sort_keys=True))
    with _pools_lock:
        pool = _pools.pop(key, None) or WorkerPool(python, policy, size)
        pool.size = max(pool.size, size)
        _pools[key] = pool  # most recently used last
        evicted = [_pools.popitem(last=False)[1] for _ in range(len(_pools) - _MAX_POOLS)]
    for old in evicted:
        _spawner().submit(old.close)
    return pool


def stop_idle_workers(*, reap: bool = True) -> int:
    """Kill every idle worker and remove its folder, close the zygotes; later calls start fresh
    ones (a zygote exits once the calls still running in its children have ended).

    Args:
        reap: also wait until no process of the workers' uids is left (a /proc scan each);
            at interpreter exit the kill alone is enough.

    Returns:
        How many idle workers were stopped.
    """
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    # On the spawner thread, so workers whose start was already queued are stopped as well.
    stopped = [worker for pool in pools for worker in _on_spawner(pool.close)]
    stop_zygotes()
    if reap:
        for worker in stopped:
            kill_uid(worker.uid)
    return len(stopped)


def _on_spawner(close: Callable[[], list[Worker]]) -> list[Worker]:
    """Run `close` after every start queued before it (inline once the thread has shut down)."""
    try:
        return _spawner().submit(close).result()
    except RuntimeError:  # the interpreter is exiting: no start can be in flight any more
        return close()


atexit.register(stop_idle_workers, reap=False)


def _forget_after_fork() -> None:
    """In a forked child, the parent's workers are not ours: start from scratch."""
    global _pools_lock, _spawner_lock, _spawner_executor
    _inherited.extend(_pools.values())
    _pools.clear()
    _pools_lock, _spawner_lock = threading.Lock(), threading.Lock()
    _spawner_executor = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
