"""Bans, in two kinds that mean different things.

- A server's ban (`/admin ban`, by anyone with Manage Server there): the member makes no
  clips in that server. Nothing else changes: other servers, and the web gallery, are
  none of that server's business. One `guild_bans` row.
- The operator's ban (`reelbot ban USER_ID`, the command line): no clips in any server,
  and the member's clips leave the web gallery (core/listings.py). `members.banned`,
  which core/limits.py checks when it counts a job.

Each change writes its audit entry in the same transaction, and says whether anything
changed (banning a banned member changes nothing and logs nothing).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, exists, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from core import audit
from core.db import dialect_of, insert_ignoring
from core.limits import ensure_member
from core.tables import GuildBan, Member, utcnow

_BAN = GuildBan.__table__


def banned_here(member_id, guild_id) -> ColumnElement[bool]:
    """Whether the server banned the member, as a SQL expression, so the order path reads it
    with the member's row in the same query (bot/records.py). False in DMs (guild_id NULL):
    no server decides there."""
    return exists().where(_BAN.c.guild_id == guild_id, _BAN.c.member_id == member_id)


async def ban_here(sessions: async_sessionmaker, guild_id: str, member_id: str, *, by: str | None,
                   reason: str | None = None) -> bool:
    """A server's ban; False when the member already was banned there."""
    async with sessions.begin() as s:
        await ensure_member(s, member_id)  # the order path reads the ban with the member's row
        result = await s.execute(insert_ignoring(dialect_of(s), _BAN, ["guild_id", "member_id"], guild_id=guild_id,
                                                 member_id=member_id, reason=reason, banned_by=by, created_at=utcnow()))
        if result.rowcount != 1:
            return False
        await audit.record(s, audit.Action.BAN, guild_id=guild_id, member_id=member_id, actor=by, reason=reason)
    return True


async def unban_here(sessions: async_sessionmaker, guild_id: str, member_id: str, *, by: str | None) -> bool:
    """Lift a server's ban; False when there was none."""
    async with sessions.begin() as s:
        result = await s.execute(delete(_BAN).where(_BAN.c.guild_id == guild_id, _BAN.c.member_id == member_id))
        if result.rowcount != 1:
            return False
        await audit.record(s, audit.Action.UNBAN, guild_id=guild_id, member_id=member_id, actor=by)
    return True


async def ban_everywhere(sessions: async_sessionmaker, member_id: str, *, reason: str | None = None) -> bool:
    """The operator's ban; False when the member already was banned everywhere."""
    async with sessions.begin() as s:
        await ensure_member(s, member_id)
        result = await s.execute(update(Member).where(Member.id == member_id, Member.banned.is_(False))
                                 .values(banned=True, ban_reason=reason).execution_options(synchronize_session=False))
        if result.rowcount != 1:
            return False
        await audit.record(s, audit.Action.BAN, member_id=member_id, actor=audit.OPERATOR, reason=reason)
    return True


async def unban_everywhere(sessions: async_sessionmaker, member_id: str, *, reason: str | None = None) -> bool:
    """Lift the operator's ban (servers' own bans stay); False when there was none."""
    async with sessions.begin() as s:
        result = await s.execute(update(Member).where(Member.id == member_id, Member.banned.is_(True))
                                 .values(banned=False, ban_reason=None).execution_options(synchronize_session=False))
        if result.rowcount != 1:
            return False
        await audit.record(s, audit.Action.UNBAN, member_id=member_id, actor=audit.OPERATOR, reason=reason)
    return True


async def bans_of(sessions: async_sessionmaker, member_id: str) -> tuple[bool, list[str]]:
    """(banned by the operator, the servers that banned the member): what `reelbot ban` reports."""
    async with sessions() as s:
        everywhere = bool(await s.scalar(select(Member.banned).where(Member.id == member_id)))
        servers = list(await s.scalars(select(GuildBan.guild_id).where(GuildBan.member_id == member_id)
                                       .order_by(GuildBan.guild_id)))
    return everywhere, servers
