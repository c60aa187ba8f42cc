"""A Redis restart in the middle of arq's claim of a job: the claim WATCHes the job's
in-progress key, and redis-py turns the lost connection into a WatchError ("A ConnectionError
occurred on while watching one or more keys"), which is not a ConnectionError. The worker
must ride it out like any other outage and claim the job after, not exit."""

import asyncio

from arq import func
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from core.queue import RenderWorker, lazy_pool
from worker.admission import Admission
from worker.main import _keep_polling
from worker.outage import redis_outage


def lose_the_connection_once_while_watching(monkeypatch, killer: Redis):
    """Kill the claim's connection right after its WATCH, from the server side, once."""
    watch = Pipeline.watch
    lost = []

    async def watch_then_lose(self, *names):
        result = await watch(self, *names)
        if not lost:
            lost.append(names)
            own_id = await self.immediate_execute_command("CLIENT", "ID")
            await killer.client_kill_filter(_id=own_id)
        return result

    monkeypatch.setattr(Pipeline, "watch", watch_then_lose)
    return lost


async def test_a_claim_whose_watch_loses_its_connection_is_ridden_out_and_the_job_still_runs(
        redis, redis_server, monkeypatch):
    ran = []

    async def job(ctx, payload):
        ran.append(payload)
        return "done"

    pool = lazy_pool(redis_server.url)
    await pool.enqueue_job("job", {"clip": "c1"}, _job_id="c1", _queue_name="q")
    lost = lose_the_connection_once_while_watching(monkeypatch, redis)
    watch, stopping = redis_outage(), asyncio.Event()
    worker = RenderWorker(functions=[func(job, name="job")], queue_name="q", redis_pool=pool, burst=True,
                          poll_delay=0.05, handle_signals=False, admission=Admission(pipelining=False),
                          lease_s=5)
    try:
        await asyncio.wait_for(_keep_polling(worker, watch, stopping), timeout=30)
    finally:
        await pool.aclose()
    assert lost, "the claim never WATCHed: arq's claim changed, this test no longer covers it"
    assert ran == [{"clip": "c1"}]
    assert watch.down_since is None  # the outage was noticed and is over
