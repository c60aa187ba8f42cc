"""The bot's reads and writes of the SQL records, beyond the clip store's own.

Writes that decide something (delivered, deleted) are conditional UPDATEs, so two bot
processes racing on one clip cannot both win.
"""

from __future__ import annotations

from sqlalchemy import bindparam, desc, func, insert, or_, select, update

from core import audit, bans
from core.clips import ClipStore
from core.contract import UNFINISHED
from core.db import dialect_of, insert_ignoring
from core.flags import Flags
from core.limits import Where, ensure_member, has_tiers
from core.moderation import clean_term
from core.tables import Clip, GuildSettings, Member, utcnow

# --- Clips ---------------------------------------------------------------------------

async def set_status_message(store: ClipStore, clip_id: str, message_id: str, thread_id: str | None) -> None:
    """Where the clip's status message and thread are (Core: every command writes it)."""
    clips = Clip.__table__
    async with store.engine.begin() as conn:
        await conn.execute(update(clips).where(clips.c.id == clip_id)
                           .values(status_message_id=message_id, thread_id=thread_id, updated_at=utcnow()))


async def mark_delivered(store: ClipStore, clip_id: str, message_id: str) -> bool:
    """Record the final post; False when another delivery recorded one first."""
    async with store.session.begin() as s:
        result = await s.execute(
            update(Clip).where(Clip.id == clip_id, Clip.result_message_id.is_(None))
            .values(result_message_id=message_id, posted_at=utcnow(), updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return result.rowcount == 1


async def mark_deleted(store: ClipStore, clip_id: str) -> bool:
    async with store.session.begin() as s:
        result = await s.execute(
            update(Clip).where(Clip.id == clip_id, Clip.deleted.is_(False))
            .values(deleted=True, updated_at=utcnow()).execution_options(synchronize_session=False)
        )
    return result.rowcount == 1


async def newest_unfinished(store: ClipStore, author_id: str) -> Clip | None:
    async with store.session() as s:
        return await s.scalar(
            select(Clip).where(Clip.author_id == author_id, Clip.status.in_(UNFINISHED))
            .order_by(desc(Clip.created_at)).limit(1)
        )


async def unfinished(store: ClipStore, author_id: str) -> list[Clip]:
    async with store.session() as s:
        rows = await s.scalars(
            select(Clip).where(Clip.author_id == author_id, Clip.status.in_(UNFINISHED)).order_by(Clip.created_at)
        )
        return list(rows)


async def clip_by_message(store: ClipStore, message_id: str) -> Clip | None:
    """The clip whose result, status or showcase message this is (/show and /extend by link, Report clip)."""
    async with store.session() as s:
        return await s.scalar(
            select(Clip).where(or_(Clip.result_message_id == message_id, Clip.status_message_id == message_id,
                                   Clip.showcase_message_id == message_id))
            .limit(1)
        )


async def watched_clips(store: ClipStore) -> list[Clip]:
    """Unfinished clips with a status message: the ones whose progress the bot shows."""
    async with store.session() as s:
        rows = await s.scalars(select(Clip).where(Clip.status.in_(UNFINISHED), Clip.status_message_id.is_not(None)))
        return list(rows)


async def clips_made(store: ClipStore, author_id: str) -> int:
    async with store.session() as s:
        return await s.scalar(
            select(func.count()).select_from(Clip).where(Clip.author_id == author_id, Clip.status == "done")
        ) or 0


async def recent_job_seconds(store: ClipStore, limit: int = 50) -> dict[str, list[float]]:
    """Seconds a worker spent on recent finished clips, by model (seeds the ETA)."""
    async with store.session() as s:
        rows = await s.execute(
            select(Clip.model, Clip.timings).where(Clip.status == "done", Clip.timings.is_not(None))
            .order_by(desc(Clip.finished_at)).limit(limit)
        )
        out: dict[str, list[float]] = {}
        for model, timings in rows:
            busy = (timings or {}).get("total", 0) - (timings or {}).get("queue_wait", 0)
            if busy > 0:
                out.setdefault(model, []).append(busy)
        return out


async def take_and_record(store: ClipStore, limits, member_id: str, member_name: str, record: dict,
                          where: Where = Where(), also=None):
    """Count the job against the member's limits (their tier's, read in the same step) and
    write the clip's record with the lane it was granted, in one transaction; None (and
    nothing written) when a limit refuses it, else the `Grant`. Core, not the ORM: this is
    on every command's way to its answer. `also(conn)`, when given, writes more in the same
    transaction (a theme entry) and may raise to undo it all."""
    now = utcnow()
    async with store.engine.begin() as conn:
        grant = await limits.take(conn, member_id, member_name, now, where)
        if grant is None:
            return None
        await conn.execute(insert(Clip.__table__).values(created_at=now, updated_at=now, vote_count=0,
                                                         deleted=False, attempts=0, lane=grant.lane, **record))
        if also is not None:
            await also(conn)
    return grant


# --- Members -------------------------------------------------------------------------

_GUILD = select(GuildSettings.__table__, has_tiers(bindparam("guild_id")).label("has_tiers")).where(
    GuildSettings.__table__.c.guild_id == bindparam("guild_id"))
_MEMBER = select(Member.__table__.c.defaults, Member.__table__.c.banned,
                 bans.banned_here(Member.__table__.c.id, bindparam("guild_id")).label("banned_here")).where(
    Member.__table__.c.id == bindparam("member_id"))


async def guild_and_member(store: ClipStore, guild_id: str | None, member_id: str) -> tuple:
    """The server's settings and the member's row (rows, either may be None), on one
    connection. The server's row says `has_tiers` (a tier exists there: limits.Where.tiered);
    the member's row says `banned` (by the operator, everywhere) and `banned_here` (by this server)."""
    async with store.engine.connect() as conn:
        guild_row = None
        if guild_id is not None:
            guild_row = (await conn.execute(_GUILD, {"guild_id": guild_id})).first()
        member_row = (await conn.execute(_MEMBER, {"member_id": member_id, "guild_id": guild_id})).first()
    return guild_row, member_row


def defaults_of(row) -> Flags:
    """The member's /settings defaults; stored values that no longer validate are dropped."""
    if row is None or not row.defaults:
        return Flags()
    try:
        return Flags.from_dict(row.defaults)
    except ValueError:
        return Flags()


async def member(store: ClipStore, member_id: str) -> Member | None:
    async with store.session() as s:
        return await s.get(Member, member_id)


async def member_defaults(store: ClipStore, member_id: str) -> Flags:
    return defaults_of(await member(store, member_id))


async def set_defaults(store: ClipStore, member_id: str, name: str | None, defaults: Flags) -> None:
    async with store.session.begin() as s:
        await ensure_member(s, member_id, name)
        await s.execute(update(Member).where(Member.id == member_id)
                        .values(defaults=_non_empty(defaults)).execution_options(synchronize_session=False))


def _non_empty(flags: Flags) -> dict:
    return {k: v for k, v in flags.to_dict().items() if v is not None and v is not False}


# --- Guilds --------------------------------------------------------------------------

async def guild(store: ClipStore, guild_id: str | None) -> GuildSettings | None:
    if guild_id is None:
        return None
    async with store.session() as s:
        return await s.get(GuildSettings, guild_id)


async def _ensure_guild(s, guild_id: str) -> None:
    await s.execute(insert_ignoring(dialect_of(s), GuildSettings, ["guild_id"], guild_id=guild_id, paused=False,
                                    banned_terms=[], allowed_channel_ids=[], updated_at=utcnow()))


async def set_paused(store: ClipStore, guild_id: str, paused: bool, by: str) -> bool:
    """False when the server already was in that state; a change is logged (core/audit.py)."""
    async with store.session.begin() as s:
        await _ensure_guild(s, guild_id)
        result = await s.execute(
            update(GuildSettings).where(GuildSettings.guild_id == guild_id, GuildSettings.paused.is_(not paused))
            .values(paused=paused, updated_at=utcnow()).execution_options(synchronize_session=False)
        )
        changed = result.rowcount == 1
        if changed:
            await audit.record(s, audit.Action.PAUSE if paused else audit.Action.RESUME, guild_id=guild_id, actor=by)
    return changed


async def set_mod_channel(store: ClipStore, guild_id: str, channel_id: str | None) -> bool:
    """Where members' reports go (None: nowhere); False when it already was that."""
    async with store.session.begin() as s:
        await _ensure_guild(s, guild_id)
        result = await s.execute(
            update(GuildSettings)
            .where(GuildSettings.guild_id == guild_id, GuildSettings.mod_channel_id.is_distinct_from(channel_id))
            .values(mod_channel_id=channel_id, updated_at=utcnow()).execution_options(synchronize_session=False)
        )
    return result.rowcount == 1


async def edit_list(store: ClipStore, guild_id: str, column: str, add: str | None = None,
                    remove: str | None = None, clear: bool = False,
                    logged: dict | None = None) -> tuple[bool, list[str]]:
    """Add to or remove from one of a server's JSON lists, under a row lock where the
    database has them; a change is logged with `logged` (core.audit.record's arguments) in
    the same commit. Returns (changed, the list now)."""
    async with store.session.begin() as s:
        await _ensure_guild(s, guild_id)
        row = await s.scalar(select(GuildSettings).where(GuildSettings.guild_id == guild_id).with_for_update())
        current = list(getattr(row, column) or [])
        updated = [] if clear else [item for item in current if item != remove]
        if add is not None and add not in updated:
            updated.append(add)
        changed = updated != current
        if changed:
            setattr(row, column, updated)
            row.updated_at = utcnow()
            if logged is not None:
                await audit.record(s, guild_id=guild_id, **logged)
    return changed, updated


async def add_banned_term(store: ClipStore, guild_id: str, term: str, by: str) -> tuple[bool, list[str]] | None:
    cleaned = clean_term(term)
    if cleaned is None:
        return None
    return await edit_list(store, guild_id, "banned_terms", add=cleaned,
                           logged=dict(action=audit.Action.TERM_ADDED, actor=by, reason=cleaned))


async def remove_banned_term(store: ClipStore, guild_id: str, term: str, by: str) -> tuple[bool, list[str]]:
    removed = clean_term(term) or term
    return await edit_list(store, guild_id, "banned_terms", remove=removed,
                           logged=dict(action=audit.Action.TERM_REMOVED, actor=by, reason=removed))
