"""Turn a job's stored attachments and its flags into what the renderer takes.

Fetching an input can fail for a moment (storage away): the job is tried again. Decoding
it fails the same way every time: BrokenInput, said to the member at once.
"""

from __future__ import annotations

import io
from collections import deque

from core.contract import RenderJob
from core.logging import get_logger
from core.storage import Storage

log = get_logger("worker")

# Input names the bot uses (RenderJob.input_keys) → how to decode them and where they go
# in RenderInput. "parent" is the MP4 of the clip an extend continues.
IMAGES = {"image": "image", "last_image": "last_image"}
CLIPS = {"video": "video", "parent": "parent_video"}
CLIP_RATES = {"video": "video_fps", "parent": "parent_fps"}
# Frames kept from a clip: a restyle uses the start, an extend only the end.
MAX_FRAMES = 600
PARENT_FRAMES = 120


class BrokenInput(ValueError):
    """An attachment that does not decode; the message is fit to show the member."""


BROKEN = {
    "image": "Your image could not be decoded: the file looks broken. Try another PNG, JPEG or WebP.",
    "video": "Your video could not be decoded past its first frame: the file looks broken or cut short. "
             "Export it again (MP4 with H.264 works everywhere) and try again.",
    "parent": "The clip to continue could not be read back from storage, so it cannot be extended.",
}


def decode_image(data: bytes):
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def decode_clip(data: bytes, max_frames: int = MAX_FRAMES, from_end: bool = False) -> tuple[list, float | None]:
    """(RGB frames, frames per second or None): the first `max_frames`, or the last.

    A file that breaks off part-way gives the frames before the break (logged); one that
    gives fewer than two frames is not a video: ValueError.
    """
    import av

    frames = deque(maxlen=max_frames) if from_end else []
    rate = None
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            for frame in container.decode(stream):
                frames.append(frame.to_image().convert("RGB"))
                if not from_end and len(frames) >= max_frames:
                    break
    except (av.error.FFmpegError, IndexError, ValueError, OSError) as exc:  # IndexError: no video stream
        if len(frames) < 2:
            raise ValueError(f"decoded {len(frames)} frames before {type(exc).__name__}: {exc}") from exc
        log.warning("video breaks off part-way; using the frames before", frames=len(frames),
                    error=f"{type(exc).__name__}: {exc}")
    if len(frames) < 2:
        raise ValueError(f"decoded {len(frames)} frames")
    return list(frames), (float(rate) if rate else None)


def decode_video(data: bytes, max_frames: int = MAX_FRAMES) -> list:
    return decode_clip(data, max_frames)[0]


def load_inputs(storage: Storage, job: RenderJob) -> dict:
    """Blocking: fetch and decode every input the job names, as RenderInput fields
    (image, last_image, video + video_fps, parent_video + parent_fps)."""
    return decode_inputs(job, fetch_inputs(storage, job))


def fetch_inputs(storage: Storage, job: RenderJob) -> dict[str, bytes]:
    """Blocking: every input's bytes, by name. Storage faults propagate (worth a retry)."""
    return {name: storage.get(key) for name, key in job.input_keys.items()}


def decode_inputs(job: RenderJob, fetched: dict[str, bytes]) -> dict:
    """Blocking: the fetched inputs as RenderInput fields; BrokenInput for one that does not decode."""
    out = {}
    for name, data in fetched.items():
        key = job.input_keys[name]
        try:
            out.update(decode_input(name, data, key))
        except Exception as exc:  # noqa: BLE001 — PIL and PyAV raise many kinds for a bad file
            log.warning("input does not decode", input=name, key=key, error=f"{type(exc).__name__}: {exc}")
            kind = "parent" if name == "parent" else "video" if name in CLIPS or _is_clip(key) else "image"
            raise BrokenInput(BROKEN[kind]) from exc
    return out


def _is_clip(key: str) -> bool:
    return key.endswith((".mp4", ".webm", ".mov"))


def decode_input(name: str, data: bytes, key: str = "") -> dict:
    """One named input's bytes as the RenderInput fields it fills."""
    if name in CLIPS:
        parent = name == "parent"
        frames, rate = decode_clip(data, PARENT_FRAMES if parent else MAX_FRAMES, from_end=parent)
        return {CLIPS[name]: frames, CLIP_RATES[name]: rate}
    if name in IMAGES:
        return {IMAGES[name]: decode_image(data)}
    # A name this worker does not know: decode by its extension.
    return {name: decode_video(data) if _is_clip(key) else decode_image(data)}


def render_input(job: RenderJob, inputs: dict, steps: int | None = None):
    import dataclasses

    from inference.render import RenderInput

    flags = job.flags
    ar = flags.get("ar")
    known = {f.name for f in dataclasses.fields(RenderInput)}
    return RenderInput(
        task=job.task.value,
        prompt=job.prompt,
        negative_prompt=flags.get("neg"),
        aspect=tuple(ar) if ar else None,
        fps=flags.get("fps"),
        seconds=flags.get("length"),
        motion=flags.get("motion") if flags.get("motion") is not None else 1,
        guidance=flags.get("gs"),
        seed=job.seed,
        camera=flags.get("camera"),
        steps=steps,
        **{name: value for name, value in inputs.items() if name in known},
    )
