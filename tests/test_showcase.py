"""core.showcase on SQLite and PostgreSQL: a clip is claimed for the showcase exactly once,
at the threshold, also when votes arrive at the same moment."""

import asyncio
import itertools

import pytest
from sqlalchemy import insert, select, update

from core import showcase
from core.db import make_engine, make_sessionmaker
from core.migrate import upgrade_async
from core.tables import Clip, Member, Vote
from core.votes import toggle_vote
from tests.servers import database_url

THRESHOLD = 3
_ids = itertools.count()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def sessions(request, tmp_path_factory):
    url = database_url(request, tmp_path_factory.mktemp("showcase"), "showcase")
    await upgrade_async(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def new_clip(sessions, votes=0, **fields) -> str:
    clip_id = f"sc{next(_ids)}"
    values = dict(id=clip_id, task="text-to-video", prompt="a fox", flags={}, seed=1, model="ltx-tiny",
                  status="done", video_key=f"clips/{clip_id}/clip.mp4", author_id="ann", vote_count=votes)
    async with sessions.begin() as s:
        s.add(Clip(**(values | fields)))
    return clip_id


async def vote(sessions, clip_id: str, member: str) -> bool:
    """What the upvote button does: record the vote, bump the count and try the claim, in one transaction."""
    async with sessions.begin() as s:
        await s.execute(insert(Vote).values(clip_id=clip_id, member_id=member))
        await s.execute(update(Clip).where(Clip.id == clip_id).values(vote_count=Clip.vote_count + 1))
        return await showcase.claim(s, clip_id, threshold=THRESHOLD)


async def claim(sessions, clip_id: str) -> bool:
    async with sessions.begin() as s:
        return await showcase.claim(s, clip_id, threshold=THRESHOLD)


async def test_claimed_at_the_threshold_vote_and_never_again(sessions):
    clip_id = await new_clip(sessions)
    results = [await vote(sessions, clip_id, f"m{i}") for i in range(THRESHOLD + 3)]
    assert results == [False] * (THRESHOLD - 1) + [True] + [False] * 3
    async with sessions() as s:
        assert (await s.get(Clip, clip_id)).showcased_at is not None


@pytest.mark.parametrize("round_", range(5))
async def test_concurrent_votes_claim_once(sessions, round_):
    # Votes land together on a clip one vote short and on a fresh clip: exactly one claim wins each time.
    short = await new_clip(sessions, votes=THRESHOLD - 1)
    results = await asyncio.gather(*(vote(sessions, short, f"m{i}") for i in range(4)))
    assert sorted(results) == [False, False, False, True]
    fresh = await new_clip(sessions)
    results = await asyncio.gather(*(vote(sessions, fresh, f"m{i}") for i in range(THRESHOLD)))
    assert sum(results) == 1
    async with sessions() as s:
        assert (await s.get(Clip, fresh)).vote_count == THRESHOLD


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_upvote_presses_post_once(sessions, round_):
    # The bot's path: core.votes.toggle_vote commits the vote, then try_claim; presses arrive together.
    clip_id = await new_clip(sessions, votes=THRESHOLD - 2)

    async def press(member):
        result = await toggle_vote(sessions, clip_id, member)
        assert result is not None and result.voted
        return await showcase.try_claim(sessions, clip_id, threshold=THRESHOLD)

    results = await asyncio.gather(*(press(f"p{i}") for i in range(5)))
    assert sum(results) == 1
    async with sessions() as s:
        assert (await s.get(Clip, clip_id)).vote_count == THRESHOLD + 3
    # Taking votes back below the threshold and voting again never posts a second time.
    for i in range(5):
        await toggle_vote(sessions, clip_id, f"p{i}")
    assert not any([await press(f"again{i}") for i in range(5)])


async def test_concurrent_claims_after_separate_votes(sessions):
    # Two bot shards each saw the count reach the threshold, and claim at the same moment.
    clip_id = await new_clip(sessions, votes=THRESHOLD)
    results = await asyncio.gather(*(claim(sessions, clip_id) for _ in range(6)))
    assert sum(results) == 1


@pytest.mark.parametrize("fields", [
    dict(private=True), dict(deleted=True), dict(status="running", video_key=None), dict(author_id="eve"),
], ids=["private", "deleted", "unfinished", "banned-author"])
async def test_clips_that_are_not_public_are_never_claimed(sessions, fields):
    async with sessions.begin() as s:
        if await s.get(Member, "eve") is None:
            s.add(Member(id="eve", banned=True))
    clip_id = await new_clip(sessions, votes=THRESHOLD + 10, **fields)
    assert not await claim(sessions, clip_id)


async def test_below_the_threshold_or_unknown_is_not_claimed(sessions):
    clip_id = await new_clip(sessions, votes=THRESHOLD - 1)
    assert not await claim(sessions, clip_id)
    assert not await claim(sessions, "no-such-clip")
    with pytest.raises(ValueError):
        async with sessions.begin() as s:
            await showcase.claim(s, clip_id, threshold=0)


async def test_post_release_and_withdraw(sessions):
    clip_id = await new_clip(sessions, votes=THRESHOLD)
    async with sessions.begin() as s:
        assert not await showcase.record_post(s, clip_id, "111")  # not claimed yet
    assert await claim(sessions, clip_id)
    # The post failed: the claim is handed back and the next vote may claim again.
    async with sessions.begin() as s:
        assert await showcase.release(s, clip_id)
    assert await vote(sessions, clip_id, "late")
    async with sessions.begin() as s:
        assert await showcase.record_post(s, clip_id, "222")
        assert not await showcase.record_post(s, clip_id, "333")  # one post per clip
        assert not await showcase.release(s, clip_id)  # a recorded post is not handed back
    # Deleting the clip: the message id comes back once, and the clip is never posted again.
    results = await asyncio.gather(*(_withdraw(sessions, clip_id) for _ in range(3)))
    assert sorted(results, key=str) == ["222", None, None]
    assert not await claim(sessions, clip_id)
    async with sessions() as s:
        row = (await s.execute(select(Clip.showcased_at, Clip.showcase_message_id).where(Clip.id == clip_id))).one()
    assert row.showcased_at is not None and row.showcase_message_id is None


async def _withdraw(sessions, clip_id):
    async with sessions.begin() as s:
        return await showcase.withdraw(s, clip_id)
