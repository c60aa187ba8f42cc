"""`reelbot worker`: one arq worker per served model's queue, one render at a time."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from arq import Worker
from arq.worker import func

from core.clips import ClipStore
from core.contract import queue_name
from core.logging import get_logger
from core.queue import RENDER_FUNCTION, connect
from core.settings import Settings
from core.storage import storage_from_settings
from worker import presence
from worker.render_clip import render_clip
from worker.runtime import Runtime, load_renderers

log = get_logger("worker")
KEEP_RESULT_S = 24 * 3600


def build_workers(rt: Runtime) -> list[Worker]:
    settings = rt.settings
    workers = []
    for model in settings.served_models:
        worker = Worker(
            functions=[func(render_clip, name=RENDER_FUNCTION, timeout=settings.job_timeout,
                            max_tries=settings.max_tries)],
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
    store = ClipStore.from_url(settings.database_url)
    rt = Runtime(settings=settings, redis=redis, store=store, storage=storage_from_settings(settings),
                 worker_id=presence.worker_id())
    rt.renderers = await asyncio.to_thread(load_renderers, settings)
    tasks = {name: sorted(r.spec.tasks) for name, r in rt.renderers.items()}
    announcing = asyncio.create_task(presence.keep_announcing(redis, rt.worker_id, tasks))
    workers = build_workers(rt)

    def stop(signum: int) -> None:
        # Finish the render in hand, take no new job, then exit.
        log.info("stopping: finishing the job in hand", signal=signal.Signals(signum).name)
        for w in workers:
            w.handle_sig_wait_for_completion(signum)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig)
    log.info("worker ready", worker=rt.worker_id, queues=[w.queue_name for w in workers])
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*(w.async_run() for w in workers))
    finally:
        announcing.cancel()
        await presence.withdraw(redis, rt.worker_id)
        await redis.close(close_connection_pool=True)
        await store.close()
    log.info("worker stopped", worker=rt.worker_id)
