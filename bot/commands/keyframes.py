"""/keyframes first last prompt: a clip that starts on `first` and ends on `last`."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.orders import order_for, place_order
from core.catalog import Task


class Keyframes(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="keyframes", description="A clip from one picture to another")
    @app_commands.describe(first="The first frame", last="The last frame",
                           prompt="What happens in between, and flags")
    async def keyframes(self, interaction: discord.Interaction, first: discord.Attachment, last: discord.Attachment,
                        prompt: app_commands.Range[str, 1, 6000]) -> None:
        order = order_for(interaction, prompt, task=Task.KEYFRAMES,
                          attachments={"image": (first, "image"), "last_image": (last, "image")},
                          example="/keyframes first:… last:… a sunrise over the bay")
        await place_order(interaction, order, "keyframes")
