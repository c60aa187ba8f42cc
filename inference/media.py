"""Pictures and frame lists in and out of the models: fitting conditioning media to a
bucket, picking frames from a clip at a given rate, and retiming rendered frames."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    import PIL.Image

# Mid-grey: what Wan's VACE expects in frames it is asked to generate (the mask says which).
GREY = (128, 128, 128)


def fit(image: PIL.Image.Image, width: int, height: int) -> PIL.Image.Image:
    """`image` scaled to cover width×height and centre-cropped to it, in RGB.

    Cropping (not stretching) keeps faces and circles round when a member's picture has
    another aspect than the bucket.
    """
    from PIL import Image, ImageOps

    image = image.convert("RGB")
    if image.size == (width, height):
        return image
    return ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS)


def grey(width: int, height: int) -> PIL.Image.Image:
    from PIL import Image

    return Image.new("RGB", (width, height), GREY)


def mask(width: int, height: int, generate: bool) -> PIL.Image.Image:
    """A VACE mask frame: white where the model generates, black where it keeps the input."""
    from PIL import Image

    return Image.new("L", (width, height), 255 if generate else 0)


def aspect(media) -> tuple[int, int] | None:
    """The (width, height) of an image, or of a clip's first frame; None without media."""
    if media is None:
        return None
    first = media[0] if isinstance(media, (list, tuple)) else media
    return first.size if first is not None else None


def at_rate(frames: Sequence, count: int, src_fps: float | None, dst_fps: float, *, from_end: bool = False) -> list:
    """`count` frames of `frames` (a clip at src_fps) as they fall at dst_fps.

    From the start (a clip to restyle) or ending on the last frame (a clip to extend).
    An unknown source rate is taken to be dst_fps. A clip too short for `count` frames at
    that rate repeats its last frame (from the start) or first frame (from the end).
    """
    if count < 1 or not frames:
        raise ValueError("need at least one frame in and one frame out")
    step = (src_fps or dst_fps) / dst_fps
    last = len(frames) - 1
    if from_end:
        picks = [last - math.floor((count - 1 - i) * step + 0.5) for i in range(count)]
    else:
        picks = [math.floor(i * step + 0.5) for i in range(count)]
    return [frames[min(max(index, 0), last)] for index in picks]


def retime(frames: np.ndarray, count: int) -> np.ndarray:
    """`count` frames spread evenly over `frames`, first and last kept.

    Used to play a model that renders at its native rate at another fps: the same
    seconds of motion, more (repeated) or fewer (dropped) frames. Keeping the end points
    matters for keyframes, whose last frame is the member's last image.
    """
    total = len(frames)
    if count == total:
        return frames
    if count == 1 or total == 1:
        return frames[np.zeros(count, dtype=int)]
    indices = np.floor(np.arange(count) * (total - 1) / (count - 1) + 0.5).astype(int)
    return frames[indices]


def valid_count(available: int, wanted: int, frames_multiple: int) -> int:
    """The largest k*frames_multiple+1 that is at most min(available, wanted) (at least 1)."""
    most = min(available, wanted)
    return max((most - 1) // frames_multiple, 0) * frames_multiple + 1
