"""Measure `harness serve`'s bounds (docs/reliability.md, section Server).

    python benchmarks/server_limits.py [--runs 3000] [--bodies 10]

Starts the server in a child process (memory store, then a SQLite store), and reports its
resident memory: while it runs `--runs` short runs, and after `--bodies` 50 MB request bodies.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serve_helpers import hydrated, node

SERVER = """
import sys
import uvicorn
from harness.config import HarnessSettings, ProviderConfig
from harness.server import create_app
settings = HarnessSettings(
    providers={"default_provider": ProviderConfig(base_url="http://127.0.0.1:9/v1")},
    max_retries=0,
)
store = sys.argv[2] or None
uvicorn.run(create_app(settings, store=store), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="critical")
"""
WORKFLOW = hydrated(
    [node("say_static", "hello", static_messages_config={"static_messages": ["Hi"]})]
).model_dump(mode="json")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(store: str, runs: int, bodies: int) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), store])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        label = "sqlite" if store else "memory"
        with httpx.Client(base_url=url, timeout=60) as client:
            workflow = client.post("/v1/workflows", json=WORKFLOW).json()["workflow"]["_id"]
            print(f"[{label}] RSS at start: {rss_mb(proc.pid):.0f} MB")
            started = time.perf_counter()
            for i in range(1, runs + 1):
                client.post(f"/v1/workflows/{workflow}/execute", json={}).raise_for_status()
                if i % 1000 == 0:
                    client.get("/v1/workflow-runs", params={"size": 500}).raise_for_status()
                    print(f"[{label}] after {i} runs: RSS {rss_mb(proc.pid):.0f} MB")
            rate = runs / (time.perf_counter() - started)
            print(f"[{label}] {rate:.0f} runs/s")
            big = b'{"dynamic_variables": {"x": "' + b"a" * 50_000_000 + b'"}}'
            statuses = set()
            for _ in range(bodies):
                with httpx.Client(base_url=url, timeout=60) as fresh:
                    answer = fresh.post(
                        f"/v1/workflows/{workflow}/execute",
                        content=big,
                        headers={"content-type": "application/json"},
                    )
                    statuses.add(answer.status_code)
            print(f"[{label}] {bodies} x 50 MB bodies: {statuses}, RSS {rss_mb(proc.pid):.0f} MB")
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--bodies", type=int, default=10)
    args = parser.parse_args()
    measure("", args.runs, args.bodies)
    with tempfile.TemporaryDirectory() as folder:
        measure(str(Path(folder) / "runs.db"), args.runs, args.bodies)


if __name__ == "__main__":
    main()
