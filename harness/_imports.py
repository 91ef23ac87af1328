"""Importing a library without the optional extras it would load but the harness never uses.

Only in the harness's own process (the `harness` command, `own_process()`): in a user's process
(the pytest plugin) a library stays exactly as the user's code would import it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import types
from collections.abc import Iterator

__all__ = [
    "DEEPDIFF_EXTRAS",
    "HTTPX_COMMAND_LINE",
    "PYDANTIC_PLUGINS_OFF",
    "PYDANTIC_PLUGIN_LOADER",
    "own_process",
    "without_modules",
]

HTTPX_COMMAND_LINE = "httpx._main"
"""httpx's own command-line client (click, rich, pygments: ~35 ms), imported with httpx."""
DEEPDIFF_EXTRAS = ("numpy", "pandas", "polars")
"""Imported by deepdiff, when installed, for their types (~0.35 s); run values are JSON data."""

PYDANTIC_PLUGINS_OFF = ("PYDANTIC_DISABLE_PLUGINS", "__all__")
"""Pydantic's documented switch for its plugins, set in the harness's own process unless the
user set it: the harness's models are its own (no user code validates with them there), and
finding plugins reads the entry points of every installed distribution (~5 ms at start-up)."""
PYDANTIC_PLUGIN_LOADER = "pydantic.plugin._loader"
"""Pydantic's plugin lookup. It imports `importlib.metadata` (with email, zipfile, csv: ~6 ms of
start-up) before it reads the switch above; where the harness set the switch, a stand-in that
finds no plugins, as pydantic's own would, takes its place for the block."""

_own_process = False


def _no_plugins() -> tuple[()]:
    """`get_plugins()` of pydantic's loader when PYDANTIC_DISABLE_PLUGINS is `__all__`."""
    return ()


@contextlib.contextmanager
def _plugin_lookup_skipped() -> Iterator[None]:
    """Pydantic's plugin loader replaced by `_no_plugins` for the block, unless already imported.

    Pydantic imports the loader inside the function that builds a validator, and only calls its
    `get_plugins` (a test checks both): after the block a build imports the real one."""
    if PYDANTIC_PLUGIN_LOADER in sys.modules:
        yield
        return
    stand_in = types.ModuleType(PYDANTIC_PLUGIN_LOADER, "No pydantic plugins (harness._imports).")
    stand_in.get_plugins = _no_plugins  # type: ignore[attr-defined]
    sys.modules[PYDANTIC_PLUGIN_LOADER] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(PYDANTIC_PLUGIN_LOADER) is stand_in:
            del sys.modules[PYDANTIC_PLUGIN_LOADER]


@contextlib.contextmanager
def own_process() -> Iterator[None]:
    """Run the block as the harness's own process (the console entry), not a user's: optional
    extras may be skipped (`without_modules`) and pydantic looks for no plugins (unless the user
    set `PYDANTIC_DISABLE_PLUGINS`). Both end with the block: `harness.cli.main` called from a
    user's code leaves neither behind."""
    global _own_process
    name, value = PYDANTIC_PLUGINS_OFF
    set_here = name not in os.environ
    was_own, _own_process = _own_process, True
    if set_here:
        os.environ[name] = value
    try:
        with _plugin_lookup_skipped() if set_here else contextlib.nullcontext():
            yield
    finally:
        _own_process = was_own
        if set_here:
            os.environ.pop(name, None)


@contextlib.contextmanager
def without_modules(*names: str) -> Iterator[None]:
    """In the harness's own process, make `import name` fail inside the block for each name not
    yet imported; elsewhere do nothing.

    For libraries that import optional packages when installed and work without them: a `None`
    entry in `sys.modules` makes the import fail, which they handle. The entries go at the end of
    the block, so a later import (e.g. pandas for a regression report) loads the package normally.
    """
    blocked = [name for name in names if _own_process and name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
