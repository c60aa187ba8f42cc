"""A clip's files in storage over its life: fitted to where it is posted, made public once
posted, linked so the link keeps working, purged once deleted.

Workers write every clip under clips/<id>/, which is never world-readable (presigned URLs
only), re-encoded to fit `upload_limit` when they can. Once the bot posts a clip publicly (not
-private), `publish` copies its video and poster to public/clips/<id>/, the one prefix a
deployment may make public (core/storage.py), points the record at the copies and removes the
private ones. A clip too big to attach is posted as `clip_link`. `purge` removes everything a
deleted clip left: its files in either place and the inputs stored for it (inputs/<id>/).
Publish and purge are safe to run again after a crash halfway.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import update

from core.clips import ClipStore
from core.contract import PUBLIC_PREFIX, input_key, poster_key, public_key, video_key
from core.logging import get_logger
from core.storage import Storage
from core.tables import Clip, utcnow

log = get_logger("media")


def upload_limit(settings, place_limit: int | None, private: bool) -> int:
    """The bytes a clip may have to be attached where it is posted: the upload limit of the place
    the command came from (Discord's `filesize_limit`), or a DM's (the default) for -private clips."""
    limit = place_limit or settings.attachment_size_limit
    return min(limit, settings.attachment_size_limit) if private else limit


def clip_link(clip, settings, storage: Storage) -> str | None:
    """A link to the clip that keeps working, for posts that cannot attach it: a public clip's
    page on the web gallery (REELBOT_GALLERY_URL), else the permanent URL of its published video
    (REELBOT_PUBLIC_BASE_URL). A -private clip, shown to its author alone, gets a short presigned
    URL. Never a local path; None when there is no web address to give."""
    if not clip.video_key:
        return None
    if not clip.private:
        if settings.gallery_url:
            return f"{settings.gallery_url.rstrip('/')}/clips/{clip.id}"
        return storage.public_url(clip.video_key)
    url = storage.url(clip.video_key)
    return url if url.startswith(("https://", "http://")) else None


async def publish(storage: Storage, store: ClipStore, clip: Clip) -> Clip:
    """Make a posted public clip's video and poster world-readable; returns the clip as now recorded."""
    if clip.private or clip.deleted or not clip.video_key or clip.video_key.startswith(PUBLIC_PREFIX):
        return clip
    moves = {key: public_key(key) for key in (clip.video_key, clip.poster_key) if key}
    for source, target in moves.items():
        await asyncio.to_thread(storage.copy, source, target)
    # Conditional: a delete (or another bot process) that got there first wins.
    async with store.session.begin() as s:
        result = await s.execute(
            update(Clip).where(Clip.id == clip.id, Clip.video_key == clip.video_key, Clip.deleted.is_(False))
            .values(video_key=moves[clip.video_key], poster_key=moves.get(clip.poster_key, clip.poster_key),
                    updated_at=utcnow())
            .execution_options(synchronize_session=False))
    if result.rowcount == 1:
        for source in moves:
            await asyncio.to_thread(storage.delete, source)
    return await store.get(clip.id) or clip


def clip_prefixes(clip_id: str) -> list[str]:
    """Every storage prefix that holds files of this clip alone."""
    video_folder = video_key(clip_id).rsplit("/", 1)[0] + "/"
    poster_folder = poster_key(clip_id).rsplit("/", 1)[0] + "/"
    inputs_folder = input_key(clip_id, "x").rsplit("/", 1)[0] + "/"
    folders = dict.fromkeys([video_folder, poster_folder, public_key(video_folder), public_key(poster_folder),
                             inputs_folder])
    return list(folders)


async def purge(storage: Storage, clip_id: str) -> int:
    """Delete the clip's video, poster (private and public copies) and its stored inputs;
    returns how many files went. Inputs it reused from an earlier clip stay with that clip."""
    removed = 0
    for prefix in clip_prefixes(clip_id):
        removed += await asyncio.to_thread(storage.delete_prefix, prefix)
    log.info("clip media deleted", clip_id=clip_id, files=removed)
    return removed
