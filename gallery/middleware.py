"""What every response of the gallery goes through: security headers, error pages that
say what went wrong (never a traceback), and Prometheus request metrics."""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy.exc import DBAPIError, OperationalError

from core.listings import ListingError
from core.logging import get_logger

log = get_logger("gallery")

# No script at all, styles only from our own stylesheet, media from here or the storage origins.
_CSP = ("default-src 'none'; img-src 'self'{media}; media-src 'self'{media}; style-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors {frames}")


def content_security_policy(media_origins: list[str], *, embeddable: bool = False) -> str:
    media = "".join(f" {origin}" for origin in media_origins)
    # The player page is what Twitter/X and others frame for a `twitter:player` card.
    return _CSP.format(media=media, frames="*" if embeddable else "'none'")


def security_headers(media_origins: list[str]):
    page_policy = content_security_policy(media_origins)
    embed_policy = content_security_policy(media_origins, embeddable=True)

    @web.middleware
    async def headers(request: web.Request, handler):
        response = await handler(request)
        embeddable = request.match_info.route.name == "embed"
        response.headers.setdefault("Content-Security-Policy", embed_policy if embeddable else page_policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if not embeddable:
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return headers


def error_pages(render_html):
    """Bad parameters are 400 with the reason, unknown pages 404, a database that does not
    answer 503, anything else 500; JSON under /api/, HTML elsewhere."""

    def problem(request: web.Request, status: int, message: str) -> web.Response:
        if request.path.startswith("/api/"):
            return web.json_response({"error": message}, status=status)
        return render_html("error.html", status=status, status_code=status, message=message)

    @web.middleware
    async def errors(request: web.Request, handler):
        try:
            return await handler(request)
        except ListingError as exc:
            return problem(request, 400, str(exc))
        except web.HTTPNotFound:
            return problem(request, 404, "Nothing here: the clip, member or page does not exist, or it is not public.")
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return problem(request, exc.status, exc.reason)
        except (OperationalError, DBAPIError, OSError, TimeoutError) as exc:
            # The driver's own first line; SQLAlchemy's message goes on with the whole statement.
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200] if str(exc) else ""
            log.warning("gallery backend unavailable", path=request.path, error=f"{type(exc).__name__}: {reason}")
            return problem(request, 503, "The gallery cannot reach its database right now; try again shortly.")
        except Exception:  # noqa: BLE001 — one bad request must not take the page down for others
            log.exception("gallery request failed", path=request.path)
            return problem(request, 500, "Something went wrong on our side.")

    return errors


class Metrics:
    """Per-app registry, so several apps in one process (the tests) do not collide."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("reelbot_gallery_requests", "Gallery HTTP requests", ["route", "status"],
                                registry=self.registry)
        self.latency = Histogram("reelbot_gallery_request_seconds", "Gallery response time by route", ["route"],
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                                 registry=self.registry)

    def middleware(self):
        @web.middleware
        async def observe(request: web.Request, handler):
            # Route names, not paths: a path per clip would be a label per clip.
            route = request.match_info.route.name or "unmatched"
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                self.latency.labels(route).observe(time.perf_counter() - started)
                self.requests.labels(route, str(status)).inc()

        return observe
