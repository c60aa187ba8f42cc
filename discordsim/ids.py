"""Snowflake ids, timestamps and the sim's clock.

Ids are real Discord snowflakes (ms since the Discord epoch << 22), so discord.py's
`snowflake_time` and its message-age heuristics see sensible times.
"""

from __future__ import annotations

import datetime
import itertools
import time

DISCORD_EPOCH_MS = 1420070400000


class Clock:
    """Wall time plus `offset` seconds: tests jump time forward (token expiry) by raising the offset."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def iso(self, at: float | None = None) -> str:
        moment = self.now() if at is None else at
        return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).isoformat()


class Snowflakes:
    """Unique, increasing snowflakes; never repeats even when the clock jumps back."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last_ms = 0
        self._counter = itertools.count()

    def next(self) -> int:
        ms = int(self._clock.now() * 1000) - DISCORD_EPOCH_MS
        # Strictly increasing: at most 4096 ids per ms would fit, one per ms is plenty here.
        ms = max(ms, self._last_ms + 1)
        self._last_ms = ms
        return (ms << 22) | (1 << 17) | (next(self._counter) % 4096)
