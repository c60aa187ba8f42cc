"""One clip from one request: the contract between the worker (or CLI) and the models.

`RenderInput` says what the member asked for, in their terms (task, aspect, fps,
seconds, motion, camera, and the pictures, clips or sound the task needs). `Renderer.plan`
turns that into a `Plan` for the model it holds: a resolution bucket, valid frame
counts, conditioning media fitted to the bucket and sampled at the model's frame rate.
The family module (inference/ltx.py, ltx2.py, wan.py, lucy.py) turns the plan into
pipeline arguments, and `Renderer.render` runs the pipeline and returns the frames, and the
sound of a model that makes one (`RenderOutput.audio`).

A source clip (video-to-video, edit) sets the clip's defaults: its aspect, its length
and its fps (within the -fps range), so an edit comes back as long, as fast and framed
like what the member gave.

Effects and camera LoRAs are inference/adapters.py's: the renderer asks it which adapters a
clip switches on (before the pipeline runs) and for the effect's trigger words. A -loop clip
runs through the model's keyframes pipeline with its first picture at both ends, and its seam
is measured (and closed) by inference/loop.py.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from . import knobs as speed
from . import loop as looping
from . import lucy, ltx, ltx2, masks, media, wan
from .adapters import Adapters, UnsupportedAdapter, used_by, wanted
from .audio import Track
from .loading import read_pipeline, resolve_source, task_pipelines
from .plan import Plan
from .speech import Speaker, Unspeakable, default_voice
from .phrasing import CAMERA_PHRASES, MOTION_PHRASES, camera_phrase, compose_prompt  # noqa: F401 (re-exported)
from core.catalog import (
    INGREDIENTS_MAX,
    MODELS,
    WAN_VACE,
    ModelSpec,
    Task,
    clip_frames,
    models_for_task,
    nearest_bucket,
)
from core.catalog import output_frames as clip_output_frames  # `output_frames` is a plan's local name
from core.contract import WHOLE_FRAME
from core.flags import FPS_MAX, FPS_MIN

if TYPE_CHECKING:
    import PIL.Image

FAMILIES = {"ltx": ltx, "ltx2": ltx2, "wan": wan, "lucy": lucy}

# What each task needs besides the prompt (a tuple: any one of them), and how to name it
# to a member.
REQUIRED = {
    Task.IMAGE_TO_VIDEO: ("image",),
    Task.KEYFRAMES: ("image", "last_image"),
    Task.VIDEO_TO_VIDEO: ("video",),
    Task.EXTEND: ("parent_video",),
    Task.EDIT: ("video",),
    Task.LIP_SYNC: (("image", "video"), ("audio", "speech")),
    Task.SCENE: ("ingredients",),
}
INPUT_NAMES = {"image": "an image", "last_image": "a last image", "video": "a video",
               "parent_video": "the clip to extend", ("image", "video"): "a face (an image or a video)",
               ("audio", "speech"): "a voice (an audio file or words)", "ingredients": "a picture to put in it"}
# A lip-synced clip is as long as its track, up to this (PRODUCT.md's limit on audio).
MAX_TRACK_SECONDS = 10.0
# Tasks whose source clip sets the clip's aspect, length and fps.
SOURCE_TASKS = (Task.VIDEO_TO_VIDEO, Task.EDIT)
# Edit pipelines that take a mask of what may change (the rest of each frame is kept).
MASKED_EDITS = (WAN_VACE,)


def masks_edits(spec: ModelSpec) -> bool:
    """Whether `spec`'s edits take a mask (and so use a segmenter when one is configured)."""
    return Task.EDIT in spec.tasks and spec.pipeline_for(Task.EDIT) in MASKED_EDITS
# What a task says when the member gives no prompt (the prompt is optional for lip-sync).
UNSAID_PROMPTS = {Task.LIP_SYNC: "A person talks to the camera, their lips moving with the words."}


