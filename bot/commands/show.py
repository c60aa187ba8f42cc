"""/show clip: post a clip again here, with its buttons (private clips only to their author)."""

from __future__ import annotations

import asyncio

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages, posts
from bot.answers import reply_private, services_of
from bot.commands.lookup import find_clip, not_found
from bot.metrics import COMMANDS
from bot.orders import age_restricted
from core.contract import Status
from core.media import clip_link


class Show(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="show", description="Post a clip here again, with its buttons")
    @app_commands.describe(clip="The clip's id (in its footer) or a link to its message")
    async def show(self, interaction: discord.Interaction, clip: app_commands.Range[str, 1, 200]) -> None:
        services = services_of(interaction)
        found = await find_clip(services.store, clip)
        mine = found is not None and found.author_id == str(interaction.user.id)
        if found is None or (found.private and not mine):
            return await self._refuse(interaction, not_found(clip))
        if found.deleted:
            return await self._refuse(interaction, "That clip was deleted.")
        if found.flagged and not age_restricted(interaction.channel):
            return await self._refuse(interaction, "The image-safety check flagged that clip: it can be shown "
                                                   "only in age-restricted channels.")
        if found.status != Status.DONE.value:
            what = {"queued": "is still in the queue", "running": "is still rendering",
                    "failed": f"failed: {found.error or 'the render failed'}",
                    "cancelled": "was cancelled"}.get(found.status, found.status)
            return await self._refuse(interaction, f"Clip `{found.id}` {what}.")
        # Fetching the MP4 can take a moment: answer first (privately for private clips).
        await interaction.response.defer(ephemeral=found.private, thinking=True)
        limit = interaction.filesize_limit
        video, url = None, None
        if found.video_key and found.video_bytes and found.video_bytes <= limit:
            video = await asyncio.to_thread(services.storage.get, found.video_key)
        else:
            url = clip_link(found, services.settings, services.storage)
        post = posts.result_post(found, video=video, video_url=url, mention=False)
        # Editing the deferred answer (not a followup) is idempotent: a retried request can't post twice.
        file = post.file()
        await interaction.edit_original_response(embed=post.embed, view=post.view,
                                                 attachments=[file] if file else discord.utils.MISSING,
                                                 allowed_mentions=discord.AllowedMentions.none())
        COMMANDS.labels("show", "ok").inc()

    async def _refuse(self, interaction: discord.Interaction, text: str) -> None:
        COMMANDS.labels("show", "refused").inc()
        await reply_private(interaction, messages.truncate(text, messages.CONTENT_MAX))
