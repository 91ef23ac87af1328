"""The public surface: every module declares `__all__`, and it is true and complete.

Modeled on httpx's `tests/test_exported_members.py`: what a module exports is exactly what it
means to offer, and the top-level package re-exports are checked against their home modules.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
from importlib.metadata import version

import pytest

import harness

# Modules that must not be imported in-process by a test run: Streamlit scripts execute the
# dashboard at import time.
NOT_IMPORTED = ("harness.dashboard",)


def _public_module_names() -> list[str]:
    names = ["harness"]
    for info in pkgutil.walk_packages(harness.__path__, prefix="harness."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts) or info.name.startswith(NOT_IMPORTED):
            continue  # private helpers (and child-process entry points) are not public API
        names.append(info.name)
    return sorted(names)


MODULES = _public_module_names()


def _module(name: str) -> types.ModuleType:
    return importlib.import_module(name)


def test_the_walk_finds_the_core_modules() -> None:
    for name in ("harness.errors", "harness.config", "harness.models.api", "harness.backends.api"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_every_module_declares_all(name: str) -> None:
    module = _module(name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, list | tuple), f"{name} has no __all__ list"
    assert all(isinstance(item, str) for item in exported)
    duplicates = sorted({item for item in exported if list(exported).count(item) > 1})
    assert not duplicates, f"{name}.__all__ lists {duplicates} twice"


@pytest.mark.parametrize("name", MODULES)
def test_every_name_in_all_exists(name: str) -> None:
    module = _module(name)
    missing = [item for item in getattr(module, "__all__", []) if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names {missing}, which the module does not define"


@pytest.mark.parametrize("name", MODULES)
def test_public_classes_and_functions_are_exported(name: str) -> None:
    """A public class or function defined in a module is listed in its `__all__`."""
    module = _module(name)
    exported = set(getattr(module, "__all__", []))
    defined_here = [
        attr
        for attr, obj in vars(module).items()
        if not attr.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and getattr(obj, "__module__", None) == name
    ]
    forgotten = sorted(set(defined_here) - exported)
    assert not forgotten, f"{name} defines public {forgotten} but leaves them out of __all__"


@pytest.mark.parametrize("name", MODULES)
def test_reexports_are_public_in_their_home_module(name: str) -> None:
    """A name exported from somewhere else must be part of that module's own public API."""
    module = _module(name)
    for item in getattr(module, "__all__", []):
        obj = getattr(module, item)
        home_name = getattr(obj, "__module__", None)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)) or home_name in (None, name):
            continue
        if not str(home_name).startswith("harness") or obj.__name__ != item:
            continue  # third-party objects and aliases (e.g. AssistantMessage = ChatMessage)
        home = importlib.import_module(str(home_name))
        assert getattr(home, item) is obj
        if not any(part.startswith("_") for part in str(home_name).split(".")):
            assert item in getattr(home, "__all__", []), (
                f"{name} re-exports {item} from {home_name}, which does not export it"
            )


def test_top_level_all_is_exactly_its_public_names() -> None:
    """httpx's rule: `harness.__all__` lists every public name of the package, sorted."""
    for name in harness.__all__:  # the platform models are imported on first access (lazily)
        getattr(harness, name)
    public = sorted(
        (
            member
            for member, value in vars(harness).items()
            if not member.startswith("_") and not isinstance(value, types.ModuleType)
        ),
        key=str.casefold,
    )
    assert harness.__all__ == public


def test_top_level_version_matches_the_installed_distribution() -> None:
    assert harness.__version__ == version("harness")


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("HarnessError", "harness.errors"),
        ("WorkflowRun", "harness.models"),
        ("WorkflowRunInput", "harness.models"),
        ("WorkflowConfigFullyHydrated", "harness.models"),
    ],
)
def test_top_level_reexports_the_core_types(name: str, home: str) -> None:
    assert getattr(harness, name) is getattr(importlib.import_module(home), name)
