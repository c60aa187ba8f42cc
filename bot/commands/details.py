"""Clip details: any member picks it in a clip message's Apps menu and sees, privately, how the
clip was made and how it measured (core.quality.facts): model and weights revision, task,
steps, guidance, seed, speed knobs, lane, canary arm, each stage's time, GPU seconds, what
the member waited, every quality signal against the model's median, and the safety check's
result. A private clip's details are its author's only.

The clip is found from the message's `clip <id>` footer, so a post, a `/show` repost or a
DM all work; from its buttons (a status message's ✖ Cancel); then from the clip records
(status and showcase messages).
"""

from __future__ import annotations

import re

import discord
from discord import app_commands
from discord.ext import commands

from bot import posts, records
from bot.answers import observe_ack, reply_private, services_of
from bot.buttons import ACTION, CLIP_ID, PREFIX
from bot.messages import code, truncate
from bot.metrics import COMMANDS
from core import quality
from core.contract import Status

MENU_NAME = "Clip details"
FIELD_MAX = 1024  # Discord's limit on an embed field's value
CLIP_BUTTON = re.compile(rf"{PREFIX}:{ACTION}:(?P<clip_id>{CLIP_ID})")


class Details(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot
        # A cog cannot declare a context menu with a decorator: made here, added on load.
        self.menu = app_commands.ContextMenu(name=MENU_NAME, callback=self.details)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def details(self, interaction: discord.Interaction, message: discord.Message) -> None:
        services = services_of(interaction)
        clip = await self._clip_of(message)
        if clip is None:
            return await self._refuse(interaction, "That message isn't a Reelbot clip, so it has no details.")
        if clip.private and clip.author_id != str(interaction.user.id):
            return await self._refuse(interaction, "That clip is private: only its author can see its details.")
        if clip.deleted:
            return await self._refuse(interaction, "That clip was deleted.")
        if not Status(clip.status).final:
            return await self._refuse(interaction, f"Clip {code(clip.id)} is still being made: its details come "
                                                   "when it is done.")
        async with services.store.session() as s:
            medians = await quality.model_medians(s, clip.model)
        await interaction.response.send_message(embed=details_embed(clip, medians), ephemeral=True)
        observe_ack(interaction)
        COMMANDS.labels("details", "ok").inc()

    async def _clip_of(self, message: discord.Message):
        if self.bot.user is None or message.author.id != self.bot.user.id:
            return None
        store = self.bot.services.store
        for clip_id in [*posts.clip_ids_of(message), *_button_clip_ids(message)]:
            found = await store.get(clip_id)
            if found is not None:
                return found
        return await records.clip_by_message(store, str(message.id))

    async def _refuse(self, interaction: discord.Interaction, text: str) -> None:
        COMMANDS.labels("details", "refused").inc()
        await reply_private(interaction, text)


def _button_clip_ids(message: discord.Message) -> list[str]:
    """The clip ids a message's buttons carry (a status message's ✖ Cancel)."""
    found = []
    for row in message.components:
        for item in getattr(row, "children", []):
            match = CLIP_BUTTON.fullmatch(getattr(item, "custom_id", None) or "")
            if match:
                found.append(match["clip_id"])
    return found


def details_embed(clip, medians: dict[str, float]) -> discord.Embed:
    """The private answer: one field per fact, the prompt as the description."""
    embed = discord.Embed(title="How this clip was made", color=posts.COLOR_DONE,
                          description=truncate(discord.utils.escape_markdown(clip.prompt or "(no prompt)"), 500))
    if clip.status == Status.FAILED.value and clip.error:
        embed.add_field(name="Failed", value=truncate(clip.error, FIELD_MAX), inline=False)
    for name, value in quality.facts(clip, medians):
        embed.add_field(name=name, value=truncate(value, FIELD_MAX), inline=name not in LONG_FACTS)
    for name, value in posts.made_with(clip):  # the effect's LoRA and how the camera move was made
        embed.add_field(name=name, value=truncate(value, FIELD_MAX), inline=False)
    embed.set_footer(text=posts.footer(clip.id))
    return embed


LONG_FACTS = ("Time", "Quality signals", "Rendered again", "Speed knobs", "GPU seconds", "Waited")
