"""/help: the flag reference, with examples, and what the image-safety check does here
(or that the operator turned it off)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import reply_private, services_of
from bot.messages import HELP
from bot.metrics import COMMANDS
from core.safety import describe


class Help(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="help", description="How to make clips: commands, flags and examples")
    async def help(self, interaction: discord.Interaction) -> None:
        await reply_private(interaction, f"{HELP}\n\n{describe(services_of(interaction).settings)}")
        COMMANDS.labels("help", "ok").inc()
