"""/keyframes first last prompt [between1] [between2] [between3]: a clip that starts on `first`,
passes through the `between` pictures in order (evenly spaced) and ends on `last`. Models whose
pipelines take a picture at any frame take all five; one that takes a first and a last only
refuses more, naming the models that take them."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.orders import order_for, place_order
from core.catalog import Task


class Keyframes(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="keyframes", description="A clip through two to five of your pictures")
    @app_commands.describe(first="The first frame", last="The last frame",
                           prompt="What happens in between, and flags",
                           between1="A picture it passes through after the first (optional)",
                           between2="The next one (optional)", between3="The next one (optional)")
    async def keyframes(self, interaction: discord.Interaction, first: discord.Attachment, last: discord.Attachment,
                        prompt: app_commands.Range[str, 1, 6000], between1: discord.Attachment | None = None,
                        between2: discord.Attachment | None = None,
                        between3: discord.Attachment | None = None) -> None:
        # The in-between pictures keep their order (a gap in the options closes up).
        between = [picture for picture in (between1, between2, between3) if picture is not None]
        pictures = {"image": (first, "image"), "last_image": (last, "image")}
        pictures |= {f"between{i}": (picture, "image") for i, picture in enumerate(between, 1)}
        order = order_for(interaction, prompt, task=Task.KEYFRAMES, attachments=pictures,
                          example="/keyframes first:… last:… a sunrise over the bay")
        await place_order(interaction, order, "keyframes")
