"""Before a recording starts: is every LLM provider the recorded scenarios call configured?

Recording sends the calls to the live provider. With none configured they would go to the default
public endpoint without a key, fail to connect, and each node would say its
`default_error_message`: a batch of errors that says little. So a batch that records refuses to
start, naming the setting to set. Only scenarios that will record count (every one for `all` and
`new_episodes`; for `once`, those without a cassette); replay needs no provider.

Which providers a scenario calls (`providers_of`): on the engine, every LLM config of its workflow
(each LLM node's, and the workflow's own, which judges conditions), of its evaluator workflow
file, and its simulated users'; on the API backend only what the harness itself calls (simulated
users, evaluator workflow files), as that is all its cassette records.

A provider counts as configured when (`HarnessSettings.provider` resolves names):
- it has a `[tool.harness.providers.NAME]` block whose key variable (`api_key_env`) is set, or
  whose `base_url` is on this machine (a local server needs no key), or that names no key variable;
- it is served from the environment (the default provider without a block) and `OPENAI_BASE_URL`
  or `OPENAI_API_KEY` is set (without either, calls would go to the public endpoint keyless).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from harness.config import HarnessSettings
from harness.engine.llm_config import NoLLMConfiguredError, effective_llm
from harness.errors import ConfigError, HarnessError
from harness.models.api import ConditionalEdgeConfig, WorkflowConfigFullyHydrated
from harness.models.scenario import Scenario, TurnKind
from harness.recording import RecordMode, parse_record_mode

__all__ = ["CassetteLocator", "WorkflowLoader", "check_recording_providers", "providers_of"]

_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})

CassetteLocator = Callable[[Scenario], Path]
"""The cassette a scenario records into on the batch's backend."""


def providers_of(
    scenario: Scenario, backend: str, workflow: WorkflowLoader
) -> dict[str | None, str]:
    """The providers `scenario` calls on `backend` (None: the default provider), each with what
    calls it (for the message)."""
    found: dict[str | None, str] = {}
    files = [scenario.workflow] if backend == "engine" and scenario.workflow else []
    if scenario.evaluation is not None and scenario.evaluation.workflow is not None:
        files.append(scenario.evaluation.workflow)
    for file in files:
        for provider, caller in _workflow_providers(workflow(file)):
            found.setdefault(provider, f"{caller} of {_shown(file)}")
    for turn in scenario.turns:
        if turn.kind is TurnKind.SIMULATE and turn.simulate is not None:
            found.setdefault(turn.simulate.provider, "a simulated user")
    return found


def _shown(file: str) -> str:
    path = Path(os.path.abspath(file))
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else file


class WorkflowLoader:
    """Loads a workflow file once (the callable `providers_of` takes)."""

    def __init__(self) -> None:
        self._loaded: dict[str, WorkflowConfigFullyHydrated] = {}

    def __call__(self, path: str) -> WorkflowConfigFullyHydrated:
        found = self._loaded.get(path)
        if found is None:
            from harness.scenarios import load_workflow_file

            found = self._loaded[path] = load_workflow_file(path)
        return found


def _workflow_providers(
    workflow: WorkflowConfigFullyHydrated,
) -> Iterable[tuple[str | None, str]]:
    calls_llm = False
    for node in workflow.node_configs:
        if not hasattr(node, "llms_config"):
            continue  # only LLM nodes carry an LLM config
        calls_llm = True
        try:
            yield effective_llm(workflow, node).provider, f"node {node.label}"
        except NoLLMConfiguredError:
            continue  # the engine reports it when the node runs
    if calls_llm or any(isinstance(e, ConditionalEdgeConfig) for e in workflow.edge_configs):
        try:  # the workflow's own LLM judges conditions
            yield effective_llm(workflow, None).provider, "the workflow's llms_config"
        except NoLLMConfiguredError:
            return


@dataclass
class _Problem:
    why: str
    fix: str
    callers: list[str] = field(default_factory=list)


def check_recording_providers(
    scenarios: Sequence[Scenario],
    *,
    backend: str,
    record_mode: RecordMode | str,
    settings: HarnessSettings,
    cassette_of: CassetteLocator,
    env: Mapping[str, str] | None = None,
) -> None:
    """Refuse a batch that would record calls to an LLM provider that is not configured.

    Args:
        cassette_of: the scenario's cassette on `backend` (for `once`: only a missing one records).

    Raises:
        ConfigError: a provider is not configured (exit code 2); the message names each provider,
            who calls it, and the setting to set.
    """
    mode = parse_record_mode(record_mode)
    if mode is RecordMode.NONE:
        return
    env = os.environ if env is None else env
    loader = WorkflowLoader()
    problems: dict[str, _Problem] = {}
    for scenario in scenarios:
        if mode is RecordMode.ONCE and cassette_of(scenario).exists():
            continue
        try:
            needed = providers_of(scenario, backend, loader)
        except HarnessError:
            continue  # a workflow file that does not load is the scenario's own error
        for provider, caller in needed.items():
            problem = _problem(provider, settings, env)
            if problem is None:
                continue
            key = provider or settings.default_provider
            entry = problems.setdefault(key, problem)
            entry.callers.append(f"{scenario.id or scenario.name} ({caller})")
    if problems:
        model = env.get("HARNESS_DEFAULT_MODEL") or settings.default_model
        raise _refusal(problems, model)


def _problem(
    name: str | None, settings: HarnessSettings, env: Mapping[str, str]
) -> _Problem | None:
    try:
        resolved = settings.provider(name, env)
    except ConfigError as exc:  # a provider name that is neither configured nor the platform's
        return _Problem(why=exc.message, fix=exc.hint or "")
    block = settings.providers.get(resolved.name)
    if block is None:  # the default provider, from the environment
        if env.get("OPENAI_BASE_URL") or env.get("OPENAI_API_KEY"):
            return None
        return _Problem(
            why=f"neither OPENAI_BASE_URL nor OPENAI_API_KEY is set, so its calls would go to "
            f"{resolved.base_url} without a key",
            fix="export OPENAI_BASE_URL (an OpenAI-compatible .../v1 URL) and OPENAI_API_KEY, "
            f"or configure [tool.harness.providers.{resolved.name}] with base_url and "
            "api_key_env",
        )
    variable = block.api_key_env
    if not variable or env.get(variable) or _is_local(resolved.base_url):
        return None
    return _Problem(
        why=f"its key variable {variable} (api_key_env of [tool.harness.providers."
        f"{resolved.name}]) is not set, so its calls to {resolved.base_url} would carry no key",
        fix=f'export {variable}, or set api_key_env = "" in [tool.harness.providers.'
        f"{resolved.name}] for a server that needs no key",
    )


def _is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "") in _LOCAL_HOSTS


def _refusal(problems: Mapping[str, _Problem], model: str) -> ConfigError:
    lines = ["recording needs LLM providers that are not configured:"]
    fixes: list[str] = []
    for name, problem in problems.items():
        shown = ", ".join(problem.callers[:3])
        more = f" and {len(problem.callers) - 3} more" if len(problem.callers) > 3 else ""
        lines.append(f"  provider {name!r}: {problem.why}; called by {shown}{more}")
        fixes.append(problem.fix)
    fixes.append(f"HARNESS_DEFAULT_MODEL names the model of nodes that name none (now {model})")
    return ConfigError(
        "\n".join(lines),
        hint="; ".join(dict.fromkeys(fixes))
        + ". Replay (the default --record-mode none) needs no provider",
    )
