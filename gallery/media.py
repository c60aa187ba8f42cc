"""Where a browser fetches a clip's video and poster from.

A published clip's files (under public/, core/media.py) come from their permanent public
URL when REELBOT_PUBLIC_BASE_URL is set. Otherwise S3 media come straight from storage by
presigned URL, never through this process. The `file://` default has no URL a browser
can use, so the gallery serves that folder itself at /media/, and only the stored video
and poster of public clips: the key must be exactly one a public clip names, and the
file must resolve inside the media folder's clips/ or public/clips/, so `..`, symlinks out
of it, inputs/ and private or deleted clips all answer 404. aiohttp's FileResponse answers
Range requests, so video seeking works.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote, urlsplit

from aiohttp import web

from core.contract import PUBLIC_PREFIX
from core.storage import FileStorage, Storage

MEDIA_PREFIX = "/media/"
CONTENT_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                 ".webp": "image/webp"}
_CACHE_LIMIT = 20_000  # presigned URLs kept; the cache is simply emptied when it fills


class MediaUrls:
    """Media URLs for keys. Presigned URLs are reused for half their lifetime, so a page
    costs no signing on repeat views and browsers can cache the files."""

    def __init__(self, storage: Storage, presign_seconds: int = 3600):
        self.storage = storage
        self.served_here = isinstance(storage, FileStorage)
        self.reuse_seconds = presign_seconds / 2
        self._signed: dict[str, tuple[str, float]] = {}

    def url(self, key: str | None, base: str = "") -> str | None:
        """The URL for `key`; `base` (scheme://host) makes the locally served ones absolute."""
        if not key:
            return None
        public = self.storage.public_url(key)
        if public:
            return public
        if self.served_here:
            return f"{base}{MEDIA_PREFIX}{quote(key)}"
        cached = self._signed.get(key)
        now = time.monotonic()
        if cached and cached[1] > now:
            return cached[0]
        if len(self._signed) >= _CACHE_LIMIT:
            self._signed.clear()
        url = self.storage.url(key)
        self._signed[key] = (url, now + self.reuse_seconds)
        return url

    def origins(self) -> list[str]:
        """Origins media comes from besides this site, for the Content-Security-Policy."""
        samples = [self.storage.public_url(PUBLIC_PREFIX + "clips/csp/clip.mp4")]
        if not self.served_here:
            samples.append(self.storage.url("clips/csp/clip.mp4"))
        origins = []
        for sample in filter(None, samples):
            parts = urlsplit(sample)
            if parts.scheme in ("http", "https") and f"{parts.scheme}://{parts.netloc}" not in origins:
                origins.append(f"{parts.scheme}://{parts.netloc}")
        return origins


def local_file(storage: FileStorage, key: str, clip_video_key: str | None, clip_poster_key: str | None) -> Path | None:
    """The file behind `key` when it is this clip's stored video or poster and lies inside the media folder."""
    if key not in (clip_video_key, clip_poster_key) or Path(key).suffix.lower() not in CONTENT_TYPES:
        return None
    root = storage.root.resolve()
    try:
        path = (root / key).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    inside = path.is_relative_to(root / "clips") or path.is_relative_to(root / PUBLIC_PREFIX / "clips")
    if not inside or not path.is_file():
        return None
    return path


def file_response(path: Path, max_age: int = 3600) -> web.FileResponse:
    return web.FileResponse(path, headers={
        "Content-Type": CONTENT_TYPES[path.suffix.lower()],
        "Cache-Control": f"public, max-age={max_age}",
    })


def clip_id_of(key: str) -> str | None:
    """The clip id in a clips/<id>/<file> or public/clips/<id>/<file> key."""
    parts = key.removeprefix(PUBLIC_PREFIX).split("/")
    if len(parts) != 3 or parts[0] != "clips" or not parts[1] or not parts[2]:
        return None
    return parts[1]
