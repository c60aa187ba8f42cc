"""Riding out a server that went away (Redis restarting, most often): a loop that depends on
it waits a little longer after each failure, says once in the logs that the server is gone
and once that it is back, and tells its health endpoint what is wrong meanwhile."""

from __future__ import annotations

import asyncio
import time

from core.logging import get_logger

log = get_logger("backoff")


class Backoff:
    """Doubling waits from `first` to `cap` seconds between tries of one loop.

    `await failed(exc)` after a failed try (logs the first failure of an outage, then
    sleeps); `ok()` after a good one (logs the recovery and resets the wait)."""

    def __init__(self, what: str, first: float = 0.25, cap: float = 5.0):
        self.what = what
        self.first = first
        self.cap = cap
        self.delay = first
        self.down_since: float | None = None  # time.time() of the first failure of this outage
        self.error: str | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def health(self) -> tuple[bool, str]:
        """For /readyz: (ok, a one-line reason)."""
        if self.down_since is None:
            return True, "ok"
        return False, f"{self.what} unreachable for {time.time() - self.down_since:.0f} s ({self.error}); reconnecting"

    async def failed(self, exc: BaseException) -> None:
        self.error = f"{type(exc).__name__}: {exc}"[:200]
        if self.down_since is None:
            self.down_since = time.time()
            log.warning(f"{self.what} unreachable; reconnecting with backoff", error=self.error, cap_s=self.cap)
        await asyncio.sleep(self.delay)
        self.delay = min(self.cap, self.delay * 2)

    def ok(self) -> None:
        if self.down_since is not None:
            log.info(f"{self.what} reachable again", down_s=round(time.time() - self.down_since, 1))
        self.down_since = None
        self.error = None
        self.delay = self.first
