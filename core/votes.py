"""Upvotes: one per member and clip, pressed again to take it back.

The (clip, member) primary key of `votes` is what makes "one per member" true; the
clip's `vote_count` moves in the same transaction as the row, by an atomic
`vote_count = vote_count ± 1`, so galleries can sort on it without counting rows and
two presses at the same moment can never leave it off by one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from core.db import dialect_of, insert_ignoring
from core.tables import Clip, Vote, utcnow


@dataclass(frozen=True)
class VoteResult:
    voted: bool  # the member's vote stands after this call
    count: int  # the clip's votes after this call


class _NoClip(Exception):
    pass


async def toggle_vote(session: async_sessionmaker, clip_id: str, member_id: str) -> VoteResult | None:
    """Add the member's vote, or take it back if they had voted. None: no such (live) clip."""
    try:
        async with session.begin() as s:
            # Writes first: on SQLite a transaction that read before writing can fail to
            # upgrade its snapshot when another vote commits in between.
            added = await s.execute(insert_ignoring(dialect_of(s), Vote, ["clip_id", "member_id"], clip_id=clip_id,
                                                    member_id=member_id, created_at=utcnow()))
            if added.rowcount == 1:
                change = 1
            else:
                removed = await s.execute(delete(Vote).where(Vote.clip_id == clip_id, Vote.member_id == member_id))
                change = -removed.rowcount
            count = await s.scalar(
                update(Clip).where(Clip.id == clip_id, Clip.deleted.is_(False))
                .values(vote_count=Clip.vote_count + change)
                .returning(Clip.vote_count).execution_options(synchronize_session=False)
            )
            if count is None:
                raise _NoClip()  # deleted: roll the vote row back too
    except (_NoClip, IntegrityError):  # IntegrityError: the clip id names no clip
        return None
    return VoteResult(voted=change > 0, count=count)
