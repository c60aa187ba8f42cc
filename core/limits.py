"""Per-member limits: a ban, jobs in flight, jobs per day and a cooldown between jobs.

`reserve` checks all of them and counts the job in one conditional UPDATE, after taking
the member's row lock, so two commands from one member arriving at the same moment cannot
both slip under a limit, whatever the cooldown: the second waits for the first to commit
its clip and then counts it. When a refused UPDATE matched no row, the member's row is read
again to say which limit it was, in words the member understands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import Date, DateTime, bindparam, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from core.contract import UNFINISHED
from core.db import dialect_of, insert_ignoring
from core.tables import Clip, Member


@dataclass(frozen=True)
class Limits:
    jobs_in_flight: int = 2
    jobs_per_day: int = 50
    cooldown_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings) -> "Limits":
        return cls(settings.jobs_in_flight, settings.jobs_per_day, settings.cooldown_seconds)


@dataclass(frozen=True)
class Refusal:
    reason: str  # "banned" | "in_flight" | "per_day" | "cooldown"
    message: str
    retry_after: float | None = None  # seconds, when waiting helps


@dataclass(frozen=True)
class Usage:
    in_flight: int
    today: int
    left_today: int
    cooldown_left: float
    banned: bool


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything here is stored in UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


async def ensure_member(session: AsyncSession | AsyncConnection, member_id: str, name: str | None = None) -> None:
    """Create the member's row if missing (race-free on SQLite and PostgreSQL)."""
    statement = _ENSURE_PG if dialect_of(session) == "postgresql" else _ENSURE_SQLITE
    await session.execute(statement, {"id": member_id, "name": (name or None) and name[:100],
                                      "created_at": datetime.now(timezone.utc)})


def _ensure_statement(dialect: str, lock: bool = False):
    return insert_ignoring(
        dialect, Member.__table__, ["id"], lock=lock,
        id=bindparam("id"), name=bindparam("name"), defaults={}, banned=False, jobs_today=0, clips_made=0,
        created_at=bindparam("created_at", type_=DateTime(timezone=True)),
    )


_ENSURE_PG, _ENSURE_SQLITE = _ensure_statement("postgresql"), _ensure_statement("sqlite")
# The member's row, made if missing and locked until the commit (PostgreSQL; SQLite has one writer
# at a time anyway): a concurrent command of the same member waits here until this one has
# written its clip, and its next statement, on a fresh snapshot, counts that clip as in flight.
_LOCK_PG, _LOCK_SQLITE = _ensure_statement("postgresql", lock=True), _ensure_statement("sqlite", lock=True)


def _in_flight(member_id: str):
    return select(func.count()).select_from(Clip).where(Clip.author_id == member_id, Clip.status.in_(UNFINISHED))


def _take_statement():
    # Built once on the Core table (not the ORM entity): every command runs it, and the ORM's
    # bulk-update machinery costs more than the query itself.
    m, c = Member.__table__.c, Clip.__table__.c
    in_flight = (select(func.count()).select_from(Clip.__table__)
                 .where(c.author_id == bindparam("member_id"), c.status.in_(UNFINISHED)).scalar_subquery())
    today = bindparam("today", type_=Date)
    return (
        update(Member.__table__)
        .where(m.id == bindparam("member_id"), m.banned.is_(False),
               or_(m.usage_day.is_(None), m.usage_day != today, m.jobs_today < bindparam("per_day")),
               or_(m.last_job_at.is_(None), m.last_job_at <= bindparam("cooled", type_=DateTime(timezone=True))),
               in_flight < bindparam("in_flight"))
        .values(jobs_today=case((m.usage_day == today, m.jobs_today + 1), else_=1), usage_day=today,
                last_job_at=bindparam("now", type_=DateTime(timezone=True)))
    )


_TAKE = _take_statement()


