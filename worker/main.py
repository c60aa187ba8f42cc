"""`reelbot worker`: one arq worker per served model's queue, one admission gate for them
all (worker/admission.py), one render on the GPU at a time."""

from __future__ import annotations

import asyncio
import signal
import time

from arq import func

from core.backoff import Outage, delays
from core.clips import ClipStore
from core.contract import queue_name
from core.logging import get_logger
from core.queue import RENDER_FUNCTION, RenderWorker, lazy_pool
from core.settings import Settings
from core.storage import storage_from_settings
from core.tasks import stop_task
from worker import health as endpoints
from worker import metrics, presence, quality, safety
from worker.admission import Admission
from worker.health import Health
from worker.outage import REDIS_DOWN, PatientStore, database_outage, redis_outage, storage_outage
from worker.spool import SPOOL_DIR, Spool
from worker.render_clip import render_clip
from worker.runtime import (
    Runtime,
    check_model_settings,
    load_renderer,
    load_segmenter,
    pick_device,
    pick_encoder,
    use_compile_cache,
    warm_up_renderer,
)

log = get_logger("worker")
KEEP_RESULT_S = 24 * 3600
# arq's own timeout sits past render_clip's, which reports the failure before arq cancels.
JOB_TIMEOUT_SLACK_S = 60


def build_workers(rt: Runtime) -> list[RenderWorker]:
    settings = rt.settings
    # With pipelining a queue's worker may hold a second job of its model; the gate decides.
    per_queue = 2 if rt.admission.pipelining else 1
    return [
        RenderWorker(
            functions=[func(render_clip, name=RENDER_FUNCTION, timeout=settings.job_timeout + JOB_TIMEOUT_SLACK_S,
                            max_tries=settings.max_tries + 1)],  # the last one reports the failure
            queue_name=queue_name(model),
            redis_pool=rt.redis,
            max_jobs=per_queue,
            poll_delay=settings.poll_seconds,
            keep_result=KEEP_RESULT_S,
            handle_signals=False,
            job_completion_wait=settings.stop_grace_seconds,
            ctx={"runtime": rt},
            admission=rt.admission,
            lease_s=settings.lease_seconds,
        )
        for model in settings.served_models
    ]


async def serve(settings: Settings) -> None:
    watch, db_watch = redis_outage(), database_outage()
    redis = lazy_pool(settings.redis_url)  # the models load while Redis is away; every call rides outages
    store = PatientStore(ClipStore.from_url(settings.database_url), db_watch)
    storage_watch, spool = storage_outage(), Spool(settings.models_dir / SPOOL_DIR, settings.spool_max_bytes)
    health = Health(models=settings.served_models, redis=redis, watch=watch, store=store, db_watch=db_watch,
                    storage_watch=storage_watch, spool=spool)
    serving = await endpoints.start(settings, health)  # live while the models load, ready after
    device = await asyncio.to_thread(pick_device, settings.device)
    pipelining = settings.pipelining if settings.pipelining is not None else device != "cpu"
    rt = Runtime(settings=settings, redis=redis, store=store, storage=storage_from_settings(settings),
                 worker_id=presence.worker_id(), watch=watch, db_watch=db_watch, storage_watch=storage_watch,
                 spool=spool,
                 admission=Admission(pipelining=pipelining, ahead_s=settings.pipeline_ahead_seconds))
    rt.encoder = await asyncio.to_thread(pick_encoder, settings)
    await _load_models(rt, health, device)
    rt.safety = await asyncio.to_thread(safety.load, settings, device)
    rt.adherence = await asyncio.to_thread(quality.load, settings, device)
    tasks = {name: sorted(r.spec.tasks) for name, r in rt.renderers.items()}
    announcing = asyncio.create_task(presence.keep_announcing(redis, rt.worker_id, tasks, watch))
    workers = build_workers(rt)
    stopping = asyncio.Event()

    def stop(signum: int) -> None:
        # Finish the renders in hand (or hand them back after stop_grace_seconds), take no new job, then exit.
        log.info("stopping: finishing the job in hand", signal=signal.Signals(signum).name)
        health.stopping = True
        stopping.set()
        for w in workers:
            w.handle_sig_wait_for_completion(signum)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig)
    log.info("worker ready", worker=rt.worker_id, queues=[w.queue_name for w in workers],
             pipelining=pipelining, encoder=rt.encoder)
    try:
        await _run(workers, watch, stopping)
    finally:
        await stop_task(announcing)
        await presence.withdraw(redis, rt.worker_id)
        if serving is not None:
            await serving.cleanup()
        await redis.close(close_connection_pool=True)
        await store.close()
    log.info("worker stopped", worker=rt.worker_id)


