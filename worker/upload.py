"""Encode a render (its sound too) to MP4 + poster and put both in storage under the clip's
keys; through the spool (worker/spool.py), waiting out a storage outage without ever
rendering the clip again."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Awaitable, Callable

from core.backoff import delays
from core.contract import UPLOADING, Outcome, Progress, poster_key, video_key
from core.events import report_progress
from core.logging import get_logger
from core.storage import Storage, unavailable
from worker.outage import REDIS_DOWN
from worker.spool import Encoded

log = get_logger("worker")


def upload(storage: Storage, clip_id: str, encoded: Encoded) -> float:
    """Blocking: the MP4 and poster under the clip's keys; the seconds it took."""
    started = time.perf_counter()
    storage.put(video_key(clip_id), encoded.mp4, "video/mp4")
    storage.put(poster_key(clip_id), encoded.poster, "image/jpeg")
    return time.perf_counter() - started


async def store_clip(rt, outcome: Outcome, encoded: Encoded, cancelled: Callable[[], Awaitable[bool]]) -> float:
    """Spool the encoded clip, then upload it, waiting out storage outages (backoff, one log
    line, /readyz and the member's status say so) until it is stored or the member cancels
    (`cancelled()` raises or returns True: the caller reports it). Seconds spent uploading."""
    clip_id = outcome.clip_id
    await asyncio.to_thread(rt.spool.put, clip_id, encoded, outcome)
    started, told = time.perf_counter(), False
    for delay in delays():
        try:
            await asyncio.to_thread(upload, rt.storage, clip_id, encoded)
        except Exception as exc:
            if not unavailable(exc):
                raise
            rt.storage_watch.down(exc, "uploading a clip")
            if not told:
                told = await _say_uploading(rt, clip_id)
            if await cancelled():
                break
            await asyncio.sleep(delay)
        else:
            rt.storage_watch.up()
            break
    return time.perf_counter() - started


async def _say_uploading(rt, clip_id: str) -> bool:
    """Best effort: the status shows "uploading…" instead of a finished render bar."""
    with contextlib.suppress(*REDIS_DOWN):
        await report_progress(rt.redis, Progress(clip_id=clip_id, step=1, total=1, stage=UPLOADING))
        return True
    return False


def encode_clip(frames, fps: int, max_bytes: int | None, sound: bytes | None = None, audio=None, *,
                codec: str = "libx264") -> Encoded:
    """Blocking. With `max_bytes` (the upload limit where the clip is posted) the clip is
    re-encoded to fit; when no bitrate fits, it is kept whole and the bot posts a link to it.
    `sound`: an encoded source whose sound track the clip keeps (an edit's, a restyle's);
    `audio`: the clip's own sound (an inference.audio.Track: a model's, a lip-sync's).
    `codec`: the worker's encoder (inference.encode.pick_encoder); a hardware one failing on
    this clip (sessions, memory) gives way to libx264 for it."""
    from inference.encode import SOFTWARE, EncodeError, poster_jpeg

    t0 = time.perf_counter()
    try:
        mp4 = _encoded(frames, fps, max_bytes, sound, audio, codec)
    except EncodeError:
        raise
    except Exception as exc:  # noqa: BLE001 — any hardware encoder fault on this clip
        if codec == SOFTWARE:
            raise
        log.warning("hardware encode failed: this clip goes through libx264", codec=codec,
                    error=f"{type(exc).__name__}: {exc}")
        mp4 = _encoded(frames, fps, max_bytes, sound, audio, SOFTWARE)
    poster = poster_jpeg(frames)
    return Encoded(mp4, poster, time.perf_counter() - t0, sound=audio is not None or sound is not None)


def _encoded(frames, fps: int, max_bytes: int | None, sound: bytes | None, audio, codec: str) -> bytes:
    track = {} if audio is None else {"audio": audio.samples, "audio_rate": audio.rate}
    mp4 = _fitted(frames, fps, max_bytes, codec, **track)
    if sound is not None and audio is None:
        mp4 = _with_sound(mp4, frames, fps, max_bytes, sound, codec)
    return mp4


def _with_sound(mp4: bytes, frames, fps: int, max_bytes: int | None, sound: bytes, codec: str) -> bytes:
    """The clip with its source's sound; within a byte budget, the video gives up what the sound takes."""
    from inference.encode import add_sound

    seconds = len(frames) / fps
    with_sound = add_sound(mp4, sound, seconds)
    if max_bytes is not None and len(with_sound) > max_bytes:
        sound_bytes = len(with_sound) - len(mp4)
        with_sound = add_sound(_fitted(frames, fps, max(1, max_bytes - sound_bytes), codec), sound, seconds)
    return with_sound


def _fitted(frames, fps: int, max_bytes: int | None, codec: str, **track) -> bytes:
    """The MP4 (with `track`: audio and audio_rate, when the clip has its own sound) within
    `max_bytes` when some bitrate fits it, else whole (it is linked, not attached)."""
    from inference.encode import EncodeError, encode_mp4

    try:
        return encode_mp4(frames, fps, max_bytes=max_bytes, codec=codec, **track)
    except EncodeError:
        if max_bytes is None:
            raise  # not a budget that failed: the frames or the sound themselves
        return encode_mp4(frames, fps, codec=codec, **track)


def remove_media(storage: Storage, clip_id: str) -> None:
    for key in (video_key(clip_id), poster_key(clip_id)):
        storage.delete(key)
