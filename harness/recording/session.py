"""Open a cassette for one scenario: the transport to inject, misses, stale interactions, saving.

A recording is written only once the caller says the scenario is complete (`mark_complete()`,
after every attempt and turn ran) and every request it made was recorded; anything else (Ctrl-C,
a failed attempt, a request that got no recordable answer) leaves the previous cassette as it was,
and says so. A kill leaves the old file or the new one, never half of one: see `save_cassette`.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from harness.errors import HarnessError
from harness.recording.cassette import load_cassette, save_cassette
from harness.recording.matching import MatchOptions, RequestKey
from harness.recording.misses import (
    PROVIDER_SETTINGS_HINT,
    MissContext,
    ReplayMissError,
    StaleInteraction,
    closest_interaction,
    describe_stale,
    display_path,
    record_once_command,
    request_diff,
    rerecord_command,
)
from harness.recording.modes import RecordMode, parse_record_mode
from harness.recording.scrub import ScrubOptions, scrub_text, scrub_uri
from harness.recording.transport import (
    CassetteState,
    RecordingFailure,
    RecordingTransport,
    ReplayTransport,
    is_recordable_status,
)

__all__ = [
    "CassetteBusyError",
    "CassetteSession",
    "IncompleteRecordingError",
    "NotWritten",
    "not_written",
    "open_cassette",
]

log = logging.getLogger("harness.recording")

# Cassettes being recorded in this process. Two sessions recording into one file would each
# save only their own interactions and the last save would win, so the second is refused.
_RECORDING: set[Path] = set()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (the CA bundle, or `SSL_CERT_FILE`/`SSL_CERT_DIR` as they
    were at the first recording), made once per process: each scenario recorded has its own
    transport, and loading the bundle costs ~20 ms every time."""
    return httpx.create_ssl_context()


class CassetteBusyError(HarnessError):
    """A cassette is already being recorded by another session in this process."""


class IncompleteRecordingError(HarnessError):
    """A scenario ran to its end, but some of its requests got no answer that could be recorded.

    The cassette is not written (a replay would miss those requests); the message lists them.
    """


@dataclass(frozen=True)
class NotWritten:
    """A recording that was not written (see `not_written()`).

    Attributes:
        path: the cassette.
        reason: why it was not written.
        previous_kept: True when an earlier cassette is still there, unchanged.
        command: the command that records it again.
    """

    path: Path
    reason: str
    previous_kept: bool
    command: str

    def __str__(self) -> str:
        kept = "the previous cassette is unchanged" if self.previous_kept else "no cassette written"
        return (
            f"cassette {display_path(self.path)} not written: {self.reason}; {kept}. "
            f"Record it again with: {self.command}"
        )


# Every recording this process did not write, in order (each is also logged as a warning when it
# happens), e.g. for a summary after Ctrl-C.
_NOT_WRITTEN: list[NotWritten] = []


def not_written(*, clear: bool = False) -> list[NotWritten]:
    """The recordings this process left unwritten so far (optionally forgetting them)."""
    found = list(_NOT_WRITTEN)
    if clear:
        _NOT_WRITTEN.clear()
    return found


