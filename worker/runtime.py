"""What a worker process holds for its whole life: connections, the loaded models, the
encoder it picked, and the gate and lock its jobs share."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from arq.connections import ArqRedis

from core.backoff import Outage
from core.clips import ClipStore
from core.logging import get_logger
from core.settings import Settings, SettingsError
from core.storage import Storage
from worker.admission import Admission
from worker.outage import database_outage, redis_outage, storage_outage
from worker.spool import SPOOL_DIR, Spool

log = get_logger("worker")
# Under models_dir: torch's compile cache (inductor graphs, Triton kernels, which sizes were
# dynamic), so a restarted worker on the same models volume does not compile from scratch.
COMPILE_CACHE = "torch-compile-cache"
WEIGHTS_LOG_SECONDS = 10.0


@dataclass
class Runtime:
    settings: Settings
    redis: ArqRedis
    store: ClipStore
    storage: Storage
    worker_id: str
    renderers: dict = field(default_factory=dict)
    safety: object = None  # the image-safety classifier (worker/safety.py); None: the check is off
    adherence: object = None  # the prompt-adherence scorer (worker/quality.py); None: not configured
    gpu: asyncio.Lock = field(default_factory=asyncio.Lock)  # held for the model call only
    admission: Admission = field(default_factory=Admission)
    watch: Outage = field(default_factory=redis_outage)
    db_watch: Outage = field(default_factory=database_outage)  # the store's (a PatientStore's) outages
    storage_watch: Outage = field(default_factory=storage_outage)
    spool: Spool | None = None  # encoded clips waiting for storage; None: the one under models_dir

    def __post_init__(self) -> None:
        if self.spool is None:
            self.spool = Spool(self.settings.models_dir / SPOOL_DIR, self.settings.spool_max_bytes)
    encoder: str = "libx264"  # inference.encode.pick_encoder's choice


def pick_device(setting: str) -> str:
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_model_settings(settings: Settings) -> None:
    """Refuse bad knobs or adapter sources in one line, before any model loads."""
    from core.catalog import MODELS
    from inference.knobs import KnobError, check_configuration

    try:
        check_configuration(settings.knobs, list(MODELS))
    except KnobError as exc:
        raise SettingsError(f"bad setting REELBOT_KNOBS: {exc}") from None
    for model, sources in settings.adapter_sources.items():
        if model not in MODELS:
            raise SettingsError(f"bad setting REELBOT_ADAPTER_SOURCES: {model!r} is not a model")
        names = [adapter.name for adapter in MODELS[model].adapters]
        for name in sources:
            if name not in names:
                raise SettingsError(f"bad setting REELBOT_ADAPTER_SOURCES: {model} has no adapter {name!r} "
                                    f"(its adapters: {', '.join(names) or 'none'})")


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
    segmenter = load_segmenter(settings, device, settings.served_models)
    return {name: load_renderer(settings, name, device, segmenter=segmenter) for name in settings.served_models}


def use_compile_cache(settings: Settings) -> None:
    from inference.knobs import use_compile_cache as use

    use(settings.models_dir / COMPILE_CACHE, job_id="reelbot-" + "+".join(sorted(settings.served_models)))


def source_of(settings: Settings, spec) -> str | None:
    """Where the model's weights come from: REELBOT_MODEL_SOURCES, else the catalog's pinned hub id
    (None: a tiny model, built locally)."""
    return settings.model_sources.get(spec.name) or spec.hub_id


def refuse_without_gpu(settings: Settings, spec, device: str) -> None:
    """A full-size model on a machine without a GPU would download tens of GB and take hours per
    clip in float32: refused in one line, unless REELBOT_ALLOW_CPU says otherwise."""
    if spec.tiny or not device.startswith("cpu") or settings.allow_cpu:
        return
    source = source_of(settings, spec)
    where = (f"load {source}" if source and Path(source).expanduser().is_dir()
             else f"download about {spec.weights_gib:.0f} GiB of weights ({source})")
    raise SettingsError(f"refusing to serve {spec.name} without a GPU: it would {where} and take hours per clip "
                        f"on the CPU; serve a tiny test model ({_tiny_for(spec)}) or set REELBOT_ALLOW_CPU=1")


def _tiny_for(spec) -> str:
    from core.catalog import TINY_MODELS

    return next((t.name for t in TINY_MODELS.values() if t.mirrors == spec.name),
                next(t.name for t in TINY_MODELS.values() if t.family == spec.family))


def fetch_weights(settings: Settings, spec) -> str | None:
    """The folder to load `spec` from: a hub source is fetched into the cache first, its progress
    in the logs (minutes to hours on a first start); a folder or a tiny model as they are."""
    from huggingface_hub import constants as hub_constants

    from core.catalog import split_source
    from inference import weights

    source = source_of(settings, spec)
    if source is None or Path(source).expanduser().is_dir() or not split_source(source):
        return source
    try:
        if hub_constants.HF_HUB_OFFLINE:
            folder = weights.cached(source)
            if folder is None:
                raise weights.WeightsError(f"{source} is not in the cache and HF_HUB_OFFLINE is set "
                                           "(run `reelbot fetch-models` where the hub is reachable)")
            return str(folder)
        download = weights.plan(source)
        if download.missing_bytes:
            log.info("downloading weights", model=spec.name, plan=download.describe())
        folder = weights.fetch(download, bars=False, every_s=WEIGHTS_LOG_SECONDS,
                               report=lambda p: log.info("downloading weights", model=spec.name, **p))
    except weights.WeightsError as exc:
        raise SettingsError(f"model {spec.name}: {exc}") from None
    return str(folder)


def load_renderer(settings: Settings, name: str, device: str, warm_up: bool = True, segmenter=None):
    """One model with its knobs (its share of the card among the served models), its effect
    and camera LoRAs and the segmenter its edits use; with compile on and `warm_up`, warmed up (see
    `warm_up_renderer`)."""
    from core.catalog import get_model
    from inference.knobs import KnobError, resolve
    from inference.render import Renderer, masks_edits
    from inference.weights import WeightsError
    from inference.speech import Speaker

    spec = get_model(name)
    refuse_without_gpu(settings, spec, device)
    source = fetch_weights(settings, spec)
    t0 = time.perf_counter()
    alongside = tuple(get_model(other) for other in settings.served_models)
    knobs = resolve(spec, device, settings.knobs, alongside)
    # The configured voice for lip-sync's words (None: the model's default voice, see speech.py).
    speaker = Speaker(settings.tts_model, models_dir=settings.models_dir, device=device) if settings.tts_model else None
    try:
        renderer = Renderer(spec, source, models_dir=settings.models_dir, device=device,
                            knobs=knobs, adapter_sources=settings.adapter_sources.get(name),
                            segmenter=segmenter if masks_edits(spec) else None, speaker=speaker)
    except KnobError as exc:  # e.g. an attention backend or fp8 package missing on this host
        raise SettingsError(f"bad setting REELBOT_KNOBS for {name}: {exc}") from None
    except WeightsError as exc:  # an adapter's LoRA not fetched (offline) or not on the hub
        raise SettingsError(f"model {name}: {exc}") from None
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
