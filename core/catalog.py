"""The model catalog: every model Reelbot can serve, and its tasks, as plain data.

Every process reads it: the bot checks `-model` and tasks against the deployment's models
(`deployment_models`), whether or not a worker is online; the worker picks what to load;
the gallery, the CLI and the exporter name models from it. So it imports nothing heavy:
no torch, no diffusers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Task(StrEnum):
    """What a model can be asked to do. Members compare equal to their strings."""

    TEXT_TO_VIDEO = "text-to-video"
    IMAGE_TO_VIDEO = "image-to-video"
    VIDEO_TO_VIDEO = "video-to-video"
    EXTEND = "extend"
    KEYFRAMES = "keyframes"
    LIP_SYNC = "lip-sync"
    EDIT = "edit"
    SCENE = "scene"  # /scene: the characters, objects or places of up to three pictures in one clip


TINY_LABEL = "random weights — produces noise, not pictures"


# The diffusers pipeline class that does each task, for every family. A model lists the
# tasks its checkpoint can do; they all share one set of weights (see loading.py).
LTX_CONDITION = "LTXConditionPipeline"
WAN_T2V = "WanPipeline"
WAN_I2V = "WanImageToVideoPipeline"
WAN_V2V = "WanVideoToVideoPipeline"
WAN_VACE = "WanVACEPipeline"
LUCY_EDIT = "LucyEditPipeline"
# LTX-2 (video with its own sound). The last two are Reelbot's thin subclasses
# (inference/pipelines.py): they take a waveform and encode it with the model's audio VAE.
LTX2_T2V = "LTX2Pipeline"
LTX2_I2V = "LTX2ImageToVideoPipeline"
LTX2_CONDITION = "LTX2ExtendPipeline"  # LTX2ConditionPipeline holding the parent's sound under the lead-in
LTX2_LIP_SYNC = "LTX2LipSyncPipeline"  # LTX2DFRPipeline with the member's track frozen (freeze_audio)


def pipelines(*tasks: str, pipeline: str) -> tuple[tuple[str, str], ...]:
    """(task, pipeline class) pairs for several tasks served by one pipeline class."""
    return tuple((Task(task).value, pipeline) for task in tasks)


# What a conditioning video model (LTX-Video's condition pipeline) does with one checkpoint.
GENERATION_TASKS = (Task.TEXT_TO_VIDEO, Task.IMAGE_TO_VIDEO, Task.VIDEO_TO_VIDEO, Task.EXTEND, Task.KEYFRAMES)

# Keyframes: pipelines that take a picture at any frame (LTX's and LTX-2's conditions, VACE's kept
# frames) take up to KEYFRAMES_MAX pictures, evenly spaced; the others (FLF2V) a first and a last.
ANY_FRAME_PIPELINES = (LTX_CONDITION, LTX2_CONDITION, WAN_VACE)
KEYFRAMES_MAX = 5
# /scene: at most this many ingredient pictures (VACE's reference_images).
INGREDIENTS_MAX = 3
# -loop: the tasks a clip can loop in (an extend continues its parent; a restyle or an edit keeps
# its source's motion), each through the model's keyframes pipeline, first frame = last frame.
LOOP_TASKS = (Task.TEXT_TO_VIDEO, Task.IMAGE_TO_VIDEO)


class AdapterKind(StrEnum):
    EFFECT = "effect"  # -effect NAME, /animate effect: (Pikaffects-style)
    CAMERA = "camera"  # -camera MOVE: the move rendered by a camera LoRA instead of words


@dataclass(frozen=True)
class Adapter:
    """A LoRA of one model, as plain data: where its weights are, how to prompt it and how hard
    to apply it. inference/adapters.py loads and switches them; nothing else learns about LoRAs."""

    name: str  # an effect's name ("squish"), or the -camera move a camera LoRA renders ("dolly in")
    kind: AdapterKind
    # "owner/name[@revision]" on the hub (revision: a pinned commit where one was at hand), or
    # None for a tiny model's random-weight stand-in, built locally (inference/tiny.py).
    source: str | None
    weight_name: str  # the LoRA's safetensors file in that repository
    # The words the LoRA was trained to answer to (shown by /effects); in `template` too.
    trigger: str = ""
    # The prompt as the LoRA's authors write it: "{prompt}" is where the member's words go.
    template: str = "{prompt}"
    strength: float = 1.0  # the LoRA scale its authors recommend
    tasks: tuple[str, ...] = (Task.IMAGE_TO_VIDEO.value,)
    description: str = ""

    def __post_init__(self):
        if not ADAPTER_NAME.fullmatch(self.name):
            raise ValueError(f"adapter name {self.name!r}: lower-case words")
        if "{prompt}" not in self.template or self.trigger not in self.template:
            raise ValueError(f"{self.name}: the template must hold {{prompt}} and the trigger words")
        if not self.weight_name.endswith(".safetensors"):
            raise ValueError(f"{self.name}: {self.weight_name} is not a safetensors file")
        if set(self.tasks) - set(Task) or not 0 < self.strength <= 2:
            raise ValueError(f"{self.name}: bad tasks {self.tasks} or strength {self.strength}")

    def prompt(self, words: str) -> str:
        """The prompt the model gets: the member's words inside the LoRA's template."""
        return self.template.replace("{prompt}", words.strip().rstrip(".") or ADAPTER_SUBJECT)


ADAPTER_NAME = re.compile(r"[a-z][a-z0-9-]*(?: [a-z0-9-]+)?")
# What an effect's template names when the member gave no words (/animate with only a picture).
ADAPTER_SUBJECT = "the subject of the picture"


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to pick arguments for one model, without loading it."""

    name: str
    family: str  # "ltx", "ltx2", "wan" or "lucy": which argument builder (inference/<family>.py) it uses
    description: str
    # (task, diffusers pipeline class) pairs: what the checkpoint can do, and with which class.
    pipelines: tuple[tuple[str, str], ...]
    # "owner/name@revision" on the Hugging Face hub: pinned to a commit, so an upstream re-push
    # cannot change what a -seed gives (see `split_source`).
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
    # True when the model is told the frame rate (LTX scales its position encoding by it)
    # and so renders any fps directly. False (Wan): it always renders at native_fps, and
    # the frames are retimed to the fps asked for, so motion keeps its real speed.
    fps_conditioned: bool = True
    # Extend conditions on this many of the parent clip's last frames (k*frames_multiple+1).
    extend_frames: int = 17
    default_negative_prompt: str | None = None
    # Timestep-distilled models run a fixed schedule instead of `default_steps` evenly
    # spaced steps; empty means "use default_steps".
    timesteps: tuple[float, ...] = ()
    # Extra pipeline arguments this checkpoint needs on every call, as (name, value) pairs
    # so the spec stays hashable.
    call_kwargs: tuple[tuple[str, object], ...] = field(default=())
    # Components kept in float32 whatever the dtype knob says (Wan's VAE and CLIP image
    # encoder lose detail in bf16; the model card loads them in float32).
    fp32_components: tuple[str, ...] = ()
    # Weights in bf16, GiB, for all components together: what the speed-knob defaults
    # compare with the card's memory to decide on FP8 or offloading.
    weights_gib: float = 0.0
    # For a tiny model: the real model whose architecture (classes, tasks) it mirrors.
    mirrors: str | None = None
    # Its clips carry a sound track the model made (or, for lip-sync, the member's own).
    sound: bool = False
    # Its edits can put in an object or character from a reference image (VACE); without
    # this, an edit follows the instruction alone.
    edit_references: bool = False
    # A distilled schedule given as sigmas (LTX-2) rather than timesteps; empty: none.
    sigmas: tuple[float, ...] = ()
    # Its LoRAs: effects and camera moves (inference/adapters.py), switched per clip.
    adapters: tuple[Adapter, ...] = ()

    def __post_init__(self):
        for width, height in self.buckets:
            if width % self.size_multiple or height % self.size_multiple:
                raise ValueError(f"{self.name}: bucket {width}x{height} is not a multiple of {self.size_multiple}")
        if (self.max_frames - 1) % self.frames_multiple:
            raise ValueError(f"{self.name}: max_frames {self.max_frames} is not k*{self.frames_multiple}+1")
        if (self.extend_frames - 1) % self.frames_multiple or self.extend_frames < self.min_frames:
            raise ValueError(f"{self.name}: extend_frames {self.extend_frames} is not k*{self.frames_multiple}+1")
        tasks = [task for task, _ in self.pipelines]
        unknown = set(tasks) - set(Task)
        if unknown:
            raise ValueError(f"{self.name}: unknown tasks {sorted(unknown)}")
        if len(tasks) != len(set(tasks)):
            raise ValueError(f"{self.name}: a task is listed twice")
        if self.edit_references and Task.EDIT not in tasks:
            raise ValueError(f"{self.name}: edit_references without the edit task")
        names = [adapter.name for adapter in self.adapters]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.name}: an adapter is listed twice")
        for adapter in self.adapters:
            if not set(adapter.tasks) <= set(tasks):
                raise ValueError(f"{self.name}: adapter {adapter.name} names a task the model lacks")

    @property
    def tasks(self) -> frozenset[str]:
        return frozenset(task for task, _ in self.pipelines)

    def pipeline_for(self, task: str) -> str:
        """The diffusers pipeline class name that does `task` (KeyError if none)."""
        return dict(self.pipelines)[Task(task).value]

    def adapter(self, kind: AdapterKind, name: str | None, task: str | None = None) -> Adapter | None:
        """Its effect or camera LoRA of that name (for `task`, when given), or None."""
        return next((a for a in self.adapters if a.kind == kind and a.name == name
                     and (task is None or task in a.tasks)), None)

    @property
    def keyframes_max(self) -> int:
        """How many pictures its keyframes take: up to KEYFRAMES_MAX at any frame, else first and
        last (0: no keyframes)."""
        if Task.KEYFRAMES not in self.tasks:
            return 0
        return KEYFRAMES_MAX if self.pipeline_for(Task.KEYFRAMES) in ANY_FRAME_PIPELINES else 2

    def loops(self, task: str) -> bool:
        """Whether its clips of `task` can loop (-loop): the task itself, and keyframes to pin the
        last frame to the first."""
        return task in LOOP_TASKS and task in self.tasks and self.keyframes_max > 0

    @property
    def distilled(self) -> bool:
        """Runs a fixed distilled schedule (timesteps or sigmas) instead of evenly spaced steps."""
        return bool(self.timesteps or self.sigmas)

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

