"""🔀 Remix: a dialog pre-filled with the clip's prompt and flags; what the member submits is
queued as a new clip whose parent is this one.

discord.py keeps modals in memory only, so the submission is routed by its custom id
(`reelbot:remixed:<clip id>`) in this cog's listener: a dialog opened before a restart
still works after it.
"""

from __future__ import annotations

import discord
from discord.ext import commands

from bot import messages
from bot.answers import (
    modal_values,
    observe_ack,
)
from bot.buttons import ButtonCog, ClipButton, dialog_submitted
from bot.metrics import COMMANDS
from bot.orders import inputs_of, order_for, place_order, text_of
from core.catalog import Task
from core.quality import Kind

REMIXED = "reelbot:remixed:"


class RemixModal(discord.ui.Modal):
    def __init__(self, clip):
        super().__init__(title="Remix this clip", custom_id=f"{REMIXED}{clip.id}", timeout=15 * 60)
        self.add_item(discord.ui.TextInput(
            label="Prompt and flags", custom_id="prompt", style=discord.TextStyle.paragraph,
            default=messages.truncate(text_of(clip), 4000), max_length=4000, required=True))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        pass  # Remix.on_interaction handles every submission, also those from before a restart


class RemixButton(ClipButton, action="remix"):
    label, emoji = "Remix", "🔀"

    async def pressed(self, interaction: discord.Interaction, clip) -> None:
        # A modal must be the first response: nothing slow may come before it.
        await interaction.response.send_modal(RemixModal(clip))
        observe_ack(interaction)
        COMMANDS.labels("button:remix", "ok").inc()


class Remix(ButtonCog):
    buttons = (RemixButton,)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await dialog_submitted(interaction, REMIXED, "remix", self.remixed)

    async def remixed(self, interaction: discord.Interaction, clip) -> None:
        text = modal_values(interaction.data or {}).get("prompt", "")
        order = order_for(interaction, text, task=Task(clip.task), reuse_inputs=inputs_of(clip), parent_id=clip.id,
                          model_hint=clip.model, prompt_required=not clip.input_keys, reacting=(clip.id, Kind.REMIX))
        await place_order(interaction, order, "remix")
