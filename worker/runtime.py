"""What a worker process holds for its whole life: connections and the loaded models."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from arq.connections import ArqRedis

from core.clips import ClipStore
from core.logging import get_logger
from core.settings import Settings
from core.storage import Storage

log = get_logger("worker")


@dataclass
class Runtime:
    settings: Settings
    redis: ArqRedis
    store: ClipStore
    storage: Storage
    worker_id: str
    renderers: dict = field(default_factory=dict)
    gpu: asyncio.Lock = field(default_factory=asyncio.Lock)


def pick_device(setting: str) -> str:
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_renderers(settings: Settings) -> dict:
    """Blocking: load every served model once, at start, never per job."""
    from inference.registry import get_model
    from inference.render import Renderer

    device = pick_device(settings.device)
    renderers = {}
    for name in settings.served_models:
        spec = get_model(name)
        t0 = time.perf_counter()
        renderers[name] = Renderer(spec, settings.model_sources.get(name), models_dir=settings.models_dir,
                                   device=device)
        log.info("model loaded", model=name, device=device, seconds=round(time.perf_counter() - t0, 2),
                 random_weights=spec.tiny)
    return renderers
