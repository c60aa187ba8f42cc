"""Two bot processes, one shard each, on one Redis: every server is served by the process
that holds its shard, and every clip is posted exactly once, whichever process reads its
outcome from the stream."""

from __future__ import annotations

import itertools

import pytest

from tests.test_bot_world import BotWorld, clip_id_of

pytestmark = pytest.mark.slow
_n = itertools.count()


async def test_two_shard_processes_deliver_every_clip_once(postgres_server, models_dir, tiny_model, tmp_path):
    world = BotWorld(tmp_path, postgres_server.new_database(f"bot_shards_{next(_n)}"), models_dir, shards=2)
    await world.start(bot=False)
    try:
        guilds = {}
        for _ in range(8):  # one server on each shard
            guild = world.sim.add_guild(f"server {len(guilds)}")
            guilds.setdefault((guild.id >> 22) % 2, guild)
            if len(guilds) == 2:
                break
            world.sim.ids.next()  # ids advance by whole milliseconds: step once to change the parity
        assert len(guilds) == 2
        for shard in (0, 1):
            await world.start_bot(sync=shard == 0, wait_all_shards=shard == 1, REELBOT_DISCORD_SHARD_COUNT="2",
                                  REELBOT_DISCORD_SHARD_IDS=str(shard), REELBOT_BOT_CONSUMER=f"bot-{shard}")
        clips = []
        for shard, guild in sorted(guilds.items()):
            channel = world.sim.add_channel(guild, "general")
            for i in range(3):
                member = world.sim.add_member(guild, f"m{shard}{i}")
                ix = await world.slash(member, "create", {"prompt": f"shard {shard} clip {i} -len 1 -fps 8"},
                                       channel=channel)
                clips.append(clip_id_of(await world.status_message(ix)))
        for clip_id in clips:
            await world.wait_post(clip_id)
        await world.sim.wait_for(lambda: all(len(world.posts_of(c)) == 1 for c in clips), 10)
        for bot in world.bots:  # both processes took part
            assert "clip queued" in bot.log_path.read_text()
        assert world.sim.violations == [] and world.sim.duplicate_posts() == []
    finally:
        await world.close()
