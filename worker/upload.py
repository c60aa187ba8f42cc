"""Encode a render to MP4 + poster and put both in storage under the clip's keys."""

from __future__ import annotations

import time
from dataclasses import dataclass

from core.contract import poster_key, video_key
from core.storage import Storage


@dataclass
class Uploaded:
    video_key: str
    poster_key: str
    video_bytes: int
    encode_s: float
    upload_s: float


def encode_and_upload(storage: Storage, clip_id: str, frames, fps: int, max_bytes: int | None) -> Uploaded:
    """Blocking. Keys derive from the clip id, so a re-run overwrites instead of duplicating.
    With `max_bytes` (the upload limit where the clip is posted) the clip is re-encoded to fit;
    when no bitrate fits, it is kept whole and the bot posts a link to it instead."""
    from inference.encode import EncodeError, encode_mp4, poster_jpeg

    t0 = time.perf_counter()
    try:
        mp4 = encode_mp4(frames, fps, max_bytes=max_bytes)
    except EncodeError:
        mp4 = encode_mp4(frames, fps)
    poster = poster_jpeg(frames)
    t1 = time.perf_counter()
    storage.put(video_key(clip_id), mp4, "video/mp4")
    storage.put(poster_key(clip_id), poster, "image/jpeg")
    t2 = time.perf_counter()
    return Uploaded(video_key(clip_id), poster_key(clip_id), len(mp4), t1 - t0, t2 - t1)


def remove_media(storage: Storage, clip_id: str) -> None:
    for key in (video_key(clip_id), poster_key(clip_id)):
        storage.delete(key)
