"""/create prompt [image] [video]: text-to-video, or image-to-video from `image`, or a
video-to-video restyle of `video`."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import reply_private
from bot.metrics import COMMANDS
from bot.orders import order_for, place_order
from core.catalog import Task

PROMPT_MAX = 6000  # Discord's own limit; the prompt's real limit (flags excluded) is checked by the parser


class Create(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="create", description="Make a video from a prompt; flags like -ar 9:16 go after it")
    @app_commands.describe(prompt="What the clip shows, then flags, e.g. a fox in snow -ar 9:16 -len 4",
                           image="A first frame to animate (PNG, JPEG or WebP)",
                           video="A video to restyle (MP4, WebM or MOV, up to 10 s)")
    async def create(self, interaction: discord.Interaction, prompt: app_commands.Range[str, 1, PROMPT_MAX],
                     image: discord.Attachment | None = None, video: discord.Attachment | None = None) -> None:
        if image is not None and video is not None:
            COMMANDS.labels("create", "refused").inc()
            await reply_private(interaction, "Attach an image or a video, not both: an image is animated, "
                                             "a video is restyled.")
            return
        if image is not None:
            order = order_for(interaction, prompt, task=Task.IMAGE_TO_VIDEO, attachments={"image": (image, "image")})
        elif video is not None:
            order = order_for(interaction, prompt, task=Task.VIDEO_TO_VIDEO, attachments={"video": (video, "video")})
        else:
            order = order_for(interaction, prompt)
        await place_order(interaction, order, "create")
