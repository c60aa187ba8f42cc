"""The job and event contract between bot, worker and gallery: what goes on the queue,
what comes back, and the Redis names they meet at."""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.catalog import Task


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self not in UNFINISHED


# A member's clips in flight: what the in-flight limit counts, /me lists and /cancel stops.
UNFINISHED = (Status.QUEUED, Status.RUNNING)


def new_clip_id() -> str:
    # Sortable by time, short enough for a Discord custom_id (100 chars max).
    return f"{int(time.time() * 1000):011x}{uuid.uuid4().hex[:13]}"


class QueueTicket(BaseModel):
    """What the fair order (core/fair.py) weighs a clip by: its server and lane, the member's
    tier priority, the server's weight and the clip's estimated GPU seconds."""

    guild_id: str | None = None
    lane: Literal["fast", "relax"] = "fast"
    priority: Literal["normal", "high"] = "normal"
    weight: float = Field(1.0, gt=0)
    cost_s: float = Field(30.0, gt=0)


class RenderJob(BaseModel):
    """The payload of one arq job. The arq job id is the clip id."""

    clip_id: str
    model: str
    task: Task = Task.TEXT_TO_VIDEO
    prompt: str
    flags: dict[str, Any] = Field(default_factory=dict)
    seed: int
    member_id: str | None = None
    parent_clip_id: str | None = None
    input_keys: dict[str, str] = Field(default_factory=dict)  # e.g. {"image": "inputs/<id>/image.png"}
    max_bytes: int | None = None  # re-encode to fit an upload limit when set
    # Made in an age-restricted channel (Discord's nsfw flag; a thread's parent's; never a
    # DM): a clip the safety check flags is still posted there. False when unknown.
    age_restricted: bool = False
    enqueued_at: float = Field(default_factory=time.time)
    ticket: QueueTicket = Field(default_factory=QueueTicket)


class Timings(BaseModel):
    queue_wait: float = 0.0
    inputs: float = 0.0  # fetching and decoding attachments / the parent clip
    gpu_wait: float = 0.0  # ready to render, waiting for the GPU (a pipelined job waits for the one before)
    render: float = 0.0  # the model call
    gpu: float = 0.0  # held the GPU for the render kept: what fast time costs and usage counts
    # Held the GPU for a broken render that was done again at no cost to the member (not charged).
    gpu_discarded: float = 0.0
    quality: float = 0.0  # measuring the quality signals (worker/quality.py)
    encode: float = 0.0
    upload: float = 0.0
    total: float = 0.0


class Quality(BaseModel):
    """How a clip was made and how it measured (worker/quality.py; stored as clips.quality).

    `signals` are inference/quality.py's, by name (None: not measured, e.g. loudness of a
    silent clip). `broken` is why the clip's first render was unfit to post ("black",
    "frozen", "non-finite"); it was rendered once more with a new seed, `first_seed`, and
    the clip failed when that was broken too.
    """

    signals: dict[str, float | None] = Field(default_factory=dict)
    seconds: float = 0.0  # what measuring them cost
    revision: str | None = None  # the weights: a commit, a folder's name, or "random weights"
    knobs: dict[str, Any] = Field(default_factory=dict)  # speed knobs that were on (step cache, compile …)
    steps: int | None = None
    guidance: float | None = None
    broken: str | None = None
    first_seed: int | None = None
    safety: str | None = None  # the image-safety check on the clip: "passed", "flagged" or "off"


# An edit's `edit_region` when everything in the frame was allowed to change (no mask).
WHOLE_FRAME = "whole frame"


class Outcome(BaseModel):
    """A job's final event, appended once to the outcomes stream."""

    clip_id: str
    status: Status
    model: str | None = None
    seed: int | None = None
    video_key: str | None = None
    poster_key: str | None = None
    video_bytes: int | None = None
    width: int | None = None
    height: int | None = None
    fps: int | None = None
    num_frames: int | None = None
    # An edit: what was allowed to change, the phrase its mask covered or WHOLE_FRAME.
    edit_region: str | None = Field(default=None, max_length=200)
    sound: bool | None = None  # the MP4 has a sound track (None: a worker from before sound)
    error: str | None = None  # member-readable
    # Set when the clip is shorter than asked (-len past what the model can render at this
    # fps): the seconds the member asked for. The clip's own length is num_frames / fps.
    asked_seconds: float | None = None
    # The safety check flagged an input or the clip (worker/safety.py): with DONE, posted in
    # its age-restricted channel but never public; with FAILED, withheld and told privately.
    flagged: bool = False
    timings: Timings | None = None
    quality: Quality | None = None
    worker: str | None = None
    # Published again by the reconciler from the clip's record, the first having been lost
    # (a Redis failover): the bot looks for a post it may have made before posting.
    recovered: bool = False
    at: float = Field(default_factory=time.time)


# A progress stage: rendered and encoded, waiting for storage to come back (worker/spool.py).
UPLOADING = "uploading"


class Progress(BaseModel):
    clip_id: str
    step: int
    total: int
    status: Status = Status.RUNNING
    stage: str | None = None  # UPLOADING, or None while rendering

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


# Redis names. arq's own keys (queue sorted set, job, in-progress, result) are arq's.
QUEUE_PREFIX = "reelbot:queue:"
OUTCOMES_STREAM = "reelbot:outcomes"
OUTCOMES_GROUP = "bot"
PROGRESS_CHANNEL = "reelbot:progress"
WORKERS_KEY = "reelbot:workers"


def queue_name(model: str) -> str:
    return QUEUE_PREFIX + model


def progress_key(clip_id: str) -> str:
    return f"reelbot:progress:{clip_id}"


def cancel_key(clip_id: str) -> str:
    return f"reelbot:cancel:{clip_id}"


def outcome_key(clip_id: str) -> str:
    """Set once when a clip's outcome is published: guards against a second outcome."""
    return f"reelbot:outcome:{clip_id}"


# Storage keys under this prefix are world-readable (public clips' video and poster, once posted);
# nothing else is (see core/storage.py, core/media.py).
PUBLIC_PREFIX = "public/"


def public_key(key: str) -> str:
    """Where a public clip's file is copied to: the same key under public/."""
    return key if key.startswith(PUBLIC_PREFIX) else PUBLIC_PREFIX + key


def video_key(clip_id: str) -> str:
    return f"clips/{clip_id}/clip.mp4"


def poster_key(clip_id: str) -> str:
    return f"clips/{clip_id}/poster.jpg"


def input_key(clip_id: str, name: str) -> str:
    return f"inputs/{clip_id}/{name}"