class UnsupportedTask(ValueError):
    """The model cannot do the requested task; names the models that can."""

    def __init__(self, model: str, task: str):
        self.model = model
        self.task = task
        self.capable = [spec.name for spec in models_for_task(task)]
        others = ", ".join(self.capable) if self.capable else "none yet"
        super().__init__(f"{model} cannot do {task}; models that can: {others}")


class UnsupportedReference(UnsupportedTask):
    """An edit with a reference image, for a model whose edits follow the instruction alone."""

    def __init__(self, model: str):
        capable = [spec.name for spec in MODELS.values() if spec.edit_references]
        ValueError.__init__(self, f"{model} edits from the instruction alone and cannot put in a reference "
                                  f"image; models that can: {', '.join(capable) or 'none yet'}")
        self.model, self.task, self.capable = model, Task.EDIT.value, capable


class MissingInput(UnsupportedTask):
    """The task needs an input the request lacks (an image for image-to-video, ...).

    Refused like an unsupported task, with a message fit for the member.
    """

    def __init__(self, model: str, task: str, missing: str | tuple[str, ...]):
        ValueError.__init__(self, f"{task} needs {INPUT_NAMES[missing]}; none was given")
        self.model, self.task, self.missing = model, task, missing
        self.capable = [spec.name for spec in models_for_task(task)]


class Refused(UnsupportedTask):
    """A request the model cannot take as asked (an effect or camera LoRA it lacks, a loop, more
    keyframes than it takes), in a member's words, with the models that can."""

    def __init__(self, model: str, task: str, message: str, capable: list[str] | None = None):
        ValueError.__init__(self, message)
        self.model, self.task, self.capable = model, task, list(capable or [])


def _refuse(spec: ModelSpec, task: Task, what: str, able) -> Refused:
    capable = [other.name for other in MODELS.values() if able(other)]
    return Refused(spec.name, task.value, f"{spec.name} {what}; models that can: {', '.join(capable) or 'none yet'}",
                   capable)


class UnusableSpeech(UnsupportedTask):
    """Words a lip-sync cannot use: nothing the voice can say, or too long to say."""

    def __init__(self, model: str, message: str):
        ValueError.__init__(self, message)
        self.model, self.task, self.capable = model, Task.LIP_SYNC.value, []


@dataclass(frozen=True)
class RenderInput:
    task: str = Task.TEXT_TO_VIDEO
    prompt: str = ""
    negative_prompt: str | None = None
    aspect: tuple[int, int] | None = None  # W:H from -ar; None = the input's, else the model's 16:9
    fps: int | None = None  # None = the parent's (extend), else the model's native fps
    seconds: float | None = None  # None = the source's (video-to-video), else the model's default
    motion: int = 1  # 0..4
    guidance: float | None = None  # None = model default
    seed: int = 0
    camera: str | None = None  # "zoom in", "pan up left", "rotate cw", ...
    steps: int | None = None  # None = model default
    image: PIL.Image.Image | None = None  # image-to-video; keyframes' first frame
    last_image: PIL.Image.Image | None = None  # keyframes' last frame
    # Clips are lists of pictures or a media.SourceClip (decoded to the plan's size when planned).
    video: list[PIL.Image.Image] | media.SourceClip | None = None  # video-to-video and edit source
    video_fps: float | None = None  # its frame rate, when known
    parent_video: list[PIL.Image.Image] | media.SourceClip | None = None  # extend: the clip to continue
    parent_fps: float | None = None
    reference: PIL.Image.Image | None = None  # edit: an object or character to put in
    parent_audio: Track | None = None  # extend: its sound, when it has one
    audio: Track | None = None  # lip-sync: the member's track, as decoded
    speech: str | None = None  # lip-sync: words to speak instead (text-to-speech)
    mute: bool = False  # -mute: no sound track, even from a model that makes one
    effect: str | None = None  # -effect NAME: one of the model's effect LoRAs
    loop: bool = False  # -loop: the clip ends where it begins
    between: tuple = ()  # keyframes: up to three pictures between the first and the last, in order
    ingredients: tuple = ()  # scene: up to three pictures of what appears in it


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
    edit_region: str | None = None  # edits: what was allowed to change (a phrase, or WHOLE_FRAME)
    audio: Track | None = None  # the clip's sound, exactly as long as its frames; None: silent
    adapters: dict = field(default_factory=dict)  # the LoRAs switched on: kind → name
    conditioning: dict = field(default_factory=dict)  # what the pipeline was given to hold (see `conditioning`)
    seam: looping.Seam | None = None  # -loop: the wrap from the last frame to the first, measured
    finite: bool = True  # every value the model returned was a number (NaN/inf turn black in uint8)
    steps: int | None = None  # denoising steps and guidance as called, for the clip's details
    guidance: float | None = None


