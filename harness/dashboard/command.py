"""`harness dashboard`: start the Streamlit app on 127.0.0.1 over a history database."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from harness.errors import HarnessError

__all__ = ["DEFAULT_PORT", "register", "run_dashboard", "streamlit_command"]

DEFAULT_PORT = 8501
APP = Path(__file__).with_name("app.py")


def _default_history() -> Path:
    from harness.config import find_project_root

    root = find_project_root(Path.cwd()) or Path.cwd()
    return root / "reports" / "history.sqlite"


def streamlit_command(history: Path, port: int) -> list[str]:
    """The `streamlit run` command line: headless, on 127.0.0.1 only, no usage statistics, and
    errors shown as messages without their traceback."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless=true",
        "--server.address=127.0.0.1",
        f"--server.port={port}",
        "--browser.gatherUsageStats=false",
        "--client.showErrorDetails=none",
        "--client.toolbarMode=viewer",
        "--server.fileWatcherType=none",
        "--",
        "--history",
        str(history),
    ]


def run_dashboard(history: Path | None, port: int) -> int:
    """Serve the dashboard until Ctrl-C; returns Streamlit's exit code.

    Raises:
        HarnessError: Streamlit is not installed, or the port is not a port.
    """
    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise HarnessError(
            "the dashboard needs Streamlit, which is not installed",
            hint="pip install 'harness[dashboard]'",
        ) from None
    if not 0 < port < 65536:
        raise HarnessError(f"--port {port} is not a TCP port", hint="give a port from 1 to 65535")
    path = (history or _default_history()).resolve()
    if not path.is_file():
        print(
            f"note: no history at {path} yet; the dashboard says how to create one "
            "(harness run scenarios/)",
            file=sys.stderr,
        )
    print(f"dashboard: http://127.0.0.1:{port}  (history {path}; Ctrl-C stops it)", flush=True)
    env = {**os.environ, "HARNESS_DASHBOARD_HISTORY": str(path)}
    command = streamlit_command(path, port)
    if os.name == "posix":  # become Streamlit: signals (Ctrl-C, SIGTERM) reach it directly
        sys.stderr.flush()
        os.execve(command[0], command, env)
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    return run_dashboard(Path(args.history) if args.history else None, args.port)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dashboard` to the `harness` parser."""
    dashboard = sub.add_parser(
        "dashboard",
        help="browse regressions, trends and runs of the history in a Streamlit dashboard",
        description="Start the dashboard on 127.0.0.1 (Ctrl-C stops it). It reads the history "
        "database only; it never runs scenarios.",
    )
    dashboard.add_argument(
        "--history", metavar="PATH", help="history database (default reports/history.sqlite)"
    )
    dashboard.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    dashboard.set_defaults(handler=_cmd_dashboard)
