"""Pydantic shapes: the platform contract (`api`), scenarios and results. No I/O here.

The model modules build ~150 models at import, so they keep that cheap: no
`from __future__ import annotations` (pydantic would evaluate every annotation string; only true
forward references are quoted), a class is defined before the models that use it (else each of
them generates its schema again), `Field(description=...)` rather than attribute docstrings, and
`empty_list` rather than `list` as a default factory.
"""

from harness.models.api import *  # noqa: F403
from harness.models.api import __all__ as _api_all

__all__ = list(_api_all)