# Wan 2.1 at 480p: about 832x480 (0.4 megapixels), sides multiples of 16 (VAE 8 × patch 2).
WAN_480P_BUCKETS = (
    (1104, 368),  # 3:1
    (960, 416),  # 21:9
    (896, 448),  # 2:1
    (832, 480),  # 16:9
    (768, 512),  # 3:2
    (704, 528),  # 4:3
    (624, 624),  # 1:1
    (528, 704),  # 3:4
    (512, 768),  # 2:3
    (480, 832),  # 9:16
    (448, 896),  # 1:2
    (416, 960),  # 9:21
    (368, 1104),  # 1:3
)

# Wan 2.1 at 720p (the FLF2V checkpoint): about 1280x720 (0.9 megapixels).
WAN_720P_BUCKETS = (
    (1680, 560),  # 3:1
    (1456, 624),  # 21:9
    (1344, 672),  # 2:1
    (1280, 720),  # 16:9
    (1152, 768),  # 3:2
    (1104, 832),  # 4:3
    (960, 960),  # 1:1
    (832, 1104),  # 3:4
    (768, 1152),  # 2:3
    (720, 1280),  # 9:16
    (672, 1344),  # 1:2
    (624, 1456),  # 9:21
    (560, 1680),  # 1:3
)

# Lucy Edit Dev is Wan 2.2 5B (VAE 16 px × patch 2 = 32 px) tuned at 832x480: the same
# ~0.4 megapixel buckets as LTX, so a portrait phone clip stays portrait.
LUCY_BUCKETS = LTX_BUCKETS