class Renderer:
    """Holds one loaded model (a pipeline per class its tasks need, sharing weights) and
    renders clips with it, one at a time."""

    def __init__(self, spec: ModelSpec, source: str | None = None, *, models_dir: Path | None = None,
                 device: str = "cpu", knobs: speed.Knobs | None = None, adapter_sources: dict[str, str] | None = None,
                 pipeline=None, segmenter: masks.Segmenter | None = None, speaker: Speaker | None = None):
        """Load `spec` from `source` (a folder or hub id; None: its default) and put the
        speed knobs on it (None: the defaults for this device). `pipeline` hands over one
        already built in memory (its dtype as the caller made it) instead of loading; it gets
        none of the catalog's LoRAs (its weights are not the checkpoint's, so theirs would not fit).
        `segmenter` finds what an instruction names, for masked edits (None: they change
        the whole frame). `speaker` speaks a lip-sync's words (None: the default voice for
        this model, loaded on first use). `adapter_sources`: where some of its LoRAs' weights
        are (adapter name → folder, file or hub source), over the catalog's."""
        if pipeline is not None:
            spec = replace(spec, adapters=())
        self.spec = spec
        self.device = device
        self.segmenter = segmenter
        if speaker is None and Task.LIP_SYNC in spec.tasks:
            speaker = Speaker(default_voice(spec), models_dir=Path(models_dir or "."), device=device)
        self.speaker = speaker
        self.knobs = knobs or speed.resolve(spec, device, None)
        self.knobs.check()
        if pipeline is None:
            self.source = resolve_source(spec, source, Path(models_dir or "."))
            pipeline = read_pipeline(spec, self.source, dtype=speed.component_dtypes(spec, self.knobs, device))
        else:
            self.source = source or "(built in memory)"
        self.pipeline = pipeline
        # LoRAs go in before the knobs: FP8 casting and compile must see the final layers.
        self.adapters = Adapters(pipeline, spec, models_dir=models_dir, sources=adapter_sources,
                                 hotswap=self.knobs.hotswap)
        self._running = None  # the pipeline mid-call, for the PAB cache's timestep
        speed.apply(pipeline, spec, self.knobs, device, current_timestep=self._current_timestep)
        self.pipelines = task_pipelines(spec, pipeline)
        self._offloaded_for = None

    # --- planning -----------------------------------------------------------------------

    def plan(self, inp: RenderInput) -> Plan:
        spec = self.spec
        if inp.task not in spec.tasks:
            raise UnsupportedTask(spec.name, inp.task)
        task = Task(inp.task)
        for need in REQUIRED.get(task, ()):
            if not any(getattr(inp, name) for name in (need if isinstance(need, tuple) else (need,))):
                raise MissingInput(spec.name, task.value, need)
        if inp.motion not in MOTION_PHRASES:
            raise ValueError(f"motion must be 0..4, got {inp.motion}")
        self._check_asks(inp, task)

        face = inp.image if inp.image is not None else inp.video  # lip-sync: a picture, or a video's first frame
        source = {Task.EXTEND: inp.parent_video, Task.LIP_SYNC: face,
                  **dict.fromkeys(SOURCE_TASKS, inp.video)}.get(task, inp.image)
        width, height = nearest_bucket(spec, *(inp.aspect or media.aspect(source) or spec.default_aspect))
        fps = inp.fps or _source_fps(inp, task) or spec.native_fps
        seconds = inp.seconds or spec.default_seconds
        if task in SOURCE_TASKS and not inp.seconds:
            seconds = len(inp.video) / (inp.video_fps or fps)  # restyle or edit the whole source
        frames, output_frames = clip_frames(spec, fps, seconds)
        if task == Task.KEYFRAMES and inp.between:  # room for every picture, a latent frame apart
            frames = max(frames, (len(inp.between) + 1) * spec.frames_multiple + 1)
            output_frames = clip_output_frames(spec, frames, fps)
        if inp.loop:  # the closing frame repeats the first: the clip keeps the frames before it
            output_frames = clip_output_frames(spec, frames - 1, fps)
        if task == Task.LIP_SYNC:  # as long as the track: render enough frames, keep those it lasts
            frames = covering_frames(spec, fps, inp.audio.seconds)
            output_frames = min(frames, max(1, math.ceil(round(inp.audio.seconds * fps, 6))))
        model_fps = fps if spec.fps_conditioned else spec.native_fps

        pipeline = spec.pipeline_for(Task.KEYFRAMES if inp.loop else task)
        plan = Plan(task=task.value, pipeline=pipeline, width=width, height=height, fps=fps,
                    model_fps=model_fps, model_frames=frames, output_frames=output_frames, skip=0,
                    motion=inp.motion, loop=inp.loop)
        if inp.image is not None and task in (Task.IMAGE_TO_VIDEO, Task.KEYFRAMES):
            plan.image = media.fit(inp.image, width, height)
        if task == Task.KEYFRAMES:
            plan.last_image = media.fit(inp.last_image, width, height)
            places = keyframe_indices(frames, len(inp.between) + 2, spec.frames_multiple)[1:-1]
            plan.between = [(index, media.fit(picture, width, height)) for index, picture in zip(places, inp.between)]
        if inp.loop:
            plan.keep = frames - 1
            plan.last_image = plan.image  # None for text-to-video: `render` makes the first frame first
        if task == Task.SCENE:
            # Kept whole (a character is not cropped): VACE pads each onto a white canvas itself.
            plan.references = [media.contain(picture, width, height) for picture in inp.ingredients]
        if task in SOURCE_TASKS:
            plan.video = media.sample(inp.video, frames, inp.video_fps, model_fps, width, height)
        if task == Task.EXTEND:
            # The lead-in: the parent's last k frames (k a valid count), rendered again as
            # the first frames so the new ones continue them; dropped from the clip.
            k = media.valid_count(len(inp.parent_video), spec.extend_frames, spec.frames_multiple)
            plan.context = media.sample(inp.parent_video, k, inp.parent_fps, model_fps, width, height, from_end=True)
            plan.model_frames, plan.skip = frames + k - 1, k - 1
            if inp.parent_audio is not None and spec.sound:
                # Model time 0 is the parent's end less k frames; the new clip starts at frame k - 1.
                plan.lead_in_audio = inp.parent_audio.window(-k / model_fps, -1 / model_fps)
        if task == Task.LIP_SYNC:
            plan.image = media.fit(face, width, height) if face is inp.image else \
                media.sample(face, 1, inp.video_fps, model_fps, width, height)[0]
            plan.keep = output_frames
            plan.audio = inp.audio.fitted(output_frames / fps)  # padded with silence to the last frame
        if task == Task.EDIT:
            self._plan_edit(plan, inp)
        return plan

    def _check_asks(self, inp: RenderInput, task: Task) -> None:
        """Refuse, with the models that can, what this model cannot do as asked: an effect or
        camera LoRA it lacks, a loop, more keyframes or ingredients than it takes."""
        spec = self.spec
        try:
            wanted(spec, task.value, inp.effect, inp.camera)
        except UnsupportedAdapter as exc:
            raise Refused(spec.name, task.value, str(exc)) from None
        if inp.loop and not spec.loops(task):
            raise _refuse(spec, task, f"cannot make {task.value} clips that loop", lambda other: other.loops(task))
        pictures = len(inp.between) + 2
        if task == Task.KEYFRAMES and pictures > spec.keyframes_max:
            raise _refuse(spec, task, f"takes a first and a last picture only, not {pictures}",
                          lambda other: other.keyframes_max >= pictures)
        if task == Task.SCENE and len(inp.ingredients) > INGREDIENTS_MAX:
            raise Refused(spec.name, task.value, f"a scene takes up to {INGREDIENTS_MAX} pictures")

    def _plan_edit(self, plan: Plan, inp: RenderInput) -> None:
        """The reference image, and what may change: a mask from the instruction where the
        pipeline takes one and a segmenter is configured, else the whole frame."""
        if inp.reference is not None:
            if not self.spec.edit_references:
                raise UnsupportedReference(self.spec.name)
            # Kept whole (an object is not cropped): VACE pads it onto a white canvas itself.
            plan.references = [media.contain(inp.reference, plan.width, plan.height)]
        plan.edit_region = WHOLE_FRAME
        if not masks_edits(self.spec):
            return
        phrase = masks.target_phrase(inp.prompt) if self.segmenter is not None else None
        found = self.segmenter.masks(plan.video, phrase) if phrase else None
        if found is None:
            plan.mask = [media.mask(plan.width, plan.height, generate=True)] * plan.model_frames
        else:
            plan.mask, plan.edit_region = found, phrase

    def pipeline_arguments(self, inp: RenderInput) -> dict:
        """The keyword arguments for the pipeline call, without the step callback."""
        inp = self.spoken(inp)
        return self._arguments(self.plan(inp), inp)

    def _arguments(self, plan: Plan, inp: RenderInput) -> dict:
        spec = self.spec
        negative = inp.negative_prompt if inp.negative_prompt is not None else spec.default_negative_prompt
        # An edit keeps the source's motion and camera: the instruction goes as written.
        words = Adapters.prompt(inp.prompt or UNSAID_PROMPTS.get(Task(inp.task), ""),
                                tuple(wanted(spec, plan.task, inp.effect, inp.camera)))
        prompt = inp.prompt if plan.task == Task.EDIT else compose_prompt(words, inp.camera, inp.motion)
        common = {
            "prompt": prompt,
            "negative_prompt": negative or "",
            "width": plan.width,
            "height": plan.height,
            "num_frames": plan.model_frames,
            "guidance_scale": spec.default_guidance if inp.guidance is None else inp.guidance,
            # A CPU generator gives the same noise for a seed on every device.
            "generator": torch.Generator("cpu").manual_seed(inp.seed),
            "output_type": "pt",  # a tensor on the device: see to_uint8
            **dict(spec.call_kwargs),
        }
        if inp.steps is None and spec.timesteps:
            common["timesteps"] = list(spec.timesteps)
            common["num_inference_steps"] = len(spec.timesteps)
        elif inp.steps is None and spec.sigmas:
            common["sigmas"] = list(spec.sigmas)
            common["num_inference_steps"] = len(spec.sigmas)
        else:
            common["num_inference_steps"] = inp.steps or spec.default_steps
        return FAMILIES[spec.family].arguments(spec, plan, common)

    # --- rendering ----------------------------------------------------------------------

    def render(self, inp: RenderInput, on_step: Callable[[int, int], None] | None = None) -> RenderOutput:
        """Render `inp`. `on_step(step, total)` runs after every denoising step (1-based);
        anything it raises stops the render there and propagates (that is how jobs cancel).
        """
        inp = self.spoken(inp)
        plan = self.plan(inp)
        chosen = self.adapters.select(plan.task, inp.effect, inp.camera)  # the clip's LoRAs on, the rest off
        if plan.loop and plan.image is None:
            plan.image = plan.last_image = self._first_frame(plan, inp)
        arguments = self._arguments(plan, inp)
        arguments["callback_on_step_end"] = _step_callback(on_step, arguments)
        pipeline = self._ready(plan)

        started = time.perf_counter()
        self._running = pipeline
        try:
            result = pipeline(**arguments)
            video = result.frames[0]  # (F, 3, H, W) floats in [0, 1]
            finite = all_finite(video)
            frames = to_uint8(video)  # waits for the device: part of the model's time
        finally:
            self._running = None
        model_seconds = time.perf_counter() - started

        frames = media.retime(frames[plan.skip:][:plan.keep], plan.output_frames)
        expected = (plan.output_frames, plan.height, plan.width, 3)
        if frames.shape != expected:
            raise RuntimeError(f"{self.spec.name} returned frames {frames.shape}, expected {expected}")
        frames, seam = looping.close(frames) if plan.loop else (frames, None)
        return RenderOutput(
            frames=frames,
            fps=plan.fps,
            width=plan.width,
            height=plan.height,
            num_frames=plan.output_frames,
            seed=inp.seed,
            model_seconds=model_seconds,
            prompt=arguments["prompt"],
            edit_region=plan.edit_region,
            audio=None if inp.mute else self._sound(plan, result, pipeline),
            adapters=used_by(chosen),
            conditioning=conditioning(arguments),
            seam=seam,
            finite=finite,
            steps=arguments.get("num_inference_steps"),
            guidance=arguments.get("guidance_scale"),
        )

    def _first_frame(self, plan: Plan, inp: RenderInput):
        """A text-to-video loop's first (and last) frame: a one-frame first pass of the task's own
        pipeline, same prompt and seed."""
        from PIL import Image

        first = replace(plan, pipeline=self.spec.pipeline_for(plan.task), model_frames=1, loop=False)
        video = self._ready(first)(**self._arguments(first, inp)).frames[0]
        return Image.fromarray(to_uint8(video)[0])

    def spoken(self, inp: RenderInput) -> RenderInput:
        """A lip-sync asked with words gets their speech as its track (text-to-speech)."""
        if inp.task != Task.LIP_SYNC or inp.task not in self.spec.tasks or inp.audio is not None or not inp.speech:
            return inp  # (a model without lip-sync is refused by plan)
        try:
            track = self.speaker.speak(inp.speech)
        except Unspeakable as exc:
            raise UnusableSpeech(self.spec.name, str(exc)) from None
        if track.seconds > MAX_TRACK_SECONDS:
            raise UnusableSpeech(self.spec.name, f"Those words take {track.seconds:.1f} s to say; a lip-sync clip "
                                                 f"can be up to {MAX_TRACK_SECONDS:g} s. Use fewer words.")
        return replace(inp, audio=track)

    def _sound(self, plan: Plan, result, pipeline) -> Track | None:
        """The clip's track, as long as its frames: a lip-sync's own (the member's waveform,
        not the model's rendering of it), else the model's from the vocoder, less an
        extend's lead-in."""
        seconds = plan.output_frames / plan.fps
        if plan.audio is not None:
            return plan.audio.fitted(seconds)
        audio = getattr(result, "audio", None)
        if not self.spec.sound or audio is None:
            return None
        samples = audio[0].float().cpu().numpy()  # (channels, samples)
        track = Track(samples, int(pipeline.vocoder.config.output_sampling_rate))
        return track.after(plan.skip / plan.model_fps).fitted(seconds)

    def _ready(self, plan: Plan):
        """The pipeline for `plan`, with per-render state set: a fresh step cache (a cancelled
        render leaves the old one behind), model offload hooks."""
        pipeline = self.pipelines[plan.pipeline]
        if self.knobs.cache:
            for transformer in speed.transformers_of(self.pipeline):
                transformer._reset_stateful_cache()
        if self.knobs.offload == "model" and self._offloaded_for is not pipeline:
            # Offload hooks belong to one pipeline; the task pipelines share modules, so
            # the one about to run takes them over.
            pipeline.enable_model_cpu_offload(device=self.device)
            self._offloaded_for = pipeline
        return pipeline

    def _current_timestep(self):
        return self._running.current_timestep if self._running is not None else None

    def warm_up(self, aspects: list[tuple[int, int]] | None = None, steps: int = 2) -> float:
        """Render one short clip per bucket that `aspects` snap to (default: the model's
        default aspect) at the default length, so that compiled graphs for the sizes
        members ask for exist before the first member's job. Returns the seconds it took."""
        task = next(task for task in Task if task in self.spec.tasks)
        buckets = dict.fromkeys(nearest_bucket(self.spec, *aspect) for aspect in aspects or [self.spec.default_aspect])
        started = time.perf_counter()
        for width, height in buckets:
            still = media.grey(width, height)
            clip = [still] * self.spec.extend_frames
            self.render(RenderInput(task=task, prompt="warm-up", aspect=(width, height), steps=steps, image=still,
                                    last_image=still, video=clip, parent_video=clip))
        return time.perf_counter() - started


