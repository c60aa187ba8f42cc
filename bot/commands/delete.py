"""🗑 Delete: the author, or a member who can manage messages, removes the post and hides the
clip from the galleries (its showcase post goes too); then its media and inputs are deleted
from storage."""

from __future__ import annotations

import discord

from bot import records
from bot.answers import reply_private, services_of
from bot.buttons import ButtonCog, ClipButton
from bot.metrics import COMMANDS
from core.logging import get_logger
from core.media import purge

log = get_logger("bot")


class DeleteButton(ClipButton, action="delete"):
    label, emoji, style = "Delete", "🗑", discord.ButtonStyle.danger

    async def pressed(self, interaction: discord.Interaction, clip) -> None:
        is_author = clip.author_id == str(interaction.user.id)
        if not (is_author or interaction.permissions.manage_messages):
            COMMANDS.labels("button:delete", "refused").inc()
            await reply_private(interaction, "Only the clip's author, or members who can manage messages, "
                                             "can delete it.")
            return
        services = services_of(interaction)
        await records.mark_deleted(services.store, clip.id)
        await reply_private(interaction, "Deleted: the clip is gone from this channel and from the galleries.")
        COMMANDS.labels("button:delete", "ok").inc()
        await services.showcase.withdraw(interaction, clip)
        try:
            if interaction.message is not None:
                try:
                    await interaction.message.delete()
                except discord.HTTPException as exc:
                    log.warning("could not delete a clip post", clip_id=clip.id, status=exc.status)
        finally:
            # Last, once no post shows it (whatever the post's removal did): the files, so a
            # deleted clip leaves nothing behind.
            try:
                await purge(services.storage, clip.id)
            except Exception as exc:  # noqa: BLE001 — the clip is deleted and hidden either way
                log.error("could not delete a clip's media", clip_id=clip.id, error=repr(exc))


class Delete(ButtonCog):
    buttons = (DeleteButton,)
