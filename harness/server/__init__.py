"""`harness serve`: the built-in engine behind the platform's REST API (FastAPI on uvicorn)."""

from __future__ import annotations

from harness.server.app import EngineFactory, create_app, default_engine_factory
from harness.server.catalog import WorkflowCatalog, derived_workflow_id, load_workflow_file
from harness.server.errors import NotFoundError
from harness.server.serve import ENV_SERVE_TOKEN, check_bind, is_loopback, serve

__all__ = [
    "ENV_SERVE_TOKEN",
    "EngineFactory",
    "NotFoundError",
    "WorkflowCatalog",
    "check_bind",
    "create_app",
    "default_engine_factory",
    "derived_workflow_id",
    "is_loopback",
    "load_workflow_file",
    "serve",
]
