"""The gallery's queries: public clips sorted top (by votes, over a day/week/all window) or
new, per member, found by a search over prompts, and a clip's lineage (its parents and
its remixes). The web gallery and the bot's /gallery command both read through here.

Only public clips ever come out: done, not private, not deleted, with a video, not
flagged by the image-safety check, and not made by a member the operator banned
(`reelbot ban`; a server's own `/admin ban` does not hide anyone here) (`is_public`). A
clip that stops being public (deleted, its author banned) disappears from every listing
at once, since nothing is cached here.

Pages use keyset cursors, not offsets: a page asks for the rows after the last row of
the previous page in the listing's order, so new clips arriving at the top never shift
what page 2 shows, and deep pages cost the same as the first. (In `top`, a clip whose
votes change between two page loads can cross the page boundary: the order itself moved.)

A cursor is opaque text (URL- and custom_id-safe, about 60 characters) carrying that
position and a checksum over the listing it belongs to, so an edited cursor, or one from
another listing, is refused with a `CursorError` instead of answering something odd.
Every value in it is validated as well, so a forged cursor can only name a position in
the same public listing.

All functions take an `AsyncSession` (from `core.db.make_sessionmaker`) and only read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, false, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from core.contract import Status
from core.tables import Clip, Member

PAGE_SIZE = 30
MAX_PAGE_SIZE = 100
MAX_SEARCH_CHARS = 200
MAX_SEARCH_TERMS = 8
MAX_ANCESTORS = 5  # how far up a lineage is followed
MAX_REMIXES = 24  # remixes shown under a clip

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


class Sort(StrEnum):
    TOP = "top"
    NEW = "new"


class Window(StrEnum):
    DAY = "day"
    WEEK = "week"
    ALL = "all"

    @property
    def span(self) -> timedelta | None:
        return {"day": timedelta(days=1), "week": timedelta(days=7), "all": None}[self.value]


class ListingError(ValueError):
    """A listing asked for with a bad parameter; the message names it and what is accepted."""


class CursorError(ListingError):
    """A cursor that is malformed, edited, or from another listing."""


def _choice(enum: type[StrEnum], name: str, value: object) -> StrEnum:
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        accepted = ", ".join(member.value for member in enum)
        raise ListingError(f"{name} must be one of {accepted}, not {str(value)[:40]!r}") from None


def _is_id(value: object) -> bool:
    # Ids are short printable text; anything else (a NUL from a URL, say) names nothing,
    # and PostgreSQL would refuse to even compare it.
    return isinstance(value, str) and 0 < len(value) <= 32 and value.isprintable()


def normalize_search(text: str | None) -> str | None:
    """The search text as matched: control and invisible characters dropped, whitespace
    collapsed; None when nothing is left."""
    if text is None:
        return None
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    text = " ".join(text.split())
    if len(text) > MAX_SEARCH_CHARS:
        raise ListingError(f"the search is too long: at most {MAX_SEARCH_CHARS} characters")
    if len(text.split(" ")) > MAX_SEARCH_TERMS:
        raise ListingError(f"the search has too many words: at most {MAX_SEARCH_TERMS}")
    return text or None


@dataclass(frozen=True)
class Listing:
    """Which clips, in which order. `window` only narrows `top`; `new` is always all time."""

    sort: Sort = Sort.TOP
    window: Window = Window.WEEK
    member_id: str | None = None
    search: str | None = None

    @classmethod
    def build(cls, sort: object = None, window: object = None, member_id: str | None = None,
              search: str | None = None) -> Listing:
        """From loosely typed input (query strings, slash-command options); ListingError on bad values."""
        sort = _choice(Sort, "sort", sort) if sort not in (None, "") else Sort.TOP
        window = _choice(Window, "window", window) if window not in (None, "") else Window.WEEK
        if sort is Sort.NEW:
            window = Window.ALL
        if member_id is not None and not _is_id(member_id):
            raise ListingError("member must be a member id")
        return cls(sort, window, member_id, normalize_search(search))

    def identity(self) -> bytes:
        """What a cursor is bound to: the same listing gives the same bytes."""
        return "\x1f".join((self.sort, self.window, self.member_id or "", self.search or "")).encode()


@dataclass(frozen=True)
class Page:
    clips: list[Clip]
    next_cursor: str | None  # None on the last page


@dataclass(frozen=True)
class Lineage:
    ancestors: list[Clip] = field(default_factory=list)  # parent first, then its parent …
    remixes: list[Clip] = field(default_factory=list)  # public clips made from this one, newest first

    @property
    def parent(self) -> Clip | None:
        return self.ancestors[0] if self.ancestors else None


@dataclass(frozen=True)
class MemberCard:
    id: str
    name: str | None
    clips: int  # public clips
    votes: int  # upvotes over those clips


# --- Which clips are public -----------------------------------------------------------

def is_public() -> ColumnElement[bool]:
    """The condition every gallery row meets. Written with `= false` (not `IS false`)
    so PostgreSQL can use the gallery indexes. `Member.banned` is the operator-wide ban
    only: a server's ban (core/bans.py) keeps its own members out of that server, not
    out of the gallery. A flagged clip was made for an age-restricted channel and stays
    there (the showcase claims through this condition too)."""
    banned_author = select(Member.id).where(Member.id == Clip.author_id, Member.banned.is_(True)).exists()
    return and_(
        Clip.private == false(),
        Clip.deleted == false(),
        Clip.status == Status.DONE.value,
        Clip.video_key.is_not(None),
        Clip.flagged == false(),
        ~banned_author,
    )


def _order(sort: Sort) -> tuple:
    if sort is Sort.TOP:
        return (Clip.vote_count, Clip.created_at, Clip.id)
    return (Clip.created_at, Clip.id)


def _filters(listing: Listing, now: datetime) -> list[ColumnElement[bool]]:
    where = [is_public()]
    span = listing.window.span
    if listing.sort is Sort.TOP and span is not None:
        where.append(Clip.created_at >= now - span)
    if listing.member_id is not None:
        where.append(Clip.author_id == listing.member_id)
    if listing.search:
        # Every word must appear. icontains escapes % and _ so they match themselves; it is
        # ILIKE on PostgreSQL and lower(..) LIKE lower(..) on SQLite (ASCII case folding only).
        where.extend(Clip.prompt.icontains(term, autoescape=True) for term in listing.search.split(" "))
    return where


# --- Pages ----------------------------------------------------------------------------

async def page(session: AsyncSession, listing: Listing, *, cursor: str | None = None, limit: int = PAGE_SIZE,
               now: datetime | None = None) -> Page:
    """One page of `listing`, after `cursor` (a `Page.next_cursor`) when given."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ListingError(f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}")
    now = now or datetime.now(timezone.utc)
    columns = _order(listing.sort)
    query = select(Clip).where(*_filters(listing, now))
    if cursor:
        after = decode_cursor(listing, cursor)
        # All columns descend, so "after" is one row-value comparison, which both
        # databases answer from an index.
        position = (literal(value, column.type) for column, value in zip(columns, after))
        query = query.where(tuple_(*columns) < tuple_(*position))
    query = query.order_by(*(column.desc() for column in columns)).limit(limit + 1)
    clips = list(await session.scalars(query))
    if len(clips) <= limit:
        return Page(clips, None)
    clips = clips[:limit]
    return Page(clips, encode_cursor(listing, clips[-1]))


