"""Per-member limits (core/limits.py), upvotes (core/votes.py) and the bot's records
(bot/records.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from bot import records
from core import audit, bans
from core.clips import ClipStore
from core.contract import Status
from core.flags import Flags
from core.limits import Limits, MemberLimits
from core.migrate import upgrade_async
from core.tables import Clip, Vote
from core.votes import toggle_vote
from tests.servers import database_url

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request, tmp_path):
    url = database_url(request, tmp_path, "bot_records")
    await upgrade_async(url)
    s = ClipStore.from_url(url)
    yield s
    await s.close()


async def _clip(store, clip_id, author="42", status="queued", **kw):
    return await store.add(id=clip_id, task="text-to-video", prompt="a fox", flags={}, seed=1, model="ltx-tiny",
                           author_id=author, status=status, **kw)


# --- limits ---------------------------------------------------------------------------

async def test_cooldown_then_go(store):
    limits = MemberLimits(store.session, Limits(jobs_in_flight=5, jobs_per_day=10, cooldown_seconds=5))
    assert await limits.reserve("42", "alice", now=NOON) is None
    refusal = await limits.reserve("42", "alice", now=NOON + timedelta(seconds=2))
    assert refusal.reason == "cooldown" and "3 s" in refusal.message
    assert await limits.reserve("42", "alice", now=NOON + timedelta(seconds=5)) is None


async def test_jobs_in_flight(store):
    limits = MemberLimits(store.session, Limits(jobs_in_flight=2, jobs_per_day=10, cooldown_seconds=0))
    await _clip(store, "c1")
    await _clip(store, "c2", status="running")
    await _clip(store, "c3", status="done")
    await _clip(store, "c4", author="other")
    refusal = await limits.reserve("42", now=NOON)
    assert refusal.reason == "in_flight" and "2 clips" in refusal.message and "/cancel" in refusal.message
    await store.transition("c1", Status.DONE)
    assert await limits.reserve("42", now=NOON) is None


async def test_jobs_per_day_reset_at_midnight(store):
    limits = MemberLimits(store.session, Limits(jobs_in_flight=9, jobs_per_day=3, cooldown_seconds=0))
    for i in range(3):
        assert await limits.reserve("42", now=NOON + timedelta(minutes=i)) is None
    refusal = await limits.reserve("42", now=NOON + timedelta(minutes=5))
    assert refusal.reason == "per_day" and "3 clips" in refusal.message and "11 h 55 min" in refusal.message
    usage = await limits.usage("42", now=NOON + timedelta(minutes=5))
    assert (usage.today, usage.left_today) == (3, 0)
    assert await limits.reserve("42", now=NOON + timedelta(hours=12)) is None  # the next day
    assert (await limits.usage("42", now=NOON + timedelta(hours=12))).today == 1


async def test_an_operators_ban_refuses_everything_and_a_servers_only_there(store):
    limits = MemberLimits(store.session, Limits(cooldown_seconds=0))
    assert await bans.ban_everywhere(store.session, "42", reason="spam")
    assert (await limits.reserve("42", now=NOON)).reason == "banned"
    assert await bans.unban_everywhere(store.session, "42")
    assert await limits.reserve("42", now=NOON) is None
    # A server's ban is read with the member's row, for that server only.
    assert await bans.ban_here(store.session, "g1", "42", by="7")
    for guild, banned in (("g1", True), ("g2", False), (None, False)):
        _guild, member = await records.guild_and_member(store, guild, "42")
        assert (member.banned, bool(member.banned_here)) == (False, banned)


async def test_release_gives_the_job_back(store):
    limits = MemberLimits(store.session, Limits(jobs_in_flight=9, jobs_per_day=1, cooldown_seconds=60))
    assert await limits.reserve("42", now=NOON) is None
    await limits.release("42", now=NOON)
    assert await limits.reserve("42", now=NOON + timedelta(seconds=1)) is None


async def test_simultaneous_commands_cannot_both_pass_the_cooldown(store):
    limits = MemberLimits(store.session, Limits(jobs_in_flight=9, jobs_per_day=99, cooldown_seconds=10))
    await limits.reserve("7", now=NOON - timedelta(hours=1))  # the row exists, as after a first job
    results = await asyncio.gather(*(limits.reserve("7", now=NOON) for _ in range(8)))
    assert sum(r is None for r in results) == 1


async def test_simultaneous_commands_at_cooldown_zero_cannot_pass_the_in_flight_limit(store):
    # No cooldown to make the second command lose: the in-flight check and the clip's record
    # must be one atomic step, or both commands read "1 in flight" and both go ahead.
    limits = MemberLimits(store.session, Limits(jobs_in_flight=2, jobs_per_day=99, cooldown_seconds=0))
    await limits.reserve("8", now=NOON - timedelta(hours=1))  # the row exists, as after a first job
    await _clip(store, "r0", author="8")

    def record(clip_id: str) -> dict:
        return dict(id=clip_id, author_id="8", task="text-to-video", prompt="a fox", flags={}, seed=1,
                    model="ltx-tiny", status="queued")

    # The first command has passed the check and not yet written its clip when the second arrives.
    async with store.engine.begin() as first:
        assert await limits.take(first, "8", "eight", records.utcnow())
        second = asyncio.ensure_future(records.take_and_record(store, limits, "8", "eight", record("r2")))
        await asyncio.sleep(0.5)
        await first.execute(insert(Clip.__table__).values(**record("r1"), created_at=records.utcnow(),
                                                          updated_at=records.utcnow(), deleted=False))
    assert not await second
    assert sorted(c.id for c in await records.unfinished(store, "8")) == ["r0", "r1"]

    # And many at once: never more than the limit.
    await store.transition("r1", Status.DONE)
    results = await asyncio.gather(*(records.take_and_record(store, limits, "8", "eight", record(f"m{i}"))
                                     for i in range(8)))
    assert sum(r is not None for r in results) == 1 and len(await records.unfinished(store, "8")) == 2


# --- votes ----------------------------------------------------------------------------

async def vote_count(store, clip_id: str) -> int:
    async with store.session() as s:
        return (await s.get(Clip, clip_id)).vote_count


async def voters(store, clip_id: str) -> set[str]:
    async with store.session() as s:
        return set(await s.scalars(select(Vote.member_id).where(Vote.clip_id == clip_id)))


async def test_upvote_toggles_once_per_member(store):
    await _clip(store, "v1", status="done")
    assert (await toggle_vote(store.session, "v1", "a")).count == 1
    assert (await toggle_vote(store.session, "v1", "b")).count == 2
    result = await toggle_vote(store.session, "v1", "a")
    assert (result.voted, result.count) == (False, 1)
    assert await voters(store, "v1") == {"b"}
    assert await vote_count(store, "v1") == 1


async def test_votes_at_the_same_moment_all_count(store):
    await _clip(store, "v2", status="done")
    await asyncio.gather(*(toggle_vote(store.session, "v2", f"m{i}") for i in range(10)))
    assert await vote_count(store, "v2") == 10


async def test_no_votes_on_deleted_or_missing_clips(store):
    await _clip(store, "v3", status="done")
    assert await records.mark_deleted(store, "v3")
    assert not await records.mark_deleted(store, "v3")
    assert await toggle_vote(store.session, "v3", "a") is None
    assert await toggle_vote(store.session, "nope", "a") is None
    assert await vote_count(store, "v3") == 0 and await voters(store, "v3") == set()


# --- records --------------------------------------------------------------------------

async def test_delivery_is_recorded_once(store):
    await _clip(store, "d1", status="done")
    assert await records.mark_delivered(store, "d1", "111")
    assert not await records.mark_delivered(store, "d1", "222")
    assert (await store.get("d1")).result_message_id == "111"
    assert (await records.clip_by_message(store, "111")).id == "d1"


async def test_defaults_round_trip(store):
    await records.set_defaults(store, "42", "alice", Flags(ar=(9, 16), fps=12, private=True))
    defaults = await records.member_defaults(store, "42")
    assert (defaults.ar, defaults.fps, defaults.private, defaults.length) == ((9, 16), 12, True, None)
    assert await records.member_defaults(store, "nobody") == Flags()


async def test_guild_lists_and_pause_and_their_audit_entries(store):
    assert await records.set_paused(store, "g", True, by="7")
    assert not await records.set_paused(store, "g", True, by="7")
    assert (await records.guild(store, "g")).paused
    assert await records.add_banned_term(store, "g", "  Nudé ", by="7") == (True, ["nude"])
    assert await records.add_banned_term(store, "g", "NUDE", by="7") == (False, ["nude"])
    assert await records.add_banned_term(store, "g", "!!", by="7") is None
    assert await records.remove_banned_term(store, "g", "Nude", by="8") == (True, [])
    assert await records.edit_list(store, "g", "allowed_channel_ids", add="1") == (True, ["1"])
    assert await records.edit_list(store, "g", "allowed_channel_ids", clear=True) == (True, [])
    assert await records.set_paused(store, "g", False, by="8")
    assert await records.set_mod_channel(store, "g", "55") and not await records.set_mod_channel(store, "g", "55")
    assert (await records.guild(store, "g")).mod_channel_id == "55"
    async with store.session() as s:
        logged = await audit.latest(s, guild_id="g")
    assert [(e.action, e.actor, e.reason) for e in reversed(logged)] == [
        ("pause", "7", None), ("term-added", "7", "nude"), ("term-removed", "8", "nude"), ("resume", "8", None)]


async def test_newest_unfinished_and_counts(store):
    await _clip(store, "n1")
    await asyncio.sleep(0.01)
    await _clip(store, "n2", status="running")
    await _clip(store, "n3", status="done")
    assert (await records.newest_unfinished(store, "42")).id == "n2"
    assert [c.id for c in await records.unfinished(store, "42")] == ["n1", "n2"]
    assert await records.clips_made(store, "42") == 1