def _source_fps(inp: RenderInput, task: Task) -> int | None:
    """The fps a clip keeps from its source (an extend's parent, an edit's video), within
    what -fps allows: a 60 fps phone clip comes back at 30."""
    rate = inp.parent_fps if task == Task.EXTEND else inp.video_fps if task in SOURCE_TASKS else None
    return min(max(round(rate), FPS_MIN), FPS_MAX) if rate else None


def keyframe_indices(frames: int, pictures: int, multiple: int) -> list[int]:
    """Frame indices for `pictures` evenly spaced over `frames` (k*multiple+1), each on a latent
    frame's first pixel frame (a multiple of `multiple`): the first at 0, the last at frames - 1."""
    blocks = (frames - 1) // multiple
    return [round(j * blocks / (pictures - 1)) * multiple for j in range(pictures)]


def conditioning(arguments: dict) -> dict:
    """What the pipeline call was given to hold, read off its arguments (for logs and tests):
    LTX condition frames, LTX-2 condition latents, VACE's kept frames and reference pictures,
    Wan's first and last images."""
    found = {}
    conditions = arguments.get("conditions") or []
    if any(hasattr(c, "frame_index") for c in conditions):
        found["condition_frames"] = [c.frame_index for c in conditions]
    if any(hasattr(c, "index") for c in conditions):
        found["condition_latents"] = [c.index for c in conditions]
    if isinstance(arguments.get("mask"), list):  # VACE: a black mask keeps its frame
        found["kept_frames"] = [i for i, mask in enumerate(arguments["mask"]) if mask.getextrema() in ((0, 0), 0)]
    if arguments.get("reference_images"):
        found["reference_images"] = len(arguments["reference_images"])
    found.update({name: True for name in ("image", "last_image") if arguments.get(name) is not None})
    return found


