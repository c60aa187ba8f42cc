"""core/themes.py on SQLite and PostgreSQL: one theme per server, entries within the limit
(also when a member's commands race), votes counted as the result counts them (not one's
own, not after the end), closing once, the result recorded once, and migration 0011 both
ways. And core/leader.py: one leader among processes."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, text, update

from bot.records import take_and_record
from core import audit, themes
from core.clips import ClipStore
from core.leader import Leader
from core.limits import Limits, MemberLimits
from core.migrate import alembic_config, upgrade_async
from core.queue import connect
from core.tables import Clip, Theme, ThemeEntry, Vote, utcnow
from tests.servers import database_url

_ids = itertools.count()
GUILD = "g1"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    return database_url(request, tmp_path, "themes")


@pytest.fixture
async def store(url):
    await upgrade_async(url)
    store = ClipStore.from_url(url)
    yield store
    await store.close()


def clip_id() -> str:
    return f"{next(_ids):08x}"


async def enter(store, theme, author: str, *, limit=None, status="done", **fields) -> str | themes.EntryRefused:
    """What /create -theme does: the member's limits, the clip's record and the entry in one commit."""
    cid = clip_id()
    record = dict(id=cid, task="text-to-video", prompt=f"a fox {cid}", flags={}, seed=1, model="ltx-tiny",
                  author_id=author, author_name=author.title(), guild_id=GUILD, channel_id="c1", status=status,
                  private=False, video_key=f"clips/{cid}/clip.mp4") | fields
    # No cooldown at all: commands racing here each take "now" before the row lock.
    limits = limit or MemberLimits(store.session, Limits(jobs_in_flight=100, jobs_per_day=1000,
                                                         cooldown_seconds=-3600))
    try:
        assert await take_and_record(store, limits, author, author.title(), record,
                                     also=themes.Entering(theme.id, cid, author))
    except themes.EntryRefused as refused:
        return refused
    return cid


async def vote(store, cid: str, member: str, at=None) -> None:
    async with store.session.begin() as s:
        await s.execute(insert(Vote).values(clip_id=cid, member_id=member, created_at=at or utcnow()))
        await s.execute(update(Clip).where(Clip.id == cid).values(vote_count=Clip.vote_count + 1))


async def start(store, guild=GUILD, minutes=1, **kw):
    return await themes.start(store.session, guild_id=guild, words="foxes in snow", duration=timedelta(minutes=minutes),
                              by="mgr", **kw)


async def ranked(store, theme_id):
    async with store.session() as s:
        theme = await s.get(Theme, theme_id)
        return [(st.clip.author_id, st.votes) for st in await themes.standings(s, theme)]


@pytest.mark.parametrize("text,seconds", [("1m", 60), ("30m", 1800), ("6h", 21600), ("1d", 86400),
                                          ("1h30m", 5400), ("90 min", 5400), ("2 days", 172800), ("1.5h", 5400),
                                          ("45s", None), ("0m", None), ("31d", None), ("soon", None), ("", None),
                                          ("5", None), ("1h 30", None), ("9" * 400 + "d", None)])
def test_durations(text, seconds):
    parsed = themes.parse_duration(text)
    if seconds is None:
        assert isinstance(parsed, str) and "1 minute to 30 days" in parsed
    else:
        assert parsed == timedelta(seconds=seconds)


def test_words_are_cleaned_and_spans_read_like_people_say_them():
    assert themes.clean_words("  foxes\u200b\n in\tsnow\x00 ") == "foxes in snow"
    assert [themes.span_text(s) for s in (0.2, 59, 61, 3600, 3720, 90000, 86400)] == \
        ["1 s", "59 s", "1 min", "1 h", "1 h 2 min", "1 d 1 h", "1 d"]


async def test_one_theme_per_server_even_when_started_at_once(store):
    results = await asyncio.gather(*(start(store) for _ in range(4)))
    started = [r for r in results if isinstance(r, Theme)]
    assert len(started) == 1 and all(r.theme.id == started[0].id for r in results if isinstance(r, themes.Running))
    assert isinstance(await start(store, guild="g2"), Theme)  # another server runs its own
    async with store.session() as s:
        logged = await audit.latest(s, guild_id=GUILD)
    assert [e.action for e in logged] == ["theme-start"] and logged[0].actor == "mgr"


async def test_a_theme_whose_time_is_up_gives_way_to_a_new_one(store):
    old = await start(store)
    async with store.session.begin() as s:
        await s.execute(update(Theme).where(Theme.id == old.id).values(ends_at=utcnow() - timedelta(seconds=1)))
    new = await start(store)
    assert isinstance(new, Theme) and new.id != old.id
    async with store.session() as s:
        assert (await s.get(Theme, old.id)).closed_at is not None


async def test_entry_limit_holds_when_one_members_commands_race(store):
    theme = await start(store, max_entries=2)
    results = await asyncio.gather(*(enter(store, theme, "ann", status="queued") for _ in range(6)))
    entered = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, themes.EntryRefused)]
    assert len(entered) == 2 and len(refused) == 4
    assert "the most it takes from one member" in str(refused[0])
    async with store.session() as s:
        assert await themes.entries_used(s, theme.id, "ann") == 2
        # A refused entry left no clip behind either: the transaction was undone.
        assert await s.scalar(select(text("count(*)")).select_from(Clip.__table__)) == 2


async def test_deleted_failed_and_cancelled_entries_free_their_slot(store):
    theme = await start(store, max_entries=1)
    first = await enter(store, theme, "ann")
    assert isinstance(await enter(store, theme, "ann"), themes.EntryRefused)
    for status in ("failed", "cancelled"):
        await store.update(first, status=status)
        async with store.session() as s:
            assert await themes.entries_used(s, theme.id, "ann") == 0
        await store.update(first, status="done")
    await store.update(first, deleted=True)
    second = await enter(store, theme, "ann")
    assert isinstance(second, str)
    assert [a for a, _ in await ranked(store, theme.id)] == ["ann"]  # the deleted one is withdrawn


async def test_entry_check_says_why(store):
    async def check(**kw):
        args = dict(guild_id=GUILD, channel_ids=("c1", None), member_id="ann", private=False) | kw
        return await themes.entry_check(store.session, **args)

    assert "No theme is running" in await check()
    assert "not in DMs" in await check(guild_id=None)
    theme = await start(store, channel_id="c2", max_entries=1)
    assert "are made in <#c2>" in await check()
    assert (await check(channel_ids=("t9", "c2"))).id == theme.id  # a thread of the entry channel
    assert "`-private` clip can't enter" in await check(private=True, channel_ids=("c2",))
    await enter(store, theme, "ann")
    assert "the most it takes" in await check(channel_ids=("c2",))


async def test_votes_count_without_the_authors_own_and_stop_at_the_end(store):
    theme = await start(store)
    ann, bob = await enter(store, theme, "ann"), await enter(store, theme, "bob")
    await vote(store, ann, "ann")  # her own: not counted
    await vote(store, ann, "cat")
    for voter in ("cat", "dan"):
        await vote(store, bob, voter)
    assert await ranked(store, theme.id) == [("bob", 2), ("ann", 1)]
    end = utcnow()
    async with store.session.begin() as s:
        await s.execute(update(Theme).where(Theme.id == theme.id).values(ends_at=end))
    # Made after the end (the closer was late: the bot was down): these change nothing.
    for voter in ("eve", "fay", "gus"):
        await vote(store, ann, voter, at=end + timedelta(seconds=5))
    async with store.session.begin() as s:
        assert await themes.due(s, utcnow()) == [theme.id]
        assert await themes.close(s, theme.id, now=utcnow())
    async with store.session.begin() as s:
        assert not await themes.close(s, theme.id, now=utcnow())  # once
    # After closing the result is frozen: a vote taken back later changes nothing either.
    async with store.session.begin() as s:
        await s.execute(Vote.__table__.delete().where(Vote.clip_id == bob))
    assert await ranked(store, theme.id) == [("bob", 2), ("ann", 1)]
    async with store.session() as s:
        assert [e.action for e in await audit.latest(s, guild_id=GUILD)] == ["theme-end", "theme-start"]


async def test_ties_go_to_the_entry_made_first_and_hidden_clips_never_rank(store):
    theme = await start(store)
    first, second = await enter(store, theme, "ann"), await enter(store, theme, "bob")
    await enter(store, theme, "cat", private=True)
    await enter(store, theme, "dan", flagged=True)
    await enter(store, theme, "eve", status="running", video_key=None)
    for cid in (first, second):
        await vote(store, cid, "zed")
    assert await ranked(store, theme.id) == [("ann", 1), ("bob", 1)]
    async with store.session() as s:
        assert await themes.entry_count(s, theme.id) == 2
        assert (await themes.theme_of_clip(s, second)).id == theme.id


async def test_closing_races_close_once_and_an_early_end_moves_the_end(store):
    theme = await start(store, minutes=60)
    async with store.session.begin() as s:
        assert not await themes.close(s, theme.id, now=utcnow())  # not due yet

    async def close_now():
        async with store.session.begin() as s:
            return await themes.close(s, theme.id, now=utcnow(), by="mgr")

    results = await asyncio.gather(*(close_now() for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    async with store.session() as s:
        closed = await s.get(Theme, theme.id)
        assert themes.utc(closed.ends_at) < themes.utc(theme.ends_at) and closed.closed_by == "mgr"
        assert closed.running_in is None and await themes.current(s, GUILD) is None
    assert isinstance(await start(store), Theme)  # the server may run the next one


async def test_entering_after_the_end_is_refused_and_undone(store):
    theme = await start(store)
    assert await themes.end(store.session, GUILD, by="mgr") is not None
    assert await themes.end(store.session, GUILD, by="mgr") is None
    refused = await enter(store, theme, "ann")
    assert isinstance(refused, themes.EntryRefused) and "has just ended" in str(refused)


async def test_the_result_is_recorded_once(store):
    theme = await start(store)
    await themes.end(store.session, GUILD, by="mgr")
    async with store.session() as s:
        assert [t.id for t in await themes.unposted(s)] == [theme.id]
    results = []
    for message in ("m1", "m2"):
        async with store.session.begin() as s:
            results.append(await themes.record_result(s, theme.id, channel_id="c9", message_id=message))
    assert results == [True, False]
    async with store.session() as s:
        assert await themes.unposted(s) == [] and (await s.get(Theme, theme.id)).result_message_id == "m1"


async def test_migration_0011_goes_down_and_up(url):
    from alembic import command

    await upgrade_async(url)
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0008")
    store = ClipStore.from_url(url)
    async with store.engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(__import__("sqlalchemy").inspect(c).get_table_names()))
    await store.close()
    assert "themes" not in names and "theme_entries" not in names and "clips" in names
    await upgrade_async(url)
    store = ClipStore.from_url(url)
    try:
        theme = await start(store)
        assert isinstance(await enter(store, theme, "ann"), str)
        async with store.session() as s:
            assert await s.scalar(select(text("count(*)")).select_from(ThemeEntry.__table__)) == 1
    finally:
        await store.close()


async def test_one_leader_among_processes_and_a_dead_one_hands_over(redis_server):
    redis = await connect(redis_server.url)
    try:
        key = f"test:leader:{next(_ids)}"
        first, second = Leader(redis, key, timeout=1, name="a"), Leader(redis, key, timeout=1, name="b")
        assert await first.lead() and not await second.lead()
        assert await first.lead() and not await second.lead()  # renewing keeps it
        await asyncio.sleep(1.3)  # the first stops renewing (it died)
        assert await second.lead() and not await first.lead()
        await second.resign()
        assert await first.lead()
    finally:
        await redis.aclose()
