"""Turning a member's parsed request into a render job (shared by the bot and the CLI), and a
recorded clip back into its job or its outcome (for the reconciler)."""

from __future__ import annotations

import secrets

from core.catalog import Task
from core.contract import Outcome, QueueTicket, RenderJob, Status, Timings, new_clip_id
from core.flags import Request


def new_job(request: Request, *, model: str, task: Task = Task.TEXT_TO_VIDEO, member_id: str | None = None,
            parent_clip_id: str | None = None, input_keys: dict[str, str] | None = None,
            clip_id: str | None = None, max_bytes: int | None = None, age_restricted: bool = False,
            ticket: QueueTicket | None = None) -> RenderJob:
    flags = request.flags
    # A seed is always chosen here, never by the worker, so the result can show it and Retry can vary it.
    seed = flags.seed if flags.seed is not None else secrets.randbelow(2**32)
    return RenderJob(
        clip_id=clip_id or new_clip_id(),
        model=model,
        task=task,
        prompt=request.prompt,
        flags=flags.to_dict(),
        seed=seed,
        member_id=member_id,
        parent_clip_id=parent_clip_id,
        input_keys=input_keys or {},
        max_bytes=max_bytes,
        age_restricted=age_restricted,
        ticket=ticket or QueueTicket(lane=flags.lane or "fast"),
    )


def job_of(clip) -> RenderJob:
    """The render job of a recorded clip, as it was queued: to queue it again after its job was lost
    (its fair place comes back from Redis when Redis still has it)."""
    return RenderJob(clip_id=clip.id, model=clip.model, task=Task(clip.task), prompt=clip.prompt,
                     flags=dict(clip.flags or {}), seed=clip.seed, member_id=clip.author_id,
                     parent_clip_id=clip.parent_id, input_keys=dict(clip.input_keys or {}),
                     max_bytes=clip.max_bytes,
                     ticket=QueueTicket(guild_id=clip.guild_id, lane=clip.lane or "fast"))


def outcome_of(clip) -> Outcome:
    """A finished clip's outcome as its record keeps it: to publish again one that Redis lost
    (a failover to a replica that never received it) before the bot posted it."""
    return Outcome(clip_id=clip.id, status=Status(clip.status), model=clip.model, seed=clip.seed,
                   video_key=clip.video_key, poster_key=clip.poster_key, video_bytes=clip.video_bytes,
                   width=clip.width, height=clip.height, fps=clip.fps, num_frames=clip.num_frames,
                   edit_region=clip.edit_region, sound=clip.sound, error=clip.error, flagged=clip.flagged,
                   timings=Timings(**clip.timings) if clip.timings else None, worker=clip.worker,
                   recovered=True)

