"""Lucy Edit (Decart, on Wan 2.2 5B): a clip changed as an instruction says.

| task | class | inputs |
|---|---|---|
| edit | LucyEditPipeline | the source clip (`video`, at 24 fps, the bucket's size) and the instruction |

The source's latents are concatenated with the noise on the channel axis at every step, so
the edit keeps the source's motion and framing; the instruction decides what changes.
There is no mask and no reference image: the model picks what to redraw, and the post
says "whole frame". Like Wan it has no frame-rate input: the source is read at 24 fps
and the edit retimed to the source's own fps (inference.media.retime).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.catalog import ModelSpec

if TYPE_CHECKING:
    from .plan import Plan


def arguments(spec: ModelSpec, plan: Plan, common: dict) -> dict:
    # The source clip, already fitted to the bucket and as long as num_frames: the pipeline
    # encodes it as the condition latents, which must match the noise latents' shape.
    return {**common, "video": plan.video}
