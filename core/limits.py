"""Per-member limits: a ban, jobs in flight, jobs per day, a cooldown between jobs, and the
fast lane's daily GPU time; role tiers that raise (or lower) them in a server; the
operator's plan for a server (its weight in the fair queue, its fast hours a day).

`reserve` checks all of them and counts the job in one conditional UPDATE, after taking
the member's row lock, so two commands from one member arriving at the same moment cannot
both slip under a limit, whatever the cooldown: the second waits for the first to commit
its clip and then counts it. The member's tier (the best of their roles' tiers in the
server, `/admin tier`; else the server's defaults) is read by that same UPDATE (its caps
in the WHERE, its values RETURNING), so a raised in-flight cap holds as atomically as the
default one, at no extra round trip. When a refused UPDATE
matched no row, the member's row is read again to say which limit it was, in words the
member understands.

Fast time is the GPU seconds of the member's finished fast clips today (UTC) in that
server, as the worker measured them (clips.gpu_seconds); a cancelled or failed clip costs
nothing, so a cancel gives its time back. When the member's fast minutes, or the server's
fast hours (`reelbot server-plan`), are spent, the clip is granted the relax lane instead,
and the grant says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Date, DateTime, bindparam, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from core import audit
from core.contract import UNFINISHED
from core.db import dialect_of, insert_ignoring
from core.tables import Clip, GuildSettings, Member, Tier, utcnow

PRIORITIES = ("normal", "high")


@dataclass(frozen=True)
class Limits:
    """The defaults (REELBOT_JOBS_IN_FLIGHT, REELBOT_JOBS_PER_DAY, REELBOT_COOLDOWN_SECONDS,
    REELBOT_FAST_MINUTES_PER_DAY; None: fast time is not capped), or a member's effective
    limits once their tier is applied."""

    jobs_in_flight: int = 2
    jobs_per_day: int = 50
    cooldown_seconds: float = 5.0
    fast_minutes: int | None = None
    priority: str = "normal"
    tier: str | None = None  # the role whose tier gave the most, for /me

    @classmethod
    def from_settings(cls, settings) -> "Limits":
        return cls(settings.jobs_in_flight, settings.jobs_per_day, settings.cooldown_seconds,
                   settings.fast_minutes_per_day)

    def with_tiers(self, tiers: list) -> "Limits":
        """The best of the tiers (rows of `tiers`) over these defaults: for each limit the
        highest any tier sets; a limit no tier sets stays the default."""
        if not tiers:
            return self

        def best(field: str, default):
            values = [getattr(t, field) for t in tiers if getattr(t, field) is not None]
            return max(values) if values else default

        ranked = sorted(tiers, key=lambda t: (t.priority == "high", t.in_flight or 0, t.per_day or 0,
                                              t.fast_minutes or 0), reverse=True)
        return replace(self, jobs_in_flight=best("in_flight", self.jobs_in_flight),
                       jobs_per_day=best("per_day", self.jobs_per_day),
                       fast_minutes=best("fast_minutes", self.fast_minutes),
                       priority="high" if any(t.priority == "high" for t in tiers) else "normal",
                       tier=ranked[0].role_name or ranked[0].role_id)


@dataclass(frozen=True)
class Plan:
    """The operator's plan for a server (`reelbot server-plan`)."""

    weight: float = 1.0
    fast_gpu_hours_per_day: float | None = None

    @classmethod
    def of(cls, guild_row) -> "Plan":
        """From a server's settings row (None: no row yet, the defaults)."""
        if guild_row is None:
            return cls()
        return cls(guild_row.weight or 1.0, guild_row.fast_gpu_hours_per_day)


@dataclass(frozen=True)
class Where:
    """Where and how a member asks: the server (None in DMs), their role ids there (Discord
    sends them with every interaction), the lane they asked for, and the server's plan when
    the caller has read it already (the bot reads the server's row first; else it is read here)."""

    guild_id: str | None = None
    role_ids: tuple[str, ...] = ()
    lane: str = "fast"
    plan: Plan | None = None
    # False when the caller knows the server has no tier at all (the bot reads it with the
    # server's row): the take is then the plain statement, as cheap as before tiers existed.
    tiered: bool = True


@dataclass(frozen=True)
class Grant:
    """A counted job: its lane (relax when the fast time was spent: `moved` says whose,
    "member" or "server"), the member's limits and the server's weight in the fair queue."""

    lane: str
    limits: Limits
    weight: float = 1.0
    moved: str | None = None


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
    limits: Limits = Limits()
    fast_used_s: float = 0.0  # GPU seconds of today's finished fast clips in this server

    @property
    def fast_left_s(self) -> float | None:
        if self.limits.fast_minutes is None:
            return None
        return max(0.0, self.limits.fast_minutes * 60 - self.fast_used_s)


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


