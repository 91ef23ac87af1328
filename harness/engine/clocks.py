"""Virtual time: a clock whose `sleep` advances it instead of waiting.

Waits of the engine (a bounded self-loop's `time_between_retries`, a `no_op` node's
`delay_seconds`) go through the injected `sleep`. With a `ManualClock` they cost no wall time and
still move the clock, so `expiry_time` budgets, event timestamps and built-in time variables stay
consistent and a replay repeats exactly:

```python
clock = ManualClock(datetime(2026, 1, 5, tzinfo=UTC))
engine = Engine(llm=llm, clock=clock, sleep=clock.sleep)
```
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["ManualClock", "no_wait"]


class ManualClock:
    """A clock that stands still until `sleep` (or `advance`) moves it.

    Args:
        dt: the first reading; a naive datetime is taken as UTC.
    """

    def __init__(self, dt: datetime) -> None:
        self._now = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
        self.slept: list[float] = []
        """Every `sleep` asked for, in order (for tests)."""

    def now(self) -> datetime:
        """The current reading."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self._now += timedelta(seconds=max(seconds, 0.0))

    async def sleep(self, seconds: float) -> None:
        """Record the wait and advance the clock by it, at once."""
        self.slept.append(seconds)
        self.advance(seconds)


async def no_wait(seconds: float) -> None:
    """A sleep that returns at once (time does not move)."""
    del seconds
