"""The quality step of a render, between the model and the encoder (inference/quality.py has
the signals). `measure` takes the frames and track the worker already holds, measures them
in a thread, says whether the clip is broken, and exports each signal as a histogram per
model on /metrics; `render_clip` renders a broken clip once more with a new seed (its GPU
time is not charged), and fails it with `reason` when that one is broken too.

Where `REELBOT_ADHERENCE_MODEL` names a CLIP-style model it is loaded once at start (`load`)
on the worker's device and scores sampled frames against the prompt.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from prometheus_client import Counter, Histogram

from core.catalog import Task, split_source
from core.contract import Quality, RenderJob
from core.logging import get_logger
from core.settings import Settings, SettingsError
from inference.quality import AdherenceScorer, broken
from inference.quality import measure as measure_clip
from worker.metrics import SECONDS_BUCKETS

log = get_logger("worker")

# Tasks whose movement comes from the member's video: a still source may come back still.
SOURCE_TASKS = (Task.EDIT, Task.VIDEO_TO_VIDEO)
# What the member is told when the second render is broken too.
REASONS = {
    "black": "The model produced a blank (all black) clip twice, with two different seeds",
    "frozen": "The model produced a still picture instead of a moving clip twice, with two different seeds",
    "non-finite": "The model produced a broken clip (invalid pixel values) twice, with two different seeds",
}
TRY_AGAIN = ". Nothing was charged for it: try rewording the prompt, or another -model."

_SHARE = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)
# Buckets per signal: the ranges clips of real models fall in (motion in % of width per second).
BUCKETS = {
    "motion": (0.1, 0.5, 1, 2, 5, 10, 20, 40, 80, 160, 320),
    "flicker": (0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 1.0),
    "frozen": _SHARE,
    "black": _SHARE,
    "sharpness": (1, 10, 30, 100, 300, 1000, 3000, 10000),
    "loudness": (-70, -50, -40, -30, -23, -16, -10, -5, 0),
    "silence": _SHARE,
    "clipping": (0.0, 0.0001, 0.001, 0.01, 0.05, 0.1),
    "adherence": (-20, 0, 10, 15, 20, 25, 30, 35, 40, 100),
}
SIGNALS = {name: Histogram(f"reelbot_quality_{name}", f"Quality signal {name} of each finished clip "
                           "(inference/quality.py)", ["model"], buckets=buckets)
           for name, buckets in BUCKETS.items()}
MEASURE_SECONDS = Histogram("reelbot_quality_seconds", "Seconds measuring one clip's quality signals took",
                            ["model"], buckets=SECONDS_BUCKETS)
BROKEN = Counter("reelbot_quality_broken", "Broken renders (black, frozen, non-finite), by what came of them: "
                 "rendered again, or the clip failed", ["model", "reason", "then"])


class Broken(Exception):
    """The clip was broken twice: `quality` is its record; the message is what the member reads."""

    def __init__(self, quality: Quality, reason: str):
        same = quality.broken == reason
        said = REASONS[reason] if same else f"The model produced a broken clip twice ({quality.broken}, then {reason})"
        super().__init__(said + TRY_AGAIN)
        self.quality = quality


def load(settings: Settings, device: str):
    """Blocking, at start: the adherence scorer, or None when none is configured."""
    if not settings.adherence_model:
        return None
    try:
        scorer = AdherenceScorer.load(settings.adherence_model, settings.models_dir, device=device)
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SettingsError(f"bad setting REELBOT_ADHERENCE_MODEL: {settings.adherence_model!r} could not be "
                            f"loaded ({first})") from None
    log.info("adherence model loaded", model=settings.adherence_model, random_weights=scorer.tiny)
    return scorer


def motion_asked(job: RenderJob) -> bool:
    """Whether a clip frozen from start to end is broken: motion (or a camera move) was asked
    for, and the movement is not the member's own video's."""
    flags = job.flags
    motion = flags.get("motion")
    return job.task not in SOURCE_TASKS and ((motion if motion is not None else 1) > 0 or bool(flags.get("camera")))


def revision(renderer) -> str | None:
    """Which weights a renderer holds: the hub commit (from the cache folder or a pinned
    source), a folder's name, or "random weights" for the tiny test models."""
    spec, source = getattr(renderer, "spec", None), str(getattr(renderer, "source", "") or "")
    if spec is None:
        return None
    if spec.tiny:
        return "random weights"
    parts = Path(source).parts
    if "snapshots" in parts and parts.index("snapshots") + 1 < len(parts):
        return parts[parts.index("snapshots") + 1][:12]
    hub = split_source(source)
    if hub and not Path(source).expanduser().is_dir():
        return (hub[1] or "unpinned")[:12]
    return Path(source).name[:100] or None


async def measure(rt, job: RenderJob, out, first: Quality | None = None) -> Quality:
    """The clip's quality record (signals, how it was made, whether it is broken). `first`:
    the broken render this one replaces."""
    renderer = rt.renderers[job.model]
    try:
        signals, seconds = await asyncio.to_thread(measure_clip, out.frames, out.fps, track=out.audio,
                                                   prompt=job.prompt, scorer=rt.adherence)
        values = signals.as_dict()
    except Exception as exc:  # noqa: BLE001 — a measuring fault never costs the member their clip
        log.exception("measuring the clip's quality failed", error=type(exc).__name__)
        values, seconds = {}, 0.0
    reason = broken(values, finite=getattr(out, "finite", True), motion_asked=motion_asked(job))
    knobs = getattr(renderer, "knobs", None)
    record = Quality(signals=values, seconds=seconds, revision=revision(renderer),
                     knobs=knobs.summary() if knobs is not None else {}, steps=getattr(out, "steps", None),
                     guidance=getattr(out, "guidance", None),
                     broken=first.broken if first else reason, first_seed=first.first_seed if first else None)
    MEASURE_SECONDS.labels(job.model).observe(seconds)
    if reason:
        BROKEN.labels(job.model, reason, "failed" if first else "rendered again").inc()
        log.warning("broken render", reason=reason, seed=job.seed, again=first is None)
        if first:
            raise Broken(record, reason)
        return record.model_copy(update={"first_seed": job.seed})
    for name, value in values.items():
        if value is not None:
            SIGNALS[name].labels(job.model).observe(value)
    log.info("quality measured", seconds=round(seconds, 3),
             **{name: round(value, 4) for name, value in values.items() if value is not None})
    return record


def again(job: RenderJob) -> RenderJob:
    """The job with a new seed, for the second render of a broken clip."""
    seed = secrets.randbelow(2**32)
    return job.model_copy(update={"seed": seed if seed != job.seed else (seed + 1) % 2**32})
