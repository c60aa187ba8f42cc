"""Themes: a server runs one at a time, members enter clips with `-theme`, 👍 votes decide.

A theme's life, in its row of `themes`:
1. running: `start` writes it with `running_in` = the server's id. That column is unique, so
   two managers starting a theme at the same moment get one theme, not two.
2. closed: at `ends_at` (or at once, `end`), `close` sets `closed_at`, clears `running_in`
   and freezes every entry's votes into `theme_entries.final_votes`, in one transaction and
   only once (a conditional UPDATE). A vote counts when it was made by someone other than
   the entry's author, at or before `ends_at`: votes made after the end never change the
   result, however late the closing runs (the bot was down at that moment).
3. posted: the bot's closer (one leader among shard processes) posts the result and records
   it with `record_result`, once.

Entries are rows of `theme_entries` written in the same transaction as the clip's record
(`Entering`), after the member's row lock (core/limits.py), so a member can never slip past
the entry limit with two commands at once. A clip that is deleted, failed or cancelled is no
entry any more: it leaves the counts, the rankings and the gallery, and frees its slot.

Rankings (`standings`) hold only public clips (core/listings.is_public): most counted votes
first, ties to the entry made first.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import case, false, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from core import audit
from core.contract import Status
from core.listings import is_public
from core.tables import Clip, Theme, ThemeEntry, Vote, utcnow

MAX_WORDS_CHARS = 100
DEFAULT_MAX_ENTRIES = 3
MAX_ENTRIES = 20
DEFAULT_WINNERS = 3
MAX_WINNERS = 10
MIN_DURATION = timedelta(minutes=1)
MAX_DURATION = timedelta(days=30)
DURATION_EXAMPLES = ("1d", "6h", "30m", "1m")
LISTED = 500  # entries a theme's page shows, most votes first


class EntryRefused(Exception):
    """Why a clip cannot enter the theme, in words the member understands."""


@dataclass(frozen=True)
class Running:
    """`start` found a theme already running in the server."""

    theme: Theme


@dataclass(frozen=True)
class Standing:
    rank: int
    clip: Clip
    votes: int  # counted: not the author's own, made by the end


# --- Words and durations -------------------------------------------------------------

def clean_words(text: str) -> str:
    """The theme as shown: invisible and control characters dropped, whitespace collapsed."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())


