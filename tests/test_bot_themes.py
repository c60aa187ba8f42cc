"""Themes end to end (issue 21), against discordsim with the real `reelbot bot` (discord.py)
and `reelbot worker` processes: a one-minute theme, two members' entries, votes from three
members (one of them the author voting for herself), the result ranked in the showcase
channel and posted exactly once, also when the bot is killed before the end time and again
just after Discord saved its result post; `-theme` refused, with the reason, when no theme
runs, in the wrong channel, on a `-private` clip and past the entry limit; deleting an
entry withdraws it; `/theme`; audit entries.

Each test runs its theme in a server of its own (one theme at a time per server)."""

from __future__ import annotations

import asyncio
import itertools
import re
import time

import pytest
from sqlalchemy import select

from bot.buttons import custom_id
from core.tables import Theme
from tests.test_bot_world import BotWorld, no_violations  # noqa: F401 (autouse)

pytestmark = pytest.mark.slow
_n = itertools.count()
SHORT = "-len 1 -fps 8"
GALLERY_URL = "https://gallery.example"
POST_ROUTE = r"^/channels/{}/messages$"


@pytest.fixture(scope="module")
async def world(postgres_server, models_dir, tiny_model, tmp_path_factory):
    w = BotWorld(tmp_path_factory.mktemp("themes"), postgres_server.new_database(f"bot_themes_{next(_n)}"),
                 models_dir, REELBOT_MODEL_STEPS='{"ltx-tiny": 20}', REELBOT_GALLERY_URL=GALLERY_URL,
                 REELBOT_SHOWCASE_VOTES="50")
    await w.start()
    yield w
    await w.close()


class Server:
    """A server of its own: a general channel, a showcase channel, a manager and members."""

    def __init__(self, world, name: str):
        sim = world.sim
        self.world = world
        self.guild = sim.add_guild(name)
        self.general = sim.add_channel(self.guild, "general")
        self.showcase = sim.add_channel(self.guild, "showcase")
        self.manager = sim.add_member(self.guild, f"{name}-manager", manage_guild=True)

    def member(self, name: str):
        return self.world.sim.add_member(self.guild, f"{name}{next(_n)}")

    async def admin(self, subcommand: str, options: dict | None = None, channel=None):
        return await self.world.slash(self.manager, "admin", options or {}, subcommand=subcommand,
                                      channel=channel or self.general)

    async def start_theme(self, words: str, duration: str = "1m", **options) -> Theme:
        await self.admin("gallery-channel", {"channel": self.showcase})
        ix = await self.admin("theme start", {"words": words, "duration": duration, **options})
        message = await ix.wait_message()
        assert not message.ephemeral and words in message.content and "-theme" in message.content, message.content
        return await self.theme()

    async def theme(self) -> Theme:
        async with self.world.store.session() as s:
            return await s.scalar(select(Theme).where(Theme.guild_id == str(self.guild.id))
                                  .order_by(Theme.started_at.desc()).limit(1))

    async def enter(self, member, prompt: str, channel=None) -> str:
        ix = await self.world.slash(member, "create", {"prompt": f"{prompt} {SHORT} -theme"},
                                    channel=channel or self.general)
        kind, clip_id = await self.world.answer(ix)
        assert kind == "queued", clip_id
        await ix.wait_followups(count=1, timeout=10)
        assert "entered in the theme" in ix.followups[-1].content and ix.followups[-1].ephemeral
        return clip_id

    async def refused(self, member, prompt: str, channel=None) -> str:
        ix = await self.world.slash(member, "create", {"prompt": prompt}, channel=channel or self.general)
        kind, text = await self.world.answer(ix)
        assert kind == "refused", text
        return text

    async def vote(self, member, clip_id: str) -> None:
        [post] = await self.world.wait_post(clip_id)
        click = await self.world.sim.click(member, post, custom_id("upvote", clip_id))
        await click.wait_response()

    async def theme_text(self, member) -> str:
        ix = await self.world.slash(member, "theme", channel=self.general)
        return await self.world.private_text(ix)

    def results(self) -> list:
        """Result posts in the showcase channel (their footer starts `theme <id>`)."""
        return [m for m in self.world.sim.messages(self.showcase) if m.embeds and
                (m.embeds[0].get("footer") or {}).get("text", "").startswith("theme ")]

    async def result_once(self, theme: Theme, settle: float = 3.0, timeout: float = 90, record_within: float = 15):
        [result] = await self.world.sim.wait_for(self.results, timeout)
        await asyncio.sleep(settle)  # a second post, were there going to be one, would be here by now
        assert self.results() == [result] and self.world.sim.duplicate_posts() == []
        assert result.embeds[0]["footer"]["text"].startswith(f"theme {theme.id}")

        async def recorded():
            fresh = await self.theme()
            return fresh.result_message_id

        assert await self.world.sim.wait_for(recorded, record_within) == str(result.id)
        return result


