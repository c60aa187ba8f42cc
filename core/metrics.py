"""Queue metrics any process can read, and the small HTTP side every process serves.

arq keeps each model's queue as a Redis sorted set (`reelbot:queue:<model>`) and leaves a
job in it while it runs (a worker marks it with arq's in-progress key). Its scores are fair
tags, not enqueue times (core/fair.py), so one walk of the queue in the order workers take
it (core.queue.queue_view) gives what operators and the autoscaler need: depth (waiting +
running), how many run, how many wait in each lane (a relax-only backlog can be told apart),
and how long the oldest waiting clip has waited since it was queued.

`reelbot exporter` serves these for every model queue from a process that is always up,
which is what lets KEDA scale a model's workers from zero: a worker that does not exist
cannot report the queue that should start it. See deploy/README.md. The same process runs
the reconciler (core/reconcile.py), which finds clips whose job was lost.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from dataclasses import asdict, dataclass
from typing import Awaitable, Callable

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.backoff import DEPENDENCY_UP, OUTAGES
from core.contract import QUEUE_PREFIX, WORKERS_KEY
from core.db import ping
from core.logging import get_logger
from core.queue import queue_counts

log = get_logger("metrics")

# `reelbot exporter` listens here unless REELBOT_METRICS_PORT says otherwise.
DEFAULT_EXPORTER_PORT = 9100

@dataclass(frozen=True)
class QueueStats:
    model: str
    depth: int  # jobs in the sorted set: waiting + running
    running: int
    waiting: int
    oldest_age_s: float  # how long the oldest waiting job has waited since it was queued; 0 when none waits
    waiting_fast: int = 0
    waiting_relax: int = 0

    def as_json(self) -> dict:
        return asdict(self)


async def queue_stats(redis: Redis, model: str, now: float | None = None) -> QueueStats:
    now = time.time() if now is None else now
    seen = await queue_counts(redis, model, now=now)
    age = max(0.0, now - seen.oldest_queued_ms / 1000) if seen.oldest_queued_ms is not None else 0.0
    return QueueStats(model=model, depth=seen.depth, running=seen.running, waiting=seen.waiting, oldest_age_s=age,
                      waiting_fast=seen.fast, waiting_relax=seen.relax)


async def queued_models(redis: Redis) -> set[str]:
    """Models whose queue exists right now (a drained queue's key is gone)."""
    found = set()
    # Sorted sets only: arq keeps a string at `<queue>:health-check` under the same prefix.
    async for key in redis.scan_iter(match=QUEUE_PREFIX + "*", count=100, _type="zset"):
        found.add((key.decode() if isinstance(key, bytes) else key)[len(QUEUE_PREFIX):])
    return found


async def workers_per_model(redis: Redis, max_age_s: float = 30.0) -> dict[str, int]:
    """Workers that announced themselves recently (worker.presence), counted per model."""
    now = time.time()
    counts: dict[str, int] = {}
    for raw in (await redis.hgetall(WORKERS_KEY)).values():
        entry = json.loads(raw)
        if now - entry.get("seen", 0) <= max_age_s:
            for model in entry.get("models", {}):
                counts[model] = counts.get(model, 0) + 1
    return counts


class QueueCollector:
    """Prometheus collector for every model queue. `refresh` reads Redis (async); `collect`
    reports the last read (prometheus-client calls it synchronously at scrape time).

    A model stays reported once seen, so a drained queue reads 0 instead of vanishing, which
    dashboards and scale-to-zero both need."""

    def __init__(self, models: list[str] = (), min_interval_s: float = 1.0):
        self.models = set(models)
        self.min_interval_s = min_interval_s
        self.stats: dict[str, QueueStats] = {}
        self.workers: dict[str, int] = {}
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    async def refresh(self, redis: Redis) -> None:
        async with self._lock:  # many scrapers at once make one read
            if time.monotonic() - self._read_at < self.min_interval_s:
                return
            self.models |= await queued_models(redis)
            now = time.time()
            self.stats = {m: await queue_stats(redis, m, now) for m in sorted(self.models)}
            self.workers = await workers_per_model(redis)
            self._read_at = time.monotonic()

    def collect(self):
        families = {
            "depth": GaugeMetricFamily("reelbot_queue_depth", "Jobs in the model's queue, waiting or running",
                                       labels=["model"]),
            "waiting": GaugeMetricFamily("reelbot_queue_waiting", "Jobs in the model's queue not started yet",
                                         labels=["model"]),
            "running": GaugeMetricFamily("reelbot_queue_running", "Jobs of the model's queue a worker holds",
                                         labels=["model"]),
            "oldest_age_s": GaugeMetricFamily("reelbot_queue_oldest_age_seconds",
                                              "How long the oldest waiting job has waited", labels=["model"]),
        }
        workers = GaugeMetricFamily("reelbot_queue_workers", "Workers online serving the model", labels=["model"])
        lanes = GaugeMetricFamily("reelbot_queue_lane_waiting", "Jobs of the model's queue not started yet, per "
                                  "lane (fast, relax)", labels=["model", "lane"])
        for model, stats in self.stats.items():
            for field, family in families.items():
                family.add_metric([model], getattr(stats, field))
            lanes.add_metric([model, "fast"], stats.waiting_fast)
            lanes.add_metric([model, "relax"], stats.waiting_relax)
        for model in sorted(self.models | set(self.workers)):
            workers.add_metric([model], self.workers.get(model, 0))
        yield from families.values()
        yield lanes
        yield workers


Probe = Callable[[], Awaitable[tuple[bool, str]]]


def http_app(registry: CollectorRegistry, *, live: Probe, ready: Probe,
             before_scrape: Callable[[], Awaitable[None]] | None = None):
    """aiohttp app with `/metrics`, `/livez` and `/readyz` (200 or 503 with a one-line reason)."""
    from aiohttp import web
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    async def metrics(_request):
        if before_scrape is not None:
            try:
                await before_scrape()
            except Exception as exc:  # noqa: BLE001 — a Redis blip must not fail the whole scrape
                log.warning("metrics refresh failed", error=f"{type(exc).__name__}: {exc}")
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def probe(check: Probe):
        async def handler(_request):
            ok, detail = await check()
            return web.Response(status=200 if ok else 503, text=detail + "\n")
        return handler

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/livez", probe(live))
    app.router.add_get("/readyz", probe(ready))
    return app


async def serve_http(app, host: str, port: int):
    """Start `app`; returns its runner (call `.cleanup()`), or None when the port is taken:
    a process runs without its metrics rather than not at all."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        log.warning("metrics and health endpoints not served", host=host, port=port, error=str(exc))
        return None
    log.info("serving /metrics, /livez, /readyz", host=host, port=port)
    return runner


async def serve_endpoints(settings, *, live: Probe, ready: Probe, registry: CollectorRegistry | None = None,
                          before_scrape: Callable[[], Awaitable[None]] | None = None):
    """`/metrics`, `/livez`, `/readyz` on REELBOT_METRICS_HOST:REELBOT_METRICS_PORT for any
    process (the worker, the bot); returns the runner (`await runner.cleanup()` on exit), or
    None when no port is set or it is taken."""
    if not settings.metrics_port:
        return None
    from prometheus_client import REGISTRY

    app = http_app(registry or REGISTRY, live=live, ready=ready, before_scrape=before_scrape)
    return await serve_http(app, settings.metrics_host, settings.metrics_port)


async def redis_ping(redis: Redis, timeout_s: float = 2.0) -> tuple[bool, str]:
    try:
        await asyncio.wait_for(redis.ping(), timeout_s)
    except Exception as exc:  # noqa: BLE001 — any failure means "not ready", with the reason
        return False, f"redis unreachable: {type(exc).__name__}"
    return True, "ok"


def exporter_app(redis: Redis, collector: QueueCollector, registry: CollectorRegistry, reconciler=None):
    """The queue exporter: Prometheus series for every queue, and `/queue/<model>` as JSON for
    KEDA's metrics-api scaler (a plain number per field, 0 for a queue that does not exist;
    503 while Redis is unreachable: a failed poll, which KEDA answers with its fallback, not a
    false 0 that would scale the workers away)."""
    from aiohttp import web

    async def alive():
        return True, "ok"

    async def ready():
        ok, detail = await redis_ping(redis)
        if ok and reconciler is not None:
            ok, detail = reconciler.backoff.health()
        if ok and reconciler is not None:
            ok, detail = await ping(reconciler.store.engine)
        return ok, detail

    async def one_queue(request):
        try:
            stats = await queue_stats(redis, request.match_info["model"])
        except (RedisError, OSError) as exc:
            return web.json_response({"error": f"redis unreachable: {type(exc).__name__}"}, status=503)
        return web.json_response(stats.as_json())

    app = http_app(registry, live=alive, ready=ready, before_scrape=lambda: collector.refresh(redis))
    app.router.add_get("/queue/{model}", one_queue)
    return app


async def serve_exporter(settings) -> None:
    """`reelbot exporter`: queue metrics for every model, and the reconciler (core/reconcile.py),
    until SIGTERM. A Redis outage is ridden out: /readyz says so, the reconciler backs off, and
    both carry on once Redis is back (redis-py reconnects on the next command)."""
    from core.clips import ClipStore
    from core.queue import lazy_pool
    from core.reconcile import Reconciler

    redis = lazy_pool(settings.redis_url)
    registry = CollectorRegistry()
    collector = QueueCollector(settings.catalog_models)  # every model of the deployment, workers or not
    registry.register(collector)
    for series in (DEPENDENCY_UP, OUTAGES):  # the reconciler's outages, beside the queues
        registry.register(series)
    store = ClipStore.from_url(settings.database_url)
    reconciler = Reconciler.from_settings(redis, store, settings)
    runner = await serve_http(exporter_app(redis, collector, registry, reconciler), settings.metrics_host,
                              settings.metrics_port or DEFAULT_EXPORTER_PORT)
    if runner is None:
        await redis.aclose()
        await store.close()
        raise SystemExit(f"exporter: port {settings.metrics_port or DEFAULT_EXPORTER_PORT} is taken")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reconciling = asyncio.create_task(reconciler.run(stop)) if settings.reconcile_seconds > 0 else None
    try:
        await stop.wait()
        if reconciling is not None:
            await reconciling
    finally:
        await runner.cleanup()
        await redis.aclose()
        await store.close()

