"""/extend clip [prompt]: continue a finished clip from its last frames."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.actions import extend_clip, reply_private, services_of
from bot.commands.lookup import find_clip, not_found
from bot.metrics import COMMANDS


class Extend(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="extend", description="Continue one of the clips")
    @app_commands.describe(clip="The clip's id (in its footer) or a link to its message",
                           prompt="What happens next, and flags (default: the clip's own)")
    async def extend(self, interaction: discord.Interaction, clip: app_commands.Range[str, 1, 200],
                     prompt: app_commands.Range[str, 0, 6000] | None = None) -> None:
        found = await find_clip(services_of(interaction).store, clip)
        if found is None or (found.private and found.author_id != str(interaction.user.id)):
            COMMANDS.labels("extend", "refused").inc()
            await reply_private(interaction, not_found(clip))
            return
        await extend_clip(interaction, found, prompt=prompt or None, command="extend")
