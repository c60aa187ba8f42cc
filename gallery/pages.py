"""The HTML pages: front (top/new), a clip with its lineage, its embeddable player, a
member, search, and the media folder for the `file://` default."""

from __future__ import annotations

from aiohttp import web

from core import listings, quality, themes
from core.listings import Listing, Sort
from core.storage import FileStorage
from gallery.cards import card
from gallery.media import clip_id_of, file_response, local_file
from gallery.state import GALLERY, Gallery


def _gallery(request: web.Request) -> Gallery:
    return request.app[GALLERY]


def next_url(request: web.Request, cursor: str | None) -> str | None:
    """This page's URL with the next cursor, every other parameter kept."""
    return str(request.rel_url.update_query(cursor=cursor)) if cursor else None


def _cursor(request: web.Request) -> str | None:
    return request.query.get("cursor") or None


async def _listing_page(request: web.Request, listing: Listing):
    gallery = _gallery(request)
    async with gallery.sessions() as s:
        page = await listings.page(s, listing, cursor=_cursor(request))
    base = gallery.base(request)
    return [card(c, gallery.media, base) for c in page.clips], next_url(request, page.next_cursor)


async def front(request: web.Request) -> web.Response:
    listing = Listing.build(request.query.get("sort"), request.query.get("window"))
    cards, more = await _listing_page(request, listing)
    return _gallery(request).render("front.html", listing=listing, cards=cards, next_url=more,
                                    paged=_cursor(request) is not None)


async def clip(request: web.Request) -> web.Response:
    gallery = _gallery(request)
    async with gallery.sessions() as s:
        found = await listings.public_clip(s, request.match_info["clip_id"])
        if found is None:
            raise web.HTTPNotFound()
        tree = await listings.lineage(s, found)
        theme = await themes.theme_of_clip(s, found.id)
        medians = await quality.model_medians(s, found.model)
    base = gallery.base(request)
    # How it was made and measured, as "Clip details" says it, less the moderation facts.
    made = [(name, value.split("\n")) for name, value in quality.facts(found, medians, public=True)]
    return gallery.render("clip.html", clip=card(found, gallery.media, base), theme=theme, made=made,
                          ancestors=[card(c, gallery.media, base) for c in tree.ancestors],
                          remixes=[card(c, gallery.media, base) for c in tree.remixes])


async def embed(request: web.Request) -> web.Response:
    gallery = _gallery(request)
    async with gallery.sessions() as s:
        found = await listings.public_clip(s, request.match_info["clip_id"])
    if found is None:
        raise web.HTTPNotFound()
    return gallery.render("embed.html", clip=card(found, gallery.media, gallery.base(request)))


async def member(request: web.Request) -> web.Response:
    gallery = _gallery(request)
    member_id = request.match_info["member_id"]
    async with gallery.sessions() as s:
        face = await listings.member_card(s, member_id)
    if face is None:
        raise web.HTTPNotFound()
    listing = Listing.build(request.query.get("sort") or Sort.NEW, request.query.get("window") or "all",
                            member_id=member_id)
    cards, more = await _listing_page(request, listing)
    return gallery.render("member.html", member=face, listing=listing, cards=cards, next_url=more)


async def search(request: web.Request) -> web.Response:
    query = request.query.get("q", "")
    listing = Listing.build(request.query.get("sort") or Sort.NEW, request.query.get("window") or "all",
                            search=query)
    cards, more = await _listing_page(request, listing) if listing.search else ([], None)
    return _gallery(request).render("search.html", query=listing.search or "", listing=listing, cards=cards,
                                    next_url=more)


async def media(request: web.Request) -> web.StreamResponse:
    """A public clip's stored video or poster, from the local media folder (Range requests work)."""
    gallery = _gallery(request)
    key = request.match_info["key"]
    clip_id = clip_id_of(key)
    if clip_id is None or not isinstance(gallery.storage, FileStorage):
        raise web.HTTPNotFound()
    async with gallery.sessions() as s:
        found = await listings.public_clip(s, clip_id)
    path = local_file(gallery.storage, key, found.video_key, found.poster_key) if found else None
    if path is None:
        raise web.HTTPNotFound()
    return file_response(path)
