"""The platform's contract as pydantic v2 models, one module per family of the platform's own.

Sources: the execute endpoint in `seed/execute-workflow-api.txt` and the semantics in
`PLATFORM.md`. Models of what the platform *returns* (runs, events, configs) keep unknown fields
(`extra="allow"`) so that a stored run survives a round trip unchanged. Enums that the seed fixes are
strict; node and event types are open because the service adds new ones (the engine's graph
validation refuses node types it does not run, naming them).
"""

from harness.models.api import (
    base,
    envelopes,
    llm,
    llm_nodes,
    node_runs,
    nodes,
    prompts,
    run_json,
    runs,
    tool_nodes,
    tools,
    workflow,
)
from harness.models.api.base import *  # noqa: F403
from harness.models.api.envelopes import *  # noqa: F403
from harness.models.api.llm import *  # noqa: F403
from harness.models.api.llm_nodes import *  # noqa: F403
from harness.models.api.node_runs import *  # noqa: F403
from harness.models.api.nodes import *  # noqa: F403
from harness.models.api.prompts import *  # noqa: F403
from harness.models.api.run_json import *  # noqa: F403
from harness.models.api.runs import *  # noqa: F403
from harness.models.api.tool_nodes import *  # noqa: F403
from harness.models.api.tools import *  # noqa: F403
from harness.models.api.workflow import *  # noqa: F403

__all__: list[str] = []
__all__ += base.__all__
__all__ += prompts.__all__
__all__ += llm.__all__
__all__ += tools.__all__
__all__ += nodes.__all__
__all__ += llm_nodes.__all__
__all__ += tool_nodes.__all__
__all__ += workflow.__all__
__all__ += node_runs.__all__
__all__ += runs.__all__
__all__ += run_json.__all__
__all__ += envelopes.__all__
