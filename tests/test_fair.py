"""The fair order (core/fair.py) on a real redis-server, through core/queue.py as the bot and
the reconciler use it, and through arq's own Worker where arq decides (its poll, Retry, a
hand-back): tags rise per server and per member, a new server starts at the queue's virtual
time, scores stay in (0, now] with a positive data TTL, a retried, handed-back or re-queued
clip keeps its place, a cancel gives its share back, and bot shards tagging at once agree."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time

import pytest
from redis.asyncio import Redis

from core import fair
from core.contract import QueueTicket, RenderJob, queue_name
from core.queue import (IN_PROGRESS_PREFIX, RENDER_FUNCTION, cancel, connect, enqueue, finished, queue_view,
                        requeue, retry_in_place, started)

MODEL = "ltx-tiny"
COST_S = 10.0
_ids = itertools.count()


@pytest.fixture
async def redis(redis_server):
    r = await connect(redis_server.url)
    await r.flushdb()
    yield r
    await r.flushdb()
    await r.close(close_connection_pool=True)


def job(server: str | None, member: str, *, lane: str = "fast", priority: str = "normal", weight: float = 1.0,
        cost_s: float = COST_S, clip_id: str | None = None) -> RenderJob:
    # Clip ids sort by creation, as core.contract.new_clip_id's do (ties between equal scores go by id).
    return RenderJob(clip_id=clip_id or f"c{next(_ids):06d}", model=MODEL, prompt="a fox", seed=1, member_id=member,
                     ticket=QueueTicket(guild_id=server, lane=lane, priority=priority, weight=weight, cost_s=cost_s))


async def queue_order(redis) -> list[str]:
    return [cid.decode() for cid in await redis.zrange(queue_name(MODEL), 0, -1)]


async def tag_of(redis, clip_id: str) -> int:
    return (await fair.record_of(redis, MODEL, clip_id))["t"]


async def score_of(redis, clip_id: str) -> float:
    return await redis.zscore(queue_name(MODEL), clip_id)


async def queue(redis, *jobs: RenderJob, policy: fair.Policy = fair.Policy()) -> list[RenderJob]:
    for j in jobs:
        assert await enqueue(redis, j, policy)
    return list(jobs)


class FakeStore:
    """The clip store, as `cancel` asks it: nothing recorded final yet, outcomes kept."""

    def __init__(self):
        self.outcomes = []

    async def get(self, clip_id):
        return None

    async def record_outcome(self, outcome):
        self.outcomes.append(outcome)


# --- the tags ----------------------------------------------------------------------------

async def test_tags_rise_per_server_and_per_member(redis):
    a = await queue(redis, job("A", "a1"), job("A", "a1"), job("A", "a2"), job("A", "a1"))
    b = await queue(redis, job("B", "b1", weight=2.0), job("B", "b1", weight=2.0), job("B", "b1", weight=2.0))
    step = int(COST_S * 1000)
    v = await fair.virtual_time(redis, MODEL)
    # Server A's slots rise by one clip's cost each, B's (weight 2) by half of it, both from V.
    assert sorted([await tag_of(redis, j.clip_id) for j in a]) == [v, v + step, v + 2 * step, v + 3 * step]
    assert [await tag_of(redis, j.clip_id) for j in b] == [v, v + step // 2, v + step]
    # Within A, a1's member tags rise clip by clip; a2, who had none, starts at the server's time.
    members = [(await fair.record_of(redis, MODEL, j.clip_id))["m"] for j in a]
    assert members == [0, step, 0, 2 * step]
    # So a2's clip takes A's second slot and a1's second clip moves back: members alternate.
    assert [cid for cid in await queue_order(redis) if cid in {j.clip_id for j in a}] == \
        [a[0].clip_id, a[2].clip_id, a[1].clip_id, a[3].clip_id]
    # Scores follow the tags, so arq serves A and B interleaved, B twice as often.
    assert await queue_order(redis) == [a[0].clip_id, b[0].clip_id, b[1].clip_id, a[2].clip_id, b[2].clip_id,
                                        a[1].clip_id, a[3].clip_id]


async def test_a_new_server_starts_at_the_current_virtual_time(redis):
    flood = await queue(redis, *(job("A", f"a{i % 4}") for i in range(12)))
    for j in flood[:3]:  # workers took A's first three: V moves up to the third's slot
        await redis.set(IN_PROGRESS_PREFIX + j.clip_id, b"1")
        await started(redis, MODEL, j.clip_id)
    v = await fair.virtual_time(redis, MODEL)
    assert v == await tag_of(redis, flood[2].clip_id)
    [small] = await queue(redis, job("B", "b1"))
    assert await tag_of(redis, small.clip_id) == v
    view = await queue_view(redis, MODEL, [small.clip_id, flood[3].clip_id])
    assert view.clips[small.clip_id].ahead == 0  # next, not behind A's nine waiting clips
    assert view.clips[flood[3].clip_id].ahead == 1  # and A's next one now waits one clip longer
    assert (view.depth, view.running, view.fast, view.relax) == (13, 3, 10, 0)


async def test_within_a_server_a_member_with_one_clip_is_not_behind_anothers_many(redis):
    many = await queue(redis, *(job("A", "heavy") for _ in range(5)))
    [one] = await queue(redis, job("A", "light"))
    order = await queue_order(redis)
    assert order.index(one.clip_id) == 1  # right after heavy's first: the server's slots in member order
    assert order == [many[0].clip_id, one.clip_id, *(j.clip_id for j in many[1:])]
    # The server as a whole still only has its own slots: another server is not pushed back.
    [other] = await queue(redis, job("B", "b1"))
    assert (await queue_order(redis)).index(other.clip_id) <= 1


async def test_scores_stay_in_0_now_with_a_positive_data_ttl(redis):
    # A flood whose virtual finish runs far past real time (huge costs), and a tiny weight.
    await queue(redis, *(job("A", f"a{i}", cost_s=20 * 24 * 3600.0, weight=0.5) for i in range(4)))
    await queue(redis, job("B", "b1"), job("C", "c1", lane="relax"), job("D", "d1", priority="high"))
    now_ms = time.time() * 1000
    scores = await redis.zrange(queue_name(MODEL), 0, -1, withscores=True)
    assert len(scores) == 7 and all(0 < score <= now_ms for _, score in scores), scores
    for clip_id, _score in scores:
        ttl = await redis.pttl("arq:job:" + clip_id.decode())
        assert 23 * 3600 * 1000 < ttl <= 24 * 3600 * 1000  # a day from now, never short or negative (arq #447)
    # Every one of them is what arq's poll takes now: ZRANGEBYSCORE … max=now.
    due = await redis.zrangebyscore(queue_name(MODEL), min=float("-inf"), max=now_ms)
    assert len(due) == 7


async def test_relax_waits_behind_fast_ones_by_a_bounded_offset_only(redis):
    policy = fair.Policy(relax_behind_clips=3)
    [relax] = await queue(redis, job("R", "r1", lane="relax"), policy=policy)
    fast = await queue(redis, *(job(f"S{i}", f"s{i}") for i in range(2)), policy=policy)
    order = await queue_order(redis)
    assert order.index(relax.clip_id) == 2  # fast clips queued after it go first
    # Work goes on: V passes the relax clip's place, and fast clips queued from then on are behind it.
    blocker = await queue(redis, *(job("T", "t1") for _ in range(5)), policy=policy)
    for j in blocker[:4]:
        await redis.set(IN_PROGRESS_PREFIX + j.clip_id, b"1")
        await started(redis, MODEL, j.clip_id)
    [late] = await queue(redis, job("U", "u1"), policy=policy)
    order = await queue_order(redis)
    assert order.index(relax.clip_id) < order.index(late.clip_id)
    view = await queue_view(redis, MODEL)
    assert (view.fast, view.relax) == (4, 1)
    assert fast  # (queued ahead of it above)


async def test_a_priority_clip_starts_its_head_start_ahead_and_no_further(redis):
    policy = fair.Policy(head_start_clips=2)
    others = await queue(redis, *(job("A", f"m{i}") for i in range(5)), policy=policy)
    [vip] = await queue(redis, job("A", "vip", priority="high"), policy=policy)
    [plain] = await queue(redis, job("A", "plain"), policy=policy)
    order = await queue_order(redis)
    # Without the head start the vip's clip would be sixth (a new member ties with the others'
    # first clips, by arrival); with it, it passes exactly two of them.
    assert order.index(vip.clip_id) == 3
    assert order.index(plain.clip_id) == 6
    assert order[:3] == [j.clip_id for j in others[:3]]


# --- keeping its place -------------------------------------------------------------------

async def test_a_retried_job_keeps_its_score_in_arqs_own_worker(redis_server, redis):
    from arq.worker import Worker, func

    jobs = await queue(redis, job("A", "a1"), job("B", "b1"), job("C", "c1"))
    before = {j.clip_id: await score_of(redis, j.clip_id) for j in jobs}
    seen: list[tuple[str, int, float]] = []

    async def render_clip(ctx, payload):
        clip_id = payload["clip_id"]
        seen.append((clip_id, ctx["job_try"], await redis.zscore(queue_name(MODEL), clip_id)))
        if ctx["job_try"] == 1 and clip_id == jobs[0].clip_id:
            raise retry_in_place()  # a transient fault: tried again at its own place
        return "done"

    worker = Worker(functions=[func(render_clip, name=RENDER_FUNCTION)], queue_name=queue_name(MODEL),
                    redis_settings=None, redis_pool=await connect(redis_server.url), burst=True, poll_delay=0.01,
                    max_jobs=1, handle_signals=False)
    await worker.main()
    await worker.close()
    tries = [(cid, n) for cid, n, _ in seen]
    assert tries[:2] == [(jobs[0].clip_id, 1), (jobs[0].clip_id, 2)]  # again at once: still first in line
    assert all(score == before[cid] for cid, _, score in seen)  # the same score on every try
    assert len(seen) == 4 and await redis.zcard(queue_name(MODEL)) == 0


async def test_a_job_handed_back_by_a_stopped_worker_keeps_its_place(redis_server, redis):
    from arq.worker import Worker, func

    jobs = await queue(redis, job("A", "a1"), job("B", "b1"))
    before = await score_of(redis, jobs[0].clip_id)
    running = asyncio.Event()

    async def render_clip(ctx, payload):
        running.set()
        await asyncio.sleep(60)

    worker = Worker(functions=[func(render_clip, name=RENDER_FUNCTION)], queue_name=queue_name(MODEL),
                    redis_settings=None, redis_pool=await connect(redis_server.url), poll_delay=0.01, max_jobs=1,
                    handle_signals=False)
    task = asyncio.create_task(worker.main())
    await asyncio.wait_for(running.wait(), 10)
    await worker.close()  # a stop: arq cancels the job and leaves it on the queue ("will be run again")
    task.cancel()
    assert await score_of(redis, jobs[0].clip_id) == before
    assert not await redis.exists(IN_PROGRESS_PREFIX + jobs[0].clip_id)
    assert await queue_order(redis) == [jobs[0].clip_id, jobs[1].clip_id]
    # A killed worker leaves its in-progress key to expire: the score was never touched either.
    await redis.set(IN_PROGRESS_PREFIX + jobs[1].clip_id, b"1", px=50)
    await asyncio.sleep(0.1)
    assert (await queue_view(redis, MODEL, [jobs[1].clip_id])).clips[jobs[1].clip_id].ahead == 1


async def test_the_reconciler_queues_a_lost_job_again_at_its_place(redis):
    jobs = await queue(redis, job("A", "a1"), job("A", "a1"), job("B", "b1"))
    lost = jobs[1]
    before = await score_of(redis, lost.clip_id)
    # arq dropped it: data expired, taken off the queue (what the reconciler finds).
    await redis.delete("arq:job:" + lost.clip_id)
    await redis.zrem(queue_name(MODEL), lost.clip_id)
    await queue(redis, job("C", "c1"))  # queued meanwhile
    assert await requeue(redis, lost)
    assert await score_of(redis, lost.clip_id) == before
    state = await redis.hgetall(fair.state_key(MODEL))
    assert int(float(state[b"s:fast:A"])) == await tag_of(redis, jobs[0].clip_id) + 2 * int(COST_S * 1000)  # not charged twice


async def test_a_cancel_gives_back_the_clips_share_and_moves_its_server_up(redis):
    a = await queue(redis, job("A", "a1"), job("A", "a1"), job("A", "a1"))
    step = int(COST_S * 1000)
    slots = [await tag_of(redis, j.clip_id) for j in a]
    state = fair.state_key(MODEL)
    assert int(float(await redis.hget(state, "s:fast:A"))) == slots[0] + 3 * step
    store = FakeStore()
    assert await cancel(redis, store, a[1].clip_id, MODEL) == "unqueued"
    assert [o.status for o in store.outcomes] == ["cancelled"]
    assert await fair.record_of(redis, MODEL, a[1].clip_id) is None
    assert int(float(await redis.hget(state, "s:fast:A"))) == slots[0] + 2 * step  # its share given back
    assert int(float(await redis.hget(state, "m:fast:A:a1"))) == 2 * step
    assert await tag_of(redis, a[2].clip_id) == slots[1]  # the clip behind it took its slot
    assert await score_of(redis, a[2].clip_id) == slots[1] - fair.HORIZON_MS  # and arq serves it there
    [next_one] = await queue(redis, job("A", "a1"))
    assert await tag_of(redis, next_one.clip_id) == slots[2]  # the server's next clip: one slot earlier


async def test_a_finished_clip_leaves_the_fair_order_and_an_idle_queue_starts_again_at_real_time(redis):
    [only] = await queue(redis, job("A", "a1", cost_s=3600.0))
    await finished(redis, MODEL, only.clip_id)
    assert await fair.record_of(redis, MODEL, only.clip_id) is None
    await redis.zrem(queue_name(MODEL), only.clip_id)  # arq's end of the job
    time.sleep(0.01)
    [again] = await queue(redis, job("A", "a1"))
    # A's hour of work is forgotten once nothing waits: its next clip starts at real time.
    assert abs(await tag_of(redis, again.clip_id) - time.time() * 1000) < 5000


async def test_shards_tagging_at_once_stay_consistent(redis_server, redis):
    shards = [Redis.from_url(redis_server.url) for _ in range(3)]
    from arq.connections import ArqRedis

    pools = [ArqRedis(connection_pool=s.connection_pool) for s in shards]
    jobs = [job(f"S{i % 4}", f"m{i % 7}") for i in range(60)]
    await asyncio.gather(*(enqueue(pools[i % 3], j) for i, j in enumerate(jobs)))
    step = int(COST_S * 1000)
    v = await fair.virtual_time(redis, MODEL)
    for server in ("S0", "S1", "S2", "S3"):
        mine = [j for j in jobs if j.ticket.guild_id == server]
        tags = sorted([await tag_of(redis, j.clip_id) for j in mine])
        assert tags == [v + k * step for k in range(len(mine))]  # every slot once, none skipped
        assert int(float(await redis.hget(fair.state_key(MODEL), f"s:fast:{server}"))) == v + len(mine) * step
        scores = [await score_of(redis, j.clip_id) for j in mine]
        records = [await fair.record_of(redis, MODEL, j.clip_id) for j in mine]
        assert sorted(scores) == sorted(r["t"] - fair.HORIZON_MS for r in records)  # arq's score is the tag
    assert await redis.zcard(queue_name(MODEL)) == 60
    for s in shards:
        await s.aclose()


# --- what arq must still be --------------------------------------------------------------

def test_arq_is_the_version_core_queue_was_read_against():
    """core/queue.py relies on arq 0.28's internals; open PR python-arq/arq#524 would split a
    queue into `:ready` and `:deferred` sets and re-score by priority. Read core/queue.py again
    before moving the pin."""
    import arq
    from arq.connections import ArqRedis
    from arq.constants import expires_extra_ms
    from arq.worker import Retry, Worker

    assert arq.VERSION == "0.28.0"
    params = inspect.signature(ArqRedis.enqueue_job).parameters
    assert {"_defer_until", "_expires", "_job_id", "_queue_name"} <= set(params)
    enqueue_src = inspect.getsource(ArqRedis.enqueue_job)
    assert "score = to_unix_ms(_defer_until)" in enqueue_src  # the score is _defer_until, as given
    assert "expires_ms = expires_ms or score - enqueue_time_ms" in enqueue_src  # why _expires is passed (#447)
    assert "zadd(_queue_name, {job_id: score})" in enqueue_src  # one sorted set per queue
    poll_src = inspect.getsource(Worker._poll_iteration)
    assert "zrangebyscore" in poll_src and "max=now" in poll_src  # lowest score first, only scores <= now
    finish_src = inspect.getsource(Worker.finish_job)
    assert "elif incr_score:" in finish_src and "zincrby" in finish_src  # a retry without defer keeps its score
    assert Retry().defer_score is None and expires_extra_ms == 86_400_000
