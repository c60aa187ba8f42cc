"""/help: the flag reference, with examples, and what the image-safety check does here
(or that the operator turned it off)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import observe_ack, services_of
from bot.messages import HELP
from bot.metrics import COMMANDS
from core.safety import describe


class Help(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="help", description="How to make clips: commands, flags and examples")
    async def help(self, interaction: discord.Interaction) -> None:
        # An embed: the reference outgrew a message's 2,000 characters (its description takes 4,096).
        embed = discord.Embed(title="Making clips with Reelbot", description=HELP, color=discord.Color.blurple())
        embed.add_field(name="Safety", value=describe(services_of(interaction).settings), inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)
        observe_ack(interaction)
        COMMANDS.labels("help", "ok").inc()
