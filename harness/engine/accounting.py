"""LLM accounting: `llm_usage_info` per call, and the run's token and latency totals.

Every LLM call of a run counts (main node calls, tool rounds, condition evaluators, evaluators),
and each call is added exactly once (a streamed response is one call). Breakdowns are keyed by
`(response_model, provider)` in first-seen order, and are `null` while the run has no calls.
Latencies are whole milliseconds, as the platform records them (`response_latency_milliseconds`
and `total_latency_milliseconds` are integers; the averages are floats); a run's total is the sum
of its calls' rounded latencies, so the events and the totals agree.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.engine.llm import ChatResponse
from harness.models._factories import empty_list
from harness.models.api import (
    LLMLatencyStats,
    LLMTokenUsage,
    ModelLatencyStats,
    ModelTokenUsage,
)

__all__ = ["ModelTotals", "UsageTotals", "latency_ms", "usage_info"]


def latency_ms(response: ChatResponse) -> int:
    """The call's latency in whole milliseconds."""
    return round(response.latency_ms)


def usage_info(response: ChatResponse) -> dict[str, Any]:
    """The `llm_usage_info` of one call with every key of the platform's `LLMUsageInfo`."""
    return {
        "response_model": response.model,
        "named_llm_config_id": response.named_llm_config_id,
        "named_llm_config_name": response.named_llm_config_name,
        "provider": response.provider,
        "ai_message_turn_id": None,
        "llm_response_id": response.id,
        "used_user_api_key": response.used_user_api_key,
        "finish_reason": [response.finish_reason] if response.finish_reason else None,
        "response_latency_milliseconds": latency_ms(response),
        "prompt_tokens": response.usage.prompt_tokens,
        "completion_tokens": response.usage.completion_tokens,
        "total_tokens": response.usage.total_tokens,
        "was_streamed": response.was_streamed,
        "was_estimated": False,
        "structured_output_retry_metadata": None,
    }


class ModelTotals(BaseModel):
    """Sums for one (response_model, provider)."""

    model_config = ConfigDict(extra="forbid")

    response_model: str | None = None
    provider: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    call_count: int = 0
    calls_with_user_keys: int = 0
    latency_ms: int = 0


class UsageTotals(BaseModel):
    """Running sums of a run, by (model, provider) in first-seen order."""

    model_config = ConfigDict(extra="forbid")

    by_model: list[ModelTotals] = Field(default_factory=empty_list)

    def add(self, response: ChatResponse) -> None:
        """Count one call."""
        entry = self._entry(response.model, response.provider)
        entry.input_tokens += response.usage.prompt_tokens
        entry.output_tokens += response.usage.completion_tokens
        entry.total_tokens += response.usage.total_tokens
        entry.call_count += 1
        entry.calls_with_user_keys += int(response.used_user_api_key)
        entry.latency_ms += latency_ms(response)

    def _entry(self, model: str | None, provider: str | None) -> ModelTotals:
        for entry in self.by_model:
            if entry.response_model == model and entry.provider == provider:
                return entry
        entry = ModelTotals(response_model=model, provider=provider)
        self.by_model.append(entry)
        return entry

    def call_count(self) -> int:
        """Calls counted so far (every `add` counts one)."""
        return sum(e.call_count for e in self.by_model)

    def token_usage(self) -> LLMTokenUsage:
        """The run's `llm_token_usage`."""
        rows = [
            ModelTokenUsage(
                response_model=e.response_model,
                provider=e.provider,
                **_token_counts(e.input_tokens, e.output_tokens, e.total_tokens, *_keys(e)),
            )
            for e in self.by_model
        ]
        entries = self.by_model
        totals = _token_counts(
            sum(e.input_tokens for e in entries),
            sum(e.output_tokens for e in entries),
            sum(e.total_tokens for e in entries),
            sum(e.calls_with_user_keys for e in entries),
            sum(e.call_count for e in entries),
        )
        return LLMTokenUsage(**totals, breakdown_by_models=rows or None)

    def latency_stats(self) -> LLMLatencyStats:
        """The run's `llm_latency_stats`; averages are total / count."""
        rows = [
            ModelLatencyStats(
                response_model=e.response_model,
                provider=e.provider,
                **_latency(e.latency_ms, e.call_count),
            )
            for e in self.by_model
        ]
        total = sum(e.latency_ms for e in self.by_model)
        count = sum(e.call_count for e in self.by_model)
        return LLMLatencyStats(**_latency(total, count), breakdown_by_models=rows or None)


def _keys(entry: ModelTotals) -> tuple[int, int]:
    return entry.calls_with_user_keys, entry.call_count


def _token_counts(
    input_tokens: int, output_tokens: int, total: int, user_keys: int, calls: int
) -> dict[str, int]:
    return {
        "total_input_tokens": input_tokens,
        "total_output_tokens": output_tokens,
        "total_tokens": total,
        "call_count_with_user_keys": user_keys,
        "call_count_with_fallback_keys": calls - user_keys,
        "call_count": calls,
    }


def _latency(total: int, count: int) -> dict[str, Any]:
    return {
        "call_count": count,
        "total_latency_milliseconds": total,
        "average_latency_milliseconds": round(total / count, 3) if count else 0.0,
    }
