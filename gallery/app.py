"""`reelbot gallery`: the web gallery's aiohttp application.

Stateless: everything it shows is read from the database per request and media come
from storage, so any number of these can run behind a load balancer.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import make_engine, make_sessionmaker
from core.settings import Settings
from core.storage import Storage, storage_from_settings
from gallery import api, pages, themes
from gallery.media import MEDIA_PREFIX, MediaUrls
from gallery.middleware import Metrics, error_pages, security_headers
from gallery.state import GALLERY, Gallery

HERE = Path(__file__).parent


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        # Every {{ }} is HTML-escaped: prompts and member names are text, whatever they contain.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seconds"] = lambda value: f"{value:.1f} s" if value else ""
    return env


async def healthz(request: web.Request) -> web.Response:
    gallery = request.app[GALLERY]
    try:
        async with gallery.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 — any failure is "not healthy", with the reason
        return web.json_response({"status": "unavailable", "database": type(exc).__name__}, status=503)
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[GALLERY].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def make_app(settings: Settings, *, engine: AsyncEngine | None = None, storage: Storage | None = None) -> web.Application:
    """The gallery app. `engine` and `storage` default to the ones `settings` name."""
    owns_engine = engine is None
    engine = engine or make_engine(settings.database_url)
    storage = storage or storage_from_settings(settings)
    media = MediaUrls(storage, settings.presign_seconds)
    gallery = Gallery(sessions=make_sessionmaker(engine), engine=engine, storage=storage, media=media,
                      templates=templates(), metrics=Metrics(), public_url=settings.gallery_url)

    def render(name, *, status=200, **context):
        return gallery.render(name, status=status, **context)

    app = web.Application(middlewares=[gallery.metrics.middleware(), security_headers(media.origins()),
                                       error_pages(render)])
    app[GALLERY] = gallery
    router = app.router
    router.add_get("/", pages.front, name="front")
    router.add_get("/clips/{clip_id}", pages.clip, name="clip")
    router.add_get("/clips/{clip_id}/embed", pages.embed, name="embed")
    router.add_get("/members/{member_id}", pages.member, name="member")
    router.add_get("/search", pages.search, name="search")
    router.add_get("/themes", themes.themes_list, name="themes")
    router.add_get("/themes/{theme_id}", themes.theme_page, name="theme")
    router.add_get("/api/clips", api.clips, name="api_clips")
    router.add_get("/api/clips/{clip_id}", api.clip, name="api_clip")
    router.add_get("/healthz", healthz, name="healthz")
    router.add_get("/metrics", metrics, name="metrics")
    static = router.add_static("/static/", HERE / "static", name="static", append_version=True)
    # Versioned URLs (?v=hash), so a changed stylesheet is never served stale from a cache.
    gallery.templates.globals.update(css_url=str(static.url_for(filename="gallery.css")),
                                     icon_url=str(static.url_for(filename="favicon.svg")))
    if media.served_here:
        router.add_get(MEDIA_PREFIX + "{key:(public/)?clips/.+}", pages.media, name="media")

    if owns_engine:
        async def dispose(_app):
            await engine.dispose()

        app.on_cleanup.append(dispose)
    return app


def serve(settings: Settings) -> None:
    """Run the gallery until interrupted."""
    from core.logging import get_logger

    log = get_logger("gallery")
    app = make_app(settings)
    log.info("gallery listening", host=settings.gallery_host, port=settings.gallery_port,
             url=settings.gallery_url or f"http://{settings.gallery_host}:{settings.gallery_port}")
    web.run_app(app, host=settings.gallery_host, port=settings.gallery_port, access_log=None, print=None)
