"""Riding out a Redis or database outage: the worker keeps its job, waits with backoff, and
says so.

Redis holds the queue, leases, progress and outcomes, so nothing can be started or
published while it is away; but a render in hand goes on, and what must reach Redis
(the outcome above all) waits for it to come back instead of failing the job or killing
the process. The database (the clip's record) is waited for the same way: a render that
finishes while it restarts is recorded once it is back, never rendered again. `/readyz`
answers 503 with the reason for as long as either lasts.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Awaitable, Callable, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.backoff import Outage, delays
from core.clips import ClipStore
from core.db import unavailable

T = TypeVar("T")

# What a Redis that is down (stopped, restarting, loading its data, unreachable) raises.
# BusyLoadingError, raised while a restarted Redis reads its append-only file, is a ConnectionError.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


def redis_outage() -> Outage:
    """The worker's one view of its Redis, shared by every task that talks to it."""
    return Outage("redis")


def redis_down(exc: BaseException) -> bool:
    return isinstance(exc, REDIS_DOWN)


def database_outage() -> Outage:
    return Outage("database")


def storage_outage() -> Outage:
    return Outage("storage")


async def until_up(watch: Outage, call: Callable[[], Awaitable[T]], doing: str,
                   down: Callable[[BaseException], bool] = redis_down) -> T:
    """`await call()`, again and again with backoff while the server `watch` follows is down
    (Redis unless `down` says otherwise); any other error is raised."""
    for delay in delays():
        try:
            result = await call()
        except Exception as exc:
            if not down(exc):
                raise
            watch.down(exc, doing)
            await asyncio.sleep(delay)
        else:
            watch.up()
            return result
    raise AssertionError("unreachable")


class PatientStore:
    """The worker's clip store: each call waits out a database outage (backoff, logged once,
    /readyz says so) instead of failing the job; errors in what was asked are raised."""

    def __init__(self, store: ClipStore, watch: Outage):
        self._store, self.watch = store, watch

    def __getattr__(self, name: str):
        attr = getattr(self._store, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        async def patiently(*args, **kwargs):
            return await until_up(self.watch, lambda: attr(*args, **kwargs), f"clip store: {name}", down=unavailable)
        return patiently
