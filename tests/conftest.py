"""Settings every test shares."""

from __future__ import annotations

import signal
import ssl
from typing import Any

import pytest


def pytest_configure() -> None:
    """Tests that press Ctrl-C send SIGINT to a child process. A child inherits an ignored
    SIGINT (pytest started in the background of a shell without job control, or by `nohup`),
    and Python then never raises KeyboardInterrupt in it: the child would sleep through the
    signal and the test would fail for its environment. A child inherits a handled signal as
    the default action, so handling it here gives every child Python's usual Ctrl-C."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def ca_bundle_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each load of certificates into a TLS context from here on (what httpx does for every
    client or transport it builds with default verification)."""
    loaded: list[object] = []
    load = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loaded.append(args or kwargs)
        load(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    return loaded
