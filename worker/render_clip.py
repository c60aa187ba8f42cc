"""The arq job: one clip, from the queue to an MP4 in storage and one final outcome.

Order matters for "never lost, never twice": the outcome is published (once, guarded in
Redis) before the clip record is finalised, and a re-run first looks for a published
outcome, so a worker that dies at any point leaves a job that the next try completes or
recognises as finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from arq import Retry

from core.contract import Outcome, Progress, RenderJob, Status, Timings, cancel_key
from core.events import published_outcome, publish_outcome, report_progress
from core.logging import bind_job, get_logger
from worker import lease, metrics, safety
from worker.inputs import load_inputs, render_input, sound_source
from worker.runtime import Runtime
from worker.upload import encode_and_upload, remove_media

log = get_logger("worker")


class Cancelled(Exception):
    """Raised from the step callback to stop the pipeline at the current step."""


class MemberError(Exception):
    """A failure whose message is fit to show the member (bad input, unsupported task)."""


async def render_clip(ctx: dict, payload: dict) -> str:
    job = RenderJob.model_validate(payload)
    rt: Runtime = ctx["runtime"]
    with bind_job(clip_id=job.clip_id, job_id=ctx["job_id"], member_id=job.member_id, model=job.model,
                  attempt=ctx["job_try"]), metrics.BUSY.labels(job.model).track_inprogress():
        async with lease.held(rt.redis, ctx["job_id"], rt.settings.lease_seconds, rt.settings.heartbeat_seconds):
            try:
                # Our own deadline, inside arq's: a render past it is reported, not dropped.
                async with asyncio.timeout(rt.settings.job_timeout):
                    return await _render(rt, job, ctx["job_try"])
            except TimeoutError:
                log.error("render timed out", limit_s=rt.settings.job_timeout)
                await asyncio.to_thread(remove_media, rt.storage, job.clip_id)
                minutes = max(1, round(rt.settings.job_timeout / 60))
                return await _finish(rt, _failed(rt, job, f"The render took longer than this server allows "
                                                         f"(about {minutes} min). Try a shorter clip (-len)."))
            except asyncio.CancelledError:
                # Shutdown past stop_grace_seconds: arq hands the job back to the queue.
                metrics.record_outcome(job.model, "interrupted")
                raise


async def _render(rt: Runtime, job: RenderJob, job_try: int) -> str:
    earlier = await published_outcome(rt.redis, job.clip_id)
    if earlier is not None:
        # A previous try published but died before the record was written: finish that.
        await rt.store.record_outcome(earlier)
        return earlier.status.value
    clip = await rt.store.get(job.clip_id)
    if clip is not None and Status(clip.status).final:
        return clip.status
    if job_try > rt.settings.max_tries:
        # Workers died on every try (arq counts a pick-up as a try). arq would drop the job
        # silently past its own limit, so the worker is given one more and says so here.
        log.error("render abandoned: every try died", tries=job_try - 1)
        return await _finish(rt, _failed(rt, job, "The render stopped several times on the workers. "
                                                 "Please try again, or try a shorter clip."))
    if await rt.redis.exists(cancel_key(job.clip_id)):
        return await _finish(rt, Outcome(clip_id=job.clip_id, status=Status.CANCELLED, model=job.model, worker=rt.worker_id))
    if clip is None:
        await rt.store.add(id=job.clip_id, task=job.task.value, prompt=job.prompt, flags=job.flags, seed=job.seed,
                           model=job.model, author_id=job.member_id, parent_id=job.parent_clip_id,
                           private=bool(job.flags.get("private")))
    await rt.store.transition(job.clip_id, Status.RUNNING, worker=rt.worker_id)
    started = time.time()
    log.info("render started", queue_wait=round(started - job.enqueued_at, 3))

    try:
        timings = Timings(queue_wait=max(0.0, started - job.enqueued_at))
        t0 = time.perf_counter()
        inputs = await asyncio.to_thread(load_inputs, rt.storage, job)
        timings.inputs = time.perf_counter() - t0
        await safety.screen_inputs(rt, job, inputs)  # a flagged attachment fails here, before the GPU
        clock = metrics.StepClock()
        out = await _run_model(rt, job, inputs, clock)
        timings.render = out.model_seconds
        flagged = await safety.screen_clip(rt, job, out.frames)  # before anything is stored
        up = await asyncio.to_thread(encode_and_upload, rt.storage, job.clip_id, out.frames, out.fps, job.max_bytes,
                                     sound_source(job, inputs), out.audio)
        timings.encode, timings.upload = up.encode_s, up.upload_s
    except Cancelled:
        await asyncio.to_thread(remove_media, rt.storage, job.clip_id)
        log.info("render cancelled")
        return await _finish(rt, Outcome(clip_id=job.clip_id, status=Status.CANCELLED, model=job.model,
                                         seed=job.seed, worker=rt.worker_id))
    except MemberError as exc:
        return await _finish(rt, _failed(rt, job, str(exc)))
    except safety.Flagged as exc:
        return await _finish(rt, exc.outcome)
    except Exception as exc:  # noqa: BLE001 — any model/encode/storage fault
        log.exception("render failed", error=type(exc).__name__)
        if job_try < rt.settings.max_tries:
            await rt.store.transition(job.clip_id, Status.QUEUED, error=None)
            metrics.record_outcome(job.model, "retried")
            raise Retry(defer=1) from exc
        return await _finish(rt, _failed(rt, job, _member_reason(exc)))

    timings.total = time.time() - started + timings.queue_wait
    outcome = Outcome(clip_id=job.clip_id, status=Status.DONE, model=job.model, seed=job.seed,
                      video_key=up.video_key, poster_key=up.poster_key, video_bytes=up.video_bytes,
                      width=out.width, height=out.height, fps=out.fps, num_frames=out.num_frames,
                      edit_region=out.edit_region, sound=up.sound, timings=timings, worker=rt.worker_id,
                      flagged=flagged)
    log.info("render done", seconds=round(timings.total, 3), model_seconds=round(out.model_seconds, 3))
    metrics.record_render(job.model, timings, clock)
    return await _finish(rt, outcome)


async def _run_model(rt: Runtime, job: RenderJob, inputs: dict, clock: metrics.StepClock):
    """Run the pipeline in a thread; the step callback reports progress and stops on cancel,
    and ticks `clock` (denoise vs decode time, steps per second)."""
    from inference.render import UnsupportedTask

    renderer = rt.renderers[job.model]
    inp = render_input(job, inputs, steps=rt.settings.model_steps.get(job.model))
    loop = asyncio.get_running_loop()
    stop = threading.Event()

    def on_step(step: int, total: int) -> None:
        clock.tick(step)
        if stop.is_set():
            raise Cancelled()
        asked = asyncio.run_coroutine_threadsafe(
            report_progress(rt.redis, Progress(clip_id=job.clip_id, step=step, total=total)), loop)
        if asked.result(timeout=30):
            raise Cancelled()

    async with rt.gpu:  # one render at a time in this process
        clock.start()
        task = asyncio.ensure_future(asyncio.to_thread(renderer.render, inp, on_step))
        try:
            out = await asyncio.shield(task)
            clock.end()
            return out
        except UnsupportedTask as exc:
            raise MemberError(str(exc)) from exc
        except asyncio.CancelledError:
            # Timeout or shutdown: stop the thread at its next step before giving up the GPU.
            stop.set()
            with contextlib.suppress(BaseException):
                await task
            raise


def _failed(rt: Runtime, job: RenderJob, reason: str) -> Outcome:
    return Outcome(clip_id=job.clip_id, status=Status.FAILED, model=job.model, seed=job.seed,
                   error=reason, worker=rt.worker_id)


def _member_reason(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}".lower()
    if "out of memory" in text:
        return "The GPU ran out of memory for this clip. Try a shorter clip (-len) or another aspect ratio."
    return "The render failed on the worker after several tries. Please try again in a moment."


async def _finish(rt: Runtime, outcome: Outcome) -> str:
    published = await publish_outcome(rt.redis, outcome)
    if published:
        metrics.record_outcome(outcome.model or "unknown", outcome.status.value)
    else:
        # Another try got there first: keep the record in line with what members were told.
        outcome = await published_outcome(rt.redis, outcome.clip_id) or outcome
    await rt.store.record_outcome(outcome)
    done = int(outcome.status is Status.DONE)
    await report_progress(rt.redis, Progress(clip_id=outcome.clip_id, step=done, total=1, status=outcome.status))
    return outcome.status.value
