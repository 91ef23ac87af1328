"""Run `harness serve`: refuse unsafe binds, build the app, and serve it with uvicorn."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from harness.config import HarnessSettings
from harness.errors import ConfigError

__all__ = ["ENV_SERVE_TOKEN", "check_bind", "is_loopback", "serve"]

ENV_SERVE_TOKEN = "HARNESS_SERVE_TOKEN"


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve beyond loopback without a token (anyone could run workflows on our keys).

    Raises:
        ConfigError: `host` is not a loopback address and no token is set.
    """
    if not token and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without a token: anyone who can reach it could run "
            "workflows with your LLM keys",
            hint=f"pass --token (or export {ENV_SERVE_TOKEN}), or keep the default "
            "--host 127.0.0.1",
        )


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    workflows_dir: str | Path | None = None,
    store: str | Path | None = None,
    settings: HarnessSettings | None = None,
) -> None:
    """Serve the engine on uvicorn until interrupted.

    Args:
        host: the address to bind; beyond loopback a token is required.
        port: the TCP port.
        token: the bearer token API requests must carry (default: `HARNESS_SERVE_TOKEN`).
        workflows_dir: hydrated workflow configs to preload.
        store: a SQLite file for runs (default: in memory).
        settings: providers and timeouts (default: `load_settings()`).

    Raises:
        ConfigError: an unsafe bind, a bad workflows folder, or invalid settings.
    """
    import uvicorn

    from harness.config import load_settings
    from harness.server.app import create_app

    token = token or os.environ.get(ENV_SERVE_TOKEN) or None
    check_bind(host, token)
    app = create_app(
        settings or load_settings(), token=token, workflows_dir=workflows_dir, store=store
    )
    uvicorn.run(app, host=host, port=port, log_level="info")
