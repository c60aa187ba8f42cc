"""The reconciler (core/reconcile.py) against a real Redis and arq's own worker loop: clips
left queued or running with no arq job are queued again, or reported failed once when too
old, and their members' in-flight slots come back."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace

import pytest
from arq.constants import job_key_prefix
from arq.worker import Worker, func
from sqlalchemy import update

from core.clips import ClipStore
from core.contract import OUTCOMES_STREAM, Outcome, Status, queue_name
from core.events import publish_outcome
from core.flags import parse_prompt
from core.jobs import new_job
from core.limits import Limits, MemberLimits
from core.migrate import upgrade_async
from core.queue import RENDER_FUNCTION, connect, enqueue, live_jobs, redis_settings
from core.reconcile import TOO_OLD, Reconciler
from core.tables import Clip, utcnow

MODEL = "ltx-tiny"
HOUR = 3600


@pytest.fixture
async def world(redis_server, tmp_path):
    url = f"sqlite:///{tmp_path / 'reconcile.db'}"
    await upgrade_async(url)
    store = ClipStore.from_url(url)
    redis = await connect(redis_server.url)
    await redis.flushdb()
    yield SimpleNamespace(store=store, redis=redis, url=redis_server.url,
                          reconciler=Reconciler(redis, store, catalog=[MODEL], requeue_within_s=HOUR))
    await redis.aclose()
    await store.close()


async def recorded(store, age_s: float, status: str = "queued", model: str = MODEL):
    """A clip recorded `age_s` ago, as the bot records it, and its job."""
    job = new_job(parse_prompt("a fox in the snow -ar 9:16 -fps 12 -seed 7"), model=model, member_id="42",
                  input_keys={"image": "inputs/x/image.png"}, max_bytes=8_000_000)
    when = utcnow() - timedelta(seconds=age_s)
    await store.add(id=job.clip_id, task=job.task.value, prompt=job.prompt, flags=job.flags, seed=job.seed,
                    model=model, author_id="42", status=status, input_keys=job.input_keys, max_bytes=job.max_bytes,
                    created_at=when, updated_at=when)
    return job


async def run_arq(url: str) -> list[dict]:
    """arq's own worker loop, in burst mode, over the model's queue: the payloads it ran."""
    calls = []

    async def render_clip(_ctx, payload):
        calls.append(payload)
        return "done"

    worker = Worker(functions=[func(render_clip, name=RENDER_FUNCTION)], queue_name=queue_name(MODEL),
                    redis_settings=redis_settings(url), burst=True, poll_delay=0.01, handle_signals=False)
    try:
        await worker.async_run()
    finally:
        await worker.close()
    return calls


def same_job(payload: dict, job) -> bool:
    keys = ("clip_id", "model", "task", "prompt", "flags", "seed", "member_id", "input_keys", "max_bytes")
    return all(payload[k] == job.model_dump(mode="json")[k] for k in keys)


async def outcomes(redis, clip_id: str) -> list[Outcome]:
    found = [Outcome.model_validate_json(f[b"outcome"]) for _, f in await redis.xrange(OUTCOMES_STREAM)]
    return [o for o in found if o.clip_id == clip_id]


async def test_a_clip_the_bot_recorded_but_never_queued_is_queued_again(world):
    job = await recorded(world.store, age_s=120)  # the bot died between its record and its enqueue
    done = await world.reconciler.reconcile()
    assert done.requeued == [job.clip_id] and not done.failed
    assert await live_jobs(world.redis, [job.clip_id]) == {job.clip_id}
    assert not await world.reconciler.reconcile()  # its job is live now: nothing more to do
    [payload] = await run_arq(world.url)
    assert same_job(payload, job)
    assert (await world.store.get(job.clip_id)).status == "queued" and await outcomes(world.redis, job.clip_id) == []


async def test_a_lost_clip_too_old_to_start_is_reported_failed_once_and_frees_the_slot(world):
    limits = MemberLimits(world.store.session, Limits(jobs_in_flight=1, cooldown_seconds=0))
    job = await recorded(world.store, age_s=2 * HOUR)
    assert (await limits.reserve("42")).reason == "in_flight"  # the lost clip holds the only slot
    assert (await world.reconciler.reconcile()).failed == [job.clip_id]
    assert not await world.reconciler.reconcile()
    [outcome] = await outcomes(world.redis, job.clip_id)  # the bot posts it, once
    assert outcome.status is Status.FAILED and outcome.error == TOO_OLD and "try again" in outcome.error
    clip = await world.store.get(job.clip_id)
    assert clip.status == "failed" and clip.error == TOO_OLD
    assert await limits.reserve("42") is None
    assert await run_arq(world.url) == []  # and nothing was queued


async def test_a_job_arq_expired_before_any_worker_started_it_is_queued_again(world):
    job = await recorded(world.store, age_s=120)
    assert await enqueue(world.redis, job)
    await world.redis.pexpire(job_key_prefix + job.clip_id, 1)  # it waited past arq's expiry
    await asyncio.sleep(0.05)
    # arq fails an expired job itself, without calling the worker's function and without an outcome.
    assert await run_arq(world.url) == []
    assert (await world.store.get(job.clip_id)).status == "queued" and not await live_jobs(world.redis, [job.clip_id])
    assert (await world.reconciler.reconcile()).requeued == [job.clip_id]
    [payload] = await run_arq(world.url)
    assert same_job(payload, job)


async def test_an_expired_job_left_in_a_queue_no_worker_serves_is_failed_and_taken_off(world):
    job = await recorded(world.store, age_s=2 * HOUR)
    assert await enqueue(world.redis, job)
    await world.redis.delete(job_key_prefix + job.clip_id)  # its data expired; no worker ever looked
    assert await world.redis.zcard(queue_name(MODEL)) == 1
    assert (await world.reconciler.reconcile()).failed == [job.clip_id]
    assert await world.redis.zcard(queue_name(MODEL)) == 0  # the queue's depth no longer counts it
    assert [o.status for o in await outcomes(world.redis, job.clip_id)] == [Status.FAILED]


async def test_live_young_finished_and_cancelled_clips(world):
    live = await recorded(world.store, age_s=2 * HOUR)
    assert await enqueue(world.redis, live)  # waiting its turn for hours is fine: its job is live
    young = await recorded(world.store, age_s=5)  # a bot may be enqueueing it right now
    lagging = await recorded(world.store, age_s=120, status="running")
    assert await publish_outcome(world.redis, Outcome(clip_id=lagging.clip_id, status=Status.DONE, model=MODEL))
    running = await recorded(world.store, age_s=120, status="running")  # its worker lost it, no outcome
    cancelled = await recorded(world.store, age_s=120)
    await world.redis.set(f"reelbot:cancel:{cancelled.clip_id}", b"1")
    gone = await recorded(world.store, age_s=120, model="wan-tiny")  # no longer in the catalog

    done = await world.reconciler.reconcile()
    assert sorted(done.requeued) == [running.clip_id]
    assert sorted(done.settled) == sorted([lagging.clip_id, cancelled.clip_id])
    assert done.failed == [gone.clip_id]
    statuses = {c: (await world.store.get(c)).status for c in (live.clip_id, young.clip_id, lagging.clip_id,
                                                               running.clip_id, cancelled.clip_id, gone.clip_id)}
    assert statuses == {live.clip_id: "queued", young.clip_id: "queued", lagging.clip_id: "done",
                        running.clip_id: "queued", cancelled.clip_id: "cancelled", gone.clip_id: "failed"}
    assert "no longer served" in (await world.store.get(gone.clip_id)).error


async def test_one_leader_at_a_time(world):
    other = Reconciler(world.redis, world.store, catalog=[MODEL])
    assert await world.reconciler.lead() and not await other.lead()
    assert await world.reconciler.lead() and not await other.lead()  # the leader renews its lock
    await world.reconciler.lock.release()
    assert await other.lead() and not await world.reconciler.lead()

    # The loop: the leader queues a lost clip again within a pass; the other stands by.
    await other.lock.release()
    job = await recorded(world.store, age_s=120)
    stop = asyncio.Event()
    runs = [asyncio.create_task(r.run(stop)) for r in (Reconciler(world.redis, world.store, catalog=[MODEL],
                                                                  interval_s=0.05) for _ in range(2))]
    for _ in range(100):
        if await live_jobs(world.redis, [job.clip_id]):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*runs)
    assert await live_jobs(world.redis, [job.clip_id]) and not await world.redis.exists("reelbot:reconciler")


async def test_a_finished_clip_whose_outcome_a_failover_lost_is_published_again_once(world):
    """The worker published the outcome, recorded the clip done, and Redis failed over to a
    replica that never got the outcome: no post is coming unless it is published again."""
    job = await recorded(world.store, age_s=300)
    finished = utcnow() - timedelta(seconds=120)
    await world.store.transition(job.clip_id, Status.RUNNING)
    await world.store.transition(job.clip_id, Status.DONE, video_key="clips/x/clip.mp4", fps=12, num_frames=24,
                                 width=320, height=576, timings={"render": 1.5, "gpu": 1.6}, finished_at=finished)
    async with world.store.session.begin() as s:  # made in a channel, as the bot records it
        await s.execute(update(Clip).where(Clip.id == job.clip_id).values(channel_id="7", finished_at=finished))
    done = await world.reconciler.reconcile()
    assert done.republished == [job.clip_id]
    [outcome] = await outcomes(world.redis, job.clip_id)
    assert outcome.recovered and outcome.status is Status.DONE and outcome.video_key == "clips/x/clip.mp4"
    assert (outcome.fps, outcome.num_frames, outcome.timings.gpu) == (12, 24, 1.6)
    assert not await world.reconciler.reconcile()  # its outcome is out now: the bot posts it, once
    # One whose outcome is still in Redis (the bot is on it, or it could post it nowhere) is left alone.
    other = await recorded(world.store, age_s=300)
    await world.store.transition(other.clip_id, Status.FAILED, error="boom", finished_at=finished)
    async with world.store.session.begin() as s:
        await s.execute(update(Clip).where(Clip.id == other.clip_id).values(channel_id="7", finished_at=finished))
    assert await publish_outcome(world.redis, Outcome(clip_id=other.clip_id, status=Status.FAILED, error="boom"))
    assert not await world.reconciler.reconcile()
