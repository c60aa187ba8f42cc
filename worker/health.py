"""The worker's `/metrics`, `/livez` and `/readyz`, served from the moment the process starts.

Live: the event loop answers (a wedged loop times the probe out and the pod is restarted).
It stays live while the models load and while a stopping worker finishes its job, so the
orchestrator never kills a worker for being slow to start or polite to stop.
Ready: every served model is loaded (and warmed up), the worker is not stopping, and Redis
and the database answer. During an outage it names the one that is down, and for how long,
while the worker reconnects (and its job in hand waits to record or publish).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import REGISTRY
from redis.asyncio import Redis

from core.backoff import Outage
from core.db import ping
from core.metrics import QueueCollector, redis_ping, serve_endpoints
from core.settings import Settings
from worker.outage import database_outage, redis_outage, storage_outage


@dataclass
class Health:
    models: list[str]
    redis: Redis
    loaded: set[str] = field(default_factory=set)
    stopping: bool = False
    watch: Outage = field(default_factory=redis_outage)
    store: object = None  # the clip store, when the database is checked too
    db_watch: Outage = field(default_factory=database_outage)
    storage_watch: Outage = field(default_factory=storage_outage)
    spool: object = None  # worker/spool.Spool, counted while storage is away

    async def live(self) -> tuple[bool, str]:
        return True, "stopping: finishing the job in hand" if self.stopping else "ok"

    async def ready(self) -> tuple[bool, str]:
        if self.stopping:
            return False, "stopping"
        missing = [m for m in self.models if m not in self.loaded]
        if missing:
            return False, "loading " + ", ".join(missing)
        ok, detail = await redis_ping(self.redis)
        if ok:
            self.watch.up()
        elif self.watch.outage_s is not None:
            detail += f" for {self.watch.outage_s:.0f} s, reconnecting"
        if ok and self.store is not None:
            ok, detail = await ping(self.store.engine)
            if not ok and self.db_watch.outage_s is not None:
                detail += f" for {self.db_watch.outage_s:.0f} s; the job in hand waits for it"
        if ok and self.storage_watch.down_since is not None:
            ok, detail = self.storage_watch.health()
            if self.spool is not None:
                detail += f"; {len(self.spool.clips())} clip(s) wait in the spool"
        return ok, detail


async def start(settings: Settings, health: Health):
    """Serve the endpoints when REELBOT_METRICS_PORT is set; returns the runner or None."""
    if not settings.metrics_port:
        return None
    # The served models' queues as seen from here: depth and oldest wait next to the worker's own series.
    queues = QueueCollector(health.models)
    REGISTRY.register(queues)
    runner = await serve_endpoints(settings, live=health.live, ready=health.ready,
                                   before_scrape=lambda: queues.refresh(health.redis))
    if runner is None:
        REGISTRY.unregister(queues)
    return runner
