"""Wan 2.1 / 2.2: each task through the pipeline class its checkpoint was trained for.

| task | class | inputs |
|---|---|---|
| text-to-video | WanPipeline, or WanVACEPipeline with nothing to keep | prompt |
| video-to-video | WanVideoToVideoPipeline | the source clip, noised to `V2V_STRENGTH` and denoised again |
| image-to-video | WanImageToVideoPipeline | `image` (first frame, also seen by the CLIP image encoder) |
|  | WanVACEPipeline | the image as frame 0 of `video`, masked "keep"; the rest grey, masked "generate" |
| keyframes | WanImageToVideoPipeline (FLF2V) | `image` and `last_image` (two pictures only) |
|  | WanVACEPipeline | first, in-between and last pictures kept at their frames, the rest generated |
| scene | WanVACEPipeline | the ingredients as `reference_images`, every frame generated |
| (-loop) | WanVACEPipeline | the first picture kept at frame 0 and at the last frame |
| extend | WanVACEPipeline | the parent's last frames kept at the start, the rest generated |
| edit | WanVACEPipeline | the source clip as `video`, a `mask` (white: may change) from the |
|  |  | instruction's words or the whole frame, and the member's `reference_images` |

Wan has no frame-rate input: it renders at its native 16 fps and the frames are retimed
to the fps asked for (inference.media.retime), so motion keeps its real speed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import media
from core.catalog import WAN_I2V, WAN_V2V, WAN_VACE, ModelSpec, Task

if TYPE_CHECKING:
    from .plan import Plan

# How far a restyle noises the source clip before denoising it with the new prompt
# (diffusers' `strength`: 0 returns the source, 1 ignores it).
V2V_STRENGTH = 0.7
# Words of Wan's default negative prompt that fight -motion 0 (a static shot).
STILL_WORDS = ("static, ", "still picture, ")


def arguments(spec: ModelSpec, plan: Plan, common: dict) -> dict:
    arguments = dict(common)
    if plan.motion == 0 and arguments["negative_prompt"] == spec.default_negative_prompt:
        for words in STILL_WORDS:
            arguments["negative_prompt"] = arguments["negative_prompt"].replace(words, "")
    if plan.pipeline == WAN_V2V:
        # The source clip sets the length; this class takes no num_frames.
        del arguments["num_frames"]
        arguments.update(video=plan.video, strength=V2V_STRENGTH)
    elif plan.pipeline == WAN_I2V:
        arguments["image"] = plan.image
        if plan.last_image is not None:
            arguments["last_image"] = plan.last_image
    elif plan.pipeline == WAN_VACE and plan.task == Task.EDIT:
        # The source is kept under the mask too (not greyed as for generated frames): VACE
        # reads it as the picture to change, so the edit follows its shapes and motion.
        arguments.update(video=plan.video, mask=plan.mask)
    elif plan.pipeline == WAN_VACE and (plan.context is not None or plan.pinned()):
        arguments["video"], arguments["mask"] = _vace_inputs(plan)
    if plan.pipeline == WAN_VACE and plan.references:
        arguments["reference_images"] = list(plan.references)
    return arguments


def _vace_inputs(plan: Plan) -> tuple[list, list]:
    """VACE's video and mask: the frames to keep (black mask), grey frames to generate (white)."""
    size = (plan.width, plan.height)
    kept = {}
    if plan.context is not None:
        kept.update(enumerate(plan.context))
    kept.update(plan.pinned())
    video = [kept[index] if index in kept else media.grey(*size) for index in range(plan.model_frames)]
    masks = [media.mask(*size, generate=index not in kept) for index in range(plan.model_frames)]
    return video, masks