class CassetteSession:
    """One cassette, opened in one record mode, for one scenario (and its repeats).

    Build the scenario's client with `httpx.AsyncClient(transport=session.transport)`. Use it as
    an async context manager, or call `save()` and `aclose()` yourself.
    """

    def __init__(
        self,
        path: Path,
        mode: RecordMode,
        state: CassetteState,
        *,
        existed: bool,
        inner: httpx.AsyncBaseTransport | None,
        context: MissContext,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.mode = mode
        self.context = context
        self.metadata = dict(metadata or {})
        self._state = state
        self._existed = existed
        self._complete = False
        self._finished = False
        self.is_recording = (
            mode is RecordMode.ALL
            or mode is RecordMode.NEW_EPISODES
            or (mode is RecordMode.ONCE and not existed)
        )
        self.transport: httpx.AsyncBaseTransport
        if self.is_recording:
            _claim(path)
            self.transport = RecordingTransport(
                state,
                inner or httpx.AsyncHTTPTransport(verify=_tls_context()),
                replay_first=mode is RecordMode.NEW_EPISODES,
                on_close=self._release,
            )
        else:
            self.transport = ReplayTransport(state, on_miss=self._miss)

    def set_context(
        self,
        *,
        scenario: str | None = None,
        scenario_path: str | None = None,
        turn: int | None = None,
        rerecord_command: str | None = None,
    ) -> None:
        """Update what miss reports name (arguments left as None keep their current value)."""
        current = self.context
        self.context = MissContext(
            scenario=current.scenario if scenario is None else scenario,
            scenario_path=current.scenario_path if scenario_path is None else scenario_path,
            turn=current.turn if turn is None else turn,
            rerecord_command=(
                current.rerecord_command if rerecord_command is None else rerecord_command
            ),
            backend=current.backend,
        )

    @property
    def replayed_count(self) -> int:
        """Requests answered from the cassette so far."""
        return self._state.replayed

    @property
    def recorded_count(self) -> int:
        """Interactions recorded in this session so far."""
        return len(self._state.recorded)

    def unused(self) -> list[StaleInteraction]:
        """Loaded interactions this session never replayed: stale once the scenario has ended.

        Always empty in `all` mode, which replaces the cassette.
        """
        state = self._state
        return [describe_stale(state.loaded[p], p) for p in state.unused()]

    def stale_report(self) -> str | None:
        """A readable list of the unused interactions, or None when every one was used."""
        stale = self.unused()
        if not stale:
            return None
        lines = [
            f"{display_path(self.path)}: {len(stale)} recorded interaction(s) never used (stale):"
        ]
        lines += [f"  #{s.position} {s.method} {s.uri}  {s.summary}" for s in stale]
        lines.append(f"  re-record to drop them: {rerecord_command(self.context)}")
        return "\n".join(lines)

    def failures(self) -> list[RecordingFailure]:
        """Requests made while recording whose answer is not (yet) in the recording: a transport
        error, a 429/5xx, an abandoned stream. A later identical request that is recorded (a
        retry) settles one; any left when the scenario ends make it unwritable."""
        return list(self._state.failures.values())

    @property
    def is_complete(self) -> bool:
        """True once `mark_complete()` was called."""
        return self._complete

    def mark_complete(self) -> None:
        """Say that the scenario ran to its end: every attempt and turn made its requests.

        Only a complete recording is ever written; without this call, closing the session leaves
        the previous cassette (or none) in place. The runner calls it after the last attempt of
        a scenario that raised no error; an interrupted or failed run never does.
        """
        self._complete = True

    def save(self) -> bool:
        """Write the recording if it is complete; True when a file was written.

        Nothing is written when this session does not record, recorded nothing, or was not
        marked complete (then the previous cassette stays as it was and a warning names it).

        Raises:
            IncompleteRecordingError: the scenario completed, but requests it made got no
                recordable answer (transport errors, 429/5xx, abandoned streams); the previous
                cassette stays as it was.
            CassetteFormatError: the file cannot be written.
        """
        if not self.is_recording or self._finished:
            return False
        self._finished = True
        if not self._complete:
            self._report_not_written("the scenario did not run to its end (interrupted or failed)")
            return False
        failures = list(self._state.failures.values())
        if failures:
            reason = f"{len(failures)} request(s) got no answer that could be recorded"
            self._report_not_written(reason)
            raise IncompleteRecordingError(
                f"{display_path(self.path)} not written: {reason}:\n"
                + "\n".join(f"  {failure}" for failure in failures),
                hint=f"fix the cause, then record again: {self._record_again_command()}; "
                f"{PROVIDER_SETTINGS_HINT}",
            )
        recorded = self._state.recorded
        if not recorded:
            return False
        keep = self._state.loaded if self.mode is RecordMode.NEW_EPISODES else []
        metadata = dict(self.metadata)
        scenario = _relative_to(self.context.scenario_path, self.path.parent)
        if scenario is not None and "scenario" not in metadata:
            metadata["scenario"] = scenario
        save_cassette(self.path, [*keep, *recorded], metadata=metadata)
        return True

    async def aclose(self) -> None:
        """Close the transport (and the network transport under it, when recording)."""
        await self.transport.aclose()
        self._release()

    async def __aenter__(self) -> CassetteSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Written only when marked complete: an exception (or Ctrl-C) before `mark_complete()`
        # keeps the previous cassette.
        try:
            self.save()
        finally:
            await self.aclose()

    def _record_again_command(self) -> str:
        # `once` records only a missing cassette; an existing one needs `all` (--rerecord).
        if self._existed:
            return rerecord_command(self.context)
        return record_once_command(self.context)

    def _report_not_written(self, reason: str) -> None:
        entry = NotWritten(self.path, reason, self._existed, self._record_again_command())
        _NOT_WRITTEN.append(entry)
        log.warning("%s", entry)

    def _release(self) -> None:
        if self.is_recording:
            _RECORDING.discard(self.path)

    def _miss(self, request: httpx.Request, key: RequestKey, body: bytes) -> Exception:
        state = self._state
        # The report is shown and stored (results.json): scrubbed as a recording would be.
        scrub = state.scrub_for(request)
        text = scrub_text(body.decode("utf-8", "replace"), scrub) if body else None
        uri = scrub_uri(str(request.url), scrub)
        recorded = state.index.recorded_count(key)
        if recorded:
            reason = f"this exact request was recorded {recorded} time(s) and is now made once more"
        elif not state.loaded:
            reason = (
                "the cassette does not exist yet"
                if not self._existed
                else "the cassette has no interactions"
            )
        else:
            reason = "no recorded request has the same method, URL and body"
        used = [state.index.was_used(p) for p in range(len(state.loaded))]
        position = (
            None if recorded else closest_interaction(state.loaded, state.keys, key, text, used)
        )
        closest = None if position is None else state.loaded[position]
        return ReplayMissError(
            cassette=self.path,
            context=self.context,
            node=_node_of(request),
            purpose=_purpose_of(request),
            method=request.method,
            uri=uri,
            reason=f"{reason} (record mode {self.mode.value})",
            cassette_exists=self._existed,
            closest=closest,
            closest_position=position,
            diff=""
            if closest is None
            else request_diff(closest, request.method, uri, text, state.match),
        )


def _relative_to(path: str | None, folder: Path) -> str | None:
    """`path` relative to `folder`, with `/`: the same on every machine and from any cwd."""
    if not path:
        return None
    try:
        return Path(os.path.relpath(Path(path).absolute(), folder)).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return None


def _harness_extension(request: httpx.Request, name: str) -> str | None:
    # Set by the engine's LLM client: `extensions={"harness": {"node_logical_id": ...}}`.
    extension = request.extensions.get("harness")
    value = extension.get(name) if isinstance(extension, dict) else None
    return None if value is None else str(value)


def _node_of(request: httpx.Request) -> str | None:
    return _harness_extension(request, "node_logical_id")


def _purpose_of(request: httpx.Request) -> str | None:
    return _harness_extension(request, "purpose")


def _claim(path: Path) -> None:
    if path in _RECORDING:
        raise CassetteBusyError(
            f"{path} is already being recorded by another session in this process",
            hint="share one session between the repeats of a scenario, or give each scenario "
            "its own cassette path",
        )
    _RECORDING.add(path)


def open_cassette(
    path: Path | str,
    mode: RecordMode | str = RecordMode.NONE,
    *,
    inner: httpx.AsyncBaseTransport | None = None,
    context: MissContext | None = None,
    match: MatchOptions | None = None,
    scrub: ScrubOptions | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> CassetteSession:
    """Open the cassette at `path` in record mode `mode`.

    Args:
        path: the cassette file (`.json`; `.yaml`/`.yml` are read and written too).
        mode: `none` (replay only, the default), `once`, `new_episodes` or `all`.
        inner: the transport that reaches the network when recording (default: a plain
            `httpx.AsyncHTTPTransport`); never used in replay.
        context: scenario, scenario file and turn, for miss reports.
        match: how requests are compared (volatile keys, host matching).
        scrub: what to redact (default: the built-in lists plus the values of the usual key
            env vars such as OPENAI_API_KEY).
        metadata: more keys for the written cassette's `metadata.harness` block (e.g.
            `{"backend": "api"}`); the scenario file from `context` is added as `scenario`.

    Raises:
        CassetteFormatError: the cassette exists but cannot be read.
        CassetteBusyError: another session in this process is recording the same file.
        ConfigError: `mode` is not a record mode.
    """
    path = Path(path).absolute()
    mode = parse_record_mode(mode)
    # `all` replaces the cassette, so the old file is not even parsed (it may be unreadable).
    loaded = None if mode is RecordMode.ALL else load_cassette(path)
    existed = path.is_file() if mode is RecordMode.ALL else loaded is not None
    # A 429/5xx recorded by another tool would only make the replayed run sleep and retry.
    interactions = [i for i in loaded or [] if is_recordable_status(i.status)]
    state = CassetteState(
        path,
        interactions,
        match=match or MatchOptions(),
        scrub=scrub if scrub is not None else ScrubOptions.from_env(),
    )
    return CassetteSession(
        path,
        mode,
        state,
        existed=existed,
        inner=inner,
        context=context or MissContext(),
        metadata=metadata,
    )
