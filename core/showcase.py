"""The showcase channel: a public clip that reaches the vote threshold is posted there once.

"Once" is a conditional UPDATE on the clip row, `showcased_at IS NULL AND vote_count >=
threshold`: when two votes land at the same moment both callers run it, the database
serialises them on the row (PostgreSQL's row lock, SQLite's write lock), and only one
sees a changed row. The claim is taken before posting, so a crash between claim and post
loses the post rather than doubling it; a post that fails is handed back with `release`.

After an upvote (core.votes.toggle_vote commits its own transaction), the bot calls::

    result = await toggle_vote(sessions, clip_id, member_id)
    if result and result.voted and await showcase.try_claim(sessions, clip_id, threshold=settings.showcase_votes):
        try:
            message = await channel.send(...)
        except Exception:
            async with sessions.begin() as s:
                await showcase.release(s, clip_id)
            raise
        async with sessions.begin() as s:
            await showcase.record_post(s, clip_id, str(message.id))

and when a clip is deleted, `withdraw` hands back the message id to delete, once. The
functions taking a session run inside the caller's transaction (`sessions.begin()`), so
a claim can also commit together with other writes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.listings import is_public
from core.tables import Clip, utcnow


async def claim(session: AsyncSession, clip_id: str, *, threshold: int, now: datetime | None = None) -> bool:
    """True for exactly one caller: the first to see the public clip at `threshold` votes or more."""
    if threshold < 1:
        raise ValueError("the showcase threshold is at least one vote")
    result = await session.execute(
        update(Clip)
        .where(Clip.id == clip_id, Clip.showcased_at.is_(None), Clip.vote_count >= threshold, is_public())
        .values(showcased_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def try_claim(sessions: async_sessionmaker, clip_id: str, *, threshold: int) -> bool:
    """`claim` in a transaction of its own."""
    async with sessions.begin() as s:
        return await claim(s, clip_id, threshold=threshold)


async def record_post(session: AsyncSession, clip_id: str, message_id: str) -> bool:
    """Remember the showcase message of a claimed clip (so a delete can remove it)."""
    result = await session.execute(
        update(Clip)
        .where(Clip.id == clip_id, Clip.showcased_at.is_not(None), Clip.showcase_message_id.is_(None))
        .values(showcase_message_id=message_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def release(session: AsyncSession, clip_id: str) -> bool:
    """Give back a claim whose post failed, so the next vote may try again."""
    result = await session.execute(
        update(Clip)
        .where(Clip.id == clip_id, Clip.showcased_at.is_not(None), Clip.showcase_message_id.is_(None))
        .values(showcased_at=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def withdraw(session: AsyncSession, clip_id: str) -> str | None:
    """The showcase message to delete for this clip, handed to one caller only; None when
    there is none. The clip stays claimed, so it is never posted again."""
    message_id = await session.scalar(select(Clip.showcase_message_id).where(Clip.id == clip_id))
    if message_id is None:
        return None
    result = await session.execute(
        update(Clip)
        .where(Clip.id == clip_id, Clip.showcase_message_id == message_id)
        .values(showcase_message_id=None)
        .execution_options(synchronize_session=False)
    )
    return message_id if result.rowcount == 1 else None
