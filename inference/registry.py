"""The models Reelbot can serve, as plain data.

This module is read by every process (the bot checks flags and tasks against it, the
worker picks what to load), so it imports nothing heavy: no torch, no diffusers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum


class Task(StrEnum):
    """What a model can be asked to do. Members compare equal to their strings."""

    TEXT_TO_VIDEO = "text-to-video"
    IMAGE_TO_VIDEO = "image-to-video"
    VIDEO_TO_VIDEO = "video-to-video"
    EXTEND = "extend"
    KEYFRAMES = "keyframes"


TINY_LABEL = "random weights — produces noise, not pictures"


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to pick arguments for one model, without loading it."""

    name: str
    family: str
    description: str
    tasks: frozenset[str]
    hub_id: str | None
    # Random-weight test model: built locally, produces noise. Always shown as such.
    tiny: bool
    native_fps: int
    default_seconds: float
    default_steps: int
    default_guidance: float
    # (width, height) pairs the model renders well; requests snap to the closest aspect.
    buckets: tuple[tuple[int, int], ...]
    default_aspect: tuple[int, int] = (16, 9)
    # Width and height must be multiples of this (VAE compression × transformer patch).
    size_multiple: int = 32
    # Valid frame counts are k * frames_multiple + 1 (the VAE keeps the first frame
    # alone, then compresses time by frames_multiple).
    frames_multiple: int = 8
    max_frames: int = 257
    default_negative_prompt: str | None = None
    # Timestep-distilled models run a fixed schedule instead of `default_steps` evenly
    # spaced steps; empty means "use default_steps".
    timesteps: tuple[float, ...] = ()
    # Extra pipeline arguments this checkpoint needs on every call, as (name, value) pairs
    # so the spec stays hashable.
    call_kwargs: tuple[tuple[str, object], ...] = field(default=())

    def __post_init__(self):
        for width, height in self.buckets:
            if width % self.size_multiple or height % self.size_multiple:
                raise ValueError(f"{self.name}: bucket {width}x{height} is not a multiple of {self.size_multiple}")
        if (self.max_frames - 1) % self.frames_multiple:
            raise ValueError(f"{self.name}: max_frames {self.max_frames} is not k*{self.frames_multiple}+1")
        unknown = set(self.tasks) - set(Task)
        if unknown:
            raise ValueError(f"{self.name}: unknown tasks {sorted(unknown)}")

    @property
    def min_frames(self) -> int:
        return self.frames_multiple + 1

    @property
    def label(self) -> str:
        """The name as shown to people; random-weight models always say so."""
        return f"{self.name} ({TINY_LABEL})" if self.tiny else self.name


# LTX-Video was trained around 768x512 (~0.4 megapixels). Every bucket keeps roughly
# that area, with sides that are multiples of 32, from 1:3 to 3:1.
LTX_BUCKETS = (
    (1056, 352),  # 3:1
    (896, 384),  # 21:9
    (896, 448),  # 2:1
    (832, 480),  # 16:9
    (768, 512),  # 3:2
    (768, 576),  # 4:3
    (640, 640),  # 1:1
    (576, 768),  # 3:4
    (512, 768),  # 2:3
    (480, 832),  # 9:16
    (448, 896),  # 1:2
    (384, 896),  # 9:21
    (352, 1056),  # 1:3
)

# The tiny model shares LTX's compression (32 px, 8 frames), so its sides are still
# multiples of 32; long side at most 160 px keeps a CPU render well under a second.
TINY_LTX_BUCKETS = (
    (96, 32),  # 3:1
    (128, 64),  # 2:1, also 21:9
    (160, 96),  # 5:3, the nearest to 16:9
    (128, 96),  # 4:3
    (96, 96),  # 1:1
    (96, 128),  # 3:4
    (96, 160),  # 3:5, the nearest to 9:16
    (64, 128),  # 1:2
    (32, 96),  # 1:3
)

