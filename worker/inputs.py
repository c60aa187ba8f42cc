"""Turn a job's stored attachments and its flags into what the renderer takes.

Clips (a member's video, an extend's parent) are only probed here (`media.SourceClip`):
the renderer decodes them once its plan knows the bucket, the rate and the frames it
needs, straight to that size. A 4K 10 s source so costs a few frames at the model's size,
not 600 full-resolution pictures (bench/decode_memory.py).
"""

from __future__ import annotations

import io

from core.catalog import Task
from core.contract import RenderJob
from core.storage import Storage

# Input names the bot uses (RenderJob.input_keys) → how to decode them and where they go
# in RenderInput. "parent" is the MP4 of the clip an extend continues (its sound too);
# "reference" the object or character an edit puts in; "audio" a lip-sync's track, "speech"
# the words it speaks instead (UTF-8 text).
IMAGES = {"image": "image", "last_image": "last_image", "reference": "reference"}
CLIPS = {"video": "video", "parent": "parent_video"}
CLIP_RATES = {"video": "video_fps", "parent": "parent_fps"}
SOUNDS = {"audio": "audio", "parent": "parent_audio"}
# Tasks whose clip keeps its source's sound track (when it has one and -mute is not given).
SOUND_FROM_SOURCE = (Task.VIDEO_TO_VIDEO, Task.EDIT)


def decode_image(data: bytes):
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def open_clip(data: bytes):
    """A clip probed, not decoded (inference.media.SourceClip)."""
    from inference.media import SourceClip

    return SourceClip.open(data)


def decode_sound(data: bytes):
    """Every sample of a file's sound, at its own rate (an inference.audio.Track)."""
    from inference.audio import read

    return read(data)



def load_inputs(storage: Storage, job: RenderJob) -> dict:
    """Blocking: fetch every input the job names, as RenderInput fields (image,
    last_image, reference, video + video_fps, parent_video + parent_fps + parent_audio,
    audio, speech)."""
    out = {}
    for name, key in job.input_keys.items():
        out.update(decode_input(name, storage.get(key), key))
    return out


def decode_input(name: str, data: bytes, key: str = "") -> dict:
    """One named input's bytes as the RenderInput fields it fills."""
    if name in CLIPS:
        clip = open_clip(data)
        # An extend continues its parent's sound: decoded here (ten seconds at most).
        sound = {SOUNDS[name]: decode_sound(data)} if name == "parent" and clip.has_audio else {}
        return {CLIPS[name]: clip, CLIP_RATES[name]: clip.fps, **sound}
    if name in IMAGES:
        return {IMAGES[name]: decode_image(data)}
    if name in SOUNDS:
        return {SOUNDS[name]: decode_sound(data)}
    if name == "speech":
        return {"speech": data.decode("utf-8")}
    # A name this worker does not know: decode by its extension.
    return {name: open_clip(data) if key.endswith((".mp4", ".webm", ".mov")) else decode_image(data)}


def sound_source(job: RenderJob, inputs: dict) -> bytes | None:
    """The encoded source whose sound track the clip keeps, or None."""
    source = inputs.get("video")
    if job.task not in SOUND_FROM_SOURCE or job.flags.get("mute") or source is None:
        return None
    return source.data if getattr(source, "has_audio", False) else None


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
        mute=bool(flags.get("mute")),
        steps=steps,
        **{name: value for name, value in inputs.items() if name in known},
    )