def _tier_best(column):
    """The best value of `column` among the tiers of the member's roles in the server (NULL: none)."""
    t = Tier.__table__.c
    return (select(func.max(column))
            .where(t.guild_id == bindparam("guild_id"), t.role_id.in_(bindparam("role_ids", expanding=True)))
            .scalar_subquery())


def _take_statement(tiered: bool):
    # Built once on the Core table (not the ORM entity): every command runs it, and the ORM's
    # bulk-update machinery costs more than the query itself. Tiered, the member's tier is read
    # by the same statement that checks and counts: its caps in the WHERE, its values RETURNING.
    m, c, t = Member.__table__.c, Clip.__table__.c, Tier.__table__.c
    in_flight = (select(func.count()).select_from(Clip.__table__)
                 .where(c.author_id == bindparam("member_id"), c.status.in_(UNFINISHED)).scalar_subquery())
    today = bindparam("today", type_=Date)
    per_day, in_flight_cap = bindparam("per_day"), bindparam("in_flight")
    if tiered:
        tier_in_flight, tier_per_day = _tier_best(t.in_flight), _tier_best(t.per_day)
        per_day, in_flight_cap = func.coalesce(tier_per_day, per_day), func.coalesce(tier_in_flight, in_flight_cap)
    statement = (
        update(Member.__table__)
        .where(m.id == bindparam("member_id"), m.banned.is_(False),
               or_(m.usage_day.is_(None), m.usage_day != today, m.jobs_today < per_day),
               or_(m.last_job_at.is_(None), m.last_job_at <= bindparam("cooled", type_=DateTime(timezone=True))),
               in_flight < in_flight_cap)
        .values(jobs_today=case((m.usage_day == today, m.jobs_today + 1), else_=1), usage_day=today,
                last_job_at=bindparam("now", type_=DateTime(timezone=True)))
    )
    if not tiered:
        return statement
    return statement.returning(tier_in_flight.label("in_flight"), tier_per_day.label("per_day"),
                               _tier_best(t.fast_minutes).label("fast_minutes"),
                               _tier_best(case((t.priority == "high", 1), else_=0)).label("high"))


_TAKE, _TAKE_TIERED = _take_statement(tiered=False), _take_statement(tiered=True)


def has_tiers(guild_id):
    """Whether the server has any tier (a column for the server's row: `Where.tiered`)."""
    return select(Tier.__table__.c.guild_id).where(Tier.__table__.c.guild_id == guild_id).exists()


def _or(value, default):
    return default if value is None else value


def _midnight(now: datetime) -> datetime:
    return datetime.combine(now.date(), time.min, timezone.utc)


def _fast_spent(member_id: str | None, guild_id: str | None, since: datetime):
    """GPU seconds of finished fast clips since `since`, of one member (in one server, or in
    DMs) or, with no member, of the whole server."""
    c = Clip.__table__.c
    query = select(func.coalesce(func.sum(c.gpu_seconds), 0.0)).where(
        c.lane == "fast", c.status == "done", c.created_at >= since)
    if member_id is not None:
        query = query.where(c.author_id == member_id)
    return query.where(c.guild_id == guild_id if guild_id is not None else c.guild_id.is_(None))


_TIERS = select(Tier.__table__).where(Tier.__table__.c.guild_id == bindparam("guild_id"),
                                      Tier.__table__.c.role_id.in_(bindparam("role_ids", expanding=True)))
_PLAN = select(GuildSettings.__table__.c.weight, GuildSettings.__table__.c.fast_gpu_hours_per_day).where(
    GuildSettings.__table__.c.guild_id == bindparam("guild_id"))