_SPAN = re.compile(r"(\d+(?:\.\d+)?)(days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta | str:
    """`1d`, `6h`, `30m`, `1h30m`, `90 min` … as a timedelta; otherwise a message saying what works."""
    examples = ", ".join(f"`{e}`" for e in DURATION_EXAMPLES)
    spoken = f"use days, hours and minutes like {examples} or `1h30m`, from 1 minute to 30 days"
    compact = "".join(str(text).split()).lower()
    parts = _SPAN.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        return f"`{str(text)[:40]}` isn't a duration: {spoken}."
    seconds = sum(float(number) * _UNIT_SECONDS[unit[0]] for number, unit in parts)
    if not math.isfinite(seconds) or not MIN_DURATION.total_seconds() <= seconds <= MAX_DURATION.total_seconds():
        return f"`{str(text)[:40]}` is out of range: {spoken}."
    return timedelta(seconds=round(seconds))


def span_text(seconds: float) -> str:
    """A length of time as people say it: `2 d 3 h`, `5 h 10 min`, `12 min`, `40 s`."""
    seconds = max(0, math.ceil(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def is_running(theme: Theme, now: datetime | None = None) -> bool:
    return theme.closed_at is None and utc(theme.ends_at) > (now or utcnow())


# --- Starting and ending -------------------------------------------------------------

async def start(sessions: async_sessionmaker, *, guild_id: str, words: str, duration: timedelta, by: str,
                channel_id: str | None = None, announce_channel_id: str | None = None,
                max_entries: int = DEFAULT_MAX_ENTRIES, winners: int = DEFAULT_WINNERS,
                now: datetime | None = None) -> Theme | Running:
    """A new theme in the server, with its audit entry; `Running` when one runs there already.
    A theme whose time is up but that the closer has not reached yet is closed here first."""
    now = now or utcnow()
    async with sessions.begin() as s:
        running = await s.scalar(select(Theme).where(Theme.running_in == guild_id))
        if running is not None and is_running(running, now):
            return Running(running)
        if running is not None:
            await close(s, running.id, now=now)
    theme = Theme(id=secrets.token_hex(6), guild_id=guild_id, words=words, channel_id=channel_id,
                  announce_channel_id=announce_channel_id, max_entries=max_entries, winners=winners, started_by=by,
                  started_at=now, ends_at=now + duration, running_in=guild_id)
    try:
        async with sessions.begin() as s:
            s.add(theme)
            await audit.record(s, audit.Action.THEME_START, guild_id=guild_id, actor=by, at=now,
                               reason=f"theme “{words}” for {span_text(duration.total_seconds())}")
    except IntegrityError:  # another manager's theme won the server a moment ago
        async with sessions() as s:
            running = await s.scalar(select(Theme).where(Theme.running_in == guild_id))
        if running is None:
            raise
        return Running(running)
    return theme


async def end(sessions: async_sessionmaker, guild_id: str, *, by: str, now: datetime | None = None) -> Theme | None:
    """End the server's running theme now (a manager's `/admin theme end`); None when none runs."""
    now = now or utcnow()
    async with sessions.begin() as s:
        theme_id = await s.scalar(select(Theme.id).where(Theme.running_in == guild_id))
        if theme_id is None or not await close(s, theme_id, now=now, by=by):
            return None
    async with sessions() as s:
        return await s.get(Theme, theme_id)


def _counted_votes(ends_at):
    """An entry's votes as the result counts them: not its author's own, made by the end."""
    return (select(func.count()).select_from(Vote)
            .where(Vote.clip_id == ThemeEntry.clip_id, Vote.member_id != ThemeEntry.member_id,
                   Vote.created_at <= ends_at)
            .scalar_subquery())


async def close(session: AsyncSession, theme_id: str, *, now: datetime, by: str | None = None) -> bool:
    """Close a theme inside the caller's transaction: True for exactly one caller. Without `by`
    only a theme whose time is up closes; with `by` (a manager) it ends now."""
    where = [Theme.id == theme_id, Theme.closed_at.is_(None)]
    values = dict(closed_at=now, closed_by=by, running_in=None)
    if by is None:
        where.append(Theme.ends_at <= now)
    else:
        values["ends_at"] = case((Theme.ends_at > now, now), else_=Theme.ends_at)
    closed = await session.execute(update(Theme).where(*where).values(**values)
                                   .execution_options(synchronize_session=False))
    if closed.rowcount != 1:
        return False
    theme = (await session.execute(select(Theme.guild_id, Theme.words, Theme.ends_at)
                                   .where(Theme.id == theme_id))).one()
    await session.execute(update(ThemeEntry).where(ThemeEntry.theme_id == theme_id)
                          .values(final_votes=_counted_votes(theme.ends_at))
                          .execution_options(synchronize_session=False))
    how = "ended early by a manager" if by else "ended on time"
    await audit.record(session, audit.Action.THEME_END, guild_id=theme.guild_id, actor=by, at=now,
                       reason=f"theme “{theme.words}” {how}")
    return True


async def record_result(session: AsyncSession, theme_id: str, *, channel_id: str | None, message_id: str | None,
                        now: datetime | None = None) -> bool:
    """The result post, recorded once (`message_id` None: there was nowhere to post it)."""
    result = await session.execute(
        update(Theme).where(Theme.id == theme_id, Theme.closed_at.is_not(None), Theme.result_posted_at.is_(None))
        .values(result_channel_id=channel_id, result_message_id=message_id, result_posted_at=now or utcnow())
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


# --- What the closer looks for ---------------------------------------------------------

async def due(session: AsyncSession, now: datetime) -> list[str]:
    """Running themes whose time is up."""
    return list(await session.scalars(select(Theme.id).where(Theme.closed_at.is_(None), Theme.ends_at <= now)))


async def unposted(session: AsyncSession) -> list[Theme]:
    """Closed themes whose result is not posted yet, oldest end first."""
    return list(await session.scalars(select(Theme).where(Theme.result_posted_at.is_(None),
                                                          Theme.closed_at.is_not(None)).order_by(Theme.ends_at)))


async def next_end(session: AsyncSession) -> datetime | None:
    ends = await session.scalar(select(func.min(Theme.ends_at)).where(Theme.closed_at.is_(None)))
    return utc(ends) if ends is not None else None


# --- Entering ------------------------------------------------------------------------

def _live_entries(theme_id: str, member_id: str):
    """A member's entries that still count: not deleted, failed or cancelled."""
    return (select(func.count()).select_from(ThemeEntry).join(Clip, Clip.id == ThemeEntry.clip_id)
            .where(ThemeEntry.theme_id == theme_id, ThemeEntry.member_id == member_id, Clip.deleted == false(),
                   Clip.status.not_in([Status.FAILED.value, Status.CANCELLED.value])))


async def entries_used(session: AsyncSession | AsyncConnection, theme_id: str, member_id: str) -> int:
    return await session.scalar(_live_entries(theme_id, member_id)) or 0


async def current(session: AsyncSession, guild_id: str | None) -> Theme | None:
    """The server's theme that has not closed yet (its time may be up: see `is_running`)."""
    if guild_id is None:
        return None
    return await session.scalar(select(Theme).where(Theme.running_in == guild_id))


async def latest(session: AsyncSession, guild_id: str) -> Theme | None:
    """The server's most recently started theme."""
    return await session.scalar(select(Theme).where(Theme.guild_id == guild_id)
                                .order_by(Theme.started_at.desc()).limit(1))


async def entry_check(sessions: async_sessionmaker, *, guild_id: str | None, channel_ids: tuple[str | None, ...],
                      member_id: str, private: bool, now: datetime | None = None) -> Theme | str:
    """The theme a `-theme` clip made here would enter, or why it can't (nothing written)."""
    if guild_id is None:
        return "Themes run in servers: `-theme` works in a server's channels, not in DMs."
    now = now or utcnow()
    async with sessions() as s:
        theme = await current(s, guild_id)
        if theme is None or not is_running(theme, now):
            return ("No theme is running on this server right now, so `-theme` can't enter your clip. "
                    "`/theme` shows when one runs; drop `-theme` to make the clip anyway.")
        used = await entries_used(s, theme.id, member_id)
    if private:
        return (f"A `-private` clip can't enter the theme “{theme.words}”: entries are shown to everyone and "
                "voted on. Drop `-private` (or turn off `private` in `/settings`) to enter.")
    if theme.channel_id and theme.channel_id not in channel_ids:
        return f"Entries for the theme “{theme.words}” are made in <#{theme.channel_id}>: use `-theme` there."
    if used >= theme.max_entries:
        return used_up(theme, used)
    return theme


def used_up(theme: Theme, used: int) -> str:
    return (f"You've entered {used} clip{'s' if used != 1 else ''} in the theme “{theme.words}”, the most it "
            f"takes from one member. Delete one of your entries to enter another.")


@dataclass
class Entering:
    """Enters a clip in a theme inside the transaction that records the clip (bot/records.py
    `take_and_record`, after the member's row lock): raises EntryRefused to undo both."""

    theme_id: str
    clip_id: str
    member_id: str
    number: int | None = None  # the member's entry number, once entered

    async def __call__(self, conn: AsyncConnection) -> None:
        now = utcnow()
        # FOR SHARE (PostgreSQL): a close waits for this entry to commit, and sees it.
        theme = (await conn.execute(select(Theme.__table__).where(Theme.__table__.c.id == self.theme_id)
                                    .with_for_update(read=True))).one_or_none()
        if theme is None or theme.closed_at is not None or utc(theme.ends_at) <= now:
            words = theme.words if theme is not None else ""
            raise EntryRefused(f"The theme “{words}” has just ended, so your clip wasn't entered or made. "
                               "Drop `-theme` to make it anyway.")
        used = await entries_used(conn, self.theme_id, self.member_id)
        if used >= theme.max_entries:
            raise EntryRefused(used_up(theme, used))
        await conn.execute(ThemeEntry.__table__.insert().values(
            clip_id=self.clip_id, theme_id=self.theme_id, member_id=self.member_id, created_at=now))
        self.number = used + 1


# --- Rankings and pages -----------------------------------------------------------------

async def standings(session: AsyncSession, theme: Theme, *, limit: int | None = None) -> list[Standing]:
    """The theme's public entries, most counted votes first (frozen ones once it closed)."""
    votes = func.coalesce(ThemeEntry.final_votes, 0) if theme.closed_at is not None else \
        _counted_votes(theme.ends_at)
    query = (select(Clip, votes.label("votes")).join(ThemeEntry, ThemeEntry.clip_id == Clip.id)
             .where(ThemeEntry.theme_id == theme.id, is_public())
             .order_by(votes.desc(), ThemeEntry.created_at, Clip.id).limit(limit or LISTED))
    rows = (await session.execute(query)).all()
    return [Standing(rank, clip, int(count)) for rank, (clip, count) in enumerate(rows, start=1)]


async def entry_count(session: AsyncSession, theme_id: str) -> int:
    """Public entries."""
    return await session.scalar(select(func.count()).select_from(ThemeEntry).join(Clip, Clip.id == ThemeEntry.clip_id)
                                .where(ThemeEntry.theme_id == theme_id, is_public())) or 0


async def get(session: AsyncSession, theme_id: str) -> Theme | None:
    if not (isinstance(theme_id, str) and re.fullmatch(r"[0-9a-f]{1,32}", theme_id)):
        return None
    return await session.get(Theme, theme_id)


async def recent(session: AsyncSession, limit: int = 100) -> list[tuple[Theme, int]]:
    """The newest themes of every server, each with its number of public entries."""
    entries = (select(ThemeEntry.theme_id, func.count().label("entries")).join(Clip, Clip.id == ThemeEntry.clip_id)
               .where(is_public()).group_by(ThemeEntry.theme_id).subquery())
    rows = await session.execute(
        select(Theme, func.coalesce(entries.c.entries, 0)).outerjoin(entries, entries.c.theme_id == Theme.id)
        .order_by(Theme.started_at.desc(), Theme.id.desc()).limit(limit))
    return [(theme, int(count)) for theme, count in rows.all()]


async def theme_of_clip(session: AsyncSession, clip_id: str) -> Theme | None:
    """The theme a clip was entered in, if any."""
    return await session.scalar(select(Theme).join(ThemeEntry, ThemeEntry.theme_id == Theme.id)
                                .where(ThemeEntry.clip_id == clip_id))
