"""The JSON feed: the gallery's listings for other tools.

    GET /api/clips?sort=top&window=week&cursor=…&member=…&q=…&limit=30
    GET /api/clips/<id>

A page is `{"clips": [...], "next_cursor": "…" | null, "next": "<url>" | null}`; bad
parameters answer 400 with `{"error": "…"}`.
"""

from __future__ import annotations

from aiohttp import web

from core import listings
from core.listings import Listing, ListingError
from gallery.cards import card
from gallery.state import GALLERY


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw in (None, ""):
        return listings.PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= listings.MAX_PAGE_SIZE:
        raise ListingError(f"limit must be a whole number from 1 to {listings.MAX_PAGE_SIZE}")
    return int(raw)


async def clips(request: web.Request) -> web.Response:
    gallery = request.app[GALLERY]
    query = request.query
    member = query.get("member") or None
    search = query.get("q")
    # Member and search listings read best newest first; the front page's default is top of the week.
    default_sort = "new" if member or (search and search.strip()) else None
    listing = Listing.build(query.get("sort") or default_sort, query.get("window"), member_id=member, search=search)
    limit = _limit(request)
    async with gallery.sessions() as s:
        page = await listings.page(s, listing, cursor=query.get("cursor") or None, limit=limit)
    base = gallery.base(request)
    following = request.url.update_query(cursor=page.next_cursor) if page.next_cursor else None
    return web.json_response({
        "sort": listing.sort.value,
        "window": listing.window.value,
        "clips": [card(c, gallery.media, base).as_json() for c in page.clips],
        "next_cursor": page.next_cursor,
        "next": f"{base}{following.path_qs}" if following else None,
    })


async def clip(request: web.Request) -> web.Response:
    gallery = request.app[GALLERY]
    async with gallery.sessions() as s:
        found = await listings.public_clip(s, request.match_info["clip_id"])
        if found is None:
            raise web.HTTPNotFound()
        tree = await listings.lineage(s, found)
    base = gallery.base(request)
    return web.json_response({
        "clip": card(found, gallery.media, base).as_json(),
        "ancestors": [card(c, gallery.media, base).as_json() for c in tree.ancestors],
        "remixes": [card(c, gallery.media, base).as_json() for c in tree.remixes],
    })
