"""🗑 Delete: the author, or a member who can manage messages, removes the post and hides the
clip from the galleries (its showcase post goes too); then its media and inputs are deleted
from storage. A delete by someone other than the author is a moderation decision, kept in
the audit log. The moderators' Delete button on a report (bot/commands/report.py) removes a
clip through `Delete.remove` too."""

from __future__ import annotations

import discord

from bot import records
from bot.answers import reply_private, services_of
from bot.buttons import ButtonCog, ClipButton
from bot.metrics import COMMANDS
from core import audit, quality
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
        deleted = await records.mark_deleted(services.store, clip.id)
        if deleted and is_author:  # a member's verdict on their own clip: a quality signal
            await quality.react(services.store.session, clip.id, quality.Kind.DELETE, clip.author_id)
        if deleted and not is_author:
            async with services.store.session.begin() as s:
                await audit.record(s, audit.Action.DELETE, guild_id=str(interaction.guild_id) if interaction.guild_id
                                   else clip.guild_id, member_id=clip.author_id, actor=str(interaction.user.id),
                                   clip_id=clip.id, reason="deleted with the clip's 🗑 button", prompt=clip.prompt)
        await reply_private(interaction, "Deleted: the clip is gone from this channel and from the galleries.")
        COMMANDS.labels("button:delete", "ok").inc()
        await interaction.client.get_cog("Delete").take_down(interaction, clip, post=interaction.message)


class Delete(ButtonCog):
    buttons = (DeleteButton,)

    async def remove(self, interaction: discord.Interaction, clip) -> bool:
        """Delete a clip from elsewhere (a moderator's report button): out of the galleries,
        its post and showcase post gone. False when it was deleted already."""
        deleted = await records.mark_deleted(services_of(interaction).store, clip.id)
        await self.take_down(interaction, clip)
        return deleted

    async def take_down(self, interaction: discord.Interaction, clip, post: discord.Message | None = None) -> None:
        """Remove what Discord shows of a deleted clip: its showcase post and its post (the
        message pressed on, or the one recorded on the clip). Never raises: the clip is
        already out of the galleries."""
        await services_of(interaction).showcase.withdraw(interaction, clip)
        try:
            if post is not None:
                await post.delete()
            elif clip.result_message_id and (clip.thread_id or clip.channel_id):
                where = self.bot.get_partial_messageable(int(clip.thread_id or clip.channel_id))
                await where.get_partial_message(int(clip.result_message_id)).delete()
        except discord.NotFound:
            pass  # already gone
        except discord.HTTPException as exc:
            log.warning("could not delete a clip post", clip_id=clip.id, status=exc.status)
        finally:
            # Last, once no post shows it (whatever the post's removal did): the files, so a
            # deleted clip leaves nothing behind.
            try:
                await purge(services_of(interaction).storage, clip.id)
            except Exception as exc:  # noqa: BLE001 — the clip is deleted and hidden either way
                log.error("could not delete a clip's media", clip_id=clip.id, error=repr(exc))
