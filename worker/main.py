"""`reelbot worker`: one arq worker per served model's queue, one render at a time."""

from __future__ import annotations

import asyncio
import signal
import time

from arq import Worker
from arq.worker import func

from core.clips import ClipStore
from core.contract import queue_name
from core.logging import get_logger
from core.queue import RENDER_FUNCTION, connect
from core.settings import Settings
from core.storage import storage_from_settings
from worker import health as endpoints
from worker import metrics, presence, safety
from worker.health import Health
from worker.render_clip import render_clip
from worker.runtime import Runtime, load_renderers, pick_device

log = get_logger("worker")
KEEP_RESULT_S = 24 * 3600
# arq's own timeout sits past render_clip's, which reports the failure before arq cancels.
JOB_TIMEOUT_SLACK_S = 60


def build_workers(rt: Runtime) -> list[Worker]:
    settings = rt.settings
    workers = []
    for model in settings.served_models:
        worker = Worker(
            functions=[func(render_clip, name=RENDER_FUNCTION, timeout=settings.job_timeout + JOB_TIMEOUT_SLACK_S,
                            max_tries=settings.max_tries + 1)],  # the last one reports the failure
            queue_name=queue_name(model),
            redis_pool=rt.redis,
            max_jobs=1,
            poll_delay=settings.poll_seconds,
            keep_result=KEEP_RESULT_S,
            handle_signals=False,
            job_completion_wait=settings.stop_grace_seconds,
            ctx={"runtime": rt},
        )
        # A short lease, renewed while the job lives (worker.lease), instead of timeout + 10 s.
        worker.in_progress_timeout_s = settings.lease_seconds
        workers.append(worker)
    return workers


async def serve(settings: Settings) -> None:
    redis = await connect(settings.redis_url)
    health = Health(models=settings.served_models, redis=redis)
    serving = await endpoints.start(settings, health)  # live while the models load, ready after
    store = ClipStore.from_url(settings.database_url)
    rt = Runtime(settings=settings, redis=redis, store=store, storage=storage_from_settings(settings),
                 worker_id=presence.worker_id())
    await _load_models(rt, health)
    rt.safety = await asyncio.to_thread(safety.load, settings, pick_device(settings.device))
    tasks = {name: sorted(r.spec.tasks) for name, r in rt.renderers.items()}
    announcing = asyncio.create_task(presence.keep_announcing(redis, rt.worker_id, tasks))
    workers = build_workers(rt)

    def stop(signum: int) -> None:
        # Finish the render in hand (or hand it back after stop_grace_seconds), take no new job, then exit.
        log.info("stopping: finishing the job in hand", signal=signal.Signals(signum).name)
        health.stopping = True
        for w in workers:
            w.handle_sig_wait_for_completion(signum)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig)
    log.info("worker ready", worker=rt.worker_id, queues=[w.queue_name for w in workers])
    try:
        await _run(workers)
    finally:
        announcing.cancel()
        await presence.withdraw(redis, rt.worker_id)
        if serving is not None:
            await serving.cleanup()
        await redis.close(close_connection_pool=True)
        await store.close()
    log.info("worker stopped", worker=rt.worker_id)


async def _load_models(rt: Runtime, health: Health) -> None:
    """Load each served model once, timing each for reelbot_worker_render_seconds{stage="load"}."""
    for model in rt.settings.served_models:
        started = time.perf_counter()
        one = rt.settings.model_copy(update={"models": [model]})
        rt.renderers.update(await asyncio.to_thread(load_renderers, one))
        metrics.record_load(model, time.perf_counter() - started)
        health.loaded.add(model)


async def _run(workers: list[Worker]) -> None:
    """Run each queue's worker until all have stopped.

    On SIGTERM arq cancels a worker's main task once its job is done, or cancels the job after
    stop_grace_seconds, which hands it back to the queue. Waiting for every worker (not the
    first to stop) keeps a second model's render from being cut off; waiting for the job
    tasks lets a handed-back job clear its lease before Redis closes, so another worker takes
    it at once instead of after the lease expires. A worker that crashes stops the others.
    """
    runs = [asyncio.ensure_future(w.async_run()) for w in workers]
    done, _ = await asyncio.wait(runs, return_when=asyncio.FIRST_EXCEPTION)
    crashed = [r.exception() for r in done if not r.cancelled() and r.exception() is not None]
    if crashed:
        for w in workers:
            w.handle_sig(signal.SIGTERM)  # hand jobs in hand back
    await asyncio.wait(runs)
    jobs = [t for w in workers for t in w.tasks.values() if not t.done()]
    if jobs:
        await asyncio.wait(jobs, timeout=60)
    if crashed:
        raise crashed[0]
