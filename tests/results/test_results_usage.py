"""What a run records as usage, end to end on the built-in engine with the scripted model: per
turn and node, by model and provider, each call's latency; the evaluator's usage apart; costs
from the price table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from runner_helpers import (
    HAPPY_TURNS,
    JUDGE,
    SCRIPT,
    STOCK,
    UNREACHABLE,
    load,
    options,
    write_scenario,
)

from harness.config import HarnessSettings, load_settings
from harness.errors import ConfigError
from harness.models.result import ModelPrice, RunSummary, Verdict
from harness.runner import run_scenarios
from harness.testing import ScriptedModel, serve_scripted_model

PRICES = {"scripted-model": ModelPrice(input=2.0, output=8.0)}


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    with serve_scripted_model(ScriptedModel(SCRIPT)) as url:
        yield url


def priced(settings: HarnessSettings | None) -> HarnessSettings:
    assert settings is not None
    return settings.model_copy(update={"prices": PRICES})


async def replay(tmp_path: Path, url: str, *names: str, prices: bool = True) -> RunSummary:
    scenarios = load(tmp_path, *names)
    await run_scenarios(scenarios, options(tmp_path, url, "once"))
    replaying = options(tmp_path, UNREACHABLE)
    if prices:
        replaying.settings = priced(replaying.settings)
    return await run_scenarios(scenarios, replaying)


async def test_turns_record_usage_per_node_model_and_provider(
    tmp_path: Path, model_url: str
) -> None:
    write_scenario(tmp_path, "happy", turns=HAPPY_TURNS)
    summary = await replay(tmp_path, model_url, "happy")
    [result] = summary.results
    assert result.verdict is Verdict.PASSED
    attempt = result.attempts[0]
    entered = {node for t in attempt.turns for node in t.path}
    for turn in attempt.turns:
        # the rows add up to the turn's totals, one latency per call
        assert sum(u.total_tokens for u in turn.usage) == turn.tokens
        assert sum(u.llm_calls for u in turn.usage) == turn.llm_calls
        assert len(turn.latencies_ms) == turn.llm_calls
        assert sum(turn.latencies_ms) == pytest.approx(turn.latency_ms)
        for row in turn.usage:
            assert (row.model, row.provider) == ("scripted-model", "default_provider")
            assert row.node in entered  # a node entered in this turn or before
            expected = (row.prompt_tokens * 2.0 + row.completion_tokens * 8.0) / 1e6
            assert row.cost_usd == pytest.approx(expected)
    nodes = [u.node for t in attempt.turns for u in t.usage]
    assert {"ask_reason", "confirm"} <= set(nodes)
    assert attempt.prompt_tokens + attempt.completion_tokens == attempt.tokens > 0
    assert attempt.latencies_ms == [x for t in attempt.turns for x in t.latencies_ms]
    assert attempt.e2e_ms == pytest.approx(sum(t.wall_ms for t in attempt.turns))
    assert attempt.cost_usd == pytest.approx(sum(t.cost_usd or 0 for t in attempt.turns))
    assert result.cost_usd == attempt.cost_usd and summary.batch.models[0].model == (
        "scripted-model"
    )


async def test_the_evaluators_usage_is_kept_apart_with_its_scores(
    tmp_path: Path, model_url: str
) -> None:
    write_scenario(tmp_path, "named", turns=HAPPY_TURNS, evaluation={"workflow": JUDGE})
    write_scenario(
        tmp_path, "own", workflow=STOCK, turns=[{"start": {}}], evaluation={"expect": {}}
    )
    summary = await replay(tmp_path, model_url, "named", "own")
    for result in summary.results:
        attempt = result.attempts[0]
        evaluation = attempt.evaluation
        assert evaluation is not None and evaluation.error is None, result.failures()
        assert evaluation.scores == {"passed": 1.0, "score": 0.9}
        assert evaluation.usage and sum(u.llm_calls for u in evaluation.usage) >= 1
        assert evaluation.cost_usd is not None and evaluation.cost_usd > 0
        turn_nodes = {u.node for t in attempt.turns for u in t.usage}
        assert not turn_nodes & {u.node for u in evaluation.usage}  # not in the turns' usage
        assert attempt.llm_calls == sum(t.llm_calls for t in attempt.turns)


async def test_without_a_price_the_cost_is_unknown(tmp_path: Path, model_url: str) -> None:
    write_scenario(tmp_path, "happy", turns=HAPPY_TURNS)
    summary = await replay(tmp_path, model_url, "happy", prices=False)
    [result] = summary.results
    assert result.tokens > 0 and result.cost_usd is None and summary.cost_usd is None
    assert all(u.cost_usd is None for t in result.attempts[0].turns for u in t.usage)


def test_prices_are_read_from_the_project_settings(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.harness.prices."gpt-4o-mini"]\ninput = 0.15\noutput = 0.60\n', encoding="utf-8"
    )
    settings = load_settings(tmp_path, env={})
    assert settings.prices == {"gpt-4o-mini": ModelPrice(input=0.15, output=0.6)}
    (tmp_path / "pyproject.toml").write_text(
        '[tool.harness.prices."gpt-4o-mini"]\ninput = -1\nouput = 0.60\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"prices\.gpt-4o-mini\.input: .*greater than"):
        load_settings(tmp_path, env={})
    with pytest.raises(ConfigError, match=r"prices\.gpt-4o-mini\.ouput: Extra inputs"):
        load_settings(tmp_path, env={})