LTX_NEGATIVE_PROMPT = "worst quality, inconsistent motion, blurry, jittery, distorted"

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="ltx-video",
            family="ltx",
            description="LTX-Video 0.9 (2B), Lightricks",
            tasks=frozenset({Task.TEXT_TO_VIDEO}),
            hub_id="Lightricks/LTX-Video",
            tiny=False,
            native_fps=24,
            default_seconds=5.0,
            default_steps=50,
            default_guidance=3.0,
            buckets=LTX_BUCKETS,
            default_negative_prompt=LTX_NEGATIVE_PROMPT,
        ),
        ModelSpec(
            name="ltx-video-distilled",
            family="ltx",
            description="LTX-Video 0.9.7 distilled (13B), few steps, no guidance",
            tasks=frozenset({Task.TEXT_TO_VIDEO}),
            hub_id="Lightricks/LTX-Video-0.9.7-distilled",
            tiny=False,
            native_fps=24,
            default_seconds=5.0,
            default_steps=8,
            # Guidance-distilled: 1.0 turns classifier-free guidance off (and halves the work).
            default_guidance=1.0,
            buckets=LTX_BUCKETS,
            default_negative_prompt=LTX_NEGATIVE_PROMPT,
            # The schedule Lightricks recommends for the distilled base pass.
            timesteps=(1000, 993, 987, 981, 975, 909, 725, 0.03),
            # Its VAE is timestep-aware (0.9.1+): decode with a little noise.
            call_kwargs=(("decode_timestep", 0.05), ("decode_noise_scale", 0.025)),
        ),
        ModelSpec(
            name="ltx-tiny",
            family="ltx",
            description=f"tiny LTX-Video for tests and offline smoke runs: {TINY_LABEL}",
            tasks=frozenset({Task.TEXT_TO_VIDEO}),
            hub_id=None,
            tiny=True,
            native_fps=24,
            default_seconds=5.0,
            default_steps=4,
            # Above 1 so tests exercise the classifier-free guidance path like the real model.
            default_guidance=3.0,
            buckets=TINY_LTX_BUCKETS,
        ),
    )
}


class UnknownModel(KeyError):
    """A model name that is not in the registry."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"unknown model {name!r}; known models: {', '.join(MODELS)}")

    def __str__(self) -> str:
        # KeyError's own __str__ would quote the whole message.
        return self.args[0]


def get_model(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModel(name) from None


def models_for_task(task: str) -> list[ModelSpec]:
    """The models that can do `task`, in registry order."""
    task = Task(task)  # a ValueError for a task nobody has heard of
    return [spec for spec in MODELS.values() if task in spec.tasks]


def nearest_bucket(spec: ModelSpec, aspect_w: float, aspect_h: float) -> tuple[int, int]:
    """The bucket whose aspect ratio is closest to aspect_w:aspect_h.

    Closeness is measured on log(width/height), so 2:1 and 1:2 are equally far from 1:1.
    Ties go to the bucket listed first.
    """
    if aspect_w <= 0 or aspect_h <= 0:
        raise ValueError(f"aspect ratio must be positive, got {aspect_w}:{aspect_h}")
    wanted = math.log(aspect_w / aspect_h)
    return min(spec.buckets, key=lambda bucket: abs(math.log(bucket[0] / bucket[1]) - wanted))


def frame_count(spec: ModelSpec, fps: float, seconds: float) -> int:
    """The valid frame count nearest to fps × seconds, within the model's limits."""
    if fps <= 0 or seconds <= 0:
        raise ValueError(f"fps and seconds must be positive, got {fps} and {seconds}")
    wanted = fps * seconds
    # Round half up (not Python's round-half-even) so 4.5 blocks means 5.
    blocks = math.floor((wanted - 1) / spec.frames_multiple + 0.5)
    max_blocks = (spec.max_frames - 1) // spec.frames_multiple
    blocks = min(max(blocks, 1), max_blocks)
    return blocks * spec.frames_multiple + 1
