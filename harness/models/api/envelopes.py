"""The platform's REST envelopes around workflows and runs, and the per-turn answer's flags.

Facts from the platform's official client (`interactly`, read in the SDK repository) and the shapes
its tests captured from the live service:

- `POST /v1/workflows` and `GET /v1/workflows/{id}` answer `{"workflow": <stored document>,
  "execution_url": ...}` (`types/workflows/workflow.py`, `Workflow._flatten_backend_shape`). The
  document carries `_id`, `name`, `team_id`, ... and `workflow_config`: with `fully_hydrate=true`
  the hydrated config (`{"workflow_config", "node_configs", "edge_configs"}`), two levels down
  (`resources/workflows/workflows.py`, `_extract_hydrated_config`); otherwise the workflow config.
- `GET /v1/workflow-runs/{id}` answers `{"workflow_run": <record>}`; a record is the stored document
  `{"_id", "team_id", "created_at", "updated_at", "created_by", "workflow_run": <WorkflowRun>}`
  (`types/runs/run.py`, `Run._flatten_server_document`).
- `GET /v1/workflow-runs` answers `{"workflow_runs": [<record>, ...], "total", "page", "size",
  "pages"}` (rows are records without the outer envelope; `_pagination.py` finds the list).
- `POST /v1/workflows/{id}/execute` with the seed's flat body answers the bare `WorkflowRun`
  (`seed/execute-workflow-api.txt`); with the SDK's wrapped body a `TurnResponse`
  (`types/runs/interactive_run.py`, `InteractiveRunResponse`).

Servers build answers with the `*Envelope` models; clients read any answer with the `parse_*`
functions, which also accept the bare shapes (the seed documents a bare run, and older harness
servers answered bare shapes).
"""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Discriminator, Field, Tag

from harness.models._factories import empty_list
from harness.models.api.base import JsonDict, PlatformModel, RunStatus
from harness.models.api.runs import RunEvent, RunsPage, TurnResponse, WorkflowRun
from harness.models.api.workflow import WorkflowConfig, WorkflowConfigFullyHydrated

__all__ = [
    "EnvelopeError",
    "WorkflowDocument",
    "WorkflowEnvelope",
    "WorkflowRunEnvelope",
    "WorkflowRunRecord",
    "WorkflowRunsEnvelope",
    "hydrated_payload",
    "parse_hydrated_workflow",
    "parse_run",
    "parse_runs_page",
    "parse_workflow_id",
    "turn_response",
]

_HYDRATED_KEYS = ("node_configs", "edge_configs")
_ID_KEYS = ("_id", "id", "workflow_id")


class EnvelopeError(ValueError):
    """An answer is JSON but none of the shapes the platform (or the seed) documents."""


def _is_hydrated(value: Any) -> bool:
    # Keyed on presence, as the platform's client does: a workflow without nodes is still hydrated.
    return isinstance(value, dict) and any(isinstance(value.get(k), list) for k in _HYDRATED_KEYS)


def _config_kind(value: Any) -> str:
    if isinstance(value, WorkflowConfigFullyHydrated) or _is_hydrated(value):
        return "hydrated"
    return "config"


# The answers below are built by the API server and read by the API client only: their schemas
# are built on first use (`defer_build`), not on every import (a replayed run never uses them).
_ANSWER_CONFIG = ConfigDict(defer_build=True)

StoredWorkflowConfig = Annotated[
    Annotated[WorkflowConfigFullyHydrated, Tag("hydrated")]
    | Annotated[WorkflowConfig, Tag("config")],
    Discriminator(_config_kind),
]


class WorkflowDocument(PlatformModel):
    """A stored workflow as the platform answers it (inside `{"workflow": ...}`)."""

    model_config = _ANSWER_CONFIG

    id: str = Field(alias="_id", description="The workflow's database id (24 hex characters).")
    name: str | None = None
    description: str | None = None
    team_id: str | None = None
    active_version_number: int | None = Field(default=0, ge=0)
    workflow_config: StoredWorkflowConfig | None = Field(
        default=None, description="Hydrated with `fully_hydrate=true`; else the workflow config."
    )

    @classmethod
    def of(
        cls, workflow_id: str, workflow: WorkflowConfigFullyHydrated, *, hydrated: bool
    ) -> "WorkflowDocument":
        """The document of `workflow`, holding it hydrated or only its workflow config."""
        config = workflow.workflow_config
        return cls(
            id=workflow_id,
            name=config.name if config else None,
            description=config.description if config else None,
            workflow_config=workflow if hydrated else config,
        )


