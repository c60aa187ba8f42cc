"""Issue 5's Discord side end to end, against discordsim and the real `reelbot bot` and
`reelbot worker` processes: /gallery pages, the showcase channel (once at the threshold,
also with two votes at the same moment), a delete removing the showcase post, and the
bot's /livez, /readyz and /metrics."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest

from bot.buttons import custom_id
from core.contract import new_clip_id
from reelbot.local import free_port
from tests.stack import MODEL
from tests.test_bot_world import BotWorld, clip_id_of, footer_of, no_violations  # noqa: F401 (autouse)

pytestmark = pytest.mark.slow
_n = itertools.count()
SHORT = "-len 1 -fps 8"
GALLERY_URL = "https://gallery.example"
THRESHOLD = 2


@pytest.fixture(scope="module")
async def world(postgres_server, models_dir, tiny_model, tmp_path_factory):
    w = BotWorld(tmp_path_factory.mktemp("bot-gallery"), postgres_server.new_database(f"bot_gallery_{next(_n)}"),
                 models_dir, REELBOT_MODEL_STEPS='{"ltx-tiny": 150}', REELBOT_SHOWCASE_VOTES=str(THRESHOLD),
                 REELBOT_GALLERY_URL=GALLERY_URL, REELBOT_METRICS_HOST="127.0.0.1")
    await w.start(bot=False)
    # The bot's own port: the world's worker serves its endpoints too when given one.
    w.bot_metrics_port = free_port()
    await w.start_bot(sync=True, REELBOT_METRICS_PORT=str(w.bot_metrics_port))
    yield w
    await w.close()


async def seed(world, author, count: int, **fields) -> list[str]:
    """Finished clips of `author`, a second apart, newest last (no media: /gallery only links)."""
    base = datetime.now(timezone.utc) - timedelta(hours=1)
    ids = []
    for i in range(count):
        clip_id = new_clip_id()
        await world.store.add(id=clip_id, author_id=str(author.id), author_name=author.user.name,
                              task="text-to-video", prompt=f"seeded clip {i}", flags={}, seed=i, model=MODEL,
                              status="done", video_key=f"clips/{clip_id}/clip.mp4", vote_count=0,
                              created_at=base + timedelta(seconds=i), **fields)
        ids.append(clip_id)
    return ids


def shown(message) -> list[str]:
    """The clip ids a /gallery page lists, in order."""
    return re.findall(r"`([0-9a-f]{24})`", message.embeds[0]["description"])


def page_button(message, label: str) -> dict:
    return next(c for c in message.walk_components() if c.get("label") == label)


async def press(world, member, message, label: str):
    click = await world.sim.click(member, message, page_button(message, label)["custom_id"])
    assert (await click.wait_response()).type == 7  # the browser edits itself
    return world.sim.message(message.id)


async def test_gallery_pages_forward_and_back(world):
    author, viewer = world.member("artist"), world.member("viewer")
    public = await seed(world, author, 12)
    hidden = await seed(world, author, 1, private=True) + await seed(world, author, 1, deleted=True)

    ix = await world.slash(viewer, "gallery", {"sort": "new", "user": author})
    page1 = await ix.wait_message()
    assert page1.ephemeral and page1.visible_to == viewer.id
    newest_first = public[::-1]
    assert shown(page1) == newest_first[:5]
    embed = page1.embeds[0]
    assert embed["title"] == f"New clips by {author.user.name}" and embed["footer"]["text"] == "Page 1"
    assert f"[seeded clip 11]({GALLERY_URL}/clips/{public[-1]})" in embed["description"]
    assert page_button(page1, "Previous").get("disabled") and not page_button(page1, "Next").get("disabled")
    web = page_button(page1, "Web gallery")
    assert web["url"] == f"{GALLERY_URL}/members/{author.id}"
    assert all(len(c) <= 100 for c in page1.custom_ids)

    page2 = await press(world, viewer, page1, "Next")
    assert shown(page2) == newest_first[5:10] and page2.embeds[0]["footer"]["text"] == "Page 2"
    page3 = await press(world, viewer, page2, "Next")
    assert shown(page3) == newest_first[10:] and page_button(page3, "Next").get("disabled")
    back2 = await press(world, viewer, page3, "Previous")
    assert shown(back2) == newest_first[5:10] and back2.embeds[0]["footer"]["text"] == "Page 2"
    back1 = await press(world, viewer, back2, "Previous")
    assert shown(back1) == newest_first[:5] and page_button(back1, "Previous").get("disabled")
    assert back1.embeds[0]["title"] == f"New clips by {author.user.name}"
    assert not set(hidden) & set(shown(page1) + shown(page2) + shown(page3))


async def test_gallery_top_sorts_by_votes_and_a_deleted_clip_leaves(world):
    author, viewer = world.member("voted"), world.member("looker")
    ids = await seed(world, author, 3)
    for clip_id, votes in zip(ids, (4, 9, 1)):
        await world.store.update(clip_id, vote_count=votes)
    ix = await world.slash(viewer, "gallery", {"user": author})  # sort defaults to top
    page = await ix.wait_message()
    assert shown(page) == [ids[1], ids[0], ids[2]] and "👍 9" in page.embeds[0]["description"]
    assert page_button(page, "Next").get("disabled")

    await world.store.update(ids[1], deleted=True)
    ix = await world.slash(viewer, "gallery", {"user": author})
    assert shown(await ix.wait_message()) == [ids[0], ids[2]]


async def test_gallery_for_a_member_without_clips(world):
    viewer, nobody = world.member("curious"), world.member("quiet")
    ix = await world.slash(viewer, "gallery", {"user": nobody})
    page = await ix.wait_message()
    assert "No public clips" in page.embeds[0]["description"]
    assert page_button(page, "Previous").get("disabled") and page_button(page, "Next").get("disabled")


async def test_showcase_once_at_the_threshold_and_delete_removes_it(world):
    manager = world.member("owner", manage_guild=True)
    showcase = world.sim.add_channel(world.guild, "showcase")
    ix = await world.slash(manager, "admin", {"channel": showcase}, subcommand="gallery-channel")
    assert f"<#{showcase.id}>" in await world.private_text(ix) and f"{THRESHOLD} upvotes" in await world.private_text(ix)

    author, fan1, fan2, fan3 = (world.member(n) for n in ("maker", "fan", "fan", "fan"))
    _ix, status = await world.create(author, f"a heron taking off {SHORT}")
    clip_id = clip_id_of(status)
    [post] = await world.wait_post(clip_id)

    # Two members reach the threshold at the same moment: exactly one showcase post.
    clicks = await asyncio.gather(*(world.sim.click(m, post, custom_id("upvote", clip_id)) for m in (fan1, fan2)))
    for click in clicks:
        assert (await click.wait_response()).type == 7
    posted = await world.sim.wait_for(lambda: [m for m in world.posts_of(clip_id) if m.channel_id == showcase.id],
                                      15)
    # More votes, and a vote taken back and given again, never post it twice.
    for member in (fan3, fan1, fan1):
        await (await world.sim.click(member, post, custom_id("upvote", clip_id))).wait_response()
    await asyncio.sleep(1)
    [shown_post] = [m for m in world.posts_of(clip_id) if m.channel_id == showcase.id]
    assert shown_post.id == posted[0].id
    assert f"<@{author.id}>" in shown_post.content and f"{GALLERY_URL}/clips/{clip_id}" in shown_post.content
    assert footer_of(shown_post) == f"clip {clip_id}"
    buttons = ("retry", "remix", "extend", "edit", "upvote", "delete")
    assert shown_post.custom_ids == [custom_id(a, clip_id) for a in buttons]
    assert shown_post.attachments and shown_post.attachments[0].filename == f"{clip_id}.mp4"
    clip = await world.store.get(clip_id)
    assert clip.showcase_message_id == str(shown_post.id) and clip.showcased_at is not None

    # Deleting the clip (from its thread post) removes the showcase post too.
    click = await world.sim.click(author, post, custom_id("delete", clip_id))
    assert "Deleted" in await world.private_text(click)
    await world.sim.wait_for(lambda: world.sim.message(shown_post.id).deleted and world.sim.message(post.id).deleted,
                             10)
    assert (await world.store.get(clip_id)).showcase_message_id is None


async def test_no_showcase_channel_no_post(world):
    other_guild = world.sim.add_guild("No Showcase")
    channel = world.sim.add_channel(other_guild, "general")
    author = world.sim.add_member(other_guild, "solo")
    fans = [world.sim.add_member(other_guild, f"solofan{i}") for i in range(THRESHOLD)]
    ix = await world.slash(author, "create", {"prompt": f"a quiet pond {SHORT}"}, channel=channel)
    clip_id = clip_id_of(await world.status_message(ix))
    [post] = await world.wait_post(clip_id)
    for fan in fans:
        await (await world.sim.click(fan, post, custom_id("upvote", clip_id))).wait_response()
    await asyncio.sleep(1)
    assert len(world.posts_of(clip_id)) == 1
    assert (await world.store.get(clip_id)).showcased_at is None  # not claimed: a channel set later still gets it


async def test_health_and_metrics_endpoints(world):
    base = f"http://127.0.0.1:{world.bot_metrics_port}"
    await world.slash(world.member("counted"), "help")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/livez") as r:
            assert r.status == 200
        async def ready():
            async with http.get(f"{base}/readyz") as r:
                return (r.status, (await r.text()).strip()) == (200, "ok")

        deadline = asyncio.get_running_loop().time() + 30  # ready once every shard's guilds arrived
        while not await ready():
            assert asyncio.get_running_loop().time() < deadline, world.bot_logs()
            await asyncio.sleep(0.2)
        async with http.get(f"{base}/metrics") as r:
            body = await r.text()
            assert r.status == 200
    assert re.search(r'reelbot_bot_commands_total\{command="help",outcome="ok"\} [1-9]', body), body
    assert "reelbot_bot_ack_seconds" in body
