"""Fixtures of the fuzz tests (the budget itself: fuzz_budget.py); the tests mark themselves `fuzz`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fuzz_budget import Budget


@pytest.fixture
def budget(request: pytest.FixtureRequest) -> Iterator[Budget]:
    tracker = Budget(request.node.name)
    yield tracker
    line = tracker.summary()
    print("\n" + line)
    report = os.environ.get("HARNESS_FUZZ_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
