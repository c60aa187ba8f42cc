"""GPU time per server, member and model, for operators (`reelbot usage`): clips, GPU
hours, and how much went through the fast lane and how much through relax. Read from
clips.gpu_seconds (measured by the worker around its GPU lock) and clips.lane.

Clips are counted by when they were made (created_at, as fast budgets count them); every
clip that held a GPU counts its GPU seconds, whatever its end (a clip cancelled mid-render
used the GPU too), while fast budgets charge only finished fast clips (core/limits.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from core.tables import Clip

BY = {"server": Clip.guild_id, "member": Clip.author_id, "model": Clip.model}


@dataclass(frozen=True)
class Row:
    key: str | None  # the server id (None: DMs), member id or model
    clips: int
    gpu_seconds: float
    fast_seconds: float
    relax_seconds: float
    fast_clips: int
    relax_clips: int
    name: str | None = None  # a member's name, when known

    @property
    def gpu_hours(self) -> float:
        return self.gpu_seconds / 3600


async def usage(sessions: async_sessionmaker, by: str, since: datetime | None = None, guild_id: str | None = None,
                limit: int = 50) -> list[Row]:
    """Usage grouped `by` "server", "member" or "model", most GPU time first."""
    column = BY[by]
    gpu = func.coalesce(Clip.gpu_seconds, 0.0)
    query = select(
        column, func.count(), func.sum(gpu),
        func.sum(case((Clip.lane == "fast", gpu), else_=0.0)), func.sum(case((Clip.lane == "relax", gpu), else_=0.0)),
        func.sum(case((Clip.lane == "fast", 1), else_=0)), func.sum(case((Clip.lane == "relax", 1), else_=0)),
        func.max(Clip.author_name) if by == "member" else func.max(None),
    ).group_by(column)
    if since is not None:
        query = query.where(Clip.created_at >= since)
    if guild_id is not None:
        query = query.where(Clip.guild_id == guild_id)
    query = query.order_by(func.sum(gpu).desc(), func.count().desc()).limit(limit)
    async with sessions() as s:
        rows = (await s.execute(query)).all()
    return [Row(key, int(n), float(total or 0), float(fast or 0), float(relax or 0), int(fn or 0), int(rn or 0), name)
            for key, n, total, fast, relax, fn, rn, name in rows]
