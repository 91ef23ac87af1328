"""Pydantic shapes: the platform contract (`api`), scenarios and results. No I/O here."""

from harness.models.api import *  # noqa: F403
from harness.models.api import __all__ as _api_all

__all__ = list(_api_all)
