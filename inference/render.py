"""One clip from one request: the contract between the worker (or CLI) and the models.

`RenderInput` says what the member asked for, in their terms (aspect, fps, seconds,
motion, camera). `Renderer.render` turns that into pipeline arguments for the model it
holds: a resolution bucket, a valid frame count, defaults for steps and guidance, and
prompt phrasing for motion and camera. `RenderOutput` is the frames plus what was used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from .loading import load_pipeline, resolve_source
from .registry import ModelSpec, Task, frame_count, models_for_task, nearest_bucket

if TYPE_CHECKING:
    import PIL.Image

# -motion N → words appended to the prompt. LTX has no motion knob; it follows the text.
# 1 is the default and adds nothing, so a plain prompt renders as the model would.
MOTION_PHRASES = {
    0: "static shot, minimal movement",
    1: "",
    2: "steady, noticeable motion",
    3: "lively, energetic motion",
    4: "fast dynamic motion",
}

# -camera MOVE → words appended to the prompt. Pans are built from their directions
# ("pan up left" → "the camera pans up and left").
CAMERA_PHRASES = {
    "zoom in": "the camera slowly zooms in",
    "zoom out": "the camera slowly zooms out",
    "rotate cw": "the camera rotates clockwise",
    "rotate ccw": "the camera rotates counterclockwise",
}
PAN_DIRECTIONS = ("left", "right", "up", "down")
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


class UnsupportedTask(ValueError):
    """The model cannot do the requested task; names the models that can."""

    def __init__(self, model: str, task: str):
        self.model = model
        self.task = task
        self.capable = [spec.name for spec in models_for_task(task)]
        others = ", ".join(self.capable) if self.capable else "none yet"
        super().__init__(f"{model} cannot do {task}; models that can: {others}")


@dataclass(frozen=True)
class RenderInput:
    task: str = Task.TEXT_TO_VIDEO
    prompt: str = ""
    negative_prompt: str | None = None
    aspect: tuple[int, int] | None = None  # W:H from -ar; None = the model's default 16:9
    fps: int | None = None  # None = model native fps
    seconds: float | None = None  # None = model default length
    motion: int = 1  # 0..4
    guidance: float | None = None  # None = model default
    seed: int = 0
    camera: str | None = None  # "zoom in", "pan up left", "rotate cw", ...
    steps: int | None = None  # None = model default
    image: PIL.Image.Image | None = None
    video: list[PIL.Image.Image] | None = None


@dataclass
class RenderOutput:
    frames: np.ndarray  # (F, H, W, 3) uint8
    fps: int
    width: int
    height: int
    num_frames: int
    seed: int
    model_seconds: float  # wall time of the pipeline call
    prompt: str = ""  # the prompt as sent to the model, with motion and camera phrasing


def camera_phrase(camera: str | None) -> str:
    """Prompt words for a -camera move; ValueError for a move we do not know."""
    if not camera:
        return ""
    move = " ".join(camera.lower().split())
    if move in CAMERA_PHRASES:
        return CAMERA_PHRASES[move]
    verb, *directions = move.split()
    if verb == "pan" and _valid_pan(directions):
        return "the camera pans " + " and ".join(directions)
    raise ValueError(f"unknown camera move {camera!r}")


def _valid_pan(directions: list[str]) -> bool:
    if not 1 <= len(directions) <= 2 or not all(d in PAN_DIRECTIONS for d in directions):
        return False
    return len(directions) == 1 or directions[1] not in (directions[0], OPPOSITE[directions[0]])


def compose_prompt(prompt: str, camera: str | None, motion: int) -> str:
    """The member's prompt followed by camera and motion phrasing."""
    if motion not in MOTION_PHRASES:
        raise ValueError(f"motion must be 0..4, got {motion}")
    extras = ", ".join(phrase for phrase in (camera_phrase(camera), MOTION_PHRASES[motion]) if phrase)
    prompt = prompt.strip()
    if not extras:
        return prompt
    sentence = extras[0].upper() + extras[1:] + "."
    return f"{prompt.rstrip('.')}. {sentence}" if prompt else sentence


