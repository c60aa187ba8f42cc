"""Reelbot's models: the registry, loading, speed knobs, rendering and video encoding.

Importing this package is cheap: it pulls in only the registry (plain data). Import
`inference.render` (Renderer, RenderInput), `inference.knobs`, `inference.loading`,
`inference.tiny`, `inference.fullsize` or `inference.encode` where torch, diffusers or
PyAV are wanted. inference/README.md has the models, the flag mapping and the knobs.
"""

from .registry import (
    MODELS,
    REAL_MODELS,
    TINY_LABEL,
    TINY_MODELS,
    ModelSpec,
    Task,
    UnknownModel,
    clip_frames,
    frame_count,
    get_model,
    models_for_task,
    nearest_bucket,
)

__all__ = [
    "MODELS",
    "REAL_MODELS",
    "TINY_LABEL",
    "TINY_MODELS",
    "ModelSpec",
    "Task",
    "UnknownModel",
    "clip_frames",
    "frame_count",
    "get_model",
    "models_for_task",
    "nearest_bucket",
]
