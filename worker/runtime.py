"""What a worker process holds for its whole life: connections and the loaded models."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from arq.connections import ArqRedis

from core.clips import ClipStore
from core.logging import get_logger
from core.settings import Settings, SettingsError
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
    safety: object = None  # the image-safety classifier (worker/safety.py); None: the check is off
    gpu: asyncio.Lock = field(default_factory=asyncio.Lock)


def pick_device(setting: str) -> str:
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_model_settings(settings: Settings) -> None:
    """Refuse bad knobs or camera LoRA entries in one line, before any model loads."""
    from inference.knobs import KnobError, check_configuration
    from inference.phrasing import normalize_camera
    from core.catalog import MODELS

    try:
        check_configuration(settings.knobs, list(MODELS))
    except KnobError as exc:
        raise SettingsError(f"bad setting REELBOT_KNOBS: {exc}") from None
    for model, loras in settings.camera_loras.items():
        if model not in MODELS:
            raise SettingsError(f"bad setting REELBOT_CAMERA_LORAS: {model!r} is not a model")
        for move in loras:
            try:
                normalize_camera(move)
            except ValueError as exc:
                raise SettingsError(f"bad setting REELBOT_CAMERA_LORAS: {model}: {exc}") from None


def load_renderers(settings: Settings) -> dict:
    """Blocking: load every served model once, at start, never per job."""
    check_model_settings(settings)
    device = pick_device(settings.device)
    segmenter = load_segmenter(settings, device, settings.served_models)
    return {name: load_renderer(settings, name, device, segmenter=segmenter) for name in settings.served_models}


def load_renderer(settings: Settings, name: str, device: str, warm_up: bool = True, segmenter=None):
    """One model with its knobs, camera LoRAs and the segmenter its edits use. With
    compile on it renders one short warm-up clip, so the first member does not wait for
    the compiler."""
    from inference.knobs import KnobError, resolve
    from core.catalog import get_model
    from inference.render import Renderer, masks_edits

    spec = get_model(name)
    t0 = time.perf_counter()
    knobs = resolve(spec, device, settings.knobs)
    try:
        renderer = Renderer(spec, settings.model_sources.get(name), models_dir=settings.models_dir, device=device,
                            knobs=knobs, camera_loras=settings.camera_loras.get(name),
                            segmenter=segmenter if masks_edits(spec) else None)
    except KnobError as exc:  # e.g. an attention backend or fp8 package missing on this host
        raise SettingsError(f"bad setting REELBOT_KNOBS for {name}: {exc}") from None
    log.info("model loaded", model=name, device=device, seconds=round(time.perf_counter() - t0, 2),
             random_weights=spec.tiny, knobs=knobs.summary())
    if knobs.compile and warm_up:
        log.info("warm-up render", model=name, seconds=round(renderer.warm_up(), 2))
    return renderer


def load_segmenter(settings: Settings, device: str, models: list[str]):
    """REELBOT_SEGMENTER, loaded once when one of `models` masks its edits; else None."""
    from core.catalog import get_model
    from inference.masks import load_segmenter as load
    from inference.render import masks_edits

    if not settings.segmenter or not any(masks_edits(get_model(name)) for name in models):
        return None
    try:
        segmenter = load(settings.segmenter, settings.models_dir, device)
    except (OSError, ValueError) as exc:  # not a folder, hub id or known name; or not a CLIPSeg
        raise SettingsError(f"bad setting REELBOT_SEGMENTER: {exc}".splitlines()[0]) from None
    log.info("segmenter loaded", source=segmenter.label, random_weights=segmenter.tiny)
    return segmenter
