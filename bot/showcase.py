"""The showcase channel in Discord: a clip that reaches REELBOT_SHOWCASE_VOTES upvotes is
posted once in the showcase channel of its server (`/admin gallery-channel`), with its
buttons and its author credited; deleting the clip removes that post.

"Once" is core.showcase's claim, a conditional UPDATE on the clip row: when two votes land
at the same moment, possibly in two bot processes, only one caller wins it. The claim is
taken before posting, so a crash between the two loses the post instead of doubling it,
and a post Discord refuses is handed back (`release`) for the next vote to try again.

Posting and deleting go through REST only (a partial messageable), so they work whichever
shard carries the showcase channel's server.
"""

from __future__ import annotations

import asyncio

import discord
from sqlalchemy import update

from bot import posts, records
from core import showcase
from core.logging import get_logger
from core.media import clip_link
from core.tables import GuildSettings, utcnow

log = get_logger("bot")


def showcase_guild(clip, interaction: discord.Interaction) -> str | None:
    """The server whose showcase a clip goes to: where it was made, else (a clip made in a
    DM and shown in a server with /show) where it was voted."""
    if clip.guild_id:
        return clip.guild_id
    return str(interaction.guild_id) if interaction.guild_id else None


async def set_channel(store, guild_id: str, channel_id: str | None) -> bool:
    """Set (or, with None, clear) a server's showcase channel; False when it already was that."""
    async with store.session.begin() as s:
        await records._ensure_guild(s, guild_id)
        result = await s.execute(
            update(GuildSettings)
            .where(GuildSettings.guild_id == guild_id,
                   GuildSettings.gallery_channel_id.is_distinct_from(channel_id))
            .values(gallery_channel_id=channel_id, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return result.rowcount == 1


async def channel_of(store, guild_id: str | None) -> str | None:
    settings = await records.guild(store, guild_id)
    return settings.gallery_channel_id if settings is not None else None


def announcement(clip, votes: int, gallery_url: str | None) -> str:
    text = f"🏆 <@{clip.author_id}>'s clip reached {votes} upvotes" if clip.author_id else \
        f"🏆 This clip reached {votes} upvotes"
    if gallery_url:
        text += f" · {gallery_url.rstrip('/')}/clips/{clip.id}"
    return text


class Showcase:
    """The showcase as the clip buttons reach it at run time (services.showcase): an upvote
    and a delete sit below the posting layer, so they call up through this, not an import."""

    def __init__(self, client: discord.Client, services):
        self.client = client
        self.services = services

    async def after_upvote(self, interaction: discord.Interaction, clip, votes: int) -> discord.Message | None:
        """Called after an upvote was counted and answered: post the clip to the showcase when
        this vote is the one that brought it to the threshold. Never raises: the vote stands
        whatever happens to the post."""
        services = self.services
        threshold = services.settings.showcase_votes
        if votes < threshold:
            return None
        try:
            channel_id = await channel_of(services.store, showcase_guild(clip, interaction))
            if channel_id is None or not await showcase.try_claim(services.store.session, clip.id,
                                                                   threshold=threshold):
                return None
            return await self._post(clip, channel_id, votes)
        except Exception as exc:  # noqa: BLE001 — logged; the member's vote is already answered
            log.error("showcase post failed", clip_id=clip.id, error=repr(exc), exc_info=exc)
            return None

    async def _post(self, clip, channel_id: str, votes: int) -> discord.Message | None:
        services = self.services
        fresh = await services.store.get(clip.id) or clip
        try:
            post = await _clip_post(services, fresh)
            file = post.file()
            message = await self.client.get_partial_messageable(int(channel_id)).send(
                announcement(fresh, votes, services.settings.gallery_url), embed=post.embed, view=post.view,
                file=file or discord.utils.MISSING, allowed_mentions=discord.AllowedMentions.none())
        except Exception:
            async with services.store.session.begin() as s:
                await showcase.release(s, clip.id)
            raise
        async with services.store.session.begin() as s:
            await showcase.record_post(s, clip.id, str(message.id))
        log.info("clip showcased", clip_id=clip.id, channel_id=channel_id, message_id=message.id, votes=votes)
        return message

    async def withdraw(self, interaction: discord.Interaction, clip) -> None:
        """After a delete: remove the clip's showcase post (once, even with two deletes at once).
        Never raises: the clip is already deleted and out of the galleries."""
        services = self.services
        try:
            async with services.store.session.begin() as s:
                message_id = await showcase.withdraw(s, clip.id)
            if message_id is None:
                return
            if interaction.message is not None and str(interaction.message.id) == message_id:
                return  # pressed on the showcase post itself: the delete button's own path removes it
            channel_id = await channel_of(services.store, showcase_guild(clip, interaction))
            if channel_id is None:
                log.warning("showcase post left: the server has no showcase channel now", clip_id=clip.id)
                return
            await client_delete(self.client, channel_id, message_id)
        except Exception as exc:  # noqa: BLE001
            log.error("could not remove a showcase post", clip_id=clip.id, error=repr(exc), exc_info=exc)


async def _clip_post(services, clip) -> posts.Post:
    """The clip's post with the MP4 attached when it fits the upload limit of the place it
    was made (the showcase is in the same server), a link otherwise."""
    limit = clip.max_bytes or services.settings.attachment_size_limit
    if clip.video_key and clip.video_bytes and clip.video_bytes <= limit:
        try:
            video = await asyncio.to_thread(services.storage.get, clip.video_key)
            return posts.result_post(clip, video=video, video_url=None, mention=False)
        except Exception as exc:  # noqa: BLE001 — missing file, S3 error: the link still works
            log.warning("showcase: video not readable, linking it", clip_id=clip.id, error=repr(exc))
    return posts.result_post(clip, video=None, video_url=clip_link(clip, services.settings, services.storage),
                             mention=False)


async def client_delete(client, channel_id: str, message_id: str) -> None:
    try:
        await client.get_partial_messageable(int(channel_id)).get_partial_message(int(message_id)).delete()
    except discord.NotFound:
        pass  # already gone (a moderator removed it)
