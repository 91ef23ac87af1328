"""Picking one of several static messages: `random` (seeded) or `sequence` (sticks on the last).

Sequence counters live in the run state, keyed by whoever says the messages (a `say_static`
node's logical id, `edge:<id>`, `tool:<name>`, ...), so a sequence advances across turns.
"""

from __future__ import annotations

from harness.engine.context import TurnContext
from harness.engine.variables import substitute
from harness.models.api import SelectionMode, StaticMessagesConfig

__all__ = ["pick_static_message"]


def pick_static_message(ctx: TurnContext, key: str, config: StaticMessagesConfig) -> str | None:
    """The message to say now (variables substituted), or None when the list is empty."""
    messages = config.static_messages
    if not messages:
        return None
    # A null selection mode is the platform's default, random.
    if config.static_messages_selection_mode == SelectionMode.SEQUENCE:
        said = ctx.state.say_static_counters.get(key, 0)
        ctx.state.say_static_counters[key] = said + 1
        text = messages[min(said, len(messages) - 1)]
    else:
        text = messages[ctx.rng.randrange(len(messages))]
    return substitute(text, ctx.dynamic, ctx.runtime)
