"""Dump every run the example suite produces on the engine (dev-time; run with the project venv).

    .venv/bin/python tests/platform/dump_runs.py OUT_DIR [SCENARIO_PATHS...]

Runs `harness run` in this process (default: `scenarios/`, replayed from its cassettes) and writes
the last snapshot of every run the engine backend returned, one JSON file per run
(`model_dump(mode="json", by_alias=True)`, the full dump a server answers with), into OUT_DIR.
`tests/platform/check_runs.py` then validates them against the platform's own models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from harness.backends.engine import EngineBackend
from harness.cli import main as harness_main
from harness.models.api import WorkflowRun


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, WorkflowRun] = {}
    original = EngineBackend.execute

    async def recording(self: EngineBackend, target: Any, run_input: Any) -> WorkflowRun:
        run = await original(self, target, run_input)
        # Replays use a fixed seed, so run ids repeat across scenarios: key by backend too.
        runs[f"{id(self):x}-{run.workflow_run_id}"] = run
        return run

    EngineBackend.execute = recording  # type: ignore[method-assign]
    code = harness_main(["run", *(argv[1:] or ["scenarios/"])])
    for run_id, run in runs.items():
        data = run.model_dump(mode="json", by_alias=True)
        (out / f"{run_id}.json").write_text(json.dumps(data, indent=1))
    print(f"harness run exited {code}; wrote {len(runs)} run(s) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
