"""The bot end to end: the real `reelbot bot` process against discordsim, a real
`reelbot worker` with the tiny model, Redis and PostgreSQL."""

from __future__ import annotations

import itertools

import pytest

from tests.test_bot_world import BotWorld, clip_id_of, footer_of

pytestmark = pytest.mark.slow
_n = itertools.count()


@pytest.fixture(scope="module")
def tiny_model(models_dir):
    from inference.loading import resolve_source
    from inference.registry import get_model

    return resolve_source(get_model("ltx-tiny"), None, models_dir)


@pytest.fixture(scope="module")
async def world(postgres_server, models_dir, tiny_model, tmp_path_factory):
    w = BotWorld(tmp_path_factory.mktemp("bot"), postgres_server.new_database(f"bot_e2e_{next(_n)}"), models_dir)
    await w.start()
    yield w
    await w.close()


async def test_create_posts_the_clip_in_a_thread_with_its_buttons(world):
    alice = world.member("alice")
    ix, status = await world.create(alice, "a fox running through snow -ar 9:16 -len 1 -seed 7")
    assert not ix.response.ephemeral and ix.response.latency < 3
    assert status.content.startswith("Queued · position")
    clip_id = clip_id_of(status)
    thread = await world.sim.wait_for(lambda: world.sim.thread_of(status), 10)
    [post] = await world.wait_post(clip_id)
    assert post.channel_id == thread.id
    assert post.attachments and post.attachments[0].filename.endswith(".mp4")
    assert post.labels == ["Retry", "Remix", "Extend", "0", "Delete"]
    assert "a fox running through snow" in post.embeds[0]["description"]
    assert "-ar 9:16" in post.embeds[0]["description"] and "`7`" in str(post.embeds[0]["fields"])
    assert footer_of(post) == f"clip {clip_id}"
    await world.sim.wait_for(lambda: world.sim.message(status.id).content.startswith("Done"), 10)
    assert world.sim.violations == []
