"""Riding out a server that went away (Redis restarting, most often): a process says once in
its logs that the server is gone and once that it is back, tells its health endpoint what is
wrong meanwhile, and each loop that depends on it waits a little longer after each failure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

from prometheus_client import Counter, Gauge

from core.logging import get_logger

log = get_logger("backoff")
# Per process (its scrape job says which): for the dashboard's outage panels and alerts.
DEPENDENCY_UP = Gauge("reelbot_dependency_up", "1 while this process reaches the dependency, 0 during an outage",
                      ["dependency"])
OUTAGES = Counter("reelbot_dependency_outages", "Outages of a dependency this process rode out", ["dependency"])
FIRST_DELAY_S = 0.25
MAX_DELAY_S = 5.0


def delays(first: float = FIRST_DELAY_S, cap: float = MAX_DELAY_S) -> Iterator[float]:
    """Waits that double from `first` up to `cap` seconds."""
    delay = first
    while True:
        yield delay
        delay = min(cap, delay * 2)


class Outage:
    """What a process knows of one server it needs, shared by every task that talks to it."""

    def __init__(self, what: str):
        self.what = what
        self.down_since: float | None = None  # time.time() of the first failure of this outage
        self.error: str | None = None
        DEPENDENCY_UP.labels(what).set(1)

    @property
    def outage_s(self) -> float | None:
        return None if self.down_since is None else time.time() - self.down_since

    def down(self, exc: BaseException, doing: str | None = None) -> None:
        """A call failed for want of the server: logged once per outage, not once per try."""
        self.error = f"{type(exc).__name__}: {exc}"[:200]
        if self.down_since is None:
            self.down_since = time.time()
            DEPENDENCY_UP.labels(self.what).set(0)
            OUTAGES.labels(self.what).inc()
            log.warning(f"{self.what} unreachable; reconnecting with backoff", error=self.error, doing=doing)

    def up(self) -> None:
        if self.down_since is not None:
            DEPENDENCY_UP.labels(self.what).set(1)
            log.info(f"{self.what} reachable again", down_s=round(time.time() - self.down_since, 1))
        self.down_since = None
        self.error = None

    def health(self) -> tuple[bool, str]:
        """For /readyz: (ok, a one-line reason)."""
        if self.down_since is None:
            return True, "ok"
        return False, f"{self.what} unreachable for {self.outage_s:.0f} s ({self.error}); reconnecting"


class Backoff(Outage):
    """One loop's tries: `await failed(exc)` after a failed one (says so, then waits longer
    each time, up to `cap`); `ok()` after a good one (says so, and the waits start over)."""

    def __init__(self, what: str, first: float = FIRST_DELAY_S, cap: float = MAX_DELAY_S):
        super().__init__(what)
        self.first, self.cap = first, cap
        self._delays = delays(first, cap)

    async def failed(self, exc: BaseException) -> None:
        self.down(exc)
        await asyncio.sleep(next(self._delays))

    def ok(self) -> None:
        self.up()
        self._delays = delays(self.first, self.cap)