class MemberLimits:
    def __init__(self, session: async_sessionmaker, limits: Limits):
        self.session = session
        self.limits = limits

    async def reserve(self, member_id: str, name: str | None = None, now: datetime | None = None,
                      where: Where = Where()) -> Refusal | None:
        """Count one job for the member, or say which limit stops it. None means go ahead."""
        now = now or datetime.now(timezone.utc)
        async with self.session.begin() as s:
            if await self.take(s, member_id, name, now, where):
                return None
        return await self.explain(member_id, now, where)

    async def effective(self, session: AsyncSession | AsyncConnection, where: Where) -> Limits:
        """The member's limits in that server: the best of their roles' tiers (the server's
        own id is its @everyone role), else the defaults."""
        if where.guild_id is None:
            return self.limits
        ids = [*where.role_ids, where.guild_id]
        tiers = (await session.execute(_TIERS, {"guild_id": where.guild_id, "role_ids": ids})).all()
        return self.limits.with_tiers(list(tiers))

    async def take(self, session: AsyncSession | AsyncConnection, member_id: str, name: str | None,
                   now: datetime, where: Where = Where()) -> Grant | None:
        """`reserve` inside the caller's transaction (a session or a Core connection), so the
        job's own record can be written in the same commit: the grant when the job was counted
        (its lane decided by the fast time left). Refused (None): `explain` says why."""
        lock = _LOCK_PG if dialect_of(session) == "postgresql" else _LOCK_SQLITE
        await session.execute(lock, {"id": member_id, "name": (name or None) and name[:100], "created_at": now})
        defaults = self.limits
        # No cooldown: commands at the same moment commit in any order, and one whose clock read came
        # a moment before the last commit's must not look "too soon".
        cooled = now - timedelta(seconds=defaults.cooldown_seconds) if defaults.cooldown_seconds > 0 else \
            now + timedelta(days=1)
        values = {"member_id": member_id, "today": now.date(), "now": now, "per_day": defaults.jobs_per_day,
                  "cooled": cooled, "in_flight": defaults.jobs_in_flight}
        if where.tiered and where.guild_id is not None:
            taken = (await session.execute(_TAKE_TIERED, {
                **values, "guild_id": where.guild_id, "role_ids": [*where.role_ids, where.guild_id]})).first()
            if taken is None:
                return None
            limits = replace(defaults, jobs_in_flight=_or(taken.in_flight, defaults.jobs_in_flight),
                             jobs_per_day=_or(taken.per_day, defaults.jobs_per_day),
                             fast_minutes=_or(taken.fast_minutes, defaults.fast_minutes),
                             priority="high" if taken.high else "normal")
        else:
            if (await session.execute(_TAKE, values)).rowcount != 1:
                return None
            limits = defaults
        plan = where.plan
        if plan is None:
            row = (await session.execute(_PLAN, {"guild_id": where.guild_id})).first() if where.guild_id else None
            plan = Plan.of(row)
        if where.lane != "fast":
            return Grant("relax", limits, plan.weight)
        moved = await self._fast_spent_by(session, member_id, where.guild_id, limits, plan, now)
        return Grant("relax" if moved else "fast", limits, plan.weight, moved)

    async def _fast_spent_by(self, session, member_id: str, guild_id: str | None, limits: Limits, plan,
                             now: datetime) -> str | None:
        """"member" or "server" when that one's fast time for today is spent, else None."""
        since = _midnight(now)
        if limits.fast_minutes is not None:
            used = await session.scalar(_fast_spent(member_id, guild_id, since))
            if used >= limits.fast_minutes * 60:
                return "member"
        if plan.fast_gpu_hours_per_day is not None and guild_id is not None:
            used = await session.scalar(_fast_spent(None, guild_id, since))
            if used >= plan.fast_gpu_hours_per_day * 3600:
                return "server"
        return None

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

    async def usage(self, member_id: str, now: datetime | None = None, where: Where = Where()) -> Usage:
        now = now or datetime.now(timezone.utc)
        async with self.session() as s:
            member = await s.get(Member, member_id)
            in_flight = await s.scalar(_in_flight(member_id))
            limits = await self.effective(s, where)
            fast_used = await s.scalar(_fast_spent(member_id, where.guild_id, _midnight(now)))
        today = _jobs_today(member, now.date())
        return Usage(in_flight=in_flight or 0, today=today, left_today=max(0, limits.jobs_per_day - today),
                     cooldown_left=self._cooldown_left(member, now), banned=bool(member and member.banned),
                     limits=limits, fast_used_s=float(fast_used or 0.0))

    def _cooldown_left(self, member: Member | None, now: datetime) -> float:
        last = _utc(member.last_job_at) if member else None
        if last is None:
            return 0.0
        return max(0.0, self.limits.cooldown_seconds - (now - last).total_seconds())

    async def explain(self, member_id: str, now: datetime | None = None, where: Where = Where()) -> Refusal:
        """Which limit refused the member, in words they understand."""
        now = now or datetime.now(timezone.utc)
        usage = await self.usage(member_id, now, where)
        limits = usage.limits
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


# --- Tiers and server plans ------------------------------------------------------------

