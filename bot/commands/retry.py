"""🔁 Retry: the clip's own prompt, flags and model again, with a new seed, as a new job.

Whoever presses it gets the clip as it was asked for: the presser's `/settings` do not
apply. A `-private` clip can only be retried by its author.
"""

from __future__ import annotations

import discord

from bot.answers import reply_private
from bot.buttons import ButtonCog, ClipButton
from bot.metrics import COMMANDS
from bot.orders import inputs_of, order_for, place_order, text_of
from core.catalog import Task
from core.quality import Kind


class RetryButton(ClipButton, action="retry"):
    label, emoji = "Retry", "🔁"

    async def pressed(self, interaction: discord.Interaction, clip) -> None:
        if clip.private and clip.author_id != str(interaction.user.id):
            COMMANDS.labels("button:retry", "refused").inc()
            await reply_private(interaction, "This clip is private: only its author can retry it.")
            return
        order = order_for(interaction, text_of(clip, drop_seed=True), task=Task(clip.task),
                          reuse_inputs=inputs_of(clip), parent_id=clip.parent_id, model_hint=clip.model,
                          prompt_required=False, drop_seed=True, member_defaults=False,
                          reacting=(clip.id, Kind.RETRY))
        await place_order(interaction, order, "button:retry")


class Retry(ButtonCog):
    buttons = (RetryButton,)
