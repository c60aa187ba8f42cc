"""core.listings on SQLite and PostgreSQL: orders, windows, keyset cursors, search, lineage,
and the rule that private, deleted, unfinished, flagged and operator-banned members' clips
appear nowhere."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import delete, update

from core import listings
from core.db import make_engine, make_sessionmaker
from core.listings import CursorError, Listing, ListingError
from core.migrate import upgrade_async
from core.tables import Clip, Member
from tests.servers import database_url

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def ago(**delta) -> datetime:
    return NOW - timedelta(**delta)


def clip(clip_id, *, at, votes=0, author="ann", prompt=None, **fields) -> dict:
    """The column values of one seeded clip (a fresh `Clip` is built from them per database)."""
    values = dict(id=clip_id, task="text-to-video", prompt=prompt or f"clip {clip_id}", flags={}, seed=1,
                  model="ltx-tiny", status="done", video_key=f"clips/{clip_id}/clip.mp4",
                  poster_key=f"clips/{clip_id}/poster.jpg", author_id=author, author_name=author.title(),
                  vote_count=votes, created_at=at)
    return values | fields


# The seeded gallery. Public clips, with when they were made and their votes:
PUBLIC = [
    clip("fox", at=ago(hours=2), votes=5, prompt="a red fox in snow"),
    clip("owl", at=ago(hours=20), votes=9, author="bob", prompt="an owl at NIGHT, fox-like eyes"),
    clip("cat", at=ago(days=3), votes=12, prompt="100% cotton_candy clouds"),
    clip("dog", at=ago(days=5), votes=1, author="bob", prompt="a dog 100 percent happy"),
    clip("elk", at=ago(days=30), votes=40, prompt="an elk in fog"),
    clip("ant", at=ago(days=400), votes=2, prompt="Ünïcode ant marching"),
    # Lineage: elk ← remix1 ← remix2; remix of a deleted clip; a private remix of elk.
    clip("remix1", at=ago(days=20), votes=3, author="bob", parent_id="elk", prompt="an elk in fog, at dusk"),
    clip("remix2", at=ago(days=10), votes=0, parent_id="remix1", prompt="an elk in fog, at dusk, snowing"),
    clip("orphan", at=ago(days=9), votes=0, parent_id="gone", prompt="remix of a deleted clip"),
] + [
    # Seven ties on both votes and time: only the id orders them, and cursors must still walk them once.
    clip(f"tie{i}", at=ago(days=2), votes=4, author="tia", prompt="tied clip") for i in range(7)
]
HIDDEN = [
    clip("secret", at=ago(hours=1), votes=50, private=True, prompt="a private fox"),
    clip("gone", at=ago(days=15), votes=50, deleted=True, prompt="a deleted fox"),
    clip("waiting", at=ago(minutes=5), status="queued", video_key=None, prompt="a queued fox"),
    clip("broken", at=ago(minutes=6), status="failed", video_key=None, prompt="a failed fox"),
    clip("novideo", at=ago(minutes=7), prompt="a done fox without a video", video_key=None),
    clip("eve1", at=ago(hours=3), votes=99, author="eve", prompt="a banned member's fox"),
    # Flagged by the image-safety check: posted in an age-restricted channel, never public.
    clip("flagged", at=ago(hours=4), votes=99, flagged=True, prompt="a flagged fox"),
    clip("private-remix", at=ago(days=1), parent_id="elk", private=True, prompt="a private elk remix"),
]
HIDDEN_IDS = {c["id"] for c in HIDDEN}
MEMBERS = [dict(id="ann", name="Ann the Animator"), dict(id="eve", name="Eve", banned=True)]


def newest_first(clips):
    return [c["id"] for c in sorted(clips, key=lambda c: (c["created_at"], c["id"]), reverse=True)]


def top_first(clips):
    return [c["id"] for c in sorted(clips, key=lambda c: (c["vote_count"], c["created_at"], c["id"]), reverse=True)]


def depth(seed: dict) -> int:
    by_id = {c["id"]: c for c in PUBLIC + HIDDEN}
    parent = seed.get("parent_id")
    return 0 if parent is None else 1 + depth(by_id[parent])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def sessions(request, tmp_path_factory):
    url = database_url(request, tmp_path_factory.mktemp("listings"), "listings")
    await upgrade_async(url)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    async with maker.begin() as s:
        s.add_all(Member(**m) for m in MEMBERS)
        # Parents before children: the foreign key is checked on insert.
        for seed in sorted(PUBLIC + HIDDEN, key=depth):
            s.add(Clip(**seed))
            await s.flush()
    yield maker
    await engine.dispose()


async def walk(maker, listing, limit):
    """Every page of a listing, following cursors; returns ids and the number of pages."""
    ids, cursor, pages = [], None, 0
    while True:
        async with maker() as s:
            page = await listings.page(s, listing, cursor=cursor, limit=limit, now=NOW)
        ids += [c.id for c in page.clips]
        pages += 1
        assert len(page.clips) <= limit
        if page.next_cursor is None:
            return ids, pages
        assert len(page.clips) == limit
        cursor = page.next_cursor


async def test_new_lists_public_clips_newest_first(sessions):
    ids, _ = await walk(sessions, Listing.build("new"), limit=100)
    assert ids == newest_first(PUBLIC)
    assert not HIDDEN_IDS & set(ids)


@pytest.mark.parametrize("window,span", [("day", timedelta(days=1)), ("week", timedelta(days=7)), ("all", None)])
async def test_top_orders_by_votes_within_the_window(sessions, window, span):
    ids, _ = await walk(sessions, Listing.build("top", window), limit=100)
    expected = [c for c in PUBLIC if span is None or c["created_at"] >= NOW - span]
    assert ids == top_first(expected)
    assert not HIDDEN_IDS & set(ids)


@pytest.mark.parametrize("sort,window", [("new", None), ("top", "week"), ("top", "all")])
@pytest.mark.parametrize("limit", [1, 2, 3, 7])
async def test_cursors_walk_every_clip_exactly_once(sessions, sort, window, limit):
    listing = Listing.build(sort, window)
    whole, _ = await walk(sessions, listing, limit=100)
    paged, pages = await walk(sessions, listing, limit=limit)
    assert paged == whole
    assert pages == max(1, -(-len(whole) // limit))


async def test_a_new_clip_does_not_shift_the_next_page(sessions):
    listing = Listing.build("new")
    async with sessions() as s:
        first = await listings.page(s, listing, limit=3, now=NOW)
    async with sessions.begin() as s:
        s.add(Clip(**clip("fresh", at=NOW, votes=100)))
    try:
        async with sessions() as s:
            second = await listings.page(s, listing, cursor=first.next_cursor, limit=3, now=NOW)
            top = await listings.page(s, Listing.build("top", "day"), limit=1, now=NOW)
        assert [c.id for c in second.clips] == newest_first(PUBLIC)[3:6]
        assert [c.id for c in top.clips] == ["fresh"]
    finally:
        async with sessions.begin() as s:
            await s.execute(delete(Clip).where(Clip.id == "fresh"))


async def test_member_listing(sessions):
    ids, _ = await walk(sessions, Listing.build("new", member_id="bob"), limit=2)
    assert ids == newest_first([c for c in PUBLIC if c["author_id"] == "bob"])
    ids, _ = await walk(sessions, Listing.build("top", "all", member_id="ann"), limit=2)
    assert ids == top_first([c for c in PUBLIC if c["author_id"] == "ann"])
    assert (await walk(sessions, Listing.build("new", member_id="eve"), limit=5))[0] == []


@pytest.mark.parametrize("query,expected", [
    ("fox", {"fox", "owl"}),  # "fox-like" too; the hidden foxes never
    ("FOX", {"fox", "owl"}),
    ("night", {"owl"}),
    ("elk fog", {"elk", "remix1", "remix2"}),  # every word must appear, in any order
    ("fog elk dusk", {"remix1", "remix2"}),
    ("100%", {"cat"}),  # % is a character, not a wildcard: "a dog 100 percent" does not match
    ("cotton_candy", {"cat"}),
    ("cotton_", {"cat"}),
    ("n_ght", set()),  # _ is not a wildcard either
    ("%", {"cat"}),
    ("\\", set()),
    ("'; drop table clips; --", set()),
    ("zebra", set()),
    ("Ünïcode", {"ant"}),
    ("fox\x00", {"fox", "owl"}),  # control characters are dropped (PostgreSQL refuses NUL)
    ("\x00\u200b", None),  # nothing left: no search at all
])
async def test_search_over_prompts(sessions, query, expected):
    if expected is None:
        assert Listing.build("new", search=query).search is None
        return
    ids, _ = await walk(sessions, Listing.build("new", search=query), limit=100)
    assert set(ids) == expected
    assert ids == newest_first([c for c in PUBLIC if c["id"] in expected])


async def test_blank_search_is_no_search(sessions):
    assert Listing.build("new", search="   ").search is None
    assert Listing.build("new", search="  red   fox ").search == "red fox"


async def test_cursors_are_bound_to_their_listing(sessions):
    async with sessions() as s:
        for listing in (Listing.build("new"), Listing.build("top", "week"), Listing.build("top", "all"),
                        Listing.build("new", member_id="ann"), Listing.build("new", search="fox")):
            cursor = (await listings.page(s, listing, limit=1, now=NOW)).next_cursor
            assert cursor and len(cursor) < 70  # fits a Discord custom_id with room to spare
            others = [Listing.build("new"), Listing.build("top", "week"), Listing.build("top", "day"),
                      Listing.build("top", "all"), Listing.build("new", member_id="ann"),
                      Listing.build("new", member_id="bob"), Listing.build("new", search="fox"),
                      Listing.build("new", search="foxes")]
            for other in others:
                if other == listing:
                    await listings.page(s, other, cursor=cursor, limit=1, now=NOW)
                    continue
                with pytest.raises(CursorError, match="another listing|not one this gallery made"):
                    await listings.page(s, other, cursor=cursor, limit=1, now=NOW)


async def test_edited_cursors_are_refused(sessions):
    listing = Listing.build("top", "all")
    async with sessions() as s:
        cursor = (await listings.page(s, listing, limit=2, now=NOW)).next_cursor
        for i in range(len(cursor)):
            flipped = cursor[:i] + ("A" if cursor[i] != "A" else "B") + cursor[i + 1:]
            with pytest.raises(CursorError):
                await listings.page(s, listing, cursor=flipped, limit=2, now=NOW)
        for bad in ("x", "!!!!", "a" * 500, cursor + "AAAA", cursor[:-3], "=" * 8, "\x00\x01"):
            with pytest.raises(CursorError):
                await listings.page(s, listing, cursor=bad, limit=2, now=NOW)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=120))
def test_decoding_any_text_gives_a_position_or_a_cursor_error(text):
    for listing in (Listing.build("new"), Listing.build("top", "week")):
        try:
            listings.decode_cursor(listing, text)
        except CursorError:
            pass


def test_listing_parameters_are_checked():
    with pytest.raises(ListingError, match="sort must be one of top, new"):
        Listing.build("best")
    with pytest.raises(ListingError, match="window must be one of day, week, all"):
        Listing.build("top", "month")
    with pytest.raises(ListingError, match="too long"):
        Listing.build("new", search="x" * 201)
    with pytest.raises(ListingError, match="too many words"):
        Listing.build("new", search="a b c d e f g h i")
    with pytest.raises(ListingError, match="member"):
        Listing.build("new", member_id="x" * 33)
    assert Listing.build("NEW", "day") == Listing.build("new")  # new is all time
    assert Listing.build() == Listing(listings.Sort.TOP, listings.Window.WEEK)


async def test_limits_are_checked(sessions):
    async with sessions() as s:
        for limit in (0, -1, listings.MAX_PAGE_SIZE + 1):
            with pytest.raises(ListingError, match="limit"):
                await listings.page(s, Listing.build("new"), limit=limit)


async def test_hidden_clips_are_not_public(sessions):
    async with sessions() as s:
        for hidden in HIDDEN_IDS | {"nope", "", "x" * 40, "fox\x00", "\x00"}:
            assert await listings.public_clip(s, hidden) is None
        assert (await listings.public_clip(s, "fox")).prompt == "a red fox in snow"


async def test_lineage_follows_public_parents_and_remixes(sessions):
    async with sessions() as s:
        remix2 = await listings.public_clip(s, "remix2")
        tree = await listings.lineage(s, remix2)
        assert [c.id for c in tree.ancestors] == ["remix1", "elk"] and tree.parent.id == "remix1"
        assert tree.remixes == []
        elk = await listings.lineage(s, await listings.public_clip(s, "elk"))
        assert elk.ancestors == [] and [c.id for c in elk.remixes] == ["remix1"]  # not the private remix
        orphan = await listings.lineage(s, await listings.public_clip(s, "orphan"))
        assert orphan.ancestors == [] and orphan.parent is None  # its parent was deleted


async def test_member_cards(sessions):
    async with sessions() as s:
        ann = await listings.member_card(s, "ann")
        assert (ann.name, ann.clips) == ("Ann the Animator", sum(c["author_id"] == "ann" for c in PUBLIC))
        assert ann.votes == sum(c["vote_count"] for c in PUBLIC if c["author_id"] == "ann")
        bob = await listings.member_card(s, "bob")
        assert bob.name == "Bob"  # no member row: the name stored with the clips
        assert await listings.member_card(s, "eve") is None  # banned
        assert await listings.member_card(s, "nobody") is None
        assert await listings.member_card(s, "ann\x00") is None


async def test_banning_and_deleting_hide_clips_at_once(sessions):
    async with sessions.begin() as s:
        s.add(Member(id="bob", name="Bob", banned=True))
        await s.execute(update(Clip).where(Clip.id == "cat").values(deleted=True))
    try:
        async with sessions() as s:
            everything, _ = await walk(sessions, Listing.build("top", "all"), limit=100)
            assert not {"owl", "dog", "remix1", "cat"} & set(everything)
            assert await listings.public_clip(s, "owl") is None
            # A banned member's remix drops out of the lineage, and the chain stops there.
            tree = await listings.lineage(s, await listings.public_clip(s, "remix2"))
            assert tree.ancestors == []
            assert (await listings.lineage(s, await listings.public_clip(s, "elk"))).remixes == []
            assert (await walk(sessions, Listing.build("new", search="owl"), limit=10))[0] == []
    finally:
        async with sessions.begin() as s:
            await s.execute(delete(Member).where(Member.id == "bob"))
            await s.execute(update(Clip).where(Clip.id == "cat").values(deleted=False))
