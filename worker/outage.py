"""Riding out a Redis outage: the worker keeps its job, waits with backoff, and says so.

Redis holds the queue, leases, progress and outcomes, so nothing can be started or
published while it is away; but a render in hand goes on, and what must reach Redis
(the outcome above all) waits for it to come back instead of failing the job or killing
the process. `/readyz` answers 503 with the reason for as long as it lasts.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.backoff import Outage, delays

T = TypeVar("T")

# What a Redis that is down (stopped, restarting, loading its data, unreachable) raises.
# BusyLoadingError, raised while a restarted Redis reads its append-only file, is a ConnectionError.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


def redis_outage() -> Outage:
    """The worker's one view of its Redis, shared by every task that talks to it."""
    return Outage("redis")


async def until_up(watch: Outage, call: Callable[[], Awaitable[T]], doing: str) -> T:
    """`await call()`, again and again with backoff while Redis is down."""
    for delay in delays():
        try:
            result = await call()
        except REDIS_DOWN as exc:
            watch.down(exc, doing)
            await asyncio.sleep(delay)
        else:
            watch.up()
            return result
    raise AssertionError("unreachable")
