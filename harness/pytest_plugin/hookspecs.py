"""Hooks a `conftest.py` can implement to change how scenario items run.

```python
# conftest.py
from harness.config import load_settings

def pytest_harness_run_options(config, options):
    options.settings = load_settings().model_copy(update={"api_url": "http://127.0.0.1:9000"})
    options.timeout_seconds = 60

def pytest_harness_backend_factory(config, options):
    return MyFactory(options.binding_config())   # a harness.backends.binding.BackendFactory
```

Both are called once per process (once per xdist worker), before the first scenario runs. With
`--harness-workers` the run options hook runs in pytest's process before the workers start (they
inherit the options), and the backend factory hook once in each worker; `auto` runs everything in
pytest's process when a backend factory hook is there (docs/ci.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy
import pytest

if TYPE_CHECKING:
    from harness.runner.options import RunOptions

__all__ = ["pytest_harness_backend_factory", "pytest_harness_run_options"]

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_harness_run_options(config: pytest.Config, options: RunOptions) -> None:
    """Change the `RunOptions` scenario items run with, in place: `settings` (providers, API
    URL, prices), `backend`, `record_mode`, `timeout_seconds`, `cassettes_root`,
    `inner_transport`, `wrap_transport`. Settings are already loaded from the project root and
    the `--harness-*` options applied; every implementation is called, in plugin order."""


@hookspec(firstresult=True)
def pytest_harness_backend_factory(config: pytest.Config, options: RunOptions) -> Any:
    """Return a `harness.backends.binding.BackendFactory` for the scenarios to run on instead
    of the one `options.backend` names (`make_factory`), or None to keep it. The plugin closes
    it (`aclose`) at the end of the session, on the same event loop."""
