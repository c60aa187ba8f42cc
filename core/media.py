"""A clip's files in storage over its life: made public once posted, purged once deleted.

Workers write every clip under clips/<id>/, which is never world-readable (presigned URLs
only). Once the bot posts a clip publicly (not -private), `publish` copies its video and
poster to public/clips/<id>/, the one prefix a deployment may make public (core/storage.py),
points the record at the copies and removes the private ones. `purge` removes everything a
deleted clip left: its files in either place and the inputs stored for it (inputs/<id>/).
Both are safe to run again after a crash halfway.
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