class WorkflowEnvelope(PlatformModel):
    """`{"workflow": <document>, "execution_url": ...}`: the import and get-workflow answer."""

    model_config = _ANSWER_CONFIG

    workflow: WorkflowDocument
    execution_url: str | None = Field(
        default=None, description="The URL that executes this workflow (POST .../execute)."
    )


def _iso(timestamp: float | int | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(float(timestamp), tz=UTC)
    return moment.isoformat().replace("+00:00", "Z")


class WorkflowRunRecord(PlatformModel):
    """A stored run: the document around the run state (the rows of the runs list)."""

    model_config = _ANSWER_CONFIG

    id: str | None = Field(default=None, alias="_id", description="The run's database id.")
    team_id: str | None = None
    created_by: str | None = None
    created_at: str | None = Field(default=None, description="ISO 8601; the first event's time.")
    updated_at: str | None = Field(default=None, description="ISO 8601; the last event's time.")
    workflow_run: WorkflowRun

    @classmethod
    def of(cls, run: WorkflowRun) -> "WorkflowRunRecord":
        """The record of `run`; its times come from its first and last events."""
        stamps = [e.timestamp for e in run.events() if e.timestamp is not None]
        return cls(
            id=run.workflow_run_id,
            team_id=_team_of(run),
            created_by=run.run_by,
            created_at=_iso(min(stamps)) if stamps else None,
            updated_at=_iso(max(stamps)) if stamps else None,
            workflow_run=run,
        )


def _team_of(run: WorkflowRun) -> str | None:
    pairs = run.input_output_pairs
    return pairs[0].input.team_id if pairs else None


class WorkflowRunEnvelope(PlatformModel):
    """`{"workflow_run": <record>}`: the get-run answer."""

    model_config = _ANSWER_CONFIG

    workflow_run: WorkflowRunRecord

    @classmethod
    def of(cls, run: WorkflowRun) -> "WorkflowRunEnvelope":
        return cls(workflow_run=WorkflowRunRecord.of(run))


class WorkflowRunsEnvelope(PlatformModel):
    """`{"workflow_runs": [<record>, ...], "total", "page", "size", "pages"}`: one page of runs."""

    model_config = _ANSWER_CONFIG

    workflow_runs: list[WorkflowRunRecord] = Field(default_factory=empty_list)
    total: int = Field(default=0, ge=0)
    page: int = Field(default=1, ge=1)
    size: int = Field(default=50, ge=1)
    pages: int | None = Field(default=None, ge=0)

    @classmethod
    def of(cls, page: RunsPage) -> "WorkflowRunsEnvelope":
        records = [WorkflowRunRecord.of(run) for run in page.items]
        return cls(
            workflow_runs=records,
            total=page.total,
            page=page.page,
            size=page.size,
            pages=page.pages,
        )

    def to_page(self) -> RunsPage:
        """The bare page; `pages` derived from `total` and `size` when the answer omits it."""
        pages = self.pages if self.pages is not None else -(-self.total // self.size)
        return RunsPage(
            items=[r.workflow_run for r in self.workflow_runs],
            total=self.total,
            page=self.page,
            size=self.size,
            pages=pages,
        )


# ------------------------------------------------------------------ reading answers (clients)


def parse_workflow_id(data: Any) -> str:
    """The new workflow's id in an import answer.

    Accepts the platform's `{"workflow": {"_id": ...}}`, a flat `{"_id" | "id" | "workflow_id"}`
    object, or the id as a JSON string.

    Raises:
        EnvelopeError: no id in any of those places.
    """
    if isinstance(data, str) and data:
        return data
    holder = data.get("workflow") if isinstance(data, dict) else None
    for candidate in (holder, data):
        if isinstance(candidate, dict):
            found = next((candidate[k] for k in _ID_KEYS if candidate.get(k)), None)
            if isinstance(found, str | int):
                return str(found)
    raise EnvelopeError(
        'names no workflow id (looked for {"workflow": {"_id": ...}}, a flat `_id`, `id` or '
        "`workflow_id`, or a JSON string)"
    )


def parse_hydrated_workflow(data: Any) -> WorkflowConfigFullyHydrated:
    """The hydrated config in a get-workflow answer (`fully_hydrate=true`).

    Accepts the platform's `{"workflow": {"workflow_config": <hydrated>}}`, the single-wrapped
    `{"workflow": <hydrated>}`, and the bare hydrated config.

    Raises:
        EnvelopeError: the answer holds a workflow but not its node and edge configs.
        pydantic.ValidationError: the hydrated config does not validate.
    """
    return WorkflowConfigFullyHydrated.model_validate(hydrated_payload(data))


def hydrated_payload(data: Any) -> Any:
    """The hydrated config's JSON inside a get-workflow answer, unvalidated (see
    `parse_hydrated_workflow` for the shapes).

    Raises:
        EnvelopeError: the answer holds a workflow but not its node and edge configs.
    """
    payload = data
    if isinstance(data, dict) and isinstance(data.get("workflow"), dict) and not _is_hydrated(data):
        payload = data["workflow"]
        if not _is_hydrated(payload) and isinstance(payload.get("workflow_config"), dict):
            payload = payload["workflow_config"]
    if isinstance(payload, dict) and not _is_hydrated(payload) and "nodes" in payload:
        raise EnvelopeError(
            "holds a workflow config without `node_configs`/`edge_configs`: not the fully "
            "hydrated config (was `fully_hydrate=true` ignored?)"
        )
    return payload


def _unwrap_run(data: Any) -> Any:
    """The run state inside a record or an envelope (bare runs pass through)."""
    for _ in range(2):  # envelope -> record -> state
        inner = data.get("workflow_run") if isinstance(data, dict) else None
        if not isinstance(inner, dict) or "status" in data or "input_output_pairs" in data:
            break
        data = inner
    return data


def parse_run(data: Any) -> WorkflowRun:
    """The run in a get-run answer: `{"workflow_run": <record>}`, a record, or a bare run.

    Raises:
        pydantic.ValidationError: the run does not validate.
    """
    return WorkflowRun.model_validate(_unwrap_run(data))


def parse_runs_page(data: Any) -> RunsPage:
    """One page of runs: the platform's `{"workflow_runs": [<record>...]}` or a bare `items` page.

    Raises:
        EnvelopeError: the answer is not an object.
        pydantic.ValidationError: a run or the page counts do not validate.
    """
    if not isinstance(data, dict):
        raise EnvelopeError(f"is a JSON {type(data).__name__}, not a page object")
    rows = data.get("workflow_runs", data.get("items", []))
    fields = {k: data[k] for k in ("total", "page", "size", "pages") if k in data}
    records = (
        [{"workflow_run": _unwrap_run(row)} for row in rows] if isinstance(rows, list) else rows
    )
    return WorkflowRunsEnvelope.model_validate({"workflow_runs": records, **fields}).to_page()


# ------------------------------------------------------------------ the per-turn answer (servers)


def turn_response(run: WorkflowRun) -> TurnResponse:
    """The wrapped execute answer for `run` after its latest turn, with the platform's flags.

    Meanings, from the platform's client (`types/runs/interactive_run.py`) and events
    (`WorkflowReadyForInputEvent`):

    - `next_input_hint`: "BusyWaitForUserMessageEvent payload populated when
      is_waiting_for_input=True": the turn's last `busy_wait_for_user_message` event, else null.
    - `has_active_companions`: companion threads still run in the background after this turn: the
      turn's last `workflow_ready_for_input` event lists them in `active_companion_thread_ids`.
    - `has_background_work`: "an active fork companion, or a parked thread with an armed
      conditional-edge evaluation": the signal to call the platform's pump endpoint. The built-in
      engine runs companion threads to their end within the turn and evaluates waiting edges when
      a turn resumes the parked node; it leaves nothing for a pump (and `harness serve` has none),
      so here it is true exactly when companions are still active.
    - `error`: the turn's `workflow_error` message, or the run's `termination_source` when it
      failed without one.
    """
    base = TurnResponse.from_run(run)
    events = _turn_events(run)
    companions = _active_companions(events)
    hint = _last_of(events, "busy_wait_for_user_message") if base.is_waiting_for_input else None
    error = base.error
    if error is None and run.status == RunStatus.FAILED:
        error = run.termination_source or "the run failed"
    return base.model_copy(
        update={
            "error": error,
            "next_input_hint": _event_json(hint) if hint is not None else None,
            "has_active_companions": companions,
            "has_background_work": companions,
        }
    )


def _turn_events(run: WorkflowRun) -> list[RunEvent]:
    last = run.input_output_pairs[-1] if run.input_output_pairs else None
    return last.output.typed_events() if last is not None else []


def _last_of(events: list[RunEvent], event_type: str) -> RunEvent | None:
    return next((e for e in reversed(events) if e.type == event_type), None)


def _event_json(event: RunEvent) -> JsonDict:
    return event.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _active_companions(events: list[RunEvent]) -> bool:
    ready = _last_of(events, "workflow_ready_for_input")
    return bool(ready is not None and ready.get("active_companion_thread_ids"))
