"""Report clip: any member reports a clip from its message's Apps menu. The server's
moderators get one message per clip in their channel (`/admin mod-channel`), saying how
many members reported it (edited as more do), with buttons to delete the clip or dismiss
the report; both buttons are dynamic items, so they work on messages from before a
restart. Filing, counting and the once-only moderators' message are core/reports.py;
every report, delete and dismissal is in the audit log.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import records
from bot.answers import reply_private, services_of, went_wrong
from bot.buttons import ButtonCog, ClipButton, view_of
from bot.messages import code, truncate
from bot.metrics import COMMANDS
from core import quality, reports
from core.contract import Status
from core.logging import get_logger

log = get_logger("bot")
MENU_NAME = "Report clip"
PROMPT_SHOWN = 300


def report_text(clip, count: int, guild_id: str | None, *, settled: reports.State = reports.State.OPEN,
                by: str | None = None) -> str:
    """The moderators' message: which clip, whose, how many reported it, and what became of it."""
    members = f"{count} member{'s' if count != 1 else ''}"
    lines = [f"🚩 **Clip reported** by {members} · clip {code(clip.id)}"
             + (f" by <@{clip.author_id}>" if clip.author_id else "")]
    where = clip.thread_id or clip.channel_id
    if where and clip.result_message_id and guild_id and not clip.deleted:
        lines.append(f"Post: https://discord.com/channels/{guild_id}/{where}/{clip.result_message_id}")
    if clip.prompt:
        lines.append(f"Prompt: {code(truncate(' '.join(clip.prompt.split()), PROMPT_SHOWN))}")
    if clip.flagged:
        lines.append("The image-safety check flagged it too (posted in an age-restricted channel).")
    if settled is reports.State.DELETED:
        lines.append(f"🗑 Deleted by <@{by}>.")
    elif settled is reports.State.DISMISSED:
        lines.append(f"✅ Dismissed by <@{by}>: the clip stays.")
    return "\n".join(lines)


class _ModeratorButton(ClipButton, action="report"):
    settles: reports.State = reports.State.OPEN

    async def pressed(self, interaction: discord.Interaction, clip) -> None:
        await interaction.client.get_cog("Report").settle(interaction, clip, self.settles)


class ReportDeleteButton(_ModeratorButton, action="report-delete"):
    label, emoji, style = "Delete clip", "🗑", discord.ButtonStyle.danger
    settles = reports.State.DELETED


class ReportDismissButton(_ModeratorButton, action="report-dismiss"):
    label, emoji = "Dismiss", "✅"
    settles = reports.State.DISMISSED


def moderator_view(clip_id: str) -> discord.ui.View:
    return view_of(ReportDeleteButton(clip_id), ReportDismissButton(clip_id))


