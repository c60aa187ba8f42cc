"""The image-safety check in a render (core/safety.py has the rules, inference/safety.py the
classifier). Two steps of `render_clip` call it:

- `screen_inputs`, after the attachments are decoded and before the model runs: a flagged
  picture fails the job at once, so no denoising step runs for it. Every decoded picture
  is checked (images, and frames sampled across videos) except the parent clip an extend
  continues: that is a clip Reelbot made, checked when it was made.
- `screen_clip`, after the frames are rendered and before anything is encoded or stored:
  a flagged clip made for an ordinary channel (or a DM) fails as withheld, with nothing
  stored; one made for an age-restricted channel goes on, marked `flagged`.

A flag raises `Flagged` carrying the job's one outcome, and writes an audit entry for the
server's moderators. With the check off (`REELBOT_SAFETY_CHECK=false`) the runtime holds no
classifier and both steps return at once.
"""

from __future__ import annotations

import asyncio

from prometheus_client import Counter, Histogram

from core import audit
from core.contract import Outcome, RenderJob, Status
from core.db import unavailable
from core.logging import get_logger
from core.safety import FLAGGED_INPUT, WITHHELD, classifier
from core.settings import Settings, SettingsError
from worker.metrics import SECONDS_BUCKETS
from worker.outage import until_up

log = get_logger("worker")

# Inputs that are Reelbot's own clips, not members' uploads (worker/inputs.py's names).
OWN_CLIPS = ("parent_video",)
# What the member is told was flagged, by input name.
WHAT = {"image": "image", "last_image": "last image", "video": "video"}

CHECKS = Counter("reelbot_worker_safety_checks", "Image-safety checks, by stage (inputs, clip) and verdict "
                 "(clean, flagged)", ["stage", "verdict"])
CHECK_SECONDS = Histogram("reelbot_worker_safety_seconds", "Seconds one image-safety check took", ["stage"],
                          buckets=SECONDS_BUCKETS)


class Flagged(Exception):
    """The safety check stopped the job; `outcome` is what the member gets."""

    def __init__(self, outcome: Outcome):
        super().__init__(outcome.error)
        self.outcome = outcome


def load(settings: Settings, device: str):
    """Blocking, at start: the classifier, or None when the check is off."""
    from inference.safety import SafetyClassifier, SafetyModelError

    source = classifier(settings, settings.served_models)
    if source is None:
        log.warning("image-safety check is off (REELBOT_SAFETY_CHECK=false): nothing is checked")
        return None
    try:
        checker = SafetyClassifier.load(source, threshold=settings.safety_threshold,
                                        unsafe_labels=settings.safety_labels, models_dir=settings.models_dir,
                                        device=device)
    except SafetyModelError as exc:
        raise SettingsError(f"bad setting REELBOT_SAFETY_MODEL or REELBOT_SAFETY_LABELS: {exc}") from None
    except OSError as exc:  # not downloadable here (offline, gated) or not a model folder
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SettingsError(f"bad setting REELBOT_SAFETY_MODEL: the image-safety classifier {source!r} could not "
                            f"be loaded ({first}); name a local folder, or turn the check off with "
                            "REELBOT_SAFETY_CHECK=false") from None
    log.info("image-safety check loaded", model=source, threshold=settings.safety_threshold,
             labels=sorted(checker.unsafe), frames=settings.safety_frames, random_weights=checker.test_model)
    return checker


async def screen_inputs(rt, job: RenderJob, inputs: dict) -> None:
    """Raise Flagged when an attachment fails the check (before any GPU work)."""
    from inference.media import SourceClip
    from inference.safety import sample_frames

    checker = rt.safety
    if checker is None:
        return
    for name, value in inputs.items():
        if name in OWN_CLIPS:
            continue
        if isinstance(value, SourceClip):  # an attached video: frames sampled across all of it
            pictures = await asyncio.to_thread(value.spread, rt.settings.safety_frames)
        elif isinstance(value, list):
            pictures = sample_frames(value, rt.settings.safety_frames)
        elif hasattr(value, "convert"):  # a PIL image
            pictures = [value]
        else:
            continue  # not a picture (a frame rate, a sound track)
        verdict = await _check(checker, "inputs", pictures)
        if verdict.flagged:
            what = WHAT.get(name, "attachment")
            await _log(rt, job, audit.Action.FLAGGED_INPUT, verdict.reason(checker.threshold, f"the {what}"))
            raise Flagged(Outcome(clip_id=job.clip_id, status=Status.FAILED, model=job.model, seed=job.seed,
                                  error=FLAGGED_INPUT.format(what=what), flagged=True, worker=rt.worker_id))


async def screen_clip(rt, job: RenderJob, frames) -> bool:
    """Whether the rendered clip is flagged (and may still be published: an age-restricted
    channel's); raise Flagged when it must be withheld."""
    from inference.safety import sample_frames

    checker = rt.safety
    if checker is None:
        return False
    verdict = await _check(checker, "clip", sample_frames(frames, rt.settings.safety_frames))
    if not verdict.flagged:
        return False
    reason = verdict.reason(checker.threshold, "the clip")
    if job.age_restricted:
        await _log(rt, job, audit.Action.FLAGGED_OUTPUT,
                   f"{reason}; posted in its age-restricted channel, kept out of the galleries")
        return True
    await _log(rt, job, audit.Action.FLAGGED_OUTPUT, f"{reason}; not posted (not an age-restricted channel)")
    raise Flagged(Outcome(clip_id=job.clip_id, status=Status.FAILED, model=job.model, seed=job.seed,
                          error=WITHHELD.format(clip_id=job.clip_id), flagged=True, worker=rt.worker_id))


async def _check(checker, stage: str, pictures: list):
    verdict = await asyncio.to_thread(checker.check, pictures)
    CHECKS.labels(stage, "flagged" if verdict.flagged else "clean").inc()
    CHECK_SECONDS.labels(stage).observe(verdict.seconds)
    log.info("image-safety check", stage=stage, flagged=verdict.flagged, score=round(verdict.score, 4),
             pictures=verdict.pictures, seconds=round(verdict.seconds, 4))
    return verdict


async def _log(rt, job: RenderJob, action: audit.Action, reason: str) -> None:
    clip = await rt.store.get(job.clip_id)

    async def record() -> None:
        async with rt.store.session.begin() as s:
            await audit.record(s, action, guild_id=clip.guild_id if clip else None, member_id=job.member_id,
                               actor=audit.SAFETY_CHECK, clip_id=job.clip_id, reason=reason, prompt=job.prompt)

    await until_up(rt.db_watch, record, "recording a safety flag", down=unavailable)
