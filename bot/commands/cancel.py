"""/cancel [clip]: stop a queued or running job of yours (default: your newest). The status
message's ✖ Cancel button (bot/status.py) does the same for one clip."""

from __future__ import annotations

import discord
from discord import app_commands

from bot import records
from bot.answers import reply_private, services_of
from bot.buttons import ButtonCog
from bot.commands.lookup import find_clip, not_found
from bot.metrics import COMMANDS
from bot.status import CancelButton, cancel_clip


class Cancel(ButtonCog):
    buttons = (CancelButton,)

    @app_commands.command(name="cancel", description="Stop one of your clips that is queued or rendering")
    @app_commands.describe(clip="The clip's id or a link to its status message (default: your newest)")
    async def cancel(self, interaction: discord.Interaction,
                     clip: app_commands.Range[str, 1, 200] | None = None) -> None:
        store = services_of(interaction).store
        if clip is None:
            found = await records.newest_unfinished(store, str(interaction.user.id))
            if found is None:
                COMMANDS.labels("cancel", "refused").inc()
                await reply_private(interaction, "You have no clips queued or rendering.")
                return
        else:
            found = await find_clip(store, clip)
            if found is None:
                COMMANDS.labels("cancel", "refused").inc()
                await reply_private(interaction, not_found(clip))
                return
        await cancel_clip(interaction, found, command="cancel")
