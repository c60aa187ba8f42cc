"""/animate image [prompt]: image-to-video from a first frame."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.orders import order_for, place_order
from core.catalog import Task


class Animate(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="animate", description="Bring a picture to life")
    @app_commands.describe(image="The first frame (PNG, JPEG or WebP)",
                           prompt="What happens next, and flags, e.g. the leaves sway -len 4")
    async def animate(self, interaction: discord.Interaction, image: discord.Attachment,
                      prompt: app_commands.Range[str, 0, 6000] | None = None) -> None:
        order = order_for(interaction, prompt or "", task=Task.IMAGE_TO_VIDEO, attachments={"image": (image, "image")},
                          prompt_required=False)
        await place_order(interaction, order, "animate")
