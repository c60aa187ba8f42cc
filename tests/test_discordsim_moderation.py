"""discordsim's age-restricted channels and message commands, against the real discord.py
client: the `nsfw` flag reaches `channel.is_nsfw()` (and a thread's comes from its
parent), and a message command from a message's Apps menu reaches a ContextMenu with its
target message resolved."""

from __future__ import annotations

import asyncio
import logging

import discord
import pytest
from discord.ext import commands

from discordsim import DiscordSim
from tests.test_discordsim import ErrorLog, pointed_at

TOKEN = "sim-token"


class AppsBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.readies = 0

        @self.tree.command(description="Say whether this channel is age-restricted")
        async def where(interaction: discord.Interaction) -> None:
            channel = interaction.channel
            nsfw = channel.is_nsfw() if hasattr(channel, "is_nsfw") else None
            await interaction.response.send_message(f"{type(channel).__name__} nsfw={nsfw}")

        @self.tree.context_menu(name="Quote message")
        async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_message(
                f"quoting {message.id} by {message.author.name}: {message.content}", ephemeral=True)

    async def on_ready(self) -> None:
        self.readies += 1


@pytest.fixture(scope="module")
async def world():
    sim = await DiscordSim(token=TOKEN).start()
    guild = sim.add_guild("Test Server")
    general = sim.add_channel(guild, "general")
    adults = sim.add_channel(guild, "after-dark", nsfw=True)
    alice = sim.add_member(guild, "alice")
    errors = ErrorLog()
    logging.getLogger("discord").addHandler(errors)
    async with pointed_at(sim):
        bot = AppsBot()
        runner = asyncio.create_task(bot.start(TOKEN))
        await sim.wait_for(lambda: bot.readies >= 1, timeout=20)
        await bot.tree.sync()
        yield {"sim": sim, "bot": bot, "general": general, "adults": adults, "alice": alice}
        await bot.close()
        await asyncio.wait([runner], timeout=10)
    logging.getLogger("discord").removeHandler(errors)
    assert [r.getMessage() for r in errors.records] == []
    assert sim.violations == []
    await sim.stop()


async def where(world, channel) -> str:
    ix = await world["sim"].slash(world["alice"], channel, "where")
    await ix.wait_response()
    return ix.message.content


async def test_the_nsfw_flag_reaches_discord_py_and_threads_inherit_it(world):
    sim, bot = world["sim"], world["bot"]
    assert bot.get_channel(world["adults"].id).is_nsfw() and not bot.get_channel(world["general"].id).is_nsfw()
    assert await where(world, world["general"]) == "TextChannel nsfw=False"
    assert await where(world, world["adults"]) == "TextChannel nsfw=True"
    for parent, expected in ((world["adults"], True), (world["general"], False)):
        thread = sim.open_thread(parent, f"thread in {parent.name}")
        await sim.wait_for(lambda: bot.get_channel(thread.id) is not None, 5)
        assert await where(world, thread) == f"Thread nsfw={expected}"
    assert (await where(world, sim.dm_channel(world["alice"]))).startswith("DMChannel")


async def test_a_message_command_reaches_its_context_menu_with_the_message(world):
    sim, alice = world["sim"], world["alice"]
    [command] = [c for c in sim.commands() if c["type"] == 3]
    assert command["name"] == "Quote message" and command["description"] == ""
    said = await sim.say(alice, world["general"], "hello there")
    ix = await sim.message_command(alice, said, "Quote message")
    await ix.wait_response()
    assert ix.ephemeral and ix.message.content == f"quoting {said.id} by alice: hello there"
    with pytest.raises(ValueError, match="no message command"):
        await sim.message_command(alice, said, "where")  # a slash command, not in the Apps menu
