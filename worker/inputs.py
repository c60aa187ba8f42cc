"""Turn a job's stored attachments and its flags into what the renderer takes."""

from __future__ import annotations

import io

from core.contract import RenderJob
from core.storage import Storage


def decode_image(data: bytes):
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def decode_video(data: bytes, max_frames: int = 600) -> list:
    import av

    frames = []
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_image().convert("RGB"))
            if len(frames) >= max_frames:
                break
    return frames


def load_inputs(storage: Storage, job: RenderJob) -> dict:
    """Blocking: fetch and decode every input the job names (image, video, last_image …)."""
    out = {}
    for name, key in job.input_keys.items():
        data = storage.get(key)
        out[name] = decode_video(data) if key.endswith((".mp4", ".webm", ".mov")) else decode_image(data)
    return out


def render_input(job: RenderJob, inputs: dict, steps: int | None = None):
    from inference.render import RenderInput

    flags = job.flags
    ar = flags.get("ar")
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
        **{k: v for k, v in inputs.items()},
    )
