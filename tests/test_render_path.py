"""The render path end to end: real Redis, PostgreSQL, S3 (moto) and `reelbot worker`
processes rendering with the tiny random-weight LTX model."""

import asyncio
import itertools
import json
import time

import pytest

from core.contract import PROGRESS_CHANNEL
from core.events import OutcomeReader, read_progress
from core.queue import RESULT_PREFIX, cancel, enqueue
from inference.encode import probe_mp4
from tests.stack import MODEL

pytestmark = pytest.mark.slow
LONG = "a slow pan over a city -len 10 -fps 24 -ar 16:9"  # the tiny model's longest render
SLOW = {"REELBOT_MODEL_STEPS": '{"ltx-tiny": 300}'}  # many steps, so a render can be caught mid-way


async def test_twenty_jobs_on_two_workers(stack):
    workers = [stack.start_worker(), stack.start_worker()]
    await stack.wait_ready(*workers)
    prompts = [f"clip {i} of a fox -seed {i} -ar {ar} -fps {fps} -len 1"
               for i, (ar, fps) in enumerate(itertools.islice(itertools.cycle(
                   [("16:9", 24), ("9:16", 12), ("1:1", 8), ("21:9", 30)]), 20))]
    jobs = [await stack.submit(p) for p in prompts]
    for job in jobs:
        assert await stack.wait_final(job.clip_id, timeout=300) == "done", stack.logs()

    keys = stack.storage.keys("clips/")
    assert len(keys) == 40  # one MP4 and one poster each
    for job in jobs:
        clip = await stack.store.get(job.clip_id)
        assert clip.video_key == f"clips/{job.clip_id}/clip.mp4" and clip.poster_key in keys
        info = probe_mp4(stack.storage.get(clip.video_key))
        assert (info["codec"], info["pix_fmt"]) == ("h264", "yuv420p")
        assert (info["width"], info["height"], info["fps"]) == (clip.width, clip.height, job.flags["fps"])
        assert clip.timings["render"] > 0 and clip.attempts == 1
    outcomes = await stack.outcomes()
    assert sorted(o.clip_id for o in outcomes) == sorted(j.clip_id for j in jobs)
    assert {o.worker for o in outcomes} == {w.worker_id for w in workers}  # both took work
    # Pipelining: on some worker a clip was on the GPU before the one before it was finished.
    clips = sorted([await stack.store.get(j.clip_id) for j in jobs], key=lambda c: (c.worker, c.started_at))
    assert any(a.worker == b.worker and b.started_at < a.finished_at for a, b in zip(clips, clips[1:]))

    # The same clip id again: arq refuses it while its result is kept …
    assert not await enqueue(stack.redis, jobs[0])
    # … and after the result expired, the worker sees the finished record and renders nothing.
    video = f"media/clips/{jobs[0].clip_id}/clip.mp4"
    before = stack.s3.client().head_object(Bucket=stack.bucket, Key=video)
    await stack.redis.delete(RESULT_PREFIX + jobs[0].clip_id)
    assert await enqueue(stack.redis, jobs[0])
    deadline = time.monotonic() + 30
    while await stack.redis.zcard(f"reelbot:queue:{MODEL}") and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    after = stack.s3.client().head_object(Bucket=stack.bucket, Key=video)
    assert after["LastModified"] == before["LastModified"]
    assert len(await stack.outcomes()) == 20


async def test_a_process_serving_two_models_leases_one_job_and_leaves_the_other_to_an_idle_worker(stack):
    from core.catalog import get_model
    from core.queue import IN_PROGRESS_PREFIX
    from inference.loading import resolve_source

    resolve_source(get_model("wan-tiny"), None, stack.env["REELBOT_MODELS_DIR"])
    stack.env.update(REELBOT_MODEL_STEPS='{"ltx-tiny": 3000}', REELBOT_MODELS="ltx-tiny,wan-tiny")
    both = stack.start_worker()
    await stack.wait_ready(both)
    busy = await stack.submit(LONG)
    await stack.wait_running(busy.clip_id)
    other = await stack.submit("a wan clip -len 1", model="wan-tiny")
    await asyncio.sleep(2)  # many polls of the wan queue
    # Its GPU is busy for a long while, so the worker does not hold a job it cannot start.
    assert not await stack.redis.exists(IN_PROGRESS_PREFIX + other.clip_id)
    assert (await stack.store.get(other.clip_id)).status == "queued"
    stack.env["REELBOT_MODELS"] = "wan-tiny"
    idle = stack.start_worker()
    assert await stack.wait_final(other.clip_id, timeout=90) == "done", stack.logs()
    assert (await stack.store.get(other.clip_id)).worker == idle.worker_id
    assert (await stack.store.get(busy.clip_id)).status == "running"
    await cancel(stack.redis, stack.store, busy.clip_id, MODEL)
    assert await stack.wait_final(busy.clip_id, timeout=60) == "cancelled"