async def page_before(session: AsyncSession, listing: Listing, cursor: str, *, limit: int = PAGE_SIZE,
                      now: datetime | None = None) -> tuple[list[Clip], bool]:
    """Going back: the `limit` rows just before `cursor`'s row, in the listing's order, and
    whether more come before them. Pass a cursor made from the first row of the page shown
    (`encode_cursor(listing, page.clips[0])`); the Discord browser's previous button does."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ListingError(f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}")
    now = now or datetime.now(timezone.utc)
    columns = _order(listing.sort)
    position = (literal(value, column.type) for column, value in zip(columns, decode_cursor(listing, cursor)))
    query = (select(Clip).where(*_filters(listing, now), tuple_(*columns) > tuple_(*position))
             .order_by(*(column.asc() for column in columns)).limit(limit + 1))
    clips = list(await session.scalars(query))
    return list(reversed(clips[:limit])), len(clips) > limit


async def public_clip(session: AsyncSession, clip_id: str) -> Clip | None:
    """The clip when it is public; None for unknown, private, deleted, unfinished, flagged or banned."""
    if not _is_id(clip_id):
        return None
    return await session.scalar(select(Clip).where(Clip.id == clip_id, is_public()))


async def lineage(session: AsyncSession, clip: Clip) -> Lineage:
    """Public ancestors (stopping at the first that is not public) and public remixes."""
    ancestors: list[Clip] = []
    seen = {clip.id}
    parent_id = clip.parent_id
    while parent_id and parent_id not in seen and len(ancestors) < MAX_ANCESTORS:
        parent = await public_clip(session, parent_id)
        if parent is None:
            break
        ancestors.append(parent)
        seen.add(parent.id)
        parent_id = parent.parent_id
    remixes = await session.scalars(
        select(Clip).where(Clip.parent_id == clip.id, is_public())
        .order_by(Clip.created_at.desc(), Clip.id.desc()).limit(MAX_REMIXES))
    return Lineage(ancestors, list(remixes))


async def member_card(session: AsyncSession, member_id: str) -> MemberCard | None:
    """A member's public face: name, public clips and votes; None when banned by the operator, or unknown."""
    if not _is_id(member_id):
        return None
    member = await session.get(Member, member_id)
    if member is not None and member.banned:
        return None
    mine = and_(Clip.author_id == member_id, is_public())
    clips, votes = (await session.execute(
        select(func.count(), func.coalesce(func.sum(Clip.vote_count), 0)).where(mine))).one()
    if member is None and clips == 0:
        return None
    name = member.name if member is not None and member.name else None
    if name is None:  # the name the bot stored with the newest clip
        name = await session.scalar(select(Clip.author_name).where(mine).order_by(Clip.created_at.desc()).limit(1))
    return MemberCard(member_id, name, int(clips), int(votes))


