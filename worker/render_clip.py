"""The arq job: one clip, from the queue to an MP4 in storage and one final outcome.

Order matters for "never lost, never twice": the outcome is published (once, guarded in
Redis) before the clip record is finalised, and a re-run first looks for a published
outcome, so a worker that dies at any point leaves a job that the next try completes or
recognises as finished. A clip cancelled at any point before its outcome is published
(while queued, denoising, decoding, encoding or uploading) ends cancelled, its media
removed. Faults a second try can fix are retried; the rest fail at once, in words the
member understands. A broken clip (black, frozen, non-finite: worker/quality.py) is rendered
once more inside the job with a new seed, then failed in plain words.

With pipelining (worker/admission.py) two jobs can be in one process: the GPU lock is
held for the model call only, so one job's encode and upload run beside the next one's
denoising.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

from core.catalog import get_model
from core.contract import Outcome, Progress, RenderJob, Status, Timings, cancel_key, poster_key, video_key
from core.events import publish_done, publish_outcome, published_outcome, report_progress
from core.logging import bind_job, get_logger
from core.queue import finished, renew_lease, retry_in_place, started
from core.tasks import stop_task
from inference.encode import EncodeError
from worker import metrics, quality, safety
from worker.inputs import BrokenInput, decode_inputs, fetch_inputs, render_input, sound_source
from worker.outage import REDIS_DOWN, until_up
from worker.progress import Cancelled, StepReporter
from worker.runtime import Runtime
from worker.spool import Encoded
from worker.upload import encode_clip, remove_media, store_clip

log = get_logger("worker")
RETRY_PAUSE_S = 1.0


class MemberError(Exception):
    """A failure whose message is fit to show the member, the same on every try (bad
    input, unsupported task, out of memory): final at once."""


async def render_clip(ctx: dict, payload: dict) -> str:
    job = RenderJob.model_validate(payload)
    rt: Runtime = ctx["runtime"]
    with bind_job(clip_id=job.clip_id, job_id=ctx["job_id"], member_id=job.member_id, model=job.model,
                  attempt=ctx["job_try"]), metrics.BUSY.labels(job.model).track_inprogress():
        async with _lease(rt, ctx["job_id"]):
            try:
                # Our own deadline, inside arq's: a render past it is reported, not dropped.
                async with asyncio.timeout(rt.settings.job_timeout):
                    return await _render(rt, job, ctx["job_try"])
            except TimeoutError:
                log.error("render timed out", limit_s=rt.settings.job_timeout)
                await _remove_media(rt, job.clip_id)
                minutes = max(1, round(rt.settings.job_timeout / 60))
                return await _finish(rt, _failed(rt, job, f"The render took longer than this server allows "
                                                         f"(about {minutes} min). Try a shorter clip (-len)."))
            except asyncio.CancelledError:
                # Shutdown past stop_grace_seconds: arq hands the job back to the queue.
                metrics.record_outcome(job.model, "interrupted")
                raise


async def _render(rt: Runtime, job: RenderJob, job_try: int) -> str:
    # 1. Already finished? A previous try may have published and died before the record.
    earlier = await until_up(rt.watch, lambda: published_outcome(rt.redis, job.clip_id), "reading the outcome")
    if earlier is not None:
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
    if await _cancel_asked(rt, job):
        return await _cancelled(rt, job, "before it started")
    # The queue's virtual time moves up to this clip's fair tag (core/fair.py).
    await until_up(rt.watch, lambda: started(rt.redis, job.model, job.clip_id), "noting the start")
    spooled = await asyncio.to_thread(rt.spool.get, job.clip_id)
    if spooled is not None:
        # A try that died waiting for storage left the clip encoded on the shared models volume.
        log.info("clip found in the spool: storing it, not rendering it again")
        encoded, outcome = spooled
        return await _store_and_publish(rt, job, outcome, encoded)
    if clip is None:
        await rt.store.add(id=job.clip_id, task=job.task.value, prompt=job.prompt, flags=job.flags, seed=job.seed,
                           model=job.model, author_id=job.member_id, parent_id=job.parent_clip_id,
                           private=bool(job.flags.get("private")))
    leased = time.time()
    timings = Timings(queue_wait=max(0.0, leased - job.enqueued_at))

    try:
        # 2. The inputs: fetched (a storage fault is retried), decoded (a broken file is final)
        # and checked (a flagged attachment fails here, before the GPU).
        t0 = time.perf_counter()
        fetched = await asyncio.to_thread(fetch_inputs, rt.storage, job)
        inputs = await asyncio.to_thread(decode_inputs, job, fetched)
        timings.inputs = time.perf_counter() - t0
        await safety.screen_inputs(rt, job, inputs)

        # 3. The render, on the GPU; a pipelined job waits here for the one before.
        clock = metrics.StepClock()
        out = await _run_model(rt, job, inputs, clock, timings)

        # 4. Cancelled after the last step (during the VAE decode)? Then nothing more is made.
        if await _cancel_asked(rt, job):
            raise Cancelled(clock.steps)

        # 5. Measured. A broken clip (black, frozen, non-finite) is rendered once more with a
        # new seed, its GPU time not charged; broken again, it fails (quality.Broken).
        measured = await quality.measure(rt, job, out)
        if measured.broken:
            job = quality.again(job)
            timings.gpu_discarded, timings.gpu = timings.gpu, 0.0
            clock = metrics.StepClock()
            out = await _run_model(rt, job, inputs, clock, timings)
            if await _cancel_asked(rt, job):
                raise Cancelled(clock.steps)
            measured = await quality.measure(rt, job, out, first=measured)
        timings.render, timings.quality = out.model_seconds, measured.seconds

        # 6. The output checked (before anything is stored), then the MP4 and poster, encoded
        # beside the next job's denoising.
        flagged = await safety.screen_clip(rt, job, out.frames)
        measured.safety = "off" if rt.safety is None else "flagged" if flagged else "passed"
        encoded = await asyncio.to_thread(encode_clip, out.frames, out.fps, job.max_bytes, sound_source(job, inputs),
                                          out.audio, codec=rt.encoder)
        timings.encode = encoded.encode_s
        timings.total = time.time() - leased + timings.queue_wait
        outcome = Outcome(clip_id=job.clip_id, status=Status.DONE, model=job.model, seed=job.seed,
                          video_key=video_key(job.clip_id), poster_key=poster_key(job.clip_id),
                          video_bytes=len(encoded.mp4), width=out.width, height=out.height, fps=out.fps,
                          num_frames=out.num_frames, edit_region=out.edit_region, sound=encoded.sound,
                          asked_seconds=_shortened(job, out), timings=timings, quality=measured, worker=rt.worker_id,
                          flagged=flagged)
        # 7. Stored (spooled first: a storage outage is waited out, never rendered again) and published.
        status = await _store_and_publish(rt, job, outcome, encoded)
    except Cancelled as stop:
        return await _cancelled(rt, job, f"at step {stop.step}" if stop.step else "before the first step")
    except (MemberError, BrokenInput) as exc:
        return await _finish(rt, _failed(rt, job, str(exc)))
    except quality.Broken as exc:  # broken twice: failed, and neither render charged
        timings.gpu_discarded, timings.gpu = timings.gpu_discarded + timings.gpu, 0.0
        return await _finish(rt, _failed(rt, job, str(exc)).model_copy(update={"quality": exc.quality,
                                                                              "timings": timings}))
    except safety.Flagged as exc:
        return await _finish(rt, exc.outcome)
    except EncodeError as exc:  # the same frames fail the same way on every try
        log.error("encode failed", error=str(exc))
        await _remove_media(rt, job.clip_id)
        return await _finish(rt, _failed(rt, job, "The rendered clip could not be encoded. Try another length (-len) "
                                                 "or aspect ratio (-ar)."))
    except Exception as exc:  # noqa: BLE001 — any model/encode/storage fault
        if _out_of_memory(exc):
            log.error("render ran out of GPU memory", error=str(exc)[:300])
            _free_gpu_memory()
            return await _finish(rt, _failed(rt, job, _OUT_OF_MEMORY))
        log.exception("render failed", error=type(exc).__name__)
        if job_try < rt.settings.max_tries:
            await rt.store.transition(job.clip_id, Status.QUEUED, error=None)
            metrics.record_outcome(job.model, "retried")
            await asyncio.sleep(RETRY_PAUSE_S)  # a storage or network blip: give it a moment
            raise retry_in_place() from exc  # at its own place in the queue, not the back
        return await _finish(rt, _failed(rt, job, "The render failed on the worker after several tries. "
                                                 "Please try again in a moment."))

    if status == Status.DONE:
        # What the pipeline was given to hold and which LoRAs were on: what a member's clip can be checked against.
        log.info("render done", seconds=round(timings.total, 3), model_seconds=round(out.model_seconds, 3),
                 adapters=out.adapters, conditioning=out.conditioning, seam=out.seam.summary() if out.seam else None)
        metrics.record_render(job.model, timings, clock)
        metrics.record_gpu(job.model, job.ticket.guild_id, job.ticket.lane, timings.gpu)
    return status


async def _store_and_publish(rt: Runtime, job: RenderJob, outcome: Outcome, encoded: Encoded) -> str:
    """Upload the clip (waiting out storage) and publish its outcome, unless the member
    cancelled meanwhile: the outcome is the last word on a cancel."""
    outcome.timings = outcome.timings or Timings()
    outcome.timings.upload = await store_clip(rt, outcome, encoded, lambda: _cancel_asked(rt, job))
    outcome.timings.total += outcome.timings.upload
    published = await until_up(rt.watch, lambda: publish_done(rt.redis, outcome), "publishing the outcome")
    if published == "cancelled":
        return await _cancelled(rt, job, "after the last step")
    return await _finish(rt, outcome, published=published == "published")


async def _run_model(rt: Runtime, job: RenderJob, inputs: dict, clock: metrics.StepClock, timings: Timings):
    """Run the pipeline in a thread while holding the GPU. Progress leaves and cancels
    arrive through a StepReporter, so no step waits on Redis; `clock` splits denoise from
    decode time and tells the admission gate when the GPU will be free."""
    from inference.render import UnsupportedTask

    renderer = rt.renderers[job.model]
    inp = render_input(job, inputs, steps=rt.settings.model_steps.get(job.model))
    waited = time.perf_counter()
    async with rt.gpu:  # one render at a time in this process
        held = time.perf_counter()
        timings.gpu_wait = time.perf_counter() - waited
        if await _cancel_asked(rt, job):  # cancelled while it waited for the GPU
            raise Cancelled()
        await rt.store.transition(job.clip_id, Status.RUNNING, worker=rt.worker_id)
        log.info("render started", queue_wait=round(timings.queue_wait, 3), gpu_wait=round(timings.gpu_wait, 3))
        rt.admission.on_gpu(job.clip_id, clock.remaining_s)
        async with StepReporter(rt.redis, job.clip_id, rt.watch) as reporter:

            def on_step(step: int, total: int) -> None:
                clock.tick(step, total)
                reporter.step(step, total)

            clock.start()
            task = asyncio.ensure_future(asyncio.to_thread(renderer.render, inp, on_step))
            try:
                out = await asyncio.shield(task)
            except UnsupportedTask as exc:
                raise MemberError(str(exc)) from exc
            except asyncio.CancelledError:
                # Timeout or shutdown: stop the thread at its next step before giving up the GPU.
                reporter.stop.set()
                with contextlib.suppress(BaseException):
                    await task
                raise
            finally:
                rt.admission.off_gpu(job.clip_id)
                timings.gpu += time.perf_counter() - held
            clock.end()
            return out


@contextlib.asynccontextmanager
async def _lease(rt: Runtime, job_id: str):
    """Renew arq's in-progress key while the job runs (core.queue.renew_lease), so a
    killed worker's job is taken over within lease_seconds; through a Redis outage the
    renewal keeps trying, and takes the job back as soon as Redis answers again."""

    async def renew() -> None:
        while True:
            try:
                await renew_lease(rt.redis, job_id, int(rt.settings.lease_seconds * 1000))
            except REDIS_DOWN as exc:
                rt.watch.down(exc, "renewing the job's lease")
            await asyncio.sleep(rt.settings.heartbeat_seconds)

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        await stop_task(task)


async def _cancel_asked(rt: Runtime, job: RenderJob) -> bool:
    return bool(await until_up(rt.watch, lambda: rt.redis.exists(cancel_key(job.clip_id)), "reading the cancel flag"))


async def _cancelled(rt: Runtime, job: RenderJob, when: str) -> str:
    await _remove_media(rt, job.clip_id)
    log.info("render cancelled", when=when)
    return await _finish(rt, Outcome(clip_id=job.clip_id, status=Status.CANCELLED, model=job.model, seed=job.seed,
                                     worker=rt.worker_id))


async def _remove_media(rt: Runtime, clip_id: str) -> None:
    """Best effort: what a clip that ends unposted left in storage (never public; storage may be away)."""
    try:
        await asyncio.to_thread(remove_media, rt.storage, clip_id)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not remove the media of an unposted clip", error=repr(exc)[:200])


def _failed(rt: Runtime, job: RenderJob, reason: str) -> Outcome:
    return Outcome(clip_id=job.clip_id, status=Status.FAILED, model=job.model, seed=job.seed,
                   error=reason, worker=rt.worker_id)


_OUT_OF_MEMORY = ("The GPU ran out of memory for this clip. Try a shorter clip (-len 3) or a smaller "
                  "aspect ratio (-ar 1:1).")


def _out_of_memory(exc: BaseException) -> bool:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return "out of memory" in str(exc).lower()


def _free_gpu_memory() -> None:
    """Give the failed render's cached blocks back, so the next clip starts from a clean pool."""
    import gc

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def _shortened(job: RenderJob, out) -> float | None:
    """The seconds asked when the clip came out shorter than -len asked by more than the
    rounding to a valid frame count (the model's frame cap), else None."""
    asked = job.flags.get("length")
    if not asked or not out.fps:
        return None
    spec = get_model(job.model)
    block_s = spec.frames_multiple / (out.fps if spec.fps_conditioned else spec.native_fps)
    return float(asked) if asked - out.num_frames / out.fps > block_s / 2 + 1e-6 else None


async def _finish(rt: Runtime, outcome: Outcome, published: bool | None = None) -> str:
    """Publish `outcome` (unless already done: `published`), record it, and report the final status."""
    if published is None:
        published = await until_up(rt.watch, lambda: publish_outcome(rt.redis, outcome), "publishing the outcome")
    if published:
        metrics.record_outcome(outcome.model or "unknown", outcome.status.value)
    else:
        # Another try got there first: keep the record in line with what members were told.
        outcome = await until_up(rt.watch, lambda: published_outcome(rt.redis, outcome.clip_id),
                                 "reading the outcome") or outcome
    await rt.store.record_outcome(outcome)
    await asyncio.to_thread(rt.spool.remove, outcome.clip_id)  # stored, or never to be
    if outcome.model:
        await until_up(rt.watch, lambda: finished(rt.redis, outcome.model, outcome.clip_id), "leaving the queue")
    done = int(outcome.status is Status.DONE)
    final = Progress(clip_id=outcome.clip_id, step=done, total=1, status=outcome.status)
    await until_up(rt.watch, lambda: report_progress(rt.redis, final), "reporting the final status")
    return outcome.status.value