class MemberLimits:
    def __init__(self, session: async_sessionmaker, limits: Limits):
        self.session = session
        self.limits = limits

    async def reserve(self, member_id: str, name: str | None = None, now: datetime | None = None) -> Refusal | None:
        """Count one job for the member, or say which limit stops it. None means go ahead."""
        now = now or datetime.now(timezone.utc)
        async with self.session.begin() as s:
            if await self.take(s, member_id, name, now):
                return None
        return await self.explain(member_id, now)

    async def take(self, session: AsyncSession | AsyncConnection, member_id: str, name: str | None,
                   now: datetime) -> bool:
        """`reserve` inside the caller's transaction (a session or a Core connection), so the
        job's own record can be written in the same commit: True when the job was counted.
        Refused: `explain` says why."""
        limits = self.limits
        lock = _LOCK_PG if dialect_of(session) == "postgresql" else _LOCK_SQLITE
        await session.execute(lock, {"id": member_id, "name": (name or None) and name[:100], "created_at": now})
        result = await session.execute(_TAKE, {
            "member_id": member_id, "today": now.date(), "now": now, "per_day": limits.jobs_per_day,
            "cooled": now - timedelta(seconds=limits.cooldown_seconds), "in_flight": limits.jobs_in_flight,
        })
        return result.rowcount == 1

    async def release(self, member_id: str, now: datetime | None = None) -> None:
        """Give back a reservation whose job never got queued (so it costs nothing)."""
        today = (now or datetime.now(timezone.utc)).date()
        async with self.session.begin() as s:
            await s.execute(
                update(Member)
                .where(Member.id == member_id, Member.usage_day == today, Member.jobs_today > 0)
                .values(jobs_today=Member.jobs_today - 1, last_job_at=None)
                .execution_options(synchronize_session=False)
            )

    async def usage(self, member_id: str, now: datetime | None = None) -> Usage:
        now = now or datetime.now(timezone.utc)
        async with self.session() as s:
            member = await s.get(Member, member_id)
            in_flight = await s.scalar(_in_flight(member_id))
        today = _jobs_today(member, now.date())
        return Usage(in_flight=in_flight or 0, today=today, left_today=max(0, self.limits.jobs_per_day - today),
                     cooldown_left=self._cooldown_left(member, now), banned=bool(member and member.banned))

    def _cooldown_left(self, member: Member | None, now: datetime) -> float:
        last = _utc(member.last_job_at) if member else None
        if last is None:
            return 0.0
        return max(0.0, self.limits.cooldown_seconds - (now - last).total_seconds())

    async def explain(self, member_id: str, now: datetime | None = None) -> Refusal:
        """Which limit refused the member, in words they understand."""
        now = now or datetime.now(timezone.utc)
        usage = await self.usage(member_id, now)
        limits = self.limits
        if usage.banned:
            return Refusal("banned", "You can't make clips with Reelbot: its operator has blocked you.")
        if usage.in_flight >= limits.jobs_in_flight:
            return Refusal("in_flight", f"You already have {usage.in_flight} clip{'s' if usage.in_flight != 1 else ''} "
                           f"queued or rendering (the limit is {limits.jobs_in_flight}). Wait for one to finish, "
                           "or stop one with `/cancel`.")
        if usage.left_today <= 0:
            midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), timezone.utc)
            wait = (midnight - now).total_seconds()
            return Refusal("per_day", f"You've made your {limits.jobs_per_day} clips for today. The count resets at "
                           f"midnight UTC, in {_duration(wait)}.", retry_after=wait)
        if usage.cooldown_left > 0:
            return Refusal("cooldown", f"Slow down a little: you can start another clip in "
                           f"{math.ceil(usage.cooldown_left)} s.", retry_after=usage.cooldown_left)
        # Every limit reads as free now: the member's last job finished between the two reads.
        return Refusal("cooldown", "Please try again in a moment.", retry_after=1.0)


def _jobs_today(member: Member | None, today: date) -> int:
    if member is None or member.usage_day != today:
        return 0
    return member.jobs_today


def _duration(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
