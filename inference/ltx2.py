"""LTX-2: video and its sound in one pass, every task through diffusers' LTX-2 pipelines.

| task | pipeline | inputs |
|---|---|---|
| text-to-video | `LTX2Pipeline` | none |
| image-to-video | `LTX2ImageToVideoPipeline` | `image` |
| keyframes | `LTX2ExtendPipeline` (`LTX2ConditionPipeline`) | the first image at latent 0, the in-between pictures at |
|  |  | their latents (pixel index / 8), the last at the last; a -loop's first picture at both ends |
| extend | `LTX2ExtendPipeline` | the parent's last frames at latent 0; the parent's sound under them |
|  |  | (`lead_in_audio`), so the new sound continues it; the lead-in is dropped afterwards |
| lip-sync | `LTX2LipSyncPipeline` (`LTX2DFRPipeline`) | the face at latent 0; the member's track, frozen |

Every pipeline returns frames and audio (at the vocoder's rate, `vocoder.config.
output_sampling_rate`: it differs between LTX-2 versions). The model is told the real frame
rate (`frame_rate`), so any -fps renders directly. A distilled checkpoint runs its eight
sigmas (the spec's `sigmas`) with every guidance term off; lip-sync is one distilled DFR
pass with no guidance at all, so only distilled checkpoints declare it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.catalog import LTX2_CONDITION, ModelSpec, Task

if TYPE_CHECKING:
    from .plan import Plan

# Conditioning strength of a picture or lead-in: 1 holds those frames as given.
KEEP = 1.0
# What the DFR pass takes of the common arguments: it has no negative prompt, no guidance
# and no step count (its schedule is `sigmas`).
DFR_ARGUMENTS = frozenset({"prompt", "height", "width", "num_frames", "generator", "output_type", "sigmas",
                           "decode_timestep", "decode_noise_scale", "use_cross_timestep", "max_sequence_length"})


def arguments(spec: ModelSpec, plan: Plan, common: dict) -> dict:
    from diffusers.pipelines.ltx2 import LTX2VideoCondition

    arguments = {**common, "frame_rate": plan.model_fps}
    if plan.pipeline == LTX2_CONDITION and plan.task != Task.EXTEND:  # keyframes, or a loop's ends
        # The condition pipeline indexes latents: a pixel frame k*frames_multiple is latent k.
        arguments["conditions"] = [LTX2VideoCondition(frames=picture, index=index // spec.frames_multiple,
                                                      strength=KEEP) for index, picture in plan.pinned()]
    elif plan.task == Task.IMAGE_TO_VIDEO:
        arguments["image"] = plan.image
    if plan.task == Task.EXTEND:
        arguments["conditions"] = [LTX2VideoCondition(frames=plan.context, index=0, strength=KEEP)]
        arguments["lead_in_audio"] = plan.lead_in_audio  # None: a silent parent, fresh sound
    if plan.task == Task.LIP_SYNC:
        steps = arguments["num_inference_steps"]
        sigmas = arguments.get("sigmas") or [1.0 - i / steps for i in range(steps)]
        arguments = {name: value for name, value in arguments.items() if name in DFR_ARGUMENTS}
        arguments.update(sigmas=list(sigmas), frame_rate=plan.model_fps, audio=plan.audio,
                         conditions=[LTX2VideoCondition(frames=plan.image, index=0, strength=KEEP)])
    return arguments
