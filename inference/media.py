"""Pictures and frame lists in and out of the models: fitting conditioning media to a
bucket, picking frames from a clip at a given rate, and retiming rendered frames.

A member's video (or the parent clip of an extend) arrives as a `SourceClip`: its encoded
bytes and what its header and packets say. Its frames are decoded only once a render
knows what it needs (`sample`), straight to the bucket's size and only at the frames the
model's rate picks, so a 4K 10 s phone clip never sits in memory as 600 full frames.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
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


def contain(image: PIL.Image.Image, width: int, height: int) -> PIL.Image.Image:
    """`image` in RGB, scaled down (never up) to fit inside width×height, whole."""
    from PIL import Image, ImageOps

    image = image.convert("RGB")
    if image.width <= width and image.height <= height:
        return image
    return ImageOps.contain(image, (width, height), method=Image.Resampling.LANCZOS)


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


def sample(frames, count: int, src_fps: float | None, dst_fps: float, width: int, height: int, *,
           from_end: bool = False) -> list:
    """`at_rate` then `fit`, for a list of pictures or a SourceClip (decoded to size as it goes)."""
    if isinstance(frames, SourceClip):
        return frames.frames_at(count, dst_fps, width, height, from_end=from_end)
    return [fit(frame, width, height) for frame in at_rate(frames, count, src_fps, dst_fps, from_end=from_end)]


def picks(total: int, count: int, src_fps: float | None, dst_fps: float, *, from_end: bool = False) -> list[int]:
    """The frame indices `at_rate` takes from a clip of `total` frames."""
    return at_rate(range(total), count, src_fps, dst_fps, from_end=from_end)


@dataclass(frozen=True)
class SourceClip:
    """An encoded clip, probed but not decoded: `SourceClip.open(data)`.

    `size` is as displayed (a phone's rotation applied), `frames` counts the video packets
    (one per frame), and `len()` is that count, so a plan reads it like a list of frames.
    """

    data: bytes = field(repr=False)
    size: tuple[int, int]
    fps: float | None
    frames: int
    has_audio: bool

    @classmethod
    def open(cls, data: bytes) -> "SourceClip":
        """Probe a clip: its first frame is decoded (proof that it decodes, and its rotation);
        the rest is only demuxed to count frames. ValueError when there is no video in it."""
        import av

        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video:
                raise ValueError("no video track")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            first, frames = None, 0
            for packet in container.demux(stream):
                if packet.size:
                    frames += 1
                    if first is None:
                        first = next(iter(packet.decode()), None)
            if first is None:
                first = next(iter(_flushed(stream)), None)
            if first is None or frames == 0:
                raise ValueError("no frame decodes")
            width, height = _displayed(first.width, first.height, first.rotation)
            return cls(data, (width, height), float(rate) if rate else None, frames, bool(container.streams.audio))

    def __len__(self) -> int:
        return self.frames

    def frames_at(self, count: int, dst_fps: float, width: int, height: int, *, from_end: bool = False) -> list:
        """`count` frames as they fall at dst_fps (see at_rate), each scaled to cover
        width×height and centre-cropped to it (as `fit` does) while decoding.

        Decoding stops at the last frame needed; a frame not picked is never converted.
        """
        return self._decode(picks(self.frames, count, self.fps, dst_fps, from_end=from_end), width, height)

    def spread(self, count: int, longest: int = 512) -> list:
        """`count` frames spread evenly from the first to the last (all when fewer), at the
        clip's aspect with the longer side at most `longest`: what a classifier looks at."""
        total = self.frames
        wanted = list(range(total)) if total <= count else \
            [round(i * (total - 1) / max(1, count - 1)) for i in range(count)] if count > 1 else [total // 2]
        scale = min(1.0, longest / max(self.size))
        return self._decode(wanted, max(1, round(self.size[0] * scale)), max(1, round(self.size[1] * scale)))

    def _decode(self, wanted: list[int], width: int, height: int) -> list:
        import av

        needed, converted = set(wanted), {}
        last, last_index = None, -1
        with av.open(io.BytesIO(self.data)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                if index in needed:
                    converted[index] = _to_bucket(frame, width, height)
                last, last_index = frame, index
                if index >= wanted[-1]:
                    break
            if last is None:
                raise ValueError("no frame decodes")
            if wanted[-1] > last_index and last_index not in converted:
                # Fewer frames decoded than packets counted: the last one stands in for the rest.
                converted[last_index] = _to_bucket(last, width, height)
        return [converted[min(index, last_index)] for index in wanted]


def _flushed(stream):
    try:
        return stream.codec_context.decode(None)
    except Exception:  # noqa: BLE001 — nothing buffered
        return []


def _displayed(width: int, height: int, rotation: int) -> tuple[int, int]:
    return (height, width) if abs(rotation) == 90 else (width, height)


def _to_bucket(frame, width: int, height: int) -> PIL.Image.Image:
    """One decoded frame (any size, any pixel format) → RGB width×height, cover and centre crop."""
    shown_w, shown_h = _displayed(frame.width, frame.height, frame.rotation)
    scale = max(width / shown_w, height / shown_h)
    cover_w, cover_h = max(width, math.ceil(shown_w * scale)), max(height, math.ceil(shown_h * scale))
    # Scaled by swscale straight from the decoder's YUV: the full-size RGB frame never exists.
    scaled_w, scaled_h = _displayed(cover_w, cover_h, frame.rotation)
    image = frame.reformat(width=scaled_w, height=scaled_h, format="rgb24", interpolation="LANCZOS").to_image()
    if frame.rotation:
        image = image.rotate(frame.rotation, expand=True)  # counterclockwise, as the display matrix says
    left, top = (image.width - width) // 2, (image.height - height) // 2
    image = image.crop((left, top, left + width, top + height))
    return image if image.mode == "RGB" else image.convert("RGB")


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
