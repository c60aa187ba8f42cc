"""The theme pages: `/themes` (every server's themes, newest first) and `/themes/<id>` (the
words, start and end, and every public entry ranked by the votes that count, core/themes.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from aiohttp import web

from core import themes
from core.tables import Theme
from gallery.cards import ClipCard, card
from gallery.state import GALLERY

THEMES_LISTED = 100


@dataclass(frozen=True)
class ThemeFace:
    id: str
    words: str
    started: str  # ISO 8601, UTC
    ends: str
    running: bool
    entries: int

    @property
    def started_date(self) -> str:
        return self.started[:10]

    @property
    def ends_text(self) -> str:
        return self.ends[:16].replace("T", " ") + " UTC"


@dataclass(frozen=True)
class Entry:
    rank: int
    votes: int
    clip: ClipCard


def _iso(moment: datetime) -> str:
    return themes.utc(moment).isoformat(timespec="seconds").replace("+00:00", "Z")


def face(theme: Theme, entries: int, now: datetime) -> ThemeFace:
    return ThemeFace(theme.id, theme.words, _iso(theme.started_at), _iso(theme.ends_at),
                     themes.is_running(theme, now), entries)


async def themes_list(request: web.Request) -> web.Response:
    gallery = request.app[GALLERY]
    now = datetime.now(timezone.utc)
    async with gallery.sessions() as s:
        rows = await themes.recent(s, THEMES_LISTED)
    return gallery.render("themes.html", themes=[face(theme, count, now) for theme, count in rows])


async def theme_page(request: web.Request) -> web.Response:
    gallery = request.app[GALLERY]
    async with gallery.sessions() as s:
        theme = await themes.get(s, request.match_info["theme_id"])
        if theme is None:
            raise web.HTTPNotFound()
        standings = await themes.standings(s, theme)
    base = gallery.base(request)
    entries = [Entry(st.rank, st.votes, card(st.clip, gallery.media, base)) for st in standings]
    return gallery.render("theme.html", theme=face(theme, len(entries), datetime.now(timezone.utc)), entries=entries,
                          page_url=f"{base}/themes/{theme.id}")
