"""What a batch of scenarios runs with: backend, record mode, concurrency, workers, timeout,
timings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from harness.backends.binding import BindingConfig, TransportWrapper
from harness.config import HarnessSettings, load_settings
from harness.recording import RecordMode

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "PhaseTimings", "RunOptions", "TransportWrapper"]

DEFAULT_TIMEOUT_SECONDS = 300.0
"""Time limit of one run (attempt) of a scenario unless the scenario or the caller says otherwise."""


@dataclass
class PhaseTimings:
    """Seconds spent per phase across a batch (filled only when given to `RunOptions`)."""

    loading: float = 0.0
    """Opening cassettes, loading workflow files, building backends."""
    execute: float = 0.0
    """Inside `Backend.execute` (engine plus transport)."""
    checks: float = 0.0
    """Building views and turn results, checking expectations and budgets."""
    calls: int = 0
    """Execute calls made."""

    @contextmanager
    def measure(self, phase: str) -> Iterator[None]:
        """Add the time of the `with` block to `phase`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, phase, getattr(self, phase) + time.perf_counter() - started)


@dataclass
class RunOptions:
    """How scenarios run.

    Attributes:
        backend: `engine` (in-process, cassettes) or `api` (the platform or `harness serve`).
        record_mode: cassette record mode (`none` replays only).
        concurrency: scenarios running at once.
        timeout_seconds: time limit of one attempt, unless a scenario sets `timeout_seconds`.
        settings: providers, API URL and timeouts (default: `load_settings()` from the project
            root, else from the working folder).
        cassettes_root: where cassettes live.
        scenarios_root: the folder mirrored under `cassettes_root`.
        project_root: the project's root (`harness.config.find_project_root`): result `file`s are
            written relative to it. The suite sets it, and the two roots above under it.
        inner_transport: the network transport used while recording (default: httpx's).
        wrap_transport: wraps each scenario's cassette transport (benchmarks, diagnostics).
        timings: accumulates the time per phase when given (with workers: their sum).
        workers: processes the scenarios run in (`harness.runner.workers.plan_workers`): a
            number, or `auto` (one per core for a large engine replay); 1 runs in this process.
    """

    backend: str = "engine"
    record_mode: RecordMode | str = RecordMode.NONE
    concurrency: int = 4
    timeout_seconds: float | None = DEFAULT_TIMEOUT_SECONDS
    settings: HarnessSettings | None = None
    cassettes_root: Path = Path("cassettes")
    scenarios_root: Path = Path("scenarios")
    project_root: Path | None = None
    inner_transport: httpx.AsyncBaseTransport | None = None
    wrap_transport: TransportWrapper | None = None
    timings: PhaseTimings | None = field(default=None)
    workers: int | Literal["auto"] = 1

    def binding_config(self) -> BindingConfig:
        """What the backend factories need: settings, record mode, cassette locations.

        Raises:
            ConfigError: the settings file is invalid.
        """
        settings = self.settings
        if settings is None:
            settings = load_settings(self.project_root)
        return BindingConfig(
            settings=settings,
            record_mode=self.record_mode,
            cassettes_root=self.cassettes_root,
            scenarios_root=self.scenarios_root,
            inner_transport=self.inner_transport,
            wrap_transport=self.wrap_transport,
        )