# The tiny models share their family's compression (LTX: 32 px, 8 frames; Wan: 16 px, 4
# frames), so multiples of 32 suit both; long side at most 160 px keeps a CPU render well
# under a second.
TINY_BUCKETS = (
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
TINY_LTX_BUCKETS = TINY_BUCKETS  # the name earlier code imports
# Wan's VAE runs frame by frame and costs most of a tiny render; its 16 px multiple
# allows buckets a quarter of the area.
TINY_WAN_BUCKETS = (
    (48, 16),  # 3:1
    (64, 32),  # 2:1, also 21:9
    (80, 48),  # 5:3, the nearest to 16:9
    (64, 48),  # 4:3
    (48, 48),  # 1:1
    (48, 64),  # 3:4
    (48, 80),  # 3:5, the nearest to 9:16
    (32, 64),  # 1:2
    (16, 48),  # 1:3
)

LTX_NEGATIVE_PROMPT = "worst quality, inconsistent motion, blurry, jittery, distorted"
# The negative prompt Wan's authors ship (English rendering of the original), as the
# diffusers examples use it.
WAN_NEGATIVE_PROMPT = (
    "Bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, images, static, "
    "overall gray, worst quality, low quality, JPEG compression residue, ugly, incomplete, extra fingers, "
    "poorly drawn hands, poorly drawn faces, deformed, disfigured, misshapen limbs, fused fingers, still picture, "
    "messy background, three legs, many people in the background, walking backwards"
)
# LTX 0.9.1+ VAEs are timestep-aware: decode with a little noise, as the model card says.
LTX_DECODE = (("decode_timestep", 0.05), ("decode_noise_scale", 0.025))

# LTX-2's negative prompt, shortened from Lightricks' default (ltx-pipelines constants): it
# names sound faults too.
LTX2_NEGATIVE_PROMPT = (
    "blurry, out of focus, overexposed, low contrast, excessive noise, flickering, motion blur, distorted "
    "proportions, deformed facial features, extra limbs, disfigured hands, jittery movement, mismatched lip sync, "
    "silent or muted audio, distorted voice, robotic voice, echo, background noise, off-sync audio"
)
# The distilled LTX-2 checkpoints' eight-step schedule (diffusers' DISTILLED_SIGMA_VALUES, from
# ltx-pipelines): sigmas, not timesteps, and already shifted, so they are used as given.
LTX2_DISTILLED_SIGMAS = (1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875)
# Guidance-distilled: one transformer pass per step, so every extra guidance term is off
# (the pipelines' defaults turn on audio CFG 7.0, spatio-temporal and modality guidance).
LTX2_NO_GUIDANCE = (
    ("audio_guidance_scale", 1.0), ("stg_scale", 0.0), ("audio_stg_scale", 0.0), ("modality_scale", 1.0),
    ("audio_modality_scale", 1.0), ("guidance_rescale", 0.0), ("audio_guidance_rescale", 0.0),
)
# What one LTX-2 checkpoint does: every task but restyle, each clip with its own sound.
LTX2_TASKS = (
    pipelines(Task.TEXT_TO_VIDEO, pipeline=LTX2_T2V)
    + pipelines(Task.IMAGE_TO_VIDEO, pipeline=LTX2_I2V)
    + pipelines(Task.EXTEND, Task.KEYFRAMES, pipeline=LTX2_CONDITION)
)


# --- adapters: effect and camera LoRAs, per model ---------------------------------------------
# No commit of these repositories was at hand offline, so their sources name the repository
# alone: `reelbot fetch-models` resolves `main` to its commit and says which, and an operator
# pins one with REELBOT_ADAPTER_SOURCES ({"model": {"squish": "owner/name@commit"}}).


def _effect(name: str, source: str, weight_name: str, trigger: str, template: str, tasks=(Task.IMAGE_TO_VIDEO,),
            **values) -> Adapter:
    return Adapter(name=name, kind=AdapterKind.EFFECT, source=source, weight_name=weight_name, trigger=trigger,
                   template=template, tasks=tuple(Task(t).value for t in tasks), **values)


# Lightricks' own effect LoRAs for LTX-Video 0.9.5 (the LTX-Video-Trainer's examples), trained
# on captions that start with their trigger word.
LTX_EFFECTS = (
    _effect("cakeify", "Lightricks/LTX-Video-Cakeify-LoRA", "ltxv_095_cakeify_lora.safetensors", "CAKEIFY",
            "CAKEIFY a person using a knife to cut a cake shaped like {prompt}",
            tasks=(Task.TEXT_TO_VIDEO, Task.IMAGE_TO_VIDEO), description="cut open: it was cake all along"),
    _effect("squish", "Lightricks/LTX-Video-Squish-LoRA", "ltxv_095_squish_lora.safetensors", "SQUISH",
            "SQUISH two hands squeezing a squeezable object that is shaped like {prompt}",
            tasks=(Task.TEXT_TO_VIDEO, Task.IMAGE_TO_VIDEO), description="squeezed like a stress ball"),
)
# Remade's effect LoRAs for Wan 2.1 I2V 14B 480p: a trigger phrase inside the sentence their
# model cards prompt with, at strength 1.0 (the cards' recommendation).
WAN_I2V_EFFECTS = (
    _effect("squish", "Remade-AI/Squish", "squish_18.safetensors", "sq41sh squish effect",
            "In the video, {prompt} is presented. It is held in a person's hands. The person then presses on it, "
            "causing a sq41sh squish effect. The person keeps pressing down on it, further showing the sq41sh "
            "squish effect.", description="squeezed like a stress ball"),
    _effect("inflate", "Remade-AI/Inflate", "inflate_20_epochs.safetensors", "infl4t3 inflates it",
            "{prompt}, then infl4t3 inflates it, expanding into a giant, inflated figure like a balloon.",
            description="blown up like a balloon"),
    _effect("deflate", "Remade-AI/Deflate", "deflate_20_epochs.safetensors", "d3d1at3 deflate it",
            "The video opens with {prompt}. As the video progresses, it begins to d3d1at3 deflate it, gradually "
            "shrinking and losing shape, eventually flattening into a deflated mass.",
            description="the air let out of it"),
    _effect("cakeify", "Remade-AI/Cakeify", "cakeify_16_epochs.safetensors", "c4k3 cakeify it",
            "The video opens on {prompt}. A knife, held by a hand, is coming into frame and hovering over it. The "
            "knife then begins cutting into it to c4k3 cakeify it, revealing the inside to be cake with chocolate "
            "layers.", description="cut open: it was cake all along"),
    _effect("crush", "Remade-AI/Crush", "crush_20_epochs.safetensors", "c5us4 crushes it",
            "The video begins with {prompt}. A hydraulic press positioned above slowly descends towards it. Upon "
            "contact, the hydraulic press c5us4 crushes it, deforming and flattening it until it is no longer "
            "recognizable.", description="flattened by a hydraulic press"),
    _effect("rotate", "Remade-AI/Rotate", "rotate_20_epochs.safetensors", "r0t4tion 360 degrees rotation",
            "The video shows {prompt} performing a r0t4tion 360 degrees rotation.",
            description="turns all the way round"),
)


def _camera(move: str, repo_move: str) -> Adapter:
    """One of Lightricks' camera-control LoRAs for LTX-2 19B: no trigger words (the prompt keeps
    its -camera words, which the cards ask for), strength 1.0 as in their examples."""
    return Adapter(name=move, kind=AdapterKind.CAMERA, source=f"Lightricks/LTX-2-19b-LoRA-Camera-Control-{repo_move}",
                   weight_name=f"ltx-2-19b-lora-camera-control-{repo_move.lower()}.safetensors",
                   tasks=(Task.TEXT_TO_VIDEO.value, Task.IMAGE_TO_VIDEO.value), description=f"camera {move}")


LTX2_CAMERA = tuple(_camera(move, move.title().replace(" ", "-"))
                    for move in ("dolly in", "dolly out", "dolly left", "dolly right", "jib up", "jib down"))


def tiny_adapters(adapters: Iterable[Adapter]) -> tuple[Adapter, ...]:
    """Random-weight stand-ins of `adapters` for a tiny model: same names, words, strengths and
    tasks, built locally (inference/tiny.py) and loaded through the same path."""
    return tuple(replace(adapter, source=None) for adapter in adapters)


def _ltx(**overrides) -> ModelSpec:
    values = dict(
        family="ltx",
        pipelines=pipelines(*GENERATION_TASKS, pipeline=LTX_CONDITION),
        tiny=False,
        native_fps=24,
        default_seconds=5.0,
        buckets=LTX_BUCKETS,
        default_negative_prompt=LTX_NEGATIVE_PROMPT,
        call_kwargs=LTX_DECODE,
    )
    return ModelSpec(**{**values, **overrides})


def _wan(**overrides) -> ModelSpec:
    values = dict(
        family="wan",
        tiny=False,
        native_fps=16,
        default_seconds=81 / 16,  # the 81 frames Wan 2.1 was trained on
        default_steps=50,
        default_guidance=5.0,
        buckets=WAN_480P_BUCKETS,
        size_multiple=16,
        frames_multiple=4,
        # 10 s at 16 fps; beyond the trained 81 frames quality drops, but -len allows it.
        max_frames=161,
        fps_conditioned=False,
        extend_frames=17,  # about a second of the parent
        default_negative_prompt=WAN_NEGATIVE_PROMPT,
        fp32_components=("vae", "image_encoder"),
    )
    return ModelSpec(**{**values, **overrides})


def _lucy(**overrides) -> ModelSpec:
    values = dict(
        family="lucy",
        pipelines=pipelines(Task.EDIT, pipeline=LUCY_EDIT),
        tiny=False,
        # Wan 2.2 5B's rate: the source is read at 24 fps and the edit retimed to its own fps.
        native_fps=24,
        default_seconds=81 / 24,  # the 81 frames of the model card's example
        default_steps=50,
        default_guidance=5.0,
        buckets=LUCY_BUCKETS,
        size_multiple=32,
        frames_multiple=4,
        # 10 s at 24 fps, the longest source a member may attach.
        max_frames=241,
        fps_conditioned=False,
        # The model card edits with an empty negative prompt.
        default_negative_prompt="",
        fp32_components=("vae",),
    )
    return ModelSpec(**{**values, **overrides})


def _ltx2(**overrides) -> ModelSpec:
    values = dict(
        family="ltx2",
        pipelines=LTX2_TASKS,
        tiny=False,
        native_fps=24,
        default_seconds=5.0,
        buckets=LTX_BUCKETS,  # trained around 768x512 too, sides multiples of 32
        default_negative_prompt=LTX2_NEGATIVE_PROMPT,
        sound=True,
    )
    return ModelSpec(**{**values, **overrides})


def _ltx2_distilled(**overrides) -> ModelSpec:
    """A distilled LTX-2: eight fixed sigmas, no guidance, and lip-sync through the DFR pass
    (which is distilled-only: it runs the schedule without classifier-free guidance)."""
    values = dict(
        pipelines=LTX2_TASKS + pipelines(Task.LIP_SYNC, pipeline=LTX2_LIP_SYNC),
        default_steps=len(LTX2_DISTILLED_SIGMAS),
        default_guidance=1.0,
        sigmas=LTX2_DISTILLED_SIGMAS,
        call_kwargs=LTX2_NO_GUIDANCE,
    )
    return _ltx2(**{**values, **overrides})


def _tiny(real: str, **overrides) -> ModelSpec:
    """A random-weight stand-in for `real`: same family, classes and tasks, tiny sizes."""
    base = REAL_MODELS[real]
    values = dict(
        name=f"{real}-tiny",
        description=f"tiny stand-in for {real} (same classes and tasks) for tests and offline runs: {TINY_LABEL}",
        hub_id=None,
        tiny=True,
        mirrors=real,
        default_steps=4,
        # Above 1 so tests exercise the classifier-free guidance path like the real model.
        default_guidance=3.0,
        buckets=TINY_BUCKETS,
        timesteps=(),
        sigmas=(),
        weights_gib=0.0,
        adapters=tiny_adapters(base.adapters),
    )
    return replace(base, **{**values, **overrides})


REAL_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _ltx(
            name="ltx-video",
            description="LTX-Video 0.9.5 (2B), Lightricks; conditions on images and clips at any frame",
            hub_id="Lightricks/LTX-Video-0.9.5@e58e28c39631af4d1468ee57a853764e11c1d37e",
            default_steps=40,
            default_guidance=3.0,
            weights_gib=14.5,
            adapters=LTX_EFFECTS,
        ),
        _ltx(
            name="ltx-video-distilled",
            description="LTX-Video 0.9.7 distilled (13B), Lightricks; 8 steps, no guidance",
            hub_id="Lightricks/LTX-Video-0.9.7-distilled",
            default_steps=8,
            # Guidance-distilled: 1.0 turns classifier-free guidance off (and halves the work).
            default_guidance=1.0,
            # The schedule Lightricks recommends for the distilled base pass.
            timesteps=(1000, 993, 987, 981, 975, 909, 725, 0.03),
            weights_gib=36.0,
        ),
        _wan(
            name="wan-t2v-1.3b",
            description="Wan 2.1 text-to-video (1.3B), Alibaba; also restyles clips",
            pipelines=pipelines(Task.TEXT_TO_VIDEO, pipeline=WAN_T2V) + pipelines(Task.VIDEO_TO_VIDEO, pipeline=WAN_V2V),
            hub_id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers@0fad780a534b6463e45facd96134c9f345acfa5b",
            weights_gib=14.5,
        ),
        _wan(
            name="wan-vace-1.3b",
            description="Wan 2.1 VACE (1.3B), Alibaba; text, first frame, extend, keyframes and edits (with a "
                        "reference image) through one model",
            pipelines=pipelines(Task.TEXT_TO_VIDEO, Task.IMAGE_TO_VIDEO, Task.EXTEND, Task.KEYFRAMES, Task.EDIT,
                                Task.SCENE, pipeline=WAN_VACE),
            hub_id="Wan-AI/Wan2.1-VACE-1.3B-diffusers@ec4d2cb062b548996b179d493fdd05340de702a1",
            weights_gib=15.0,
            edit_references=True,
        ),
        _wan(
            name="wan-i2v-14b",
            description="Wan 2.1 image-to-video 480p (14B), Alibaba",
            pipelines=pipelines(Task.IMAGE_TO_VIDEO, pipeline=WAN_I2V),
            hub_id="Wan-AI/Wan2.1-I2V-14B-480P-Diffusers@b184e23a8a16b20f108f727c902e769e873ffc73",
            weights_gib=41.0,
            adapters=WAN_I2V_EFFECTS,
        ),
        _wan(
            name="wan-flf2v-14b",
            description="Wan 2.1 first-last-frame 720p (14B), Alibaba; keyframes through `last_image`",
            # Its image embedding expects two images (first and last), so it does keyframes only.
            pipelines=pipelines(Task.KEYFRAMES, pipeline=WAN_I2V),
            hub_id="Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers@17c30769b1e0b5dcaa1799b117bf20a9c31f59d7",
            buckets=WAN_720P_BUCKETS,
            weights_gib=41.0,
        ),
        _wan(
            name="wan2.2-t2v-a14b",
            description="Wan 2.2 text-to-video A14B (two 14B experts), Alibaba",
            pipelines=pipelines(Task.TEXT_TO_VIDEO, pipeline=WAN_T2V),
            hub_id="Wan-AI/Wan2.2-T2V-A14B-Diffusers@5be7df9619b54f4e2667b2755bc6a756675b5cd7",
            default_steps=40,
            default_guidance=4.0,
            # The low-noise expert's guidance, as on the model card.
            call_kwargs=(("guidance_scale_2", 3.0),),
            weights_gib=68.0,
        ),
        _lucy(
            name="lucy-edit-dev",
            description="Lucy Edit Dev (5B, on Wan 2.2), Decart; edits a clip from an instruction, keeping its motion",
            hub_id="decart-ai/Lucy-Edit-Dev",
            # 5B transformer 10 GB + UMT5-XXL 11 GB + the float32 VAE 2.8 GB.
            weights_gib=24.0,
        ),
        _ltx2(
            name="ltx-2",
            description="LTX-2 (19B), Lightricks; video with its own sound in one pass",
            hub_id="Lightricks/LTX-2",
            default_steps=40,
            default_guidance=4.0,
            # LTX-2.0: no cross-modality sigma, spatio-temporal guidance at block 29 (model card).
            call_kwargs=(("use_cross_timestep", False), ("spatio_temporal_guidance_blocks", (29,))),
            weights_gib=64.0,
            adapters=LTX2_CAMERA,
        ),
        _ltx2_distilled(
            name="ltx-2.3-distilled",
            description="LTX-2.3 distilled (22B), Lightricks; video with sound in 8 steps, lip-sync",
            hub_id="diffusers/LTX-2.3-Distilled-Diffusers",
            weights_gib=70.0,
        ),
        _ltx2_distilled(
            name="ltx-2.5",
            description="LTX-2.5 (distilled), Lightricks; video with sound in 8 steps, lip-sync",
            hub_id="Lightricks/LTX-2.5-Diffusers",
            weights_gib=70.0,
        ),
    )
}

