"""Dashboard tests: one real history per session (the example suite plus an injected batch),
Streamlit's cache cleared between tests, and the app file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.append(HERE)

from histories import History, example_history  # noqa: E402


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """The example suite's batch, then the injected one (about 3 s, once per session)."""
    return example_history(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """`st.cache_data` outlives an AppTest: clear it so tests do not see each other's data."""
    import streamlit as st

    st.cache_data.clear()
    yield
    st.cache_data.clear()
