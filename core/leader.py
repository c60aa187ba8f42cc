"""One leader among processes: a redis-py Lock taken without blocking and renewed while held.

Periodic work that must happen once however many processes run it (the exporter's
reconciler, the bot's theme closer across shard processes) asks `lead()` before each pass.
The lock expires after `timeout` seconds unless renewed, so a leader that dies hands over
within that time; a leader renews it every pass, so passes must come more often than that.
"""

from __future__ import annotations

import contextlib

from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError

from core.logging import get_logger

log = get_logger("leader")


class Leader:
    def __init__(self, redis: Redis, key: str, *, timeout: float, name: str):
        self.lock = redis.lock(key, timeout=timeout, thread_local=False)
        self.name = name  # for the log line, e.g. "reconciler"
        self.leading = False

    async def lead(self) -> bool:
        """Take or renew the lock; True while this process is the leader."""
        if await self.lock.owned():
            with contextlib.suppress(LockError):  # it expired just now: compete again below
                await self.lock.reacquire()
                self.leading = True
                return True
        was_leading, self.leading = self.leading, await self.lock.acquire(blocking=False)
        if self.leading and not was_leading:
            log.info(f"{self.name} leading")
        return self.leading

    async def resign(self) -> None:
        """Let another process lead at once (on a clean stop), instead of after the timeout."""
        self.leading = False
        with contextlib.suppress(LockError, RedisError, OSError):
            if await self.lock.owned():
                await self.lock.release()