# One tiny stand-in per distinct architecture (Wan 2.2 A14B uses WanPipeline like the
# 1.3B, so wan-t2v-1.3b-tiny covers its code path).
TINY_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _tiny("ltx-video", name="ltx-tiny"),
        _tiny("wan-t2v-1.3b", name="wan-tiny", buckets=TINY_WAN_BUCKETS),
        _tiny("wan-vace-1.3b", name="wan-vace-tiny", buckets=TINY_WAN_BUCKETS),
        _tiny("wan-i2v-14b", name="wan-i2v-tiny", buckets=TINY_WAN_BUCKETS),
        _tiny("wan-flf2v-14b", name="wan-flf2v-tiny", buckets=TINY_WAN_BUCKETS),
        _tiny("lucy-edit-dev", name="lucy-edit-tiny"),
        # Its CFG on (guidance 3) so tests run the guided path; lip-sync's DFR pass still has none.
        # It stands in for LTX-2's camera LoRAs too (same classes; ltx-2 19B has no tiny of its own).
        _tiny("ltx-2.3-distilled", name="ltx2-tiny", adapters=tiny_adapters(LTX2_CAMERA)),
    )
}

MODELS: dict[str, ModelSpec] = {**REAL_MODELS, **TINY_MODELS}


HUB_SOURCE = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[\w./-]+))?$")


