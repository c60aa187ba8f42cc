"""/help: the flag reference, with examples."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import reply_private
from bot.messages import HELP
from bot.metrics import COMMANDS


class Help(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="help", description="How to make clips: commands, flags and examples")
    async def help(self, interaction: discord.Interaction) -> None:
        await reply_private(interaction, HELP)
        COMMANDS.labels("help", "ok").inc()