class Renderer:
    """Holds one loaded pipeline and renders clips with it, one at a time."""

    def __init__(self, spec: ModelSpec, source: str | None = None, *, models_dir: Path, device: str = "cpu"):
        self.spec = spec
        self.device = device
        self.source = resolve_source(spec, source, Path(models_dir))
        self.pipeline = load_pipeline(spec, self.source, device=device)

    def render(self, inp: RenderInput, on_step: Callable[[int, int], None] | None = None) -> RenderOutput:
        """Render `inp`. `on_step(step, total)` runs after every denoising step (1-based);
        anything it raises stops the render there and propagates (that is how jobs cancel).
        """
        arguments = self.pipeline_arguments(inp)
        arguments["callback_on_step_end"] = _step_callback(on_step, arguments)

        started = time.perf_counter()
        video = self.pipeline(**arguments).frames[0]  # (F, H, W, 3) floats in [0, 1]
        model_seconds = time.perf_counter() - started

        frames = to_uint8(video)
        expected = (arguments["num_frames"], arguments["height"], arguments["width"], 3)
        if frames.shape != expected:
            raise RuntimeError(f"{self.spec.name} returned frames {frames.shape}, expected {expected}")
        return RenderOutput(
            frames=frames,
            fps=arguments["frame_rate"],
            width=arguments["width"],
            height=arguments["height"],
            num_frames=arguments["num_frames"],
            seed=inp.seed,
            model_seconds=model_seconds,
            prompt=arguments["prompt"],
        )

    def pipeline_arguments(self, inp: RenderInput) -> dict:
        """The keyword arguments for the pipeline call, without the step callback."""
        spec = self.spec
        if inp.task not in spec.tasks:
            raise UnsupportedTask(spec.name, inp.task)
        width, height = nearest_bucket(spec, *(inp.aspect or spec.default_aspect))
        fps = inp.fps or spec.native_fps
        negative = inp.negative_prompt if inp.negative_prompt is not None else spec.default_negative_prompt
        arguments = {
            "prompt": compose_prompt(inp.prompt, inp.camera, inp.motion),
            "negative_prompt": negative or "",
            "width": width,
            "height": height,
            "num_frames": frame_count(spec, fps, inp.seconds or spec.default_seconds),
            # LTX scales its position encoding by the frame rate, so tell it the real one.
            "frame_rate": fps,
            "guidance_scale": spec.default_guidance if inp.guidance is None else inp.guidance,
            # A CPU generator gives the same noise for a seed on every device.
            "generator": torch.Generator("cpu").manual_seed(inp.seed),
            "output_type": "np",
            **dict(spec.call_kwargs),
        }
        if inp.steps is None and spec.timesteps:
            arguments["timesteps"] = list(spec.timesteps)
            arguments["num_inference_steps"] = len(spec.timesteps)
        else:
            arguments["num_inference_steps"] = inp.steps or spec.default_steps
        return arguments


def _step_callback(on_step: Callable[[int, int], None] | None, arguments: dict):
    """Adapt on_step(step, total) to diffusers' callback_on_step_end signature."""
    if on_step is None:
        return None

    def callback(pipeline, index: int, timestep, callback_kwargs: dict) -> dict:
        # num_timesteps is what the pipeline actually runs (after any schedule trimming).
        total = getattr(pipeline, "num_timesteps", None) or arguments["num_inference_steps"]
        on_step(index + 1, total)
        return callback_kwargs  # diffusers reads tensors back from what we return

    return callback


def to_uint8(video) -> np.ndarray:
    """Pipeline frames in [0, 1] to (F, H, W, 3) uint8."""
    video = np.asarray(video, dtype=np.float32)
    return (np.clip(video, 0.0, 1.0) * 255.0).round().astype(np.uint8)
