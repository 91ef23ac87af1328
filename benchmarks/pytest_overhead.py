"""Per-scenario cost of the pytest plugin next to Tavern, both against one `harness serve`.

Run: `python benchmarks/pytest_overhead.py [--tests N] [--rounds R] [--tavern-venv DIR]`.
Prints one JSON document. Target: the plugin costs at most a fifth of Tavern per test.

1. Starts `harness serve` on 127.0.0.1 and imports the clinic scheduling workflow of
   scenarios/workflows/ (its start is a static greeting: one execute call, no LLM call).
2. Writes N single-turn scenarios (`start`, expecting `status: waiting_for_user_input`) run with
   `--harness-backend api`, and N Tavern tests (`test_*.tavern.yaml`) that send the same execute
   request (the same JSON body) and check the same status in the answer.
3. Runs each suite with pytest in a fresh process, with N tests and with 1 test, R rounds each
   (the plugin in this interpreter, with its report files and history; Tavern in its own
   virtualenv). Per test = (wall(N) - wall(1)) / (N - 1): start-up (interpreter, imports, plugin
   loading, the first request) is subtracted the same way for both. Also reported: wall / N.

Tavern is installed at run time into `--tavern-venv` (default /tmp/harness-bench-tavern) from the
package index when it is missing there; when that fails it is skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "scenarios" / "workflows" / "clinic_scheduling.json"
VARIABLES = {"patient_name": "Ana Ruiz"}
STATUS = "waiting_for_user_input"
UNRELATED_PLUGINS = ("hypothesispytest", "schemathesis", "anyio", "asyncio", "xdist", "timeout")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(port: int) -> subprocess.Popen[bytes]:
    harness = Path(sys.executable).parent / "harness"
    command = [str(harness), "serve", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("harness serve did not start within 30 s")


def _import_workflow(base: str) -> str:
    response = httpx.post(f"{base}/v1/workflows", json=json.loads(WORKFLOW.read_text()), timeout=30)
    response.raise_for_status()
    data = response.json()
    workflow_id = data.get("_id") or data.get("workflow", {}).get("_id") or data.get("id")
    if not isinstance(workflow_id, str):
        raise SystemExit(f"no workflow id in the import answer: {str(data)[:300]}")
    return workflow_id


def _start_body(workflow_id: str) -> dict[str, Any]:
    """The body the api backend sends for a `start` turn (nulls left out, as it does)."""
    from harness.models.scenario import Scenario

    scenario = Scenario.model_validate(
        {
            "name": "start",
            "workflow_id": workflow_id,
            "dynamic_variables": VARIABLES,
            "turns": [{"start": {}}],
        }
    )
    run_input = scenario.run_input_for(scenario.turns[0])
    run_input = run_input.model_copy(update={"workflow_id": workflow_id})
    return run_input.model_dump(mode="json", by_alias=True, exclude_none=True)  # type: ignore[no-any-return]


def _harness_suite(folder: Path, count: int, workflow_id: str) -> Path:
    scenarios = folder / "scenarios"
    scenarios.mkdir(parents=True)
    (folder / "harness.toml").write_text("# benchmark project\n")
    for index in range(count):
        data = {
            "version": 1,
            "name": f"start {index}",
            "workflow_id": workflow_id,
            "dynamic_variables": VARIABLES,
            "turns": [{"start": {}, "expect": {"status": STATUS}}],
        }
        (scenarios / f"s{index:04d}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


def _tavern_suite(folder: Path, count: int, base: str, workflow_id: str) -> Path:
    folder.mkdir(parents=True)
    body = _start_body(workflow_id)
    for index in range(count):
        data = {
            "test_name": f"start {index}",
            "stages": [
                {
                    "name": "start",
                    "request": {
                        "url": f"{base}/v1/workflows/{workflow_id}/execute",
                        "method": "POST",
                        "json": body,
                    },
                    "response": {
                        "status_code": 200,
                        "strict": ["json:off"],  # check only the keys given, as the scenario
                        "json": {"status": STATUS},
                    },
                }
            ],
        }
        (folder / f"test_{index:04d}.tavern.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


def _floor(base: str, workflow_id: str, count: int, rounds: int) -> dict[str, Any]:
    """The request alone: the same execute call sent `count` times in a row by one httpx
    client, per call (what both tools pay for the server; the rest is their own cost)."""
    body = _start_body(workflow_id)
    url = f"{base}/v1/workflows/{workflow_id}/execute"
    per_call = []
    with httpx.Client(timeout=30) as client:
        client.post(url, json=body).raise_for_status()
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(count):
                client.post(url, json=body).raise_for_status()
            per_call.append((time.perf_counter() - started) / count * 1000)
    return {
        "per_request_ms_min": round(min(per_call), 2),
        "per_request_ms_median": round(statistics.median(per_call), 2),
    }


def _tavern_python(venv: Path) -> tuple[Path | None, str]:
    python = venv / "bin" / "python"
    if python.is_file() and _has_tavern(python):
        return python, "found"
    try:
        if not python.is_file():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run(
            # Tavern 3.7 imports `_pytest.python_api`, which pytest 9 removed: pin pytest 8 there.
            [str(python), "-m", "pip", "install", "-q", "tavern", "pytest<9"],
            check=True,
            timeout=600,
            capture_output=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"Tavern could not be installed from the package index: {exc}"
    return (python, "installed") if _has_tavern(python) else (None, "Tavern did not import")


def _has_tavern(python: Path) -> bool:
    check = "import tavern._core.pytest"  # its pytest plugin, which needs pytest < 9
    done = subprocess.run([str(python), "-c", check], capture_output=True, check=False)
    return done.returncode == 0


def _wall(command: list[str], cwd: Path, env: dict[str, str], expect: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0 or f"{expect} passed" not in done.stdout:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise SystemExit(f"{' '.join(command)} in {cwd} did not pass {expect} tests:\n{tail}")
    return wall


def _measure(
    name: str,
    commands: tuple[list[str], list[str]],
    folders: tuple[Path, Path],
    count: int,
    rounds: int,
    env: dict[str, str],
) -> dict[str, Any]:
    small: list[float] = []
    large: list[float] = []
    for _ in range(rounds):  # interleaved, so a busy moment hits both sizes
        small.append(_wall(commands[0], folders[0], env, 1))
        large.append(_wall(commands[1], folders[1], env, count))
    per_test = sorted(
        (big - one) / (count - 1) * 1000 for big, one in zip(large, small, strict=True)
    )
    return {
        "tool": name,
        "tests": count,
        "per_test_ms_min": round(per_test[0], 2),
        "per_test_ms_median": round(statistics.median(per_test), 2),
        "wall_1_test_s_min": round(min(small), 3),
        "wall_n_tests_s_min": round(min(large), 3),
        "wall_over_n_ms": round(min(large) / count * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=200, help="tests per suite (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each suite (default 3)")
    parser.add_argument("--tavern-venv", default="/tmp/harness-bench-tavern")
    parser.add_argument("--keep", help="keep the generated suites in this folder")
    args = parser.parse_args()
    count = max(2, args.tests)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pytest-overhead-"))
    server = _serve(port)
    try:
        workflow_id = _import_workflow(base)
        env = {**os.environ, "HARNESS_API_URL": base}
        for name in ("PYTEST_ADDOPTS", "PYTHONDONTWRITEBYTECODE"):  # no bytecode: recompiles
            env.pop(name, None)
        plugin = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        # This project's other dev plugins are not the plugin's cost (Tavern's venv has none).
        for other in UNRELATED_PLUGINS:
            plugin += ["-p", f"no:{other}"]
        plugin += ["--harness-backend", "api", "scenarios"]
        sizes = (1, count)
        harness_dirs = tuple(_harness_suite(work / f"harness{n}", n, workflow_id) for n in sizes)
        report: dict[str, Any] = {"server": "harness serve", "workflow": WORKFLOW.name}
        report["request_alone"] = _floor(base, workflow_id, count, args.rounds)
        report["plugin"] = _measure(
            "harness pytest plugin", (plugin, plugin), harness_dirs, count, args.rounds, env
        )
        python, how = _tavern_python(Path(args.tavern_venv))
        if python is None:
            report["tavern"] = {"skipped": how}
        else:
            tavern = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            tavern_dirs = tuple(
                _tavern_suite(work / f"tavern{n}", n, base, workflow_id) for n in sizes
            )
            report["tavern"] = _measure(
                "tavern", (tavern, tavern), tavern_dirs, count, args.rounds, env
            )
            version = subprocess.run(
                [
                    str(python),
                    "-c",
                    "import tavern, pytest; print(tavern.__version__, pytest.__version__)",
                ],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            report["tavern"]["versions"] = (
                {"tavern": version[0], "pytest": version[1]} if version else {}
            )
            ratio = report["tavern"]["per_test_ms_median"] / report["plugin"]["per_test_ms_median"]
            report["tavern_over_plugin_median"] = round(ratio, 1)
            floor = report["request_alone"]["per_request_ms_median"]
            own = (report["tavern"]["per_test_ms_median"] - floor) / max(
                0.01, report["plugin"]["per_test_ms_median"] - floor
            )
            report["tavern_over_plugin_without_the_request"] = round(own, 1)
            report["target_met"] = ratio >= 5
        print(json.dumps(report, indent=1))
    finally:
        server.terminate()
        server.wait(timeout=10)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
