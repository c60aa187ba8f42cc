"""Riding out a Redis outage: the worker keeps its job, waits with backoff, and says so.

Redis holds the queue, leases, progress and outcomes, so nothing can be started or
published while it is away; but a render in hand goes on, and what must reach Redis
(the outcome above all) waits for it to come back instead of failing the job or killing
the process. `/readyz` answers 503 with the reason for as long as it lasts.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.logging import get_logger

log = get_logger("worker")
T = TypeVar("T")

# What a Redis that is down (stopped, restarting, loading its data, unreachable) raises.
# BusyLoadingError, raised while a restarted Redis reads its append-only file, is a ConnectionError.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
FIRST_DELAY_S = 0.25
MAX_DELAY_S = 5.0


@dataclass
class RedisWatch:
    """What this process knows of its Redis, shared by every task that talks to it."""

    down_since: float | None = None
    reason: str = ""

    def down(self, exc: BaseException, doing: str) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.reason = f"{type(exc).__name__}: {exc}"
            log.warning("redis unreachable: reconnecting with backoff", doing=doing, error=self.reason)

    def up(self) -> None:
        if self.down_since is not None:
            log.info("redis reconnected", down_s=round(time.monotonic() - self.down_since, 1))
            self.down_since = None

    @property
    def outage_s(self) -> float | None:
        return None if self.down_since is None else time.monotonic() - self.down_since


def backoff(first: float = FIRST_DELAY_S, most: float = MAX_DELAY_S):
    """Delays that double from `first` up to `most`."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, most)


async def until_up(watch: RedisWatch, call: Callable[[], Awaitable[T]], doing: str) -> T:
    """`await call()`, again and again with backoff while Redis is down."""
    for delay in backoff():
        try:
            result = await call()
        except REDIS_DOWN as exc:
            watch.down(exc, doing)
            await asyncio.sleep(delay)
        else:
            watch.up()
            return result
    raise AssertionError("unreachable")