def ranking(result) -> list[tuple[str, int]]:
    """(author id, votes) per line of a result post, in its order."""
    return [(m[1], int(m[2])) for m in re.finditer(r"<@(\d+)> · (\d+) votes?", result.embeds[0]["description"])]


async def until(moment, slack: float = 0.5) -> None:
    """Sleep until a theme's end time has passed."""
    await asyncio.sleep(max(0.0, moment.timestamp() - time.time() + slack))


async def test_a_one_minute_theme_ranks_entries_by_other_members_votes(world):
    server = Server(world, "ranked")
    alice, bob, carol, dave = (server.member(n) for n in ("alice", "bob", "carol", "dave"))
    theme = await server.start_theme("foxes in the snow")
    a = await server.enter(alice, "a fox in snow")
    b = await server.enter(bob, "two foxes at dusk")
    # Three voters: alice for herself (doesn't count) and carol; carol and dave for bob.
    await server.vote(alice, a)
    await server.vote(carol, a)
    await server.vote(carol, b)
    await server.vote(dave, b)
    text = await server.theme_text(carol)
    assert "foxes in the snow" in text and "left" in text and "-theme" in text and "Leading" in text
    assert text.index(f"<@{bob.id}> · 2 votes") < text.index(f"<@{alice.id}> · 1 vote")
    assert "you've entered 0" in text

    await until(theme.ends_at)
    result = await server.result_once(theme)
    assert ranking(result) == [(str(bob.id), 2), (str(alice.id), 1)]
    description = result.embeds[0]["description"]
    assert "two foxes at dusk" in description and "a fox in snow" in description
    assert f"{GALLERY_URL}/clips/{b}" in description and f"{GALLERY_URL}/themes/{theme.id}" in description
    assert "foxes in the snow" in result.embeds[0]["title"]
    # A vote after the end changes nothing; the theme is over for /theme too.
    await server.vote(dave, a)
    assert ranking(server.results()[0]) == [(str(bob.id), 2), (str(alice.id), 1)]
    assert "No theme is running" in await server.theme_text(carol)
    ix = await server.admin("audit")
    audit = await world.private_text(ix)
    assert "theme-start" in audit and "theme-end" in audit and "foxes in the snow" in audit


async def test_the_result_is_posted_once_through_two_kills_of_the_bot(world):
    """Killed before the end (it is down at the end time), restarted after it; killed again
    right after Discord saved its result post (answering 500, so the bot never recorded it),
    and restarted: it finds its post instead of posting again."""
    server = Server(world, "killed")
    alice, bob, carol = (server.member(n) for n in ("alice", "bob", "carol"))
    theme = await server.start_theme("lighthouses")
    a = await server.enter(alice, "a lighthouse in a storm")
    b = await server.enter(bob, "a lighthouse at dawn")
    await server.vote(carol, a)
    await server.vote(bob, a)
    await server.vote(bob, b)  # his own

    world.bot.kill()
    await until(theme.ends_at, slack=2)
    assert server.results() == []
    hits = len(world.sim.faults.log)
    # Discord saves the result post but answers 500: discord.py waits to try again, and the bot dies.
    route = POST_ROUTE.format(server.showcase.id)
    world.sim.fail("POST", route, status=500, after_write=True, times=5)
    await world.start_bot()
    await world.sim.wait_for(lambda: len(world.sim.faults.log) > hits, 60)
    world.bot.kill()
    world.sim.clear_faults()
    assert len(server.results()) == 1
    fresh = await server.theme()
    assert fresh.closed_at is not None and fresh.result_posted_at is None  # closed, the post never recorded

    posts = len([r for r in world.sim.requests if r.method == "POST" and re.search(route, r.path)])
    assert posts >= 1
    await world.start_bot()
    # The killed poster's lock on this theme's result runs out first (bot/commands/theme/_closer.py).
    result = await server.result_once(theme, record_within=45)
    assert ranking(result) == [(str(alice.id), 2), (str(bob.id), 0)]
    # Found in the channel, not posted again.
    assert len([r for r in world.sim.requests if r.method == "POST" and re.search(route, r.path)]) == posts


