"""The audit log: every moderation decision, with its server, member, clip, reason and time.

Written by whoever decides: the bot (refused prompts, reports, moderators' deletes, bans,
banned terms, pauses, themes started and ended), the worker (flagged inputs and clips) and
the command line (operator-wide bans). Read by `/admin audit` (one server, newest first)
and `reelbot audit` (operators). `record` runs inside the caller's transaction, so a
decision and its entry commit together.

A prompt is stored as the member typed it, and only where one is concerned; nothing else
a member or operator typed goes here unless it is a reason they gave. Never a token or a
URL with credentials: callers pass only the fields below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.tables import AuditEntry, utcnow

MAX_REASON_CHARS = 1000
MAX_PROMPT_CHARS = 6000
OPERATOR = "operator"  # actor of the command line's decisions
SAFETY_CHECK = "safety-check"  # actor of the worker's classifier


class Action(StrEnum):
    REFUSED_PROMPT = "refused-prompt"  # a banned term
    FLAGGED_INPUT = "flagged-input"  # an attachment the safety check refused
    FLAGGED_OUTPUT = "flagged-output"  # a clip the safety check flagged (withheld, or age-restricted only)
    REPORT = "report"
    DELETE = "delete"  # a moderator removed someone's clip
    DISMISS = "dismiss"  # a moderator kept a reported clip
    BAN = "ban"
    UNBAN = "unban"
    TERM_ADDED = "term-added"
    TERM_REMOVED = "term-removed"
    PAUSE = "pause"
    RESUME = "resume"
    THEME_START = "theme-start"  # a manager started a theme (core/themes.py)
    THEME_END = "theme-end"  # a theme ended: its time ran out, or a manager ended it
    TIER_SET = "tier-set"  # /admin tier: what a role gives its members
    TIER_REMOVED = "tier-removed"
    SERVER_PLAN = "server-plan"  # the operator's weight and fast hours for a server


@dataclass(frozen=True)
class Entry:
    """An audit entry as read back (plain data: safe to keep after the session closes)."""

    id: int
    at: datetime
    action: str
    guild_id: str | None
    member_id: str | None
    actor: str | None
    clip_id: str | None
    reason: str | None
    prompt: str | None


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


async def record(session: AsyncSession | AsyncConnection, action: Action, *, guild_id: str | None = None,
                 member_id: str | None = None, actor: str | None = None, clip_id: str | None = None,
                 reason: str | None = None, prompt: str | None = None, at: datetime | None = None) -> None:
    """Add one entry inside the caller's transaction."""
    await session.execute(insert(AuditEntry.__table__).values(
        action=Action(action).value, guild_id=guild_id, member_id=member_id, actor=actor, clip_id=clip_id,
        reason=_clip(reason, MAX_REASON_CHARS), prompt=_clip(prompt, MAX_PROMPT_CHARS), created_at=at or utcnow()))


async def latest(session: AsyncSession, *, guild_id: str | None = None, member_id: str | None = None,
                 since: datetime | None = None, actions: Sequence[Action] = (), limit: int = 20) -> list[Entry]:
    """The newest entries first: of one server (and member) when given, else of every server."""
    query = select(AuditEntry)
    if guild_id is not None:
        query = query.where(AuditEntry.guild_id == guild_id)
    if member_id is not None:
        query = query.where(AuditEntry.member_id == member_id)
    if since is not None:
        query = query.where(AuditEntry.created_at >= since)
    if actions:
        query = query.where(AuditEntry.action.in_([Action(a).value for a in actions]))
    rows = await session.scalars(query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(limit))
    return [Entry(r.id, _utc(r.created_at), r.action, r.guild_id, r.member_id, r.actor, r.clip_id, r.reason, r.prompt)
            for r in rows]


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def line(entry: Entry) -> str:
    """One entry as one line of plain text (the command line's output)."""
    parts = [entry.at.strftime("%Y-%m-%d %H:%M:%S"), entry.action, f"server={entry.guild_id or '-'}",
             f"member={entry.member_id or '-'}", f"by={entry.actor or '-'}"]
    if entry.clip_id:
        parts.append(f"clip={entry.clip_id}")
    if entry.reason:
        parts.append(f"reason={_one_line(entry.reason)!r}")
    if entry.prompt:
        parts.append(f"prompt={_one_line(entry.prompt)!r}")
    return "  ".join(parts)


def _one_line(text: str) -> str:
    return " ".join(text.split())