def split_source(source: str) -> tuple[str, str | None] | None:
    """("owner/name", revision or None) for a hub source "owner/name[@revision]"; None for anything
    else (a local folder)."""
    found = HUB_SOURCE.match(source)
    return (found["repo"], found["revision"]) if found else None


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


def adapters_of(kind: AdapterKind, among: Iterable[ModelSpec] | None = None) -> dict[str, list[ModelSpec]]:
    """Each adapter name of `kind` → the models (of `among`, default every model) that have it,
    names in the order first met."""
    found: dict[str, list[ModelSpec]] = {}
    for spec in MODELS.values() if among is None else among:
        for adapter in spec.adapters:
            if adapter.kind == kind:
                found.setdefault(adapter.name, []).append(spec)
    return found


def models_for_task(task: str, among: Iterable[ModelSpec] | None = None) -> list[ModelSpec]:
    """The models that can do `task` (of `among`, default every model), in catalog order."""
    task = Task(task)  # a ValueError for a task nobody has heard of
    return [spec for spec in (MODELS.values() if among is None else among) if task in spec.tasks]


def deployment(names: Iterable[str]) -> dict[str, ModelSpec]:
    """The specs of a deployment's models, by name, in the order given (UnknownModel for a typo)."""
    return {name: get_model(name) for name in dict.fromkeys(names)}


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


def clip_frames(spec: ModelSpec, fps: float, seconds: float) -> tuple[int, int]:
    """(frames the model renders, frames the clip has at `fps`) for a clip of `seconds`.

    A frame-rate-conditioned model (LTX) renders the clip's frames directly. Any other
    (Wan) renders at its native rate, which fixes how fast things move, and the frames
    are then retimed to `fps` (see inference.media.retime): same duration, same motion.
    """
    frames = frame_count(spec, fps if spec.fps_conditioned else spec.native_fps, seconds)
    return frames, output_frames(spec, frames, fps)


def output_frames(spec: ModelSpec, model_frames: int, fps: float) -> int:
    """The clip's frames at `fps` for `model_frames` rendered: the same for a frame-rate-conditioned
    model, else retimed from its native rate (same duration, same motion)."""
    if spec.fps_conditioned:
        return model_frames
    return max(1, math.floor(model_frames * fps / spec.native_fps + 0.5))
