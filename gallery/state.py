"""What the gallery's handlers share: one `Gallery` per app, under `GALLERY`."""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from core.storage import Storage
from gallery.media import MediaUrls
from gallery.middleware import Metrics


@dataclass
class Gallery:
    """What the handlers share, stored on the app under GALLERY."""

    sessions: async_sessionmaker
    engine: AsyncEngine
    storage: Storage
    media: MediaUrls
    templates: jinja2.Environment
    metrics: Metrics
    public_url: str | None

    def base(self, request: web.Request) -> str:
        """scheme://host of the gallery, for absolute links (unfurls need them)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"{request.scheme}://{request.host}"

    def render(self, name: str, *, status: int = 200, **context) -> web.Response:
        html = self.templates.get_template(name).render(**context)
        return web.Response(text=html, status=status, content_type="text/html")


GALLERY = web.AppKey("gallery", Gallery)
