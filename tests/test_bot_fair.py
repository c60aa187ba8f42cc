"""The fair queue end to end, through the real discord.py client against discordsim with two
servers: the `reelbot bot` process, one `reelbot worker` with the tiny model, Redis and
PostgreSQL. The worker is paused (SIGSTOP, idle) while a test queues clips, so the order
is decided before anything runs; resumed, it renders them one at a time in that order,
which the clips' start times in the database show.

What members see: a clip of a quiet server goes ahead of a flooding server's backlog; a
status message whose "ahead" count rises says so; relax clips wait behind fast ones and
are still delivered; a priority:high role goes ahead by its bounded head start only; a
tier's raised in-flight cap holds against commands sent at once; spent fast time moves a
clip to relax and its status says so."""

from __future__ import annotations

import asyncio
import itertools
import re
import signal

import pytest
from sqlalchemy import select

from core.queue import queue_view
from core.tables import Clip
from tests.test_bot_world import BotWorld, clip_id_of, no_violations  # noqa: F401 (autouse)

pytestmark = pytest.mark.slow
_n = itertools.count()
SHORT = "-len 1 -fps 8"
MODEL = "ltx-tiny"


@pytest.fixture(scope="module")
async def world(postgres_server, models_dir, tiny_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fair")
    w = BotWorld(tmp, postgres_server.new_database(f"bot_fair_{next(_n)}"), models_dir,
                 REELBOT_MODEL_STEPS='{"ltx-tiny": 2}', REELBOT_JOBS_IN_FLIGHT="3", REELBOT_JOBS_PER_DAY="100",
                 REELBOT_PRIORITY_HEAD_START_CLIPS="2", REELBOT_RELAX_BEHIND_CLIPS="8")
    await w.start(workers=1)
    w.second = w.sim.add_guild("Second Server")  # the bot is in both; its commands are global
    w.second_channel = w.sim.add_channel(w.second, "general")
    hello = w.sim.add_member(w.second, "hello")
    await w.slash(hello, "help", channel=w.second_channel)  # the bot answers there: it has the server
    yield w
    resume(w)
    await w.close()


def pause(world) -> None:
    world.workers[0].proc.send_signal(signal.SIGSTOP)


def resume(world) -> None:
    world.workers[0].proc.send_signal(signal.SIGCONT)


async def idle_then_pause(world) -> None:
    """Pause the worker once the queue is empty (it holds nothing, so nothing is half done)."""
    async def empty():
        return (await queue_view(world.redis, MODEL)).depth == 0

    await world.sim.wait_for(empty, 60)
    pause(world)


@pytest.fixture
async def paused(world):
    await idle_then_pause(world)
    yield
    resume(world)
    await idle_then_pause(world)
    resume(world)


def member_of(world, guild, prefix: str, **perms):
    return world.sim.add_member(guild, f"{prefix}{next(_n)}", **perms)


async def queued(world, member, prompt: str = f"a fox {SHORT}", channel=None) -> tuple[str, object]:
    ix = await world.slash(member, "create", {"prompt": prompt}, channel=channel)
    status = await world.status_message(ix)
    return clip_id_of(status), status


def place_of(message) -> int:
    return int(re.search(r"position (\d+)", message.content).group(1))


async def render_order(world, clip_ids: list[str]) -> list[str]:
    """Resume the worker, wait for every clip to be posted, and give them in the order they started."""
    resume(world)
    for clip_id in clip_ids:
        await world.wait_post(clip_id, timeout=120)
    async with world.store.session() as s:
        rows = (await s.execute(select(Clip.id, Clip.started_at).where(Clip.id.in_(clip_ids)))).all()
    return [clip_id for clip_id, _ in sorted(rows, key=lambda row: row[1])]


async def test_a_flooding_server_does_not_delay_the_other_servers_clip_beyond_one_render(world, paused):
    flood = []
    for _ in range(4):  # a busy server: four members at their cap of three
        member = member_of(world, world.guild, "flood")
        for _ in range(3):
            flood.append((await queued(world, member))[0])
    quiet, status = await queued(world, member_of(world, world.second, "quiet"), channel=world.second_channel)
    assert place_of(status) == 2 and "1 clip ahead" in status.content  # not 13th, as first come first served
    order = await render_order(world, [*flood, quiet])
    assert order.index(quiet) == 1  # after the one flood clip ahead of it, never behind the rest
    assert order[0] == flood[0]


async def test_the_ahead_count_rises_when_a_fairer_clip_goes_ahead_and_says_so(world, paused):
    a1, a2 = member_of(world, world.guild, "busy"), member_of(world, world.guild, "busy")
    clips = [await queued(world, a1) for _ in range(3)]
    last, last_status = clips[2]  # a1's third clip
    assert place_of(last_status) == 3

    def shows(position: int):
        def check():
            text = world.sim.message(last_status.id).content
            return text if f"position {position} " in text else None
        return check

    # A second member of the same server: their first two clips go before a1's third.
    clips += [await queued(world, a2) for _ in range(3)]
    text = await world.sim.wait_for(shows(5), 15)
    assert "4 clips ahead" in text and "2 more ahead than before" in text and "fair queue" in text
    # A quiet server's clip: one more ahead again, and the message still says why.
    newcomer, status = await queued(world, member_of(world, world.second, "new"), channel=world.second_channel)
    assert place_of(status) == 2
    text = await world.sim.wait_for(shows(6), 15)
    assert "5 clips ahead" in text and "3 more ahead than before" in text
    await render_order(world, [c for c, _ in clips] + [newcomer])


async def test_a_relax_clip_waits_behind_fast_ones_and_is_still_delivered(world, paused):
    relaxed, status = await queued(world, member_of(world, world.guild, "slow"), f"a slow fox {SHORT} -relax")
    assert status.content.startswith("Queued · relax")
    # /settings lane makes relax the member's default; a -fast in the prompt still wins.
    patient = member_of(world, world.guild, "patient")
    ix = await world.slash(patient, "settings", {"lane": "relax"})
    assert "`-relax`" in await world.private_text(ix)
    by_default, default_status = await queued(world, patient, f"a patient fox {SHORT}")
    assert default_status.content.startswith("Queued · relax")
    fast = [(await queued(world, member_of(world, world.second, "quick"), channel=world.second_channel))[0],
            (await queued(world, member_of(world, world.guild, "quick")))[0],
            (await queued(world, member_of(world, world.second, "quick"), channel=world.second_channel))[0]]
    ix = await world.slash(member_of(world, world.guild, "look"), "queue")
    text = await world.private_text(ix)
    assert re.search(rf"`{MODEL}[^`]*`: 3 waiting fast · 2 waiting relax", text), text
    order = await render_order(world, [relaxed, by_default, *fast])
    assert order[-2:] == [relaxed, by_default]  # queued first, rendered after the fast clips queued behind them
    [post] = world.posts_of(relaxed)  # and delivered like any clip
    async with world.store.session() as s:
        assert (await s.get(Clip, relaxed)).lane == "relax" and (await s.get(Clip, fast[0])).lane == "fast"
    assert post.attachments


async def test_a_priority_role_goes_ahead_by_its_bounded_head_start_only(world, paused):
    admin = member_of(world, world.guild, "owner", manage_guild=True)
    vip_role = world.sim.add_role(world.guild, "VIP")
    ix = await world.slash(admin, "admin", {"role": vip_role, "priority": "high"}, subcommand="tier")
    assert "priority high" in await world.private_text(ix)
    vip = world.sim.assign_role(member_of(world, world.guild, "vip"), vip_role)
    others = [(await queued(world, member_of(world, world.guild, "fan")))[0] for _ in range(5)]
    mine, status = await queued(world, vip)
    assert place_of(status) == 4  # two clips' head start: ahead of two, not of all five
    plain, plain_status = await queued(world, member_of(world, world.guild, "fan"))
    assert place_of(plain_status) == 7
    ix = await world.slash(vip, "me")
    assert "Tier: VIP · priority high" in await world.private_text(ix)
    order = await render_order(world, [*others, mine, plain])
    assert order.index(mine) == 3 and order[-1] == plain


async def test_a_tiers_raised_in_flight_cap_holds_atomically(world, paused):
    admin = member_of(world, world.second, "owner", manage_guild=True)
    supporter_role = world.sim.add_role(world.second, "Supporter")
    ix = await world.slash(admin, "admin", {"role": supporter_role, "in_flight": 5}, subcommand="tier",
                           channel=world.second_channel)
    assert "5 in flight" in await world.private_text(ix)
    supporter = world.sim.assign_role(member_of(world, world.second, "fan"), supporter_role)
    sent = await asyncio.gather(*(world.sim.slash(supporter, world.second_channel, "create",
                                                  {"prompt": f"fox number {i} {SHORT}"}) for i in range(8)))
    answers = [await world.answer(ix) for ix in sent]
    queued_ids = [value for kind, value in answers if kind == "queued"]
    refusals = [value for kind, value in answers if kind == "refused"]
    assert len(queued_ids) == 5 and len(refusals) == 3
    assert all("the limit is 5" in text for text in refusals), refusals
    # The tier is this server's: in the first server the same person has the default cap.
    same_person = world.sim.add_member(world.guild, supporter.name, user=supporter.user)
    ix = await world.slash(same_person, "me")
    assert "In flight: 5 of 3" in await world.private_text(ix)
    ix = await world.slash(admin, "admin", {}, subcommand="tiers", channel=world.second_channel)
    assert f"<@&{supporter_role.id}>: 5 in flight" in await world.private_text(ix)
    await render_order(world, queued_ids)


async def test_spent_fast_time_moves_a_clip_to_relax_and_its_status_says_so(world, paused):
    admin = member_of(world, world.guild, "owner", manage_guild=True)
    trial = world.sim.add_role(world.guild, "Trial")
    await world.slash(admin, "admin", {"role": trial, "fast_minutes": 0}, subcommand="tier")
    member = world.sim.assign_role(member_of(world, world.guild, "trial"), trial)
    clip_id, status = await queued(world, member)
    assert "relax lane: your fast time for today is used up" in status.content
    ix = await world.slash(member, "me")
    text = await world.private_text(ix)
    assert "Fast GPU time today: 0.0 s used, none left" in text and "Tier: Trial" in text
    await render_order(world, [clip_id])
    async with world.store.session() as s:
        assert (await s.get(Clip, clip_id)).lane == "relax"
