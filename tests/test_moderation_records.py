"""Moderation records on SQLite and PostgreSQL: per-server and operator-wide bans
(core/bans.py), the audit log (core/audit.py), reports filed once per member with one
moderators' message per clip (core/reports.py), and migration 0005's handling of the bans
set before it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, text

from core import audit, bans, listings, reports, showcase
from core.db import make_engine, make_sessionmaker
from core.limits import Limits, MemberLimits
from core.migrate import upgrade_async
from core.tables import Clip, Member, utcnow
from tests.servers import database_url


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    return database_url(request, tmp_path, "moderation")


@pytest.fixture
async def sessions(url):
    await upgrade_async(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def add_clip(sessions, clip_id: str, author: str = "ann", guild: str = "g1", **fields) -> None:
    async with sessions.begin() as s:
        s.add(Clip(**{"id": clip_id, "task": "text-to-video", "prompt": f"a fox {clip_id}", "flags": {}, "seed": 1,
                      "model": "ltx-tiny", "status": "done", "video_key": f"clips/{clip_id}/clip.mp4",
                      "author_id": author, "guild_id": guild, "vote_count": 0, **fields}))


async def entries(sessions, **kw) -> list[audit.Entry]:
    async with sessions() as s:
        return await audit.latest(s, limit=100, **kw)


async def is_banned_here(sessions, guild_id: str | None, member_id: str) -> bool:
    async with sessions() as s:
        return bool(await s.scalar(select(bans.banned_here(member_id, guild_id))))


async def public_ids(sessions) -> set[str]:
    async with sessions() as s:
        page = await listings.page(s, listings.Listing.build("new"), limit=100)
    return {c.id for c in page.clips}


# --- bans ------------------------------------------------------------------------------

async def test_a_servers_ban_holds_in_that_server_only_and_hides_nothing(sessions):
    await add_clip(sessions, "c1")
    assert await bans.ban_here(sessions, "g1", "ann", by="mod1", reason="spam")
    assert not await bans.ban_here(sessions, "g1", "ann", by="mod2")  # already: nothing changes, nothing logged
    assert await is_banned_here(sessions, "g1", "ann")
    assert not await is_banned_here(sessions, "g2", "ann")
    assert not await is_banned_here(sessions, None, "ann")  # a DM
    # The member's limits (which every server shares) and the web gallery ignore a server's ban.
    assert await MemberLimits(sessions, Limits(cooldown_seconds=0)).reserve("ann") is None
    assert "c1" in await public_ids(sessions)
    [entry] = await entries(sessions, guild_id="g1")
    assert (entry.action, entry.member_id, entry.actor, entry.reason) == ("ban", "ann", "mod1", "spam")

    assert await bans.unban_here(sessions, "g1", "ann", by="mod2")
    assert not await bans.unban_here(sessions, "g1", "ann", by="mod2")
    assert not await is_banned_here(sessions, "g1", "ann")
    assert [e.action for e in await entries(sessions, guild_id="g1")] == ["unban", "ban"]


async def test_the_operators_ban_holds_everywhere_and_hides_the_gallery(sessions):
    await add_clip(sessions, "c1")
    await add_clip(sessions, "c2", author="bob")
    assert await bans.ban_everywhere(sessions, "ann", reason="abuse across servers")
    assert not await bans.ban_everywhere(sessions, "ann")
    refusal = await MemberLimits(sessions, Limits(cooldown_seconds=0)).reserve("ann")
    assert refusal is not None and refusal.reason == "banned" and "operator" in refusal.message
    assert await public_ids(sessions) == {"c2"}
    async with sessions() as s:
        assert await listings.member_card(s, "ann") is None
    assert await bans.bans_of(sessions, "ann") == (True, [])
    [entry] = await entries(sessions, member_id="ann")
    assert (entry.guild_id, entry.actor, entry.action) == (None, audit.OPERATOR, "ban")

    assert await bans.unban_everywhere(sessions, "ann")
    assert await public_ids(sessions) == {"c1", "c2"}
    assert [e.action for e in await entries(sessions, member_id="ann")] == ["unban", "ban"]


async def test_banning_someone_never_seen_makes_their_record(sessions):
    assert await bans.ban_everywhere(sessions, "newcomer", reason="known spammer")
    async with sessions() as s:
        member = await s.get(Member, "newcomer")
    assert member.banned and member.ban_reason == "known spammer"
    assert await bans.ban_here(sessions, "g9", "newcomer", by="m") and await bans.bans_of(sessions, "newcomer") == \
        (True, ["g9"])


# --- the audit log -----------------------------------------------------------------------

async def test_audit_entries_filter_by_server_member_time_and_action(sessions):
    now = utcnow()
    async with sessions.begin() as s:
        await audit.record(s, audit.Action.REFUSED_PROMPT, guild_id="g1", member_id="ann", actor="ann",
                           reason="banned term: gore", prompt="gore everywhere", at=now - timedelta(days=2))
        await audit.record(s, audit.Action.PAUSE, guild_id="g1", actor="mod", at=now - timedelta(hours=1))
        await audit.record(s, audit.Action.FLAGGED_OUTPUT, guild_id="g2", member_id="ann", actor=audit.SAFETY_CHECK,
                           clip_id="c9", reason="score 0.9", at=now)
        await audit.record(s, audit.Action.TERM_ADDED, guild_id="g1", actor="mod", reason="x" * 5000,
                           at=now - timedelta(minutes=1))
    assert [e.action for e in await entries(sessions, guild_id="g1")] == ["term-added", "pause", "refused-prompt"]
    assert [e.guild_id for e in await entries(sessions, member_id="ann")] == ["g2", "g1"]
    assert [e.action for e in await entries(sessions, since=now - timedelta(hours=2))] == \
        ["flagged-output", "term-added", "pause"]
    assert [e.action for e in await entries(sessions, actions=[audit.Action.PAUSE])] == ["pause"]
    long_one = (await entries(sessions, actions=[audit.Action.TERM_ADDED]))[0]
    assert len(long_one.reason) == audit.MAX_REASON_CHARS
    refused = (await entries(sessions, actions=[audit.Action.REFUSED_PROMPT]))[0]
    assert refused.prompt == "gore everywhere" and refused.at.tzinfo is not None
    line = audit.line(refused)
    assert "refused-prompt" in line and "server=g1" in line and "'gore everywhere'" in line


# --- reports -----------------------------------------------------------------------------

async def test_two_members_reporting_at_once_make_one_message_with_count_two(sessions):
    await add_clip(sessions, "c1")
    first, second = await asyncio.gather(
        reports.file(sessions, "c1", "g1", "m1", "modchan", prompt="a fox c1"),
        reports.file(sessions, "c1", "g1", "m2", "modchan", prompt="a fox c1"))
    assert first.new and second.new
    assert sorted([first.post, second.post]) == [False, True]  # exactly one posts the moderators' message
    poster = first if first.post else second
    assert max(first.count, second.count) == 2 and poster.channel_id == "modchan"
    assert await reports.posted(sessions, "c1", "msg1") == 2  # the poster edits the count in if it grew
    again = await reports.file(sessions, "c1", "g1", "m1", "modchan")  # the same member again
    assert (again.new, again.count, again.post, again.message_id) == (False, 2, False, "msg1")
    third = await reports.file(sessions, "c1", "g1", "m3", "modchan")
    assert (third.new, third.count, third.post, third.message_id) == (True, 3, False, "msg1")
    logged = await entries(sessions, actions=[audit.Action.REPORT])
    assert sorted(e.actor for e in logged) == ["m1", "m2", "m3"] and {e.clip_id for e in logged} == {"c1"}


async def test_a_report_is_resolved_once_and_a_dismissed_one_reopens_for_new_reporters(sessions):
    await add_clip(sessions, "c1", author="ann")
    filed = await reports.file(sessions, "c1", "g1", "m1", "modchan")
    await reports.posted(sessions, "c1", "msg1")
    assert filed.post
    assert await reports.resolve(sessions, "c1", reports.State.DISMISSED, by="mod1") is not None
    assert await reports.resolve(sessions, "c1", reports.State.DELETED, by="mod2") is None  # not open any more
    [dismissed] = await entries(sessions, actions=[audit.Action.DISMISS])
    assert (dismissed.member_id, dismissed.actor, dismissed.clip_id) == ("ann", "mod1", "c1")
    assert "1 member" in dismissed.reason

    same = await reports.file(sessions, "c1", "g1", "m1", "modchan")  # already counted: stays dismissed
    assert (same.new, same.state, same.post) == (False, reports.State.DISMISSED, False)
    reopened = await reports.file(sessions, "c1", "g1", "m2", "modchan")
    assert (reopened.new, reopened.state, reopened.post, reopened.count, reopened.message_id) == \
        (True, reports.State.OPEN, True, 2, None)
    await reports.posted(sessions, "c1", "msg2")
    assert await reports.resolve(sessions, "c1", reports.State.DELETED, by="mod2") is not None
    late = await reports.file(sessions, "c1", "g1", "m4", "modchan")  # after a delete nothing reopens
    assert (late.new, late.state, late.post) == (False, reports.State.DELETED, False)


async def test_a_failed_moderators_post_is_handed_to_the_next_report(sessions):
    await add_clip(sessions, "c1")
    assert (await reports.file(sessions, "c1", "g1", "m1", "modchan")).post
    assert not (await reports.file(sessions, "c1", "g1", "m2", "modchan")).post  # claimed, being posted
    await reports.release(sessions, "c1")
    assert (await reports.file(sessions, "c1", "g1", "m3", "modchan")).post
    # A claim whose poster died expires.
    late = utcnow() + reports.CLAIM_EXPIRES + timedelta(seconds=1)
    assert (await reports.file(sessions, "c1", "g1", "m4", "modchan", now=late)).post
    # Without a moderators' channel a report is still counted and logged, and nobody posts.
    await add_clip(sessions, "c2")
    quiet = await reports.file(sessions, "c2", "g1", "m1", None)
    assert (quiet.new, quiet.count, quiet.post) == (True, 1, False)


# --- flagged clips -----------------------------------------------------------------------

async def test_a_flagged_clip_is_in_no_gallery_and_never_showcased(sessions):
    await add_clip(sessions, "clean", vote_count=10)
    await add_clip(sessions, "flagged", flagged=True, vote_count=10)
    assert await public_ids(sessions) == {"clean"}
    async with sessions() as s:
        assert await listings.public_clip(s, "flagged") is None
    assert await showcase.try_claim(sessions, "clean", threshold=1)
    assert not await showcase.try_claim(sessions, "flagged", threshold=1)


# --- migration 0005 ----------------------------------------------------------------------

async def test_migration_keeps_old_bans_operator_wide_and_logs_them(url):
    """Before 0005 `/admin ban` set members.banned and recorded no server: those bans stay
    operator-wide (nobody is unbanned by an upgrade), each with an audit entry to review."""
    from core.migrate import upgrade

    await asyncio.to_thread(upgrade, url, "0004")
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for member_id, banned, reason in (("eve", True, "spam"), ("mal", True, None), ("ann", False, None)):
                await conn.execute(insert(Member.__table__).values(
                    id=member_id, defaults={}, banned=banned, ban_reason=reason, jobs_today=0, clips_made=0,
                    created_at=utcnow()))
            await conn.execute(text("INSERT INTO clips (id, task, prompt, flags, seed, model, status, attempts, "
                                    "private, deleted, vote_count, created_at, updated_at, author_id, video_key) "
                                    "VALUES ('old', 'text-to-video', 'p', '{}', 1, 'ltx-tiny', 'done', 0, false, "
                                    "false, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'ann', 'clips/old/clip.mp4')"))
        await upgrade_async(url)
        sessions = make_sessionmaker(engine)
        async with sessions() as s:
            banned = set(await s.scalars(select(Member.id).where(Member.banned.is_(True))))
            old = await s.get(Clip, "old")
        assert banned == {"eve", "mal"} and old.flagged is False
        logged = {e.member_id: e for e in await entries(sessions)}
        assert set(logged) == {"eve", "mal"}
        assert all(e.action == "ban" and e.actor == "migration-0005" and e.guild_id is None for e in logged.values())
        assert logged["eve"].reason.endswith(": spam") and "operator-wide" in logged["mal"].reason
        assert await public_ids(sessions) == {"old"}  # ann was never banned
    finally:
        await engine.dispose()


async def test_migration_0005_downgrades_and_upgrades_again(url):
    from core.migrate import alembic_config

    from alembic import command

    await upgrade_async(url)
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0004")
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        sessions = make_sessionmaker(engine)
        assert await bans.ban_here(sessions, "g1", "ann", by="m")
    finally:
        await engine.dispose()
