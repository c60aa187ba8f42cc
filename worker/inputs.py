"""Turn a job's stored attachments and its flags into what the renderer takes.

Clips (a member's video, an extend's parent) are only probed here (`media.SourceClip`):
the renderer decodes them once its plan knows the bucket, the rate and the frames it
needs, straight to that size. A 4K 10 s source so costs a few frames at the model's size,
not 600 full-resolution pictures (bench/decode_memory.py).

Fetching an input can fail for a moment (storage away): the job is tried again. Opening
it (an image decoded, a clip probed) fails the same way every time: BrokenInput, said to
the member at once.
"""

from __future__ import annotations

import io

from core.catalog import Task
from core.contract import RenderJob
from core.flags import Flags
from core.logging import get_logger
from core.storage import Storage

log = get_logger("worker")

# Input names the bot uses (RenderJob.input_keys) → how to decode them and where they go
# in RenderInput. "parent" is the MP4 of the clip an extend continues (its sound too);
# "reference" the object or character an edit puts in; "audio" a lip-sync's track, "speech"
# the words it speaks instead (UTF-8 text). Keyframes' in-between pictures ("between1" …) and a
# scene's ingredients ("ingredient1" …) are images gathered, in their order, into one field.
IMAGES = {"image": "image", "last_image": "last_image", "reference": "reference"}
PICTURE_LISTS = {"between": "between", "ingredient": "ingredients"}
CLIPS = {"video": "video", "parent": "parent_video"}
CLIP_RATES = {"video": "video_fps", "parent": "parent_fps"}
SOUNDS = {"audio": "audio", "parent": "parent_audio"}
# Tasks whose clip keeps its source's sound track (when it has one and -mute is not given).
SOUND_FROM_SOURCE = (Task.VIDEO_TO_VIDEO, Task.EDIT)


class BrokenInput(ValueError):
    """An attachment that does not decode; the message is fit to show the member."""


BROKEN = {
    "image": "Your image could not be decoded: the file looks broken. Try another PNG, JPEG or WebP.",
    "video": "Your video could not be decoded past its first frame: the file looks broken or cut short. "
             "Export it again (MP4 with H.264 works everywhere) and try again.",
    "parent": "The clip to continue could not be read back from storage, so it cannot be extended.",
    "audio": "Your sound file could not be decoded: it looks broken or cut short. Try another WAV, MP3, M4A, "
             "OGG or FLAC.",
    "speech": "The words to speak could not be read (they are not UTF-8 text).",
}


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
    """Blocking: fetch and open every input the job names, as RenderInput fields (image,
    last_image, reference, video + video_fps, parent_video + parent_fps + parent_audio,
    audio, speech)."""
    return decode_inputs(job, fetch_inputs(storage, job))


def fetch_inputs(storage: Storage, job: RenderJob) -> dict[str, bytes]:
    """Blocking: every input's bytes, by name. Storage faults propagate (worth a retry)."""
    return {name: storage.get(key) for name, key in job.input_keys.items()}


def decode_inputs(job: RenderJob, fetched: dict[str, bytes]) -> dict:
    """Blocking: the fetched inputs as RenderInput fields; BrokenInput for one that does not open."""
    out = {}
    for name, data in fetched.items():
        key = job.input_keys[name]
        try:
            out.update(decode_input(name, data, key))
        except Exception as exc:  # noqa: BLE001 — PIL and PyAV raise many kinds for a bad file
            log.warning("input does not decode", input=name, key=key, error=f"{type(exc).__name__}: {exc}")
            raise BrokenInput(BROKEN[_kind(name, key)]) from exc
    for prefix, field in PICTURE_LISTS.items():
        listed = sorted((name for name in out if _listed(name, prefix)), key=lambda name: int(name[len(prefix):]))
        if listed:
            out[field] = tuple(out.pop(name) for name in listed)
    return out


def _listed(name: str, prefix: str) -> bool:
    """Whether `name` is one of a list of pictures: "between2", "ingredient1"."""
    return name.startswith(prefix) and name[len(prefix):].isdigit()


def _kind(name: str, key: str) -> str:
    """Which BROKEN message an input that does not open gets."""
    if name in ("parent", "audio", "speech"):
        return name
    return "video" if name in CLIPS or _is_clip(key) else "image"


def _is_clip(key: str) -> bool:
    return key.endswith((".mp4", ".webm", ".mov"))


def decode_input(name: str, data: bytes, key: str = "") -> dict:
    """One named input's bytes as the RenderInput fields it fills."""
    if name in CLIPS:
        clip = open_clip(data)
        # An extend continues its parent's sound: decoded here (ten seconds at most).
        sound = {SOUNDS[name]: decode_sound(data)} if name == "parent" and clip.has_audio else {}
        return {CLIPS[name]: clip, CLIP_RATES[name]: clip.fps, **sound}
    if name in IMAGES or any(_listed(name, prefix) for prefix in PICTURE_LISTS):
        return {IMAGES.get(name, name): decode_image(data)}
    if name in SOUNDS:
        return {SOUNDS[name]: decode_sound(data)}
    if name == "speech":
        return {"speech": data.decode("utf-8")}
    # A name this worker does not know: decode by its extension.
    return {name: open_clip(data) if _is_clip(key) else decode_image(data)}


def sound_source(job: RenderJob, inputs: dict) -> bytes | None:
    """The encoded source whose sound track the clip keeps, or None."""
    source = inputs.get("video")
    if job.task not in SOUND_FROM_SOURCE or flags_of(job).mute or source is None:
        return None
    return source.data if getattr(source, "has_audio", False) else None


def flags_of(job: RenderJob) -> Flags:
    """The job's flags, typed (they were checked by the bot; unknown keys from a newer bot are ignored)."""
    return Flags.from_dict(job.flags)


def render_input(job: RenderJob, inputs: dict, steps: int | None = None):
    """The one place where a flag's name becomes the renderer's: None means "not given", and
    RenderInput / Renderer.plan pick the default."""
    import dataclasses

    from inference.render import RenderInput

    f = flags_of(job)
    known = {field.name for field in dataclasses.fields(RenderInput)}
    return RenderInput(
        task=job.task.value, prompt=job.prompt, negative_prompt=f.neg, aspect=f.ar, fps=f.fps, seconds=f.length,
        motion=f.motion if f.motion is not None else 1, guidance=f.gs, seed=job.seed, camera=f.camera, mute=f.mute,
        effect=f.effect, loop=f.loop, steps=steps,
        **{name: value for name, value in inputs.items() if name in known},
    )
