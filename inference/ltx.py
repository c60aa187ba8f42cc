"""LTX-Video: every task through LTXConditionPipeline's conditions.

LTX 0.9.5+ conditions on images or clips placed at frame indices. So:

| task | conditions |
|---|---|
| text-to-video | none |
| image-to-video | the image at frame 0 |
| keyframes | the first image at frame 0, the in-between pictures evenly spaced, the last at the last frame index |
| (-loop) | text- or image-to-video through the same conditions: the first picture at frame 0 and again at the last |
| extend | the parent's last frames at frame 0 (the rendered lead-in is dropped afterwards) |
| video-to-video | the whole source clip at frame 0 with strength V2V_KEEP < 1: its tokens start |
|  | part-way down the noise schedule, which is how LTX restyles (SDEdit) |

The model is told the real frame rate (`frame_rate`), so any -fps renders directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.catalog import ModelSpec, Task

if TYPE_CHECKING:
    from .plan import Plan

# -motion → `image_cond_noise_scale`: noise put back on hard-conditioned frames at each
# step. Less keeps the clip glued to the member's image (0: nearly a still); more lets
# it move away from it. 0.15 is the pipeline's own default, our -motion 1.
MOTION_CONDITION_NOISE = {0: 0.0, 1: 0.15, 2: 0.2, 3: 0.25, 4: 0.3}
# How much of the source clip a restyle keeps: its conditioning strength (1 = copy it,
# 0 = ignore it). 0.5 keeps layout and motion and lets the prompt redraw the look.
V2V_KEEP = 0.5


def arguments(spec: ModelSpec, plan: Plan, common: dict) -> dict:
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    arguments = {**common, "frame_rate": plan.model_fps}
    conditions = []
    if plan.task == Task.VIDEO_TO_VIDEO:
        conditions.append(LTXVideoCondition(video=plan.video, frame_index=0, strength=V2V_KEEP))
    if plan.task == Task.EXTEND:
        conditions.append(LTXVideoCondition(video=plan.context, frame_index=0, strength=1.0))
    for index, picture in plan.pinned():
        conditions.append(LTXVideoCondition(image=picture, frame_index=index, strength=1.0))
    if conditions:
        arguments["conditions"] = conditions
        arguments["image_cond_noise_scale"] = MOTION_CONDITION_NOISE[plan.motion]
    return arguments