@dataclass(frozen=True)
class TierSpec:
    """A tier as read back or asked for: None leaves that limit at the server's default."""

    role_id: str
    role_name: str | None = None
    in_flight: int | None = None
    per_day: int | None = None
    fast_minutes: int | None = None
    priority: str = "normal"

    def describe(self) -> str:
        parts = [f"{self.in_flight} in flight" if self.in_flight is not None else None,
                 f"{self.per_day} a day" if self.per_day is not None else None,
                 f"{self.fast_minutes} fast min a day" if self.fast_minutes is not None else None,
                 "priority high" if self.priority == "high" else None]
        return ", ".join(p for p in parts if p) or "the server's defaults"


def _spec(row) -> TierSpec:
    return TierSpec(row.role_id, row.role_name, row.in_flight, row.per_day, row.fast_minutes, row.priority)


def _ensure_guild_row(session, guild_id: str):
    return insert_ignoring(dialect_of(session), GuildSettings, ["guild_id"], guild_id=guild_id, paused=False,
                           banned_terms=[], allowed_channel_ids=[], weight=1.0, updated_at=utcnow())


async def list_tiers(session: async_sessionmaker, guild_id: str) -> list[TierSpec]:
    async with session() as s:
        rows = await s.scalars(select(Tier).where(Tier.guild_id == guild_id).order_by(Tier.role_name, Tier.role_id))
        return [_spec(row) for row in rows]


async def set_tier(session: async_sessionmaker, guild_id: str, spec: TierSpec, by: str) -> TierSpec:
    """Create or change a role's tier (the fields given; the others keep their value, or the
    default on a new tier); logged in the same commit. Returns the tier as it now is."""
    async with session.begin() as s:
        # The server's row says whether it has tiers (bot/records.py reads it with every command).
        await s.execute(_ensure_guild_row(s, guild_id))
        row = await s.scalar(select(Tier).where(Tier.guild_id == guild_id, Tier.role_id == spec.role_id)
                             .with_for_update())
        if row is None:
            row = Tier(guild_id=guild_id, role_id=spec.role_id, priority="normal")
            s.add(row)
        row.role_name = spec.role_name or row.role_name
        for field in ("in_flight", "per_day", "fast_minutes"):
            if getattr(spec, field) is not None:
                setattr(row, field, getattr(spec, field))
        row.priority = spec.priority or row.priority
        row.set_by, row.updated_at = by, utcnow()
        now = _spec(row)
        await audit.record(s, audit.Action.TIER_SET, guild_id=guild_id, actor=by,
                           reason=f"@{now.role_name or now.role_id}: {now.describe()}")
    return now


async def remove_tier(session: async_sessionmaker, guild_id: str, role_id: str, by: str) -> TierSpec | None:
    """The removed tier (logged), or None when the role had none."""
    async with session.begin() as s:
        row = await s.scalar(select(Tier).where(Tier.guild_id == guild_id, Tier.role_id == role_id))
        if row is None:
            return None
        gone = _spec(row)
        await s.execute(delete(Tier).where(Tier.guild_id == guild_id, Tier.role_id == role_id))
        await audit.record(s, audit.Action.TIER_REMOVED, guild_id=guild_id, actor=by,
                           reason=f"@{gone.role_name or gone.role_id}")
    return gone


async def server_plan(session: async_sessionmaker, guild_id: str) -> Plan:
    async with session() as s:
        return Plan.of((await s.execute(_PLAN, {"guild_id": guild_id})).first())


async def set_server_plan(session: async_sessionmaker, guild_id: str, *, weight: float | None = None,
                          fast_gpu_hours_per_day: float | None = None, no_fast_cap: bool = False,
                          by: str = audit.OPERATOR) -> Plan:
    """The operator's plan for a server (`reelbot server-plan`): fields not given keep their value."""
    async with session.begin() as s:
        await s.execute(_ensure_guild_row(s, guild_id))
        row = await s.scalar(select(GuildSettings).where(GuildSettings.guild_id == guild_id).with_for_update())
        if weight is not None:
            row.weight = weight
        if fast_gpu_hours_per_day is not None or no_fast_cap:
            row.fast_gpu_hours_per_day = None if no_fast_cap else fast_gpu_hours_per_day
        row.updated_at = utcnow()
        plan = Plan(row.weight, row.fast_gpu_hours_per_day)
        hours = "no cap" if plan.fast_gpu_hours_per_day is None else f"{plan.fast_gpu_hours_per_day:g} h"
        await audit.record(s, audit.Action.SERVER_PLAN, guild_id=guild_id, actor=by,
                           reason=f"weight {plan.weight:g}, fast GPU time a day: {hours}")
    return plan