async def test_theme_refusals_say_why_and_deleting_an_entry_withdraws_it(world):
    server = Server(world, "rules")
    entries = world.sim.add_channel(server.guild, "entries")
    alice, bob = server.member("alice"), server.member("bob")
    await server.admin("gallery-channel", {"channel": server.showcase})
    assert "No theme is running" in await server.refused(alice, f"a fox {SHORT} -theme")
    assert "No theme is running" in await server.theme_text(alice)

    ix = await server.admin("theme start", {"words": "cats", "duration": "soon"})
    assert "isn't a duration" in await world.private_text(ix)
    ix = await server.admin("theme start", {"words": "cats", "duration": "6h", "channel": entries, "max_entries": 1})
    assert "announced in" in await world.private_text(ix)
    assert "cats" in world.sim.messages(entries)[-1].content  # the announcement went to the entry channel
    ix = await server.admin("theme start", {"words": "dogs", "duration": "1h"})
    assert "already running" in await world.private_text(ix)

    assert f"made in <#{entries.id}>" in await server.refused(alice, f"a cat {SHORT} -theme")
    assert "`-private` clip can't enter" in await server.refused(alice, f"a cat {SHORT} -theme -private",
                                                                  channel=entries)
    first = await server.enter(alice, "a cat on a roof", channel=entries)
    assert "the most it takes from one member" in await server.refused(alice, f"another cat {SHORT} -theme",
                                                                      channel=entries)
    # Deleting the entry withdraws it, and frees the slot.
    [post] = await world.wait_post(first)
    click = await world.sim.click(alice, post, custom_id("delete", first))
    await click.wait_response()
    second = await server.enter(alice, "a cat in a box", channel=entries)
    await server.vote(bob, second)
    text = await server.theme_text(bob)
    assert "cats" in text and f"<#{entries.id}>" in text and "a cat in a box" in text and "a cat on a roof" not in text

    ix = await server.admin("theme end")
    assert "has ended" in (await ix.wait_message()).content
    result = await server.result_once(await server.theme())
    assert ranking(result) == [(str(alice.id), 1)] and "a cat on a roof" not in result.embeds[0]["description"]
    ix = await server.admin("theme end")
    assert "No theme is running" in await world.private_text(ix)
    assert "No theme is running" in await server.refused(alice, f"a cat {SHORT} -theme", channel=entries)


async def test_two_shard_processes_close_a_theme_and_post_its_result_once(postgres_server, models_dir, tiny_model,
                                                                         tmp_path):
    """Both bot processes run a closer; one leads, whichever shard carries the server."""
    w = BotWorld(tmp_path, postgres_server.new_database(f"bot_themes_shards_{next(_n)}"), models_dir, shards=2,
                 REELBOT_MODEL_STEPS='{"ltx-tiny": 20}')
    await w.start(bot=False)
    try:
        for shard in (0, 1):
            await w.start_bot(sync=shard == 0, wait_all_shards=shard == 1, REELBOT_DISCORD_SHARD_COUNT="2",
                              REELBOT_DISCORD_SHARD_IDS=str(shard), REELBOT_BOT_CONSUMER=f"bot-{shard}")
        server = Server(w, "sharded")
        alice, bob = server.member("alice"), server.member("bob")
        theme = await server.start_theme("paper boats")
        entry = await server.enter(alice, "a paper boat on a puddle")
        await server.vote(bob, entry)
        await until(theme.ends_at)
        result = await server.result_once(theme, settle=5)
        assert ranking(result) == [(str(alice.id), 1)]
        logs = [bot.log_path.read_text() for bot in w.bots]
        assert sum(log.count("theme closed") for log in logs) == 1
        assert sum(log.count("theme result posted") for log in logs) == 1
        assert w.sim.violations == []
    finally:
        await w.close()