async def _load_models(rt: Runtime, health: Health, device: str) -> None:
    """Load each served model once (its knobs sharing the card with the others), and with
    compile on warm it up for the sizes members ask for, timing both for
    reelbot_worker_render_seconds{stage="load"|"warm_up"} and the start-up log."""
    settings = rt.settings
    check_model_settings(settings)
    use_compile_cache(settings)
    segmenter = await asyncio.to_thread(load_segmenter, settings, device, settings.served_models)
    warm_up_total = 0.0
    for model in settings.served_models:
        started = time.perf_counter()
        renderer = await asyncio.to_thread(load_renderer, settings, model, device, False, segmenter)
        loaded_s = time.perf_counter() - started
        warm_up_s = await asyncio.to_thread(warm_up_renderer, settings, renderer)
        warm_up_total += warm_up_s
        rt.renderers[model] = renderer
        metrics.record_load(model, loaded_s, warm_up_s)
        health.loaded.add(model)
    log.info("models ready", models=settings.served_models, warm_up_s=round(warm_up_total, 2))


async def _run(workers: list[RenderWorker], watch: Outage, stopping: asyncio.Event) -> None:
    """Run each queue's worker until all have stopped.

    On SIGTERM arq cancels a worker's main task once its jobs are done, or cancels the jobs
    after stop_grace_seconds, which hands them back to the queue. Waiting for every worker
    (not the first to stop) keeps a second model's render from being cut off; waiting for
    the job tasks lets a handed-back job clear its lease before Redis closes, so another
    worker takes it at once instead of after the lease expires. A worker that crashes for
    any reason but Redis being away stops the others.
    """
    runs = [asyncio.ensure_future(_keep_polling(w, watch, stopping)) for w in workers]
    done, _ = await asyncio.wait(runs, return_when=asyncio.FIRST_EXCEPTION)
    crashed = [r.exception() for r in done if not r.cancelled() and r.exception() is not None]
    if crashed:
        stopping.set()
        for w in workers:
            w.handle_sig(signal.SIGTERM)  # hand jobs in hand back
    await asyncio.wait(runs)
    jobs = [t for w in workers for t in w.jobs_in_hand()]
    if jobs:
        await asyncio.wait(jobs, timeout=60)
    if crashed:
        raise crashed[0]


async def _keep_polling(w: RenderWorker, watch: Outage, stopping: asyncio.Event) -> None:
    """arq's poll loop, restarted with backoff when Redis goes away (arq's loop raises on
    the first failed call). Jobs in hand run on meanwhile: they are tasks of their own."""
    while True:
        try:
            await w.async_run()
            return
        except asyncio.CancelledError:
            return  # stopped: arq cancels its main task when the jobs in hand are done
        except REDIS_DOWN as exc:
            watch.down(exc, f"polling {w.queue_name}")
        for delay in delays():
            await asyncio.sleep(delay)
            if stopping.is_set() and not w.jobs_in_hand():
                return  # told to stop, nothing left to finish: no need to wait for Redis
            try:
                await w.pool.ping()
                break
            except REDIS_DOWN:
                continue
        watch.up()
