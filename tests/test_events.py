import asyncio


from core.contract import OUTCOMES_STREAM, Outcome, Progress, Status, outcome_key
from core.events import OutcomeReader, publish_outcome, read_progress, report_progress


async def test_an_offline_consumer_gets_every_outcome_once(redis):
    for i in range(5):  # the bot is down while five jobs finish
        assert await publish_outcome(redis, Outcome(clip_id=f"c{i}", status=Status.DONE))
    reader = OutcomeReader(redis, "bot-1")
    await reader.ensure_group()
    got = await reader.read(block_ms=100)
    assert sorted(o.clip_id for _, o in got) == [f"c{i}" for i in range(5)]
    # Not acked yet: a restart of the same consumer re-reads them (delivery is acked after posting).
    again = await OutcomeReader(redis, "bot-1").read(block_ms=100)
    assert [m for m, _ in again] == [m for m, _ in got]
    for mid, _ in got:
        await reader.ack(mid)
    assert await reader.read(block_ms=100) == []


async def test_outcome_is_published_once_per_clip(redis):
    assert await publish_outcome(redis, Outcome(clip_id="x", status=Status.DONE))
    assert not await publish_outcome(redis, Outcome(clip_id="x", status=Status.FAILED, error="late"))
    assert await redis.xlen(OUTCOMES_STREAM) == 1
    assert b'"done"' in await redis.get(outcome_key("x"))


async def test_stale_entries_of_a_dead_consumer_are_claimed(redis):
    await publish_outcome(redis, Outcome(clip_id="d1", status=Status.DONE))
    dead = OutcomeReader(redis, "bot-dead")
    await dead.ensure_group()
    assert len(await dead.read(block_ms=100)) == 1  # read, then the process died before acking
    alive = OutcomeReader(redis, "bot-alive")
    await asyncio.sleep(0.05)
    claimed = await alive.claim_stale(idle_ms=10)
    assert [o.clip_id for _, o in claimed] == ["d1"]


async def test_progress_latest_value_and_feed(redis):
    pubsub = redis.pubsub()
    await pubsub.subscribe("reelbot:progress")
    await pubsub.get_message(timeout=1)
    assert not await report_progress(redis, Progress(clip_id="p", step=3, total=8))
    latest = await read_progress(redis, "p")
    assert (latest.step, latest.total, latest.fraction) == (3, 8, 3 / 8)
    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
    assert Progress.model_validate_json(msg["data"]).step == 3
    await redis.set("reelbot:cancel:p", 1)
    assert await report_progress(redis, Progress(clip_id="p", step=4, total=8))  # the step sees the cancel
    await pubsub.aclose()