class Report(ButtonCog):
    buttons = (ReportDeleteButton, ReportDismissButton)

    def __init__(self, bot: commands.Bot):
        super().__init__(bot)
        # A cog cannot declare a context menu with a decorator: made here, added on load.
        self.menu = app_commands.guild_only(app_commands.ContextMenu(name=MENU_NAME, callback=self.report))

    async def cog_load(self) -> None:
        await super().cog_load()
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        await super().cog_unload()
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    # --- a member reports ----------------------------------------------------------

    async def report(self, interaction: discord.Interaction, message: discord.Message) -> None:
        services = services_of(interaction)
        member_id = str(interaction.user.id)
        clip = None
        if self.bot.user is not None and message.author.id == self.bot.user.id:
            clip = await records.clip_by_message(services.store, str(message.id))
        if clip is None or clip.status != Status.DONE.value:
            return await self._refuse(interaction, "That message isn't a Reelbot clip, so there is nothing to report.")
        if clip.deleted:
            return await self._refuse(interaction, "That clip was deleted already.")
        if clip.author_id == member_id:
            return await self._refuse(interaction, "That's your own clip: delete it with its 🗑 button.")
        guild_id = str(interaction.guild_id)
        guild = await records.guild(services.store, guild_id)
        mod_channel = guild.mod_channel_id if guild is not None else None
        filed = await reports.file(services.store.session, clip.id, guild_id, member_id, mod_channel,
                                   prompt=clip.prompt)
        if filed.new:
            await quality.react(services.store.session, clip.id, quality.Kind.REPORT, member_id)
        if not filed.new:
            text = "You already reported this clip: the moderators have it."
        elif mod_channel:
            text = "Thanks: the clip was reported to this server's moderators."
        else:
            text = ("Thanks: the report is recorded. This server has no moderators' channel yet, so its managers "
                    "see it in `/admin audit`.")
        await reply_private(interaction, text)
        COMMANDS.labels("report", "ok" if filed.new else "repeat").inc()
        if filed.post:
            await self._post(clip, filed, guild_id)
        elif filed.new and filed.message_id:
            await self._edit(clip, filed.channel_id, filed.message_id, filed.count, guild_id)

    async def _refuse(self, interaction: discord.Interaction, text: str) -> None:
        COMMANDS.labels("report", "refused").inc()
        await reply_private(interaction, text)

    async def _post(self, clip, filed: reports.Filed, guild_id: str) -> None:
        """Post the moderators' message (this caller holds the claim), then edit in any
        report that arrived meanwhile. A post Discord refuses hands the claim back."""
        sessions = self.bot.services.store.session
        channel = self.bot.get_partial_messageable(int(filed.channel_id))
        try:
            # One nonce per report round: a POST discord.py repeats after a 5xx is not posted twice.
            message = await channel.send(report_text(clip, filed.count, guild_id), view=moderator_view(clip.id),
                                         allowed_mentions=discord.AllowedMentions.none(),
                                         nonce=f"{clip.id[:20]}r{filed.count}")
        except Exception as exc:  # noqa: BLE001 — Discord refused (channel gone, no permission)
            await reports.release(sessions, clip.id)
            log.warning("could not post a report to the moderators' channel", clip_id=clip.id, error=repr(exc))
            return
        count = await reports.posted(sessions, clip.id, str(message.id))
        if count != filed.count:
            await self._edit(clip, filed.channel_id, str(message.id), count, guild_id)

    async def _edit(self, clip, channel_id: str, message_id: str, count: int, guild_id: str) -> None:
        try:
            message = self.bot.get_partial_messageable(int(channel_id)).get_partial_message(int(message_id))
            await message.edit(content=report_text(clip, count, guild_id))
        except discord.HTTPException as exc:
            log.warning("could not update a report's count", clip_id=clip.id, status=exc.status)

    # --- a moderator decides -------------------------------------------------------

    async def settle(self, interaction: discord.Interaction, clip, state: reports.State) -> None:
        name = f"button:report-{'delete' if state is reports.State.DELETED else 'dismiss'}"
        if not interaction.permissions.manage_messages:
            COMMANDS.labels(name, "refused").inc()
            return await reply_private(interaction, "Only moderators (the Manage Messages permission) can do this.")
        services = services_of(interaction)
        moderator = str(interaction.user.id)
        report = await reports.resolve(services.store.session, clip.id, state, by=moderator)
        if report is None:
            COMMANDS.labels(name, "refused").inc()
            return await reply_private(interaction, "This report was handled already.")
        guild_id = str(interaction.guild_id) if interaction.guild_id else report.guild_id
        if state is reports.State.DELETED:
            clip.deleted = True  # the message below no longer links to the post
        await interaction.response.edit_message(content=report_text(clip, report.count, guild_id, settled=state,
                                                                    by=moderator), view=None)
        COMMANDS.labels(name, "ok").inc()
        if state is reports.State.DELETED:
            try:
                await self.bot.get_cog("Delete").remove(interaction, clip)
            except Exception as exc:  # noqa: BLE001 — the member gets an answer; the bot stays up
                await went_wrong(interaction, name, exc)