def covering_frames(spec: ModelSpec, fps: float, seconds: float) -> int:
    """The fewest valid frames that last at least `seconds` (a track is never cut short),
    within the model's limits."""
    blocks = math.ceil(round(fps * seconds - 1, 6) / spec.frames_multiple)
    return min(max(blocks, 1), (spec.max_frames - 1) // spec.frames_multiple) * spec.frames_multiple + 1


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


def all_finite(video) -> bool:
    """No NaN or infinity in the frames (a half-precision overflow): one reduction where they are."""
    if isinstance(video, torch.Tensor):
        return bool(torch.isfinite(video).all())
    return bool(np.isfinite(np.asarray(video, dtype=np.float32)).all())


def to_uint8(video) -> np.ndarray:
    """Pipeline frames in [0, 1] to (F, H, W, 3) uint8.

    From a tensor (F, 3, H, W) the conversion runs where the tensor is, so a GPU sends back
    a quarter of the bytes of float32 frames and the host CPU does no per-pixel work; an
    array is taken as (F, H, W, 3). Both round the same way (half to even, in float32).
    """
    if isinstance(video, torch.Tensor):
        frames = (video.float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
        return frames.permute(0, 2, 3, 1).contiguous().cpu().numpy()
    video = np.asarray(video, dtype=np.float32)
    return (np.clip(video, 0.0, 1.0) * 255.0).round().astype(np.uint8)