async def test_a_killed_workers_job_completes_elsewhere_within_30s(stack):
    stack.env.update(SLOW)
    workers = [stack.start_worker(), stack.start_worker()]
    await stack.wait_ready(*workers)
    job = await stack.submit(LONG)
    await stack.wait_running(job.clip_id)
    holder = (await stack.store.get(job.clip_id)).worker
    victim = next(w for w in workers if w.worker_id == holder)
    victim.kill()
    killed_at = time.monotonic()
    assert await stack.wait_final(job.clip_id, timeout=60) == "done", stack.logs()
    took = time.monotonic() - killed_at
    assert took < 30, f"recovered after {took:.1f} s"

    clip = await stack.store.get(job.clip_id)
    assert clip.worker != holder and clip.attempts == 2
    assert stack.storage.keys(f"clips/{job.clip_id}/") == [f"clips/{job.clip_id}/clip.mp4",
                                                           f"clips/{job.clip_id}/poster.jpg"]
    assert [o.status for o in await stack.outcomes() if o.clip_id == job.clip_id] == ["done"]
    print(f"recovered {took:.1f} s after SIGKILL")


async def test_cancel_a_running_job_stops_within_one_step(stack):
    stack.env.update(SLOW)
    worker = stack.start_worker()
    await stack.wait_ready(worker)
    feed = stack.redis.pubsub()
    await feed.subscribe(PROGRESS_CHANNEL)
    job = await stack.submit(LONG)
    at_cancel = await stack.wait_running(job.clip_id)
    assert at_cancel.step < at_cancel.total, "render finished before it could be cancelled"
    assert await cancel(stack.redis, stack.store, job.clip_id, MODEL) == "signalled"
    # The flag is set now: the step running at this moment is the last one allowed to finish.
    flagged = await read_progress(stack.redis, job.clip_id)
    assert await stack.wait_final(job.clip_id, timeout=60) == "cancelled"

    steps = []
    while (msg := await feed.get_message(timeout=0.5)) is not None:
        if msg["type"] == "message" and (p := json.loads(msg["data"]))["clip_id"] == job.clip_id:
            steps.append(p["step"]) if p["status"] == "running" else None
    await feed.aclose()
    assert max(steps) <= flagged.step + 1 < at_cancel.total, (steps, flagged)
    # The render itself stopped part-way (progress is only what members see of it).
    [stopped] = [json.loads(line)["when"] for line in worker.log_path.read_text().splitlines()
                 if line.startswith("{") and json.loads(line).get("event") == "render cancelled"]
    assert stopped.startswith("at step ") and int(stopped.split()[-1]) < at_cancel.total, stopped
    assert stack.storage.keys(f"clips/{job.clip_id}/") == []  # no media left behind
    assert [o.status for o in await stack.outcomes()] == ["cancelled"]


async def test_cancel_a_queued_job_means_it_never_starts(stack):
    stack.env.update(SLOW)
    worker = stack.start_worker()
    await stack.wait_ready(worker)
    first = await stack.submit(LONG)
    await stack.wait_running(first.clip_id)
    waiting = await stack.submit("a second clip -len 1")
    assert await cancel(stack.redis, stack.store, waiting.clip_id, MODEL) == "unqueued"
    assert (await stack.store.get(waiting.clip_id)).status == "cancelled"
    assert await stack.wait_final(first.clip_id, timeout=120) == "done"
    await asyncio.sleep(1.0)  # the worker is idle now: the cancelled job must not start
    clip = await stack.store.get(waiting.clip_id)
    assert (clip.status, clip.attempts, clip.started_at) == ("cancelled", 0, None)
    assert await read_progress(stack.redis, waiting.clip_id) is None
    assert stack.storage.keys(f"clips/{waiting.clip_id}/") == []


async def test_an_offline_bot_gets_five_outcomes_once(stack):
    workers = [stack.start_worker(), stack.start_worker()]
    await stack.wait_ready(*workers)
    jobs = [await stack.submit(f"clip {i} -len 1 -seed {i}") for i in range(5)]
    for job in jobs:  # the bot is not connected while these finish
        assert await stack.wait_final(job.clip_id) == "done"
    reader = OutcomeReader(stack.redis, "bot-1")
    await reader.ensure_group()
    got = await reader.read(block_ms=200)
    assert sorted(o.clip_id for _, o in got) == sorted(j.clip_id for j in jobs)
    for mid, _ in got:
        await reader.ack(mid)
    assert await reader.read(block_ms=200) == []


async def test_a_render_past_the_job_timeout_is_reported_failed(stack):
    stack.env.update({"REELBOT_MODEL_STEPS": '{"ltx-tiny": 20000}', "REELBOT_JOB_TIMEOUT": "10"})
    worker = stack.start_worker()
    await stack.wait_ready(worker)
    job = await stack.submit(LONG)
    await stack.wait_running(job.clip_id)
    assert await stack.wait_final(job.clip_id, timeout=60) == "failed"
    clip = await stack.store.get(job.clip_id)
    assert "longer than this server allows" in clip.error
    [outcome] = await stack.outcomes()
    assert outcome.status == "failed" and outcome.error == clip.error
    assert stack.storage.keys(f"clips/{job.clip_id}/") == []
    assert worker.proc.poll() is None  # the worker lives on for the next job
