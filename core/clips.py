"""The clip store: every state change of a clip is written here, so /me, /show and the
gallery agree with what happened. Transitions are conditional UPDATEs, so two processes
racing on one clip cannot both win."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from core.contract import UNFINISHED, Outcome, Status
from core.db import make_engine, make_sessionmaker
from core.tables import Clip, utcnow

# Which states a clip may move to a state from. Final states never change again.
_SOURCES: dict[Status, tuple[Status, ...]] = {
    Status.RUNNING: UNFINISHED,  # RUNNING→RUNNING: a retry after a dead worker
    Status.QUEUED: (Status.RUNNING,),  # handed back on shutdown
    Status.DONE: UNFINISHED,
    Status.FAILED: UNFINISHED,
    Status.CANCELLED: UNFINISHED,
}


def knobs_label(knobs: dict) -> str:
    """Speed knobs as one sortable, groupable string: "cache=first-block,compile=True"; "" for none."""
    return ",".join(f"{name}={knobs[name]}" for name in sorted(knobs))[:200]


class ClipStore:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.session = make_sessionmaker(engine)

    @classmethod
    def from_url(cls, url: str) -> "ClipStore":
        return cls(make_engine(url))

    async def close(self) -> None:
        await self.engine.dispose()

    async def add(self, **fields: Any) -> Clip:
        clip = Clip(**fields)
        async with self.session.begin() as s:
            s.add(clip)
        return clip

    async def get(self, clip_id: str) -> Clip | None:
        async with self.session() as s:
            return await s.get(Clip, clip_id)

    async def update(self, clip_id: str, **fields: Any) -> None:
        async with self.session.begin() as s:
            await s.execute(update(Clip).where(Clip.id == clip_id).values(updated_at=utcnow(), **fields))

    async def transition(self, clip_id: str, status: Status, **fields: Any) -> bool:
        """Move a clip to `status` if its current state allows it; False when it does not."""
        values = dict(status=status.value, updated_at=utcnow(), **fields)
        if status is Status.RUNNING:
            values.setdefault("started_at", utcnow())
            values["attempts"] = Clip.attempts + 1
        if status.final:
            values.setdefault("finished_at", utcnow())
        async with self.session.begin() as s:
            result = await s.execute(
                update(Clip)
                .where(Clip.id == clip_id, Clip.status.in_([src.value for src in _SOURCES[status]]))
                .values(**values)
            )
        return result.rowcount == 1

    async def record_outcome(self, outcome: Outcome) -> bool:
        fields = dict(error=outcome.error, worker=outcome.worker, flagged=outcome.flagged)
        if outcome.status is Status.DONE:
            fields.update(
                video_key=outcome.video_key, poster_key=outcome.poster_key, video_bytes=outcome.video_bytes,
                width=outcome.width, height=outcome.height, fps=outcome.fps, num_frames=outcome.num_frames,
                sound=bool(outcome.sound),
                duration=(outcome.num_frames / outcome.fps) if outcome.fps and outcome.num_frames else None,
                edit_region=outcome.edit_region,
            )
        if outcome.status is Status.DONE and outcome.seed is not None:
            fields["seed"] = outcome.seed  # a broken first render was made again with a new seed
        if outcome.timings:
            fields["timings"] = outcome.timings.model_dump()
            fields["gpu_seconds"] = outcome.timings.gpu
        if outcome.quality:
            fields.update(quality=outcome.quality.model_dump(), revision=outcome.quality.revision,
                          knobs=knobs_label(outcome.quality.knobs), broken=outcome.quality.broken)
        fields["finished_at"] = datetime.fromtimestamp(outcome.at, timezone.utc)
        return await self.transition(outcome.clip_id, outcome.status, **fields)
