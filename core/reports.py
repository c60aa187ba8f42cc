"""Members' reports of clips: one report per clip, however many members file it, and one
message in the moderators' channel that shows how many did.

Filing is one transaction: the report row (made on the first report), the reporter (a
member counts once), the count, the audit entry, and the claim of the moderators'
message. The claim is a conditional UPDATE (`message_id IS NULL AND posting_since IS
NULL`), so when two members report at once exactly one of them posts the message; the
other finds the count already raised. The poster records the message id and reads the
count again (`posted`), so a report that landed while it was posting is edited in:

    filed = await reports.file(sessions, clip_id, guild_id, member_id, mod_channel_id)
    if filed.post:
        message = await channel.send(text(filed.count))        # on failure: reports.release(...)
        count = await reports.posted(sessions, clip_id, str(message.id))
        if count != filed.count: await message.edit(text(count))
    elif filed.new and filed.message_id:
        await edit(filed.channel_id, filed.message_id, text(filed.count))

A moderator settles a report with `resolve` (deleted or dismissed), once. A report filed
after a dismissal, by a member who had not reported the clip, opens it again with a new
moderators' message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from core import audit
from core.db import dialect_of, insert_ignoring
from core.tables import Clip, Report, Reporter, utcnow

# A claim whose poster died is taken over after this long.
CLAIM_EXPIRES = timedelta(minutes=2)


class State(StrEnum):
    OPEN = "open"
    DELETED = "deleted"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class Filed:
    new: bool  # this member had not reported the clip before (or since it was dismissed)
    count: int  # members who reported it
    state: State
    post: bool  # this caller must post the moderators' message (it holds the claim)
    channel_id: str | None  # the moderators' message, once posted
    message_id: str | None


async def file(sessions: async_sessionmaker, clip_id: str, guild_id: str, member_id: str,
               mod_channel_id: str | None, *, prompt: str | None = None, now: datetime | None = None) -> Filed:
    """Count `member_id`'s report of the clip; see the module docstring for what to do next."""
    now = now or utcnow()
    async with sessions.begin() as s:
        dialect = dialect_of(s)
        await s.execute(insert_ignoring(dialect, Report, ["clip_id"], clip_id=clip_id, guild_id=guild_id,
                                        state=State.OPEN.value, count=0, created_at=now, updated_at=now))
        report = await s.scalar(select(Report).where(Report.clip_id == clip_id).with_for_update())
        reopened = report.state == State.DISMISSED.value
        added = await s.execute(insert_ignoring(dialect, Reporter, ["clip_id", "member_id"], clip_id=clip_id,
                                                member_id=member_id, created_at=now))
        new = added.rowcount == 1 and report.state != State.DELETED.value
        if new:
            values = dict(count=Report.count + 1, updated_at=now)
            if reopened:
                values.update(state=State.OPEN.value, channel_id=None, message_id=None, posting_since=None,
                              resolved_by=None)
            await s.execute(update(Report).where(Report.clip_id == clip_id).values(**values)
                            .execution_options(synchronize_session=False))
            await audit.record(s, audit.Action.REPORT, guild_id=guild_id, member_id=member_id, actor=member_id,
                               clip_id=clip_id, prompt=prompt, at=now)
        post = False
        if mod_channel_id is not None:
            claimed = await s.execute(
                update(Report)
                .where(Report.clip_id == clip_id, Report.state == State.OPEN.value, Report.message_id.is_(None),
                       or_(Report.posting_since.is_(None), Report.posting_since < now - CLAIM_EXPIRES))
                .values(posting_since=now, channel_id=mod_channel_id)
                .execution_options(synchronize_session=False))
            post = claimed.rowcount == 1
        row = (await s.execute(select(Report.count, Report.state, Report.channel_id, Report.message_id)
                               .where(Report.clip_id == clip_id))).one()
    return Filed(new, row.count, State(row.state), post, row.channel_id, row.message_id)


async def posted(sessions: async_sessionmaker, clip_id: str, message_id: str) -> int:
    """Record the moderators' message the claim holder sent; the count now (edit it in if it grew)."""
    async with sessions.begin() as s:
        await s.execute(update(Report).where(Report.clip_id == clip_id, Report.message_id.is_(None))
                        .values(message_id=message_id, updated_at=utcnow())
                        .execution_options(synchronize_session=False))
        return await s.scalar(select(Report.count).where(Report.clip_id == clip_id)) or 0


async def release(sessions: async_sessionmaker, clip_id: str) -> None:
    """Hand back a claim whose post failed, so the next report tries again."""
    async with sessions.begin() as s:
        await s.execute(update(Report).where(Report.clip_id == clip_id, Report.message_id.is_(None))
                        .values(posting_since=None).execution_options(synchronize_session=False))


async def get(sessions: async_sessionmaker, clip_id: str) -> Report | None:
    async with sessions() as s:
        return await s.get(Report, clip_id)


async def resolve(sessions: async_sessionmaker, clip_id: str, state: State, *, by: str,
                  reason: str | None = None) -> Report | None:
    """Settle an open report (deleted or dismissed) and log it; None when it was not open
    (another moderator was first)."""
    if state is State.OPEN:
        raise ValueError("a report is resolved as deleted or dismissed")
    async with sessions.begin() as s:
        result = await s.execute(
            update(Report).where(Report.clip_id == clip_id, Report.state == State.OPEN.value)
            .values(state=state.value, resolved_by=by, updated_at=utcnow())
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            return None
        report = await s.get(Report, clip_id)
        reporters = await s.scalar(select(func.count()).select_from(Reporter).where(Reporter.clip_id == clip_id))
        action = audit.Action.DELETE if state is State.DELETED else audit.Action.DISMISS
        author = await s.scalar(select(Clip.author_id).where(Clip.id == clip_id))  # whom the decision concerns
        await audit.record(s, action, guild_id=report.guild_id, member_id=author, actor=by, clip_id=clip_id,
                           reason=reason or f"reported by {reporters} member{'s' if reporters != 1 else ''}")
        return report
