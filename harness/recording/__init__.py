"""Record and replay LLM and HTTP calls in vcrpy-format cassettes, strictly and concurrently.

Usage (one session per scenario)::

    async with open_cassette("cassettes/booking.json", "none") as session:
        session.set_context(scenario="books a visit", scenario_path="scenarios/booking.yaml")
        async with httpx.AsyncClient(transport=session.transport) as http:
            ...  # the engine's LLM client and tools use `http`
        session.mark_complete()  # every attempt ran: only now is a recording written
        print(session.stale_report() or "no stale interactions")

See docs/recording.md for the modes, matching, scrubbing and the cassette format.
"""

from harness.recording.cassette import (
    LATENCY_HEADER,
    CassetteFormatError,
    Interaction,
    cassette_path_for,
    load_cassette,
    save_cassette,
)
from harness.recording.matching import DEFAULT_VOLATILE_KEYS, MatchOptions, RequestKey
from harness.recording.misses import (
    PROVIDER_SETTINGS_HINT,
    MissContext,
    ReplayMissError,
    StaleInteraction,
)
from harness.recording.modes import RecordMode, parse_record_mode
from harness.recording.scrub import REDACTED, ScrubOptions
from harness.recording.session import (
    CassetteBusyError,
    CassetteSession,
    IncompleteRecordingError,
    NotWritten,
    not_written,
    open_cassette,
)
from harness.recording.transport import RecordingFailure, RecordingTransport, ReplayTransport

__all__ = [
    "DEFAULT_VOLATILE_KEYS",
    "LATENCY_HEADER",
    "PROVIDER_SETTINGS_HINT",
    "REDACTED",
    "CassetteBusyError",
    "CassetteFormatError",
    "CassetteSession",
    "IncompleteRecordingError",
    "Interaction",
    "MatchOptions",
    "MissContext",
    "NotWritten",
    "RecordMode",
    "RecordingFailure",
    "RecordingTransport",
    "ReplayMissError",
    "ReplayTransport",
    "RequestKey",
    "ScrubOptions",
    "StaleInteraction",
    "cassette_path_for",
    "load_cassette",
    "not_written",
    "open_cassette",
    "parse_record_mode",
    "save_cassette",
]
