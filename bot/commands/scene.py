"""/scene prompt ingredient1 [ingredient2] [ingredient3]: a clip in which the characters, objects
or places of the pictures appear together, as the prompt says (Pikascenes' ingredients), on the
models that take reference pictures (Wan VACE's reference_images). The pictures are checked
like any attachment and stored as the clip's inputs, so Retry and Remix use them again."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.orders import order_for, place_order
from core.catalog import INGREDIENTS_MAX, Task

EXAMPLE = "/scene a knight and her dragon share a picnic on a hill ingredient1: (a picture) ingredient2: (another)"


class Scene(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="scene", description="Put the people, things or places of your pictures in one clip")
    @app_commands.describe(prompt="What happens, and flags, e.g. the cat sits on the car in the rain -ar 16:9",
                           ingredient1="A character, object or place to put in (PNG, JPEG or WebP)",
                           ingredient2="Another one (optional)", ingredient3="Another one (optional)")
    async def scene(self, interaction: discord.Interaction, prompt: app_commands.Range[str, 1, 6000],
                    ingredient1: discord.Attachment, ingredient2: discord.Attachment | None = None,
                    ingredient3: discord.Attachment | None = None) -> None:
        given = [ingredient1, ingredient2, ingredient3][:INGREDIENTS_MAX]
        pictures = {f"ingredient{i}": (picture, "image") for i, picture in enumerate(given, 1) if picture is not None}
        # Without -model, a model of the deployment that takes reference pictures stands in.
        order = order_for(interaction, prompt, task=Task.SCENE, attachments=pictures, example=EXAMPLE,
                          any_capable=True)
        await place_order(interaction, order, "scene")
