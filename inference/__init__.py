"""Reelbot's models: the registry, loading, rendering and video encoding.

Importing this package is cheap: it pulls in only the registry (plain data). Import
`inference.render`, `inference.loading`, `inference.tiny` or `inference.encode` where
torch, diffusers or PyAV are wanted.
"""

from .registry import (
    MODELS,
    TINY_LABEL,
    ModelSpec,
    Task,
    UnknownModel,
    frame_count,
    get_model,
    models_for_task,
    nearest_bucket,
)

__all__ = [
    "MODELS",
    "TINY_LABEL",
    "ModelSpec",
    "Task",
    "UnknownModel",
    "frame_count",
    "get_model",
    "models_for_task",
    "nearest_bucket",
]
