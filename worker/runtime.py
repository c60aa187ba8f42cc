"""What a worker process holds for its whole life: connections, the loaded models, the
encoder it picked, and the gate and lock its jobs share."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from arq.connections import ArqRedis

from core.clips import ClipStore
from core.logging import get_logger
from core.settings import Settings, SettingsError
from core.storage import Storage
from worker.admission import Admission
from worker.outage import RedisWatch

log = get_logger("worker")
# Under models_dir: torch's compile cache (inductor graphs, Triton kernels, which sizes were
# dynamic), so a restarted worker on the same models volume does not compile from scratch.
COMPILE_CACHE = "torch-compile-cache"


@dataclass
class Runtime:
    settings: Settings
    redis: ArqRedis
    store: ClipStore
    storage: Storage
    worker_id: str
    renderers: dict = field(default_factory=dict)
    gpu: asyncio.Lock = field(default_factory=asyncio.Lock)  # held for the model call only
    admission: Admission = field(default_factory=Admission)
    watch: RedisWatch = field(default_factory=RedisWatch)
    encoder: str = "libx264"  # inference.encode.pick_encoder's choice


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


def pick_encoder(settings: Settings) -> str:
    """The encoder this worker uses, probed once at start (see inference.encode.pick_encoder)."""
    from inference.encode import EncodeError
    from inference.encode import pick_encoder as probe

    try:
        encoder = probe(settings.encoder)
    except EncodeError as exc:
        raise SettingsError(f"bad setting REELBOT_ENCODER: {exc}") from None
    log.info("encoder", codec=encoder.codec, hardware=encoder.hardware, reason=encoder.reason)
    return encoder.codec


def load_renderers(settings: Settings) -> dict:
    """Blocking: load (and, with compile on, warm up) every served model once, at start."""
    check_model_settings(settings)
    use_compile_cache(settings)
    device = pick_device(settings.device)
    return {name: load_renderer(settings, name, device) for name in settings.served_models}


def use_compile_cache(settings: Settings) -> None:
    from inference.knobs import use_compile_cache as use

    use(settings.models_dir / COMPILE_CACHE, job_id="reelbot-" + "+".join(sorted(settings.served_models)))


def load_renderer(settings: Settings, name: str, device: str, warm_up: bool = True):
    """One model with its knobs (its share of the card among the served models) and camera
    LoRAs; with compile on and `warm_up`, warmed up (see `warm_up`)."""
    from inference.knobs import KnobError, resolve
    from core.catalog import get_model
    from inference.render import Renderer

    spec = get_model(name)
    t0 = time.perf_counter()
    alongside = tuple(get_model(other) for other in settings.served_models)
    knobs = resolve(spec, device, settings.knobs, alongside)
    try:
        renderer = Renderer(spec, settings.model_sources.get(name), models_dir=settings.models_dir, device=device,
                            knobs=knobs, camera_loras=settings.camera_loras.get(name))
    except KnobError as exc:  # e.g. an attention backend or fp8 package missing on this host
        raise SettingsError(f"bad setting REELBOT_KNOBS for {name}: {exc}") from None
    log.info("model loaded", model=name, device=device, seconds=round(time.perf_counter() - t0, 2),
             random_weights=spec.tiny, knobs=knobs.summary())
    if warm_up:
        warm_up_renderer(settings, renderer)
    return renderer


def warm_up_renderer(settings: Settings, renderer) -> float:
    """With compile on, render a short clip at each bucket REELBOT_WARM_UP's aspects snap to,
    so members' first clips do not wait for the compiler. Returns the seconds it took (0
    without compile). The compile cache makes this quick after the first start."""
    if not renderer.knobs.compile:
        return 0.0
    aspects = [tuple(int(side) for side in aspect.split(":")) for aspect in settings.warm_up]
    seconds = renderer.warm_up(aspects=aspects)
    log.info("warm-up done", model=renderer.spec.name, seconds=round(seconds, 2), aspects=settings.warm_up)
    return seconds
