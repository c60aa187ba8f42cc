"""Progress out of the denoising loop, and cancels into it, without the loop waiting.

The render thread's step callback only notes the step and wakes a task on the worker's
event loop; that task sends the latest step (one round trip: progress hash, pub/sub feed,
cancel flag) and, when the clip has been asked to cancel, sets `stop`, which the thread
reads at its next step. Steps that come faster than Redis answers are coalesced, and a
Redis outage only drops progress: the render goes on.
"""

from __future__ import annotations

import asyncio
import threading

from redis.asyncio import Redis

from core.backoff import Outage
from core.contract import Progress
from core.events import report_progress
from core.tasks import stop_task
from worker.outage import REDIS_DOWN


class Cancelled(Exception):
    """Raised from the step callback to stop the pipeline at the current step."""

    def __init__(self, step: int | None = None):
        super().__init__(f"cancelled at step {step}")
        self.step = step


class StepReporter:
    def __init__(self, redis: Redis, clip_id: str, watch: Outage):
        self.redis = redis
        self.clip_id = clip_id
        self.watch = watch
        self.stop = threading.Event()  # set from the event loop: a cancel, a timeout, a shutdown
        self._loop = asyncio.get_running_loop()
        self._latest: tuple[int, int] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def step(self, step: int, total: int) -> None:
        """In the render thread, after each denoising step: raises Cancelled once asked to stop."""
        if self.stop.is_set():
            raise Cancelled(step)
        self._latest = (step, total)
        self._loop.call_soon_threadsafe(self._wake.set)

    async def __aenter__(self) -> "StepReporter":
        self._task = asyncio.create_task(self._send())
        return self

    async def __aexit__(self, *exc) -> None:
        await stop_task(self._task)

    async def _send(self) -> None:
        sent = None
        while True:
            await self._wake.wait()
            self._wake.clear()
            latest = self._latest
            if latest == sent:
                continue
            step, total = latest
            try:
                cancelled = await report_progress(self.redis, Progress(clip_id=self.clip_id, step=step, total=total))
            except REDIS_DOWN as exc:
                self.watch.down(exc, "reporting progress")  # the render goes on; the next step tries again
                continue
            self.watch.up()
            sent = latest
            if cancelled:
                self.stop.set()
                return
