"""Writes a Redis failover can lose, one at a time. Replication to the replica is asynchronous,
so the primary's last writes may never reach the one promoted: an enqueue, a lease, an
outcome, an ack. Each test makes one such write vanish, exactly as a promoted replica that
missed it would show it, and the clip must still be posted exactly once, through the
reconciler and the outcomes consumer, with no process dying."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.contract import OUTCOMES_GROUP, OUTCOMES_STREAM, outcome_key, queue_name
from core.queue import IN_PROGRESS_PREFIX
from core.reconcile import Reconciler
from tests.test_bot_faults import LONG, SHORT, posted_once, wait_running
from tests.test_bot_world import BotWorld, clip_id_of

pytestmark = pytest.mark.slow


@pytest.fixture
async def world(postgres_server, models_dir, tmp_path):
    from core.catalog import get_model
    from inference.loading import resolve_source
    from tests.servers import free_port

    resolve_source(get_model("ltx-tiny"), None, models_dir)
    w = BotWorld(tmp_path, postgres_server.new_database(f"lost_{free_port()}"), models_dir,
                 REELBOT_MODEL_STEPS='{"ltx-tiny": 250}')
    await w.start(workers=0)
    # The exporter's reconciler, with no grace period: the tests say when a pass runs.
    w.reconciler = Reconciler(w.redis, w.store, catalog=["ltx-tiny"], grace_s=0)
    yield w
    assert [p for p in [w.bot, *w.workers] if p.proc.poll() is not None and p.proc.returncode not in (0, -15)] == []
    assert w.sim.duplicate_posts() == [] and w.sim.violations == [], w.logs()
    await w.close()


async def delivered_after(world, clip_id: str, since: float) -> float:
    await posted_once(world, clip_id, settle=2, record_within=30)
    return time.monotonic() - since


async def test_a_lost_enqueue_is_queued_again_by_the_reconciler(world):
    _ix, status = await world.create(world.member("enqueued"), f"its enqueue is lost {SHORT}")
    clip_id = clip_id_of(status)
    from arq.constants import job_key_prefix

    # What a promoted replica that missed the enqueue holds: no job, no queue entry.
    await world.redis.delete(job_key_prefix + clip_id)
    await world.redis.zrem(queue_name("ltx-tiny"), clip_id)
    await world.start_worker()
    lost = time.monotonic()
    assert (await world.reconciler.reconcile()).requeued == [clip_id]
    print(f"\nFAULT lost enqueue: delivered {await delivered_after(world, clip_id, lost):.1f} s after the pass")


async def test_a_lost_lease_lets_a_second_worker_in_and_the_clip_is_still_posted_once(world):
    await world.start_worker()
    await world.start_worker()
    _ix, status = await world.create(world.member("leased"), f"its lease is lost {LONG}")
    clip_id = clip_id_of(status)
    await wait_running(world, clip_id)
    lost = time.monotonic()
    await world.redis.delete(IN_PROGRESS_PREFIX + clip_id)  # the replica never saw the worker take it
    print(f"\nFAULT lost lease: delivered {await delivered_after(world, clip_id, lost):.1f} s after the loss")
    assert (await world.store.get(clip_id)).status == "done"


async def test_a_clip_recorded_done_whose_outcome_was_lost_is_posted_once(world):
    """'Done but unposted': the worker published the outcome and recorded the clip; the
    failover kept the record (SQL) but not the outcome (Redis). The bot was down meanwhile."""
    _ix, status = await world.create(world.member("unposted"), f"its outcome is lost {SHORT}")
    clip_id = clip_id_of(status)

    async def set_up():
        return (await world.store.get(clip_id)).status_message_id

    await world.sim.wait_for(set_up, 15)
    world.bot.stop()
    await world.start_worker()

    async def done():
        return (await world.store.get(clip_id)).status == "done"

    await world.sim.wait_for(done, 60)
    entries = [mid for mid, fields in await world.redis.xrange(OUTCOMES_STREAM) if clip_id.encode() in fields[b"outcome"]]
    await world.redis.xdel(OUTCOMES_STREAM, *entries)
    await world.redis.delete(outcome_key(clip_id))
    await world.start_bot()
    await asyncio.sleep(3)
    assert world.posts_of(clip_id) == []  # nothing left in Redis to post it from
    lost = time.monotonic()
    assert (await world.reconciler.reconcile()).republished == [clip_id]
    print(f"\nFAULT lost outcome: delivered {await delivered_after(world, clip_id, lost):.1f} s after the pass")
    await world.sim.wait_for(lambda: world.sim.message(status.id).content.startswith("Done"), 15)
    assert not await world.reconciler.reconcile()


async def test_a_lost_ack_hands_back_a_posted_outcome_that_is_acked_not_posted_again(world):
    await world.start_worker()
    _ix, status = await world.create(world.member("acked"), f"its ack is lost {SHORT}")
    clip_id = clip_id_of(status)
    await posted_once(world, clip_id, settle=0)
    # The promoted replica has the outcome but not the bot's ack: pending for the bot again.
    [(mid, fields)] = [(m, f) for m, f in await world.redis.xrange(OUTCOMES_STREAM) if clip_id.encode() in f[b"outcome"]]
    await world.redis.xadd(OUTCOMES_STREAM, fields)
    await world.redis.xreadgroup(OUTCOMES_GROUP, world.env.get("REELBOT_BOT_CONSUMER", "bot"),
                                 {OUTCOMES_STREAM: ">"}, count=10)
    assert (await world.redis.xpending(OUTCOMES_STREAM, OUTCOMES_GROUP))["pending"] == 1
    lost = time.monotonic()
    await world.redis.client_kill_filter(_type="normal", skipme=True)  # the failover cuts every connection

    async def acked():
        return (await world.redis.xpending(OUTCOMES_STREAM, OUTCOMES_GROUP))["pending"] == 0

    await world.sim.wait_for(acked, 30)
    print(f"\nFAULT lost ack: acked again {time.monotonic() - lost:.1f} s after the failover, not posted again")
    await asyncio.sleep(2)
    assert len(world.posts_of(clip_id)) == 1
