"""discordsim against the real discord.py client: a small commands.Bot defined here drives
every rule and fault of the local Discord server (see discordsim/README.md).

One sim and one bot serve the whole module; tests that expect violations take them out of
`sim.violations`, and an autouse fixture fails any test that leaves one behind or makes
discord.py log an error (a payload field discord.py needs but the sim left out shows up so).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time

import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands

from discordsim import DiscordSim, Violation

TOKEN = "sim-token"
LIMIT = 256 * 1024  # the test guild's upload limit: small, so the oversize test stays light


class ErrorLog(logging.Handler):
    """Collects what discord.py logs at ERROR (exceptions in parsers, commands, views)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Panel(discord.ui.View):
    """Persistent buttons: one edits its message, one opens a modal."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Edit me", custom_id="panel:edit", style=discord.ButtonStyle.primary)
    async def edit(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content=f"edited by {interaction.user.name}")

    @discord.ui.button(label="Open form", custom_id="panel:form")
    async def form(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_modal(Form())


class Form(discord.ui.Modal, title="Remix"):
    prompt = discord.ui.TextInput(label="Prompt", custom_id="prompt", default="old prompt")
    note = discord.ui.TextInput(label="Note", custom_id="note", required=False)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"got {self.prompt.value}|{self.note.value}", ephemeral=True)


class SimBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.outcomes: dict[str, object] = {}
        self.gates: dict[str, asyncio.Event] = {"later": asyncio.Event()}
        self.readies = 0
        self.resumes = 0
        self._add_commands()

    async def setup_hook(self) -> None:
        self.add_view(Panel())

    async def on_ready(self) -> None:
        self.readies += 1

    async def on_resumed(self) -> None:
        self.resumes += 1

    def _add_commands(self) -> None:  # noqa: C901 - one small command per rule under test
        tree, out = self.tree, self.outcomes

        @tree.command(description="Answer at once")
        async def ping(interaction: discord.Interaction) -> None:
            user, guild = interaction.user, interaction.guild
            await interaction.response.send_message(
                f"pong {user.name} {type(user).__name__} {interaction.permissions.manage_messages} "
                f"{guild.name if guild else 'dm'} {type(interaction.channel).__name__} "
                f"{interaction.app_permissions.send_messages} {interaction.filesize_limit}")

        @tree.command(description="Defer, then a followup with a file")
        async def render(interaction: discord.Interaction, prompt: str, image: discord.Attachment | None = None) -> None:
            await interaction.response.defer()
            data = await image.read() if image else b"no image"
            await interaction.followup.send(f"rendered {prompt}", file=discord.File(io.BytesIO(data), "clip.mp4"))

        @tree.command(description="Acknowledge twice")
        async def twice(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            interaction.response._response_type = None  # get past discord.py's own guard to reach "Discord"
            try:
                await interaction.response.send_message("again")
            except discord.HTTPException as exc:
                out["twice"] = (exc.status, exc.code)

        @tree.command(description="Answer after 3.2 s")
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(3.2)
            try:
                await interaction.response.send_message("late")
            except discord.HTTPException as exc:
                out["slow"] = (exc.status, exc.code)

        @tree.command(description="A modal after a defer")
        async def modal_late(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            interaction.response._response_type = None
            try:
                await interaction.response.send_modal(Form())
            except discord.HTTPException as exc:
                out["modal_late"] = (exc.status, exc.code)

        @tree.command(description="A followup once the test says so")
        async def later(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await self.gates["later"].wait()
            try:
                await interaction.followup.send("too late")
            except discord.HTTPException as exc:
                out["later"] = (exc.status, exc.code)

        @tree.command(description="A file one byte over the limit")
        async def big(interaction: discord.Interaction) -> None:
            data = b"\0" * (interaction.filesize_limit + 1)
            try:
                await interaction.response.send_message(file=discord.File(io.BytesIO(data), "big.mp4"))
            except discord.HTTPException as exc:
                out["big"] = (exc.status, exc.code)
                await interaction.response.send_message("too big for this server", ephemeral=True)

        @tree.command(description="Buttons")
        async def panel(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("a panel", view=Panel())

        @tree.command(description="A thread on the status message")
        async def thread(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("status")
            message = await interaction.original_response()
            opened = await message.create_thread(name="clip thread")
            await opened.send("the clip")
            out["thread"] = opened

        @tree.command(description="DM the member")
        async def dm(interaction: discord.Interaction) -> None:
            try:
                await interaction.user.send("a private clip")
                await interaction.response.send_message("sent you a DM", ephemeral=True)
            except discord.Forbidden as exc:
                out["dm"] = (exc.status, exc.code)
                await interaction.response.send_message("your DMs are closed", ephemeral=True)

        @tree.command(description="Pick a model")
        async def pick(interaction: discord.Interaction, model: str) -> None:
            await interaction.response.send_message(f"picked {model}")

        @pick.autocomplete("model")
        async def pick_model(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=m, value=m) for m in ("ltx-tiny", "ltx-video", "wan") if current in m]

        @tree.command(description="Post through the bot token")
        async def post(interaction: discord.Interaction, text: str) -> None:
            await interaction.response.defer(ephemeral=True)
            await interaction.channel.send(text)
            await interaction.followup.send("posted", ephemeral=True)


@contextlib.asynccontextmanager
async def pointed_at(sim: DiscordSim):
    """discord.py reads these class attributes: point them at `sim` for the duration."""
    old = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = sim.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sim.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old


@pytest.fixture(scope="module")
async def world():
    sim = await DiscordSim(token=TOKEN).start()
    guild = sim.add_guild("Test Server", attachment_size_limit=LIMIT)
    channel = sim.add_channel(guild, "general")
    alice = sim.add_member(guild, "alice")
    mod = sim.add_member(guild, "mod", manage_messages=True)
    errors = ErrorLog()
    logging.getLogger("discord").addHandler(errors)
    async with pointed_at(sim):
        bot = SimBot()
        runner = asyncio.create_task(bot.start(TOKEN))
        await sim.wait_for(lambda: bot.readies >= 1, timeout=20)
        await bot.tree.sync()
        yield {"sim": sim, "bot": bot, "guild": guild, "channel": channel, "alice": alice, "mod": mod,
               "errors": errors}
        await bot.close()
        await asyncio.wait([runner], timeout=10)
    logging.getLogger("discord").removeHandler(errors)
    await sim.stop()


@pytest.fixture(autouse=True)
def clean(request):
    """No test may leave a violation it did not expect, or a discord.py error, behind."""
    if "world" not in request.fixturenames:
        yield
        return
    world = request.getfixturevalue("world")
    world["sim"].violations.clear()
    world["errors"].records.clear()
    yield
    assert world["sim"].violations == []
    assert [r.getMessage() for r in world["errors"].records] == []


def take(sim: DiscordSim, rule: str) -> list[Violation]:
    """Remove and return the violations of one rule."""
    found = [v for v in sim.violations if v.rule == rule]
    sim.violations[:] = [v for v in sim.violations if v.rule != rule]
    return found


async def test_connect_ready_guild_create(world):
    sim, bot, guild = world["sim"], world["bot"], world["guild"]
    assert bot.user.id == sim.bot_user.id and bot.user.bot
    assert bot.application_id == sim.application_id
    seen = bot.get_guild(guild.id)
    assert seen is not None and seen.name == "Test Server"
    assert [c.name for c in seen.text_channels] == ["general"]
    assert seen.me is not None and seen.me.guild_permissions.manage_messages
    assert sim.gateway.identify_count == 1


async def test_command_sync_global_and_guild(world):
    sim, bot, guild = world["sim"], world["bot"], world["guild"]
    names = {c["name"] for c in sim.commands()}
    assert {"ping", "render", "panel", "post"} <= names
    render = next(c for c in sim.commands() if c["name"] == "render")
    assert [(o["name"], o["type"], o.get("required", False)) for o in render["options"]] == \
        [("prompt", 3, True), ("image", 11, False)]
    ids = {c["name"]: c["id"] for c in sim.commands()}
    again = await bot.tree.sync()  # a re-sync keeps ids, as on Discord
    assert {c.name: str(c.id) for c in again} == ids
    bot.tree.copy_global_to(guild=discord.Object(guild.id))
    synced = await bot.tree.sync(guild=discord.Object(guild.id))
    assert {c.name for c in synced} == names == {c["name"] for c in sim.commands(guild)}
    fetched = await bot.tree.fetch_commands(guild=discord.Object(guild.id))
    assert {c.name for c in fetched} == names
    bot.tree.clear_commands(guild=discord.Object(guild.id))
    await bot.tree.sync(guild=discord.Object(guild.id))
    assert sim.commands(guild) == []


async def test_slash_payload_reaches_discord_py_intact(world):
    sim, channel, alice, mod = world["sim"], world["channel"], world["alice"], world["mod"]
    ix = await sim.slash(alice, channel, "ping")
    response = await ix.wait_response()
    assert response.type == 4 and response.latency < 3
    assert ix.message.content == f"pong alice Member False Test Server TextChannel True {LIMIT}"
    assert sim.messages(channel)[-1] is ix.message and not ix.ephemeral
    ix = await sim.slash(mod, channel, "ping")
    await ix.wait_response()
    assert ix.message.content.startswith("pong mod Member True ")
    with pytest.raises(ValueError, match="not registered"):
        await sim.slash(alice, channel, "nope")
    with pytest.raises(ValueError, match="required"):
        await sim.slash(alice, channel, "render", {})


async def test_slash_defer_then_followup_with_file(world):
    sim, channel, alice = world["sim"], world["channel"], world["alice"]
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10
    ix = await sim.slash(alice, channel, "render", {"prompt": "a fox -ar 9:16"},
                         attachments={"image": ("fox.png", png, "image/png")})
    assert (await ix.wait_response()).type == 5
    [followup] = await ix.wait_followups(1)
    # The first followup after a "thinking" defer becomes the deferred message itself.
    assert followup is ix.message and not followup.loading
    assert followup.content == "rendered a fox -ar 9:16"
    [clip] = followup.attachments
    assert (clip.filename, clip.data, clip.size) == ("clip.mp4", png, len(png))  # the bot downloaded it from the sim


async def test_autocomplete(world):
    sim, channel, alice = world["sim"], world["channel"], world["alice"]
    ix = await sim.autocomplete(alice, channel, "pick", {"model": "ltx"}, focused="model")
    response = await ix.wait_response()
    assert response.type == 8 and [c["value"] for c in response.choices] == ["ltx-tiny", "ltx-video"]
    ix = await sim.autocomplete(alice, channel, "pick", {}, focused="model")  # nothing typed yet
    assert len((await ix.wait_response()).choices) == 3
    with pytest.raises(ValueError, match="does not autocomplete"):
        await sim.autocomplete(alice, channel, "render", {}, focused="prompt")


async def test_second_acknowledgement_is_a_violation(world):
    sim, bot = world["sim"], world["bot"]
    ix = await sim.slash(world["alice"], world["channel"], "twice")
    await sim.wait_for(lambda: "twice" in bot.outcomes)
    assert bot.outcomes["twice"] == (400, 40060)
    assert [r.accepted for r in ix.responses] == [True, False]
    assert len(take(sim, "second_ack")) == 1


async def test_first_response_after_3_seconds_is_a_violation(world):
    sim, bot, channel, alice = world["sim"], world["bot"], world["channel"], world["alice"]
    # Two ways to be late, run together: the bot sleeps 3.2 s, or its answer is held 3.5 s on the way.
    sim.slow("POST", r"^/interactions/\d+/[^/]+/callback$", 3.5)
    held = await sim.slash(alice, channel, "ping")
    sleepy = await sim.slash(alice, channel, "slow")
    await sim.wait_for(lambda: "slow" in bot.outcomes and held.responses, timeout=10)
    assert bot.outcomes["slow"] == (404, 10062)
    assert held.responses[0].status == 404 and held.response is None and sleepy.response is None
    late = take(sim, "response_within_3s")
    assert len(late) == 2 and all("3 s" in v.detail for v in late)
    # /ping does not catch its NotFound: discord.py logs it, as a real bot's log would show.
    errors = world["errors"].records
    await sim.wait_for(lambda: any("'ping'" in r.getMessage() for r in errors))
    errors.clear()


async def test_modal_after_a_defer_is_a_violation(world):
    sim, bot = world["sim"], world["bot"]
    await sim.slash(world["alice"], world["channel"], "modal_late")
    await sim.wait_for(lambda: "modal_late" in bot.outcomes)
    assert bot.outcomes["modal_late"] == (400, 40060)
    assert len(take(sim, "modal_not_first")) == 1


async def test_token_expires_after_15_minutes(world):
    sim, bot = world["sim"], world["bot"]
    ix = await sim.slash(world["alice"], world["channel"], "later")
    await ix.wait_response()
    sim.clock_offset = 15 * 60 + 1
    try:
        bot.gates["later"].set()
        await sim.wait_for(lambda: "later" in bot.outcomes)
    finally:
        sim.clock_offset = 0
    assert bot.outcomes["later"] == (401, 50027)
    assert ix.message.loading  # the member is still looking at "thinking…"
    assert len(take(sim, "token_expired")) == 1


async def test_upload_over_the_guild_limit_is_refused(world):
    sim, bot = world["sim"], world["bot"]
    ix = await sim.slash(world["alice"], world["channel"], "big")
    await ix.wait_response()
    assert bot.outcomes["big"] == (413, 40005)
    assert [m.content for m in ix.ephemeral] == ["too big for this server"]
    assert ix.responses[0].status == 413 and not ix.responses[0].accepted
    [violation] = take(sim, "attachment_too_large")
    assert str(LIMIT) in violation.detail


async def test_button_click_edits_and_modal_submit(world):
    sim, channel, alice, mod = world["sim"], world["channel"], world["alice"], world["mod"]
    ix = await sim.slash(alice, channel, "panel")
    await ix.wait_response()
    panel = ix.message
    assert panel.custom_ids == ["panel:edit", "panel:form"] and panel.labels == ["Edit me", "Open form"]
    click = await sim.click(mod, panel, "panel:edit")
    assert (await click.wait_response()).type == 7
    assert panel.content == "edited by mod" and panel.edits[0]["content"] == "a panel"
    assert click.message is panel and panel.custom_ids == ["panel:edit", "panel:form"]
    opened = await sim.click(alice, panel, "panel:form")
    form = (await opened.wait_response()).modal
    assert form["title"] == "Remix"
    submitted = await sim.submit_modal(alice, opened, {"note": "brighter"})
    await submitted.wait_response()
    assert [m.content for m in submitted.ephemeral] == ["got old prompt|brighter"]  # pre-filled value kept
    assert sim.messages(channel, member=alice)[-1].content == "got old prompt|brighter"
    assert "got old" not in [m.content for m in sim.messages(channel)]  # others do not see it
    with pytest.raises(ValueError, match="already submitted"):
        await sim.submit_modal(alice, opened, {})
    with pytest.raises(ValueError, match="no component"):
        await sim.click(alice, panel, "panel:nope")


async def test_threads(world):
    sim, bot, channel, alice = world["sim"], world["bot"], world["channel"], world["alice"]
    ix = await sim.slash(alice, channel, "thread")
    await sim.wait_for(lambda: "thread" in bot.outcomes)
    status = ix.message
    thread = sim.thread_of(status)
    assert thread is not None and thread.name == "clip thread" and thread.id == status.id
    assert [m.content for m in sim.messages(thread)] == ["the clip"]
    assert thread in sim.threads(channel)
    assert bot.outcomes["thread"].id == thread.id and bot.get_channel(thread.id) is not None
    # A second thread on the same message is Discord's ordinary 160004 error, not a violation.
    async with _raw(sim) as http:
        async with http.post(f"{sim.api_base}/channels/{channel.id}/messages/{status.id}/threads",
                             json={"name": "again"}) as resp:
            assert (resp.status, (await resp.json())["code"]) == (400, 160004)


async def test_dms_and_slash_in_a_dm(world):
    sim, bot, guild, channel, alice = world["sim"], world["bot"], world["guild"], world["channel"], world["alice"]
    ix = await sim.slash(alice, channel, "dm")
    await ix.wait_response()
    assert [m.content for m in sim.dms(alice)] == ["a private clip"]
    assert [m.content for m in ix.ephemeral] == ["sent you a DM"]
    ix = await sim.slash(alice, sim.dm_channel(alice), "ping")
    await ix.wait_response()
    assert ix.message.content.startswith("pong alice User False dm DMChannel")
    assert ix.message.channel_id == sim.dm_channel(alice).id
    closed = sim.add_member(guild, "closed", dms_open=False)
    ix = await sim.slash(closed, channel, "dm")
    await ix.wait_response()
    assert bot.outcomes["dm"] == (403, 50007) and sim.dms(closed) == []


async def test_gateway_drop_resumes_and_replays_missed_events(world):
    sim, bot = world["sim"], world["bot"]
    resumes, identifies = sim.gateway.resume_count, sim.gateway.identify_count
    assert sim.drop_gateway(resume=True) == 1
    ix = await sim.slash(world["alice"], world["channel"], "ping")  # sent while the bot is away: replayed
    await ix.wait_response()
    assert sim.gateway.resume_count == resumes + 1 and sim.gateway.identify_count == identifies
    await sim.wait_for(lambda: bot.resumes >= 1)


async def test_gateway_drop_without_resume_reidentifies(world):
    sim, bot = world["sim"], world["bot"]
    identifies, readies = sim.gateway.identify_count, bot.readies
    sim.drop_gateway(resume=False)
    await sim.wait_for(lambda: bot.readies > readies, timeout=20)
    assert sim.gateway.identify_count == identifies + 1
    ix = await sim.slash(world["alice"], world["channel"], "ping")
    await ix.wait_response()
    assert ix.message.content.startswith("pong alice")


async def test_500_after_write_on_a_followup_shows_the_retry_duplicate(world):
    sim, channel = world["sim"], world["channel"]
    sim.fail("POST", r"^/webhooks/\d+/[^/]+$", status=500, after_write=True)
    ix = await sim.slash(world["alice"], channel, "render", {"prompt": "exactly once?"})
    followups = await ix.wait_followups(2)
    # Discord saved the followup, answered 500, and discord.py posted it again: the member sees two.
    assert [m.content for m in followups] == ["rendered exactly once?"] * 2
    assert sim.duplicate_posts(channel) == [followups]
    hook = [(r.status, r.fault) for r in sim.requests if r.path.startswith(f"/webhooks/{sim.application_id}/")]
    assert hook[-2:] == [(500, "fail_after_write"), (200, None)]
    for message in followups:  # tidy up so later duplicate checks start clean
        sim.store.delete(message)


async def test_500_on_channel_send_posts_once_thanks_to_the_nonce(world):
    sim, channel = world["sim"], world["channel"]
    # discord.py 2.7 sends a random nonce with enforce_nonce on every channel.send, and Discord
    # (so the sim) answers a repeat with the message it already made.
    sim.fail("POST", r"^/channels/\d+/messages$", after_write=True)
    ix = await sim.slash(world["alice"], channel, "post", {"text": "after a 500"})
    await ix.wait_followups(1)
    assert len([m for m in sim.messages(channel) if m.content == "after a 500"]) == 1
    sim.fail("POST", r"^/channels/\d+/messages$", status=502, after_write=False)
    ix = await sim.slash(world["alice"], channel, "post", {"text": "after a 502"})
    await ix.wait_followups(1)
    assert len([m for m in sim.messages(channel) if m.content == "after a 502"]) == 1
    posts = [(r.status, r.fault) for r in sim.requests if r.path == f"/channels/{channel.id}/messages"]
    assert posts[-4:] == [(500, "fail_after_write"), (200, None), (502, "fail_before_write"), (200, None)]
    assert sim.duplicate_posts(channel) == []


async def test_rate_limit_and_slow_routes(world):
    sim, channel = world["sim"], world["channel"]
    sim.rate_limit("POST", r"^/channels/\d+/messages$", retry_after=0.3)
    sim.slow("POST", r"^/channels/\d+/messages$", 0.2, times=1)
    started = time.monotonic()
    ix = await sim.slash(world["alice"], channel, "post", {"text": "after a 429"})
    await ix.wait_followups(1)
    assert time.monotonic() - started >= 0.5
    posts = [r for r in sim.requests if r.method == "POST" and r.path == f"/channels/{channel.id}/messages"]
    assert [(r.status, r.fault) for r in posts[-2:]] == [(429, "rate_limit"), (200, "slow")]
    assert posts[-1].duration >= 0.2
    assert len([m for m in sim.messages(channel) if m.content == "after a 429"]) == 1


@contextlib.asynccontextmanager
async def _raw(sim: DiscordSim, token: str | None = TOKEN):
    import aiohttp

    headers = {"Authorization": f"Bot {token}"} if token else {}
    async with aiohttp.ClientSession(headers=headers) as http:
        yield http


async def test_http_rules_auth_json_and_unknown_routes(world):
    sim, channel = world["sim"], world["channel"]
    async with _raw(sim) as http:
        async with http.get(f"{sim.api_base}/users/@me") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
        async with http.post(f"{sim.api_base}/channels/{channel.id}/messages", data="hello",
                             headers={"Content-Type": "text/plain"}) as resp:
            assert (resp.status, (await resp.json())["code"]) == (400, 50109)
            assert resp.headers["Content-Type"] == "application/json"
        async with http.get(f"{sim.api_base}/no/such/route") as resp:
            assert resp.status == 404 and resp.headers["Content-Type"] == "application/json"
        async with http.post(f"{sim.api_base}/channels/{channel.id}/messages", json={"content": "x" * 2001}) as resp:
            body = await resp.json()
            assert (resp.status, body["code"]) == (400, 50035) and "content" in body["errors"]
        async with http.post(f"{sim.api_base}/channels/{sim.dm_channel(world['alice']).id}/messages/1/threads",
                             json={"name": "x"}) as resp:
            assert resp.status == 400
    async with _raw(sim, token="wrong") as http:
        async with http.get(f"{sim.api_base}/users/@me") as resp:
            assert resp.status == 401 and resp.headers["Content-Type"] == "application/json"
    assert [v.rule for v in sim.violations] == ["content_type", "unknown_route", "message_limits",
                                                "invalid_channel_type", "auth"]
    sim.violations.clear()


async def test_wrong_token_fails_login(world):
    sim = world["sim"]
    client = discord.Client(intents=discord.Intents.default())
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()
    assert [v.rule for v in take(sim, "auth")] == ["auth"]


async def test_auto_sharded_bot_gets_each_guild_on_its_shard(world):
    """A second sim with two shards; run while the module's bot sits idle."""
    async with DiscordSim(token=TOKEN, shard_count=2) as sim:
        guilds = []
        while {sim.gateway.shard_of(g.id) for g in guilds} != {0, 1}:
            guilds.append(sim.add_guild(f"guild {len(guilds)}"))
            await asyncio.sleep(0.002)  # ids from later milliseconds land on the other shard
        channels = [sim.add_channel(g, "general") for g in guilds]
        members = [sim.add_member(g, "alice") for g in guilds]
        async with pointed_at(sim):
            bot = commands.AutoShardedBot(command_prefix="!", intents=discord.Intents.default(),
                                          guild_ready_timeout=0.05)

            @bot.tree.command(description="Which shard")
            async def shard(interaction: discord.Interaction) -> None:
                await interaction.response.send_message(f"shard {interaction.guild.shard_id}")

            runner = asyncio.create_task(bot.start(TOKEN))
            try:
                await sim.wait_connected()
                await sim.wait_for(lambda: bot.is_ready() and len(bot.guilds) == len(guilds))
                await bot.tree.sync()
                assert bot.shard_count == 2 and sim.gateway.identify_count == 2
                for guild, channel, member in zip(guilds, channels, members):
                    assert bot.get_guild(guild.id).shard_id == sim.gateway.shard_of(guild.id)
                    ix = await sim.slash(member, channel, "shard")
                    await ix.wait_response()
                    assert ix.message.content == f"shard {sim.gateway.shard_of(guild.id)}"
            finally:
                await bot.close()
                await asyncio.wait([runner], timeout=10)
        assert sim.violations == []


async def test_heartbeats_are_acknowledged_so_the_client_measures_a_real_latency(world):
    """discord.py's keep-alive thread stamps a heartbeat's send time only once the loop has
    sent it; an ACK read before that stamp is measured against the previous beat, and the
    client reports a whole interval of latency ("Can't keep up ... 41.3s behind"). The sim
    answers like Discord across a network: the client's `latency` is small, never an interval."""
    interval_s = 1.0
    async with DiscordSim(token=TOKEN, heartbeat_interval_ms=int(interval_s * 1000)) as sim:
        sim.add_guild("beats")
        async with pointed_at(sim):
            client = discord.Client(intents=discord.Intents.default())
            runner = asyncio.create_task(client.start(TOKEN))
            try:
                await sim.wait_for(client.is_ready, 20)
                latencies = []
                for _ in range(5):
                    await asyncio.sleep(interval_s)
                    latencies.append(client.latency)
            finally:
                await client.close()
                await asyncio.wait([runner], timeout=10)
    measured = [x for x in latencies if x != float("inf")]
    assert len(measured) >= 3, latencies
    assert max(measured) < interval_s / 2, latencies
