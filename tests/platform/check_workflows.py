"""Validate workflow files against the platform's own models (dev-time; run with the scratch venv).

    /tmp/sdkvenv/bin/python tests/platform/check_workflows.py FILE_OR_DIR...

For every workflow file (JSON or YAML; folders are searched for `*.json`, `*.yaml`, `*.yml` that
hold a `node_configs` list): `WorkflowConfigFullyHydrated` (`interactly_configs`) validates it, and
every key of the file survives the platform's parse, so nothing we write is silently dropped on
import (the platform's models ignore unknown keys). Prints the figures and every problem; exits 1 on
any problem.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from interactly_configs import WorkflowConfigFullyHydrated
from pydantic import ValidationError

# Keys the platform keeps out of its dumps on purpose (`exclude=True`): not dropped data.
EXCLUDED = {"secret_variables"}


def workflow_files(paths: list[str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in candidates:
            if file.suffix in (".json", ".yaml", ".yml") and "node_configs" in file.read_text():
                data = load(file)
                if isinstance(data, dict) and isinstance(data.get("node_configs"), list):
                    yield file


def load(path: Path) -> Any:
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def dropped(ours: Any, theirs: Any, where: str) -> Iterator[str]:
    """Paths of keys present in `ours` and absent from the platform's dump `theirs`."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key, value in ours.items():
            if key in EXCLUDED:
                continue
            if key not in theirs:
                yield f"{where}.{key}"
            else:
                yield from dropped(value, theirs[key], f"{where}.{key}")
    elif isinstance(ours, list) and isinstance(theirs, list):
        for index, (a, b) in enumerate(zip(ours, theirs, strict=False)):
            yield from dropped(a, b, f"{where}[{index}]")


def check(path: Path, counts: Counter[str]) -> list[str]:
    raw = load(path)
    try:
        parsed = WorkflowConfigFullyHydrated.model_validate(raw)
    except ValidationError as exc:
        return [f"{path}: {exc}"]
    counts["valid"] += 1
    counts["nodes"] += len(raw.get("node_configs") or [])
    counts["edges"] += len(raw.get("edge_configs") or [])
    lost = list(dropped(raw, parsed.model_dump(mode="json"), "$"))
    if lost:
        return [f"{path}: dropped on import: {', '.join(lost)}"]
    counts["nothing dropped"] += 1
    return []


def main(argv: list[str]) -> int:
    counts: Counter[str] = Counter()
    problems: list[str] = []
    for path in workflow_files(argv):
        counts["files"] += 1
        problems += check(path, counts)
    print(json.dumps(dict(counts), indent=1))
    for problem in problems:
        print(problem)
    return 1 if problems or not counts["files"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