# --- Cursors --------------------------------------------------------------------------

_CURSOR_VERSION = 1
_DIGEST_BYTES = 8
_MAX_ID_BYTES = 32


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _digest(listing: Listing, payload: bytes) -> bytes:
    return hashlib.blake2b(listing.identity() + b"\x00" + payload, digest_size=_DIGEST_BYTES,
                           person=b"reelbot-cursor").digest()


def encode_cursor(listing: Listing, last: Clip) -> str:
    """The cursor for the rows after `last` in `listing`."""
    micros = (_as_utc(last.created_at) - _EPOCH) // _MICROSECOND
    payload = struct.pack(">Bq", _CURSOR_VERSION, micros)
    if listing.sort is Sort.TOP:
        payload += struct.pack(">I", last.vote_count)
    payload += last.id.encode()
    return base64.urlsafe_b64encode(payload + _digest(listing, payload)).rstrip(b"=").decode()


def decode_cursor(listing: Listing, cursor: str) -> tuple:
    """The position a cursor names, as the listing's order columns; CursorError when it is not one of ours."""
    head = struct.calcsize(">Bq") + (4 if listing.sort is Sort.TOP else 0)
    if not isinstance(cursor, str) or len(cursor) > 4 * (head + _MAX_ID_BYTES + _DIGEST_BYTES) // 3 + 4:
        raise CursorError("bad cursor: it is not one this gallery made")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise CursorError("bad cursor: it is not one this gallery made") from None
    payload, digest = raw[:-_DIGEST_BYTES], raw[-_DIGEST_BYTES:]
    if len(payload) <= head or not hmac.compare_digest(digest, _digest(listing, payload)):
        raise CursorError("bad cursor: it was changed, or it belongs to another listing (start again from page 1)")
    version, micros = struct.unpack_from(">Bq", payload)
    try:
        created_at = _EPOCH + timedelta(microseconds=micros)
        clip_id = payload[head:].decode("ascii")
    except (OverflowError, UnicodeDecodeError):
        raise CursorError("bad cursor: it names no clip") from None
    if version != _CURSOR_VERSION or not clip_id.isprintable():
        raise CursorError("bad cursor: it names no clip")
    if listing.sort is Sort.TOP:
        (votes,) = struct.unpack_from(">I", payload, struct.calcsize(">Bq"))
        return (votes, created_at, clip_id)
    return (created_at, clip_id)
