"""Time and peak memory of single hostile inputs to the loaders (docs/reliability.md, "Inputs").

    python benchmarks/hostile_inputs.py

Prints one Markdown row per attack: its size, the time to the error, the growth of the process's
peak RSS, and the error's first line.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from harness.engine.expressions import evaluate_expression
from harness.errors import HarnessError
from harness.recording import CassetteFormatError, load_cassette
from harness.scenarios import validate

WORKFLOW = Path(__file__).parents[1] / "tests" / "data" / "workflows" / "two_node_say_static.json"
BASE = f"version: 1\nname: x\nworkflow: {WORKFLOW}\nturns: [{{start: {{}}}}]\n"
LAUGHS = "".join(
    f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" if i else "l0: &l0 [lol]\n"
    for i in range(10)
)
CHAIN = "m0: &m0 {k: 1}\n" + "".join(
    f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}\n" for i in range(1, 30)
)
MATRIX = BASE + "matrix: {" + ", ".join(f"v{i}: [0,1,2,3,4,5,6,7,8,9]" for i in range(12)) + "}\n"
CASSETTE_END = "version: 1\ninteractions: []\n"
CASES = {
    "scenario: billion laughs (10 levels x 9 aliases)": ("scenario", LAUGHS),
    "scenario: `<<:` merge chain (29 levels x 2)": ("scenario", CHAIN),
    "scenario: matrix of 10^12 combinations": ("scenario", MATRIX),
    "scenario: 4,301-digit number": ("scenario", BASE + "timeout_seconds: " + "9" * 4301 + "\n"),
    "scenario: regex x{99999999999}": (
        "scenario",
        BASE + "expect: {says: {regex: 'x{99999999999}'}}\n",
    ),
    "cassette: YAML merge chain (29 levels x 2)": ("cassette", CHAIN + CASSETTE_END),
    "cassette: YAML billion laughs": ("cassette", LAUGHS + CASSETTE_END),
    "expression: 50,000-operand AND chain": ("expression", " AND ".join(["true"] * 50_000)),
    "expression: 11,000-operand AND chain": ("expression", " AND ".join(["true"] * 11_000)),
}


def attack(folder: Path, kind: str, text: str) -> str:
    if kind == "scenario":
        path = folder / "a.scenario.yaml"
        path.write_text(text)
        return str(validate([path], root=folder).issues[0]).splitlines()[0]
    if kind == "cassette":
        path = folder / "c.yaml"
        path.write_text(text)
        try:
            load_cassette(path)
        except CassetteFormatError as exc:
            return str(exc).splitlines()[0]
        return "loaded"
    try:
        return str(evaluate_expression(text, {}, {}))
    except HarnessError as exc:
        return str(exc).splitlines()[0]


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    print("| attack | bytes | time | peak RSS growth | answer |\n|---|---|---|---|---|")
    for name, (kind, text) in CASES.items():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        answer = attack(folder, kind, text).replace(f"{folder}/", "")
        elapsed = time.perf_counter() - started
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(
            f"| {name} | {len(text):,} | {elapsed * 1000:.0f} ms | {grown:.0f} MB | {answer[:100]} |"
        )


if __name__ == "__main__":
    main()
