"""The bot when things go wrong: it restarts mid-job, a worker dies mid-job, the gateway
drops, Discord answers 500 after saving a post, the interaction token expires, SIGTERM
arrives while it posts. Every clip is still posted exactly once, and old buttons work."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time

import pytest

from bot.buttons import custom_id
from tests.test_bot_world import BotWorld, clip_id_of

pytestmark = pytest.mark.slow
_n = itertools.count()
SHORT = "-len 1 -fps 8"
LONG = "-len 10 -fps 30"  # several seconds on this world's worker: long enough to break things mid-way
POST_ROUTE = r"^/channels/\d+/messages$"


@pytest.fixture(scope="module")
async def world(postgres_server, models_dir, tiny_model, tmp_path_factory):
    w = BotWorld(tmp_path_factory.mktemp("faults"), postgres_server.new_database(f"bot_faults_{next(_n)}"),
                 models_dir, REELBOT_MODEL_STEPS='{"ltx-tiny": 250}')
    await w.start()
    yield w
    await w.close()


@pytest.fixture(autouse=True)
def checks(world):
    before = len(world.sim.violations)
    world.sim.clear_faults()
    yield
    world.sim.clear_faults()
    assert world.sim.violations[before:] == [], world.logs()
    assert world.sim.duplicate_posts() == []


async def wait_running(world, clip_id: str, timeout: float = 30) -> None:
    async def running():
        clip = await world.store.get(clip_id)
        return clip is not None and clip.status == "running"

    await world.sim.wait_for(running, timeout)


async def posted_once(world, clip_id: str, settle: float = 2.0, record_within: float = 10):
    [post] = await world.wait_post(clip_id)
    await asyncio.sleep(settle)  # a second post, if there were going to be one, would be here by now
    assert len(world.posts_of(clip_id)) == 1

    async def recorded():
        return (await world.store.get(clip_id)).result_message_id

    assert await world.sim.wait_for(recorded, record_within) == str(post.id)
    return post


async def test_bot_restart_mid_job(world):
    alice, bob = world.member("alice"), world.member("bob")
    _ix, earlier = await world.create(alice, f"made before the restart {SHORT}")
    earlier_id = clip_id_of(earlier)
    old_post = await posted_once(world, earlier_id, settle=0)

    _ix, status = await world.create(bob, f"rendering through a restart {LONG}")
    clip_id = clip_id_of(status)
    await wait_running(world, clip_id)
    world.bot.kill()  # SIGKILL: no chance to finish anything
    await world.start_bot()
    post = await posted_once(world, clip_id)
    assert post.channel_id == world.sim.thread_of(status).id
    await world.sim.wait_for(lambda: world.sim.message(status.id).content.startswith("Done"), 15)

    # Buttons on a message from before the restart still work: no view was kept in memory.
    click = await world.sim.click(bob, old_post, custom_id("upvote", earlier_id))
    await click.wait_response()
    assert world.sim.message(old_post.id).labels[4] == "1"
    click = await world.sim.click(alice, old_post, custom_id("retry", earlier_id))
    kind, retried = await world.answer(click)
    assert kind == "queued"
    await posted_once(world, retried, settle=0)


async def test_a_post_saved_by_discord_but_never_confirmed_is_adopted_not_repeated(world):
    """The worst case short of a crash: Discord saves the post but answers 500 to every one
    of discord.py's five tries, so the bot believes it failed. When it tries again it finds
    its own post in the thread (by the clip id in the footer) and records that one."""
    member = world.member("unconfirmed")
    hits = len(world.sim.faults.log)
    world.sim.fail("POST", POST_ROUTE, status=500, after_write=True, times=5)
    _ix, status = await world.create(member, f"saved but never confirmed {SHORT}")
    clip_id = clip_id_of(status)
    [orphan] = await world.sim.wait_for(lambda: world.posts_of(clip_id), 30)
    # discord.py waits 1 + 3 + 5 + 7 s between its tries; then the bot's own retry finds the post.
    post = await posted_once(world, clip_id, settle=0, record_within=45)
    assert post.id == orphan.id and len(world.sim.faults.log) - hits == 5
    await asyncio.sleep(3)  # the bot's own retry has come and gone
    assert len(world.posts_of(clip_id)) == 1


async def test_outcomes_that_finish_while_the_bot_is_down_are_posted_on_its_return(world):
    member = world.member("patient")
    _ix, status = await world.create(member, f"finished in the dark {SHORT}")
    clip_id = clip_id_of(status)
    world.bot.stop()  # SIGTERM
    await world.sim.wait_for(lambda: world.store.get(clip_id), 5)

    async def done():
        return (await world.store.get(clip_id)).status == "done"

    await world.sim.wait_for(done, 30)
    assert world.posts_of(clip_id) == []
    await world.start_bot()
    await posted_once(world, clip_id)


async def test_a_worker_killed_mid_job(world):
    member = world.member("unlucky")
    _ix, status = await world.create(member, f"a worker dies under me {LONG}")
    clip_id = clip_id_of(status)
    await wait_running(world, clip_id)
    victim = next(w for w in world.workers if w.proc.poll() is None)
    victim.kill()
    await world.start_worker()
    await posted_once(world, clip_id)
    clip = await world.store.get(clip_id)
    assert (clip.status, clip.attempts) == ("done", 2)


@pytest.mark.parametrize("resume", [True, False])
async def test_a_gateway_drop_mid_job(world, resume):
    member = world.member("dropped")
    identified, resumed = world.sim.gateway.identify_count, world.sim.gateway.resume_count
    _ix, status = await world.create(member, f"through a gateway drop {LONG}")
    clip_id = clip_id_of(status)
    await wait_running(world, clip_id)
    world.sim.drop_gateway(resume=resume)
    await posted_once(world, clip_id)
    await world.sim.wait_for(lambda: world.sim.gateway.resume_count > resumed if resume
                             else world.sim.gateway.identify_count > identified, 30)
    await world.sim.wait_connected()
    _ix, after = await world.create(world.member("next"), f"after the drop {SHORT}")
    await posted_once(world, clip_id_of(after), settle=0)


async def test_discord_answers_500_after_saving_the_final_post(world):
    member = world.member("saved")
    hits = len(world.sim.faults.log)
    world.sim.fail("POST", POST_ROUTE, status=500, after_write=True, times=1)
    _ix, status = await world.create(member, f"saved twice? {SHORT}")
    clip_id = clip_id_of(status)
    await posted_once(world, clip_id)
    assert world.sim.faults.log[hits:], "the fault never fired"
    retried = [r for r in world.sim.requests if r.method == "POST" and r.path.endswith("/messages")
               and r.fault is not None]
    assert retried, "discord.py did not meet the 500"


async def test_500_after_write_on_every_write_of_a_job(world):
    """The status message (posted with the bot token after a private defer), the edit of
    the deferred answer, the thread and the final post all fail once after writing."""
    from tests.test_attachments import image_bytes

    member = world.member("stubborn")
    world.sim.fail("POST", POST_ROUTE, status=500, after_write=True, times=2)
    world.sim.fail("PATCH", r"/webhooks/\d+/[^/]+/messages/@original$", status=502, after_write=True, times=1)
    world.sim.fail("POST", r"/threads$", status=500, after_write=True, times=1)
    ix = await world.slash(member, "animate", {"prompt": f"a stubborn fox {SHORT}"},
                           attachments={"image": ("fox.png", image_bytes("PNG", (96, 64)), "image/png")})
    kind, clip_id = await world.answer(ix)
    assert kind == "queued"
    await posted_once(world, clip_id)
    statuses = [m for m in world.sim.messages(world.channel) if clip_id_of(m) == clip_id]
    assert len(statuses) == 1


async def test_a_job_that_outlives_the_interaction_token_is_still_delivered(world):
    member = world.member("slowpoke")
    _ix, status = await world.create(member, f"longer than fifteen minutes {LONG}")
    clip_id = clip_id_of(status)
    world.sim.clock_offset += 16 * 60  # the interaction token is dead from here on
    try:
        post = await posted_once(world, clip_id)
        assert post.attachments
        await world.sim.wait_for(lambda: world.sim.message(status.id).content.startswith("Done"), 15)
    finally:
        world.sim.clock_offset -= 16 * 60


async def test_sigterm_finishes_the_post_in_hand_then_exits(world):
    member = world.member("draining")
    hits = len(world.sim.faults.log)
    world.sim.slow("POST", POST_ROUTE, seconds=3, times=1)
    _ix, status = await world.create(member, f"posted while stopping {SHORT}")
    clip_id = clip_id_of(status)
    await world.sim.wait_for(lambda: world.sim.faults.log[hits:], 30)
    bot = world.bot
    bot.proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    await asyncio.sleep(0.3)
    late = await world.slash(world.member("late"), "create", {"prompt": f"too late {SHORT}"})
    kind, text = await world.answer(late)
    assert kind == "refused" and "restarting" in text  # no new work while draining
    code = await asyncio.to_thread(bot.proc.wait, 30)
    assert code == 0 and time.monotonic() - started >= 1.0, world.bot_logs()
    assert len(world.posts_of(clip_id)) == 1  # finished before exiting
    bot.log.close()
    await world.start_bot()
    await posted_once(world, clip_id)  # and not posted again on return


async def test_a_rate_limited_final_post_is_sent_once_after_waiting(world):
    member = world.member("limited")
    world.sim.rate_limit("POST", POST_ROUTE, retry_after=1.0, times=2)
    _ix, status = await world.create(member, f"wait your turn {SHORT}")
    await posted_once(world, clip_id_of(status))


async def test_a_bot_killed_while_posting_posts_within_seconds_of_its_return(world):
    """Killed mid-post, the bot leaves the clip's posting lock behind; the process that
    comes back under the same consumer name takes that lock over at once (it was its own),
    instead of waiting out its lifetime, and the clip is posted (or its post adopted) and the
    status says Done within seconds of the bot being ready."""
    member = world.member("interrupted")
    hits = len(world.sim.faults.log)
    world.sim.slow("POST", POST_ROUTE, seconds=1, times=1)  # the final post: the bot holds its lock
    _ix, status = await world.create(member, f"posted across a kill {SHORT}")
    clip_id = clip_id_of(status)
    await world.sim.wait_for(lambda: world.sim.faults.log[hits:], 30)
    world.bot.kill()
    await world.start_bot()
    ready = time.monotonic()

    async def recorded():
        return (await world.store.get(clip_id)).result_message_id

    await world.sim.wait_for(recorded, 10)
    await world.sim.wait_for(lambda: world.sim.message(status.id).content.startswith("Done"), 10)
    took = time.monotonic() - ready
    assert took < 10
    await posted_once(world, clip_id, settle=3)
    print(f"\nFAULT bot killed while posting: posted once, Done {took:.1f} s after the bot was back")
