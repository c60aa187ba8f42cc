"""/animate image [prompt] [effect]: image-to-video from a first frame; with `effect`, that
effect (a LoRA of the model, with its trigger words) applied to the picture, Pikaffects-style.
The effect option is autocompleted from the effects this deployment serves."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import services_of
from bot.orders import order_for, place_order
from core.catalog import AdapterKind, Task, adapters_of

CHOICES_MAX = 25  # Discord's limit on autocomplete choices


class Animate(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="animate", description="Bring a picture to life")
    @app_commands.describe(image="The first frame (PNG, JPEG or WebP)",
                           prompt="What happens next, and flags, e.g. the leaves sway -len 4",
                           effect="An effect for the picture, e.g. squish or cakeify (/effects lists them)")
    async def animate(self, interaction: discord.Interaction, image: discord.Attachment,
                      prompt: app_commands.Range[str, 0, 6000] | None = None,
                      effect: app_commands.Range[str, 1, 40] | None = None) -> None:
        # The effect is the -effect flag: checked (did you mean), stored and retried as one.
        text = " ".join(part for part in (prompt or "", f"-effect {effect.strip()}" if effect else "") if part)
        order = order_for(interaction, text, task=Task.IMAGE_TO_VIDEO, attachments={"image": (image, "image")},
                          prompt_required=False, example="/animate image: (a picture) effect: squish")
        await place_order(interaction, order, "animate")

    @animate.autocomplete("effect")
    async def effect_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return effect_choices(services_of(interaction).catalog.values(), current)


def effect_choices(catalog, current: str) -> list[app_commands.Choice[str]]:
    """The deployment's image-to-video effects whose name holds what was typed, each with its models."""
    typed = current.strip().lower()
    effects = adapters_of(AdapterKind.EFFECT, [spec for spec in catalog if Task.IMAGE_TO_VIDEO in spec.tasks])
    choices = []
    for name, specs in effects.items():
        able = [spec.name for spec in specs if spec.adapter(AdapterKind.EFFECT, name, Task.IMAGE_TO_VIDEO)]
        if able and typed in name:
            choices.append(app_commands.Choice(name=f"{name} · {', '.join(able)}"[:100], value=name))
    return choices[:CHOICES_MAX]
