"""The bot's `/livez`, `/readyz` and `/metrics` (core.metrics.serve_endpoints), on
REELBOT_METRICS_HOST:REELBOT_METRICS_PORT (deploy/ probes port 9100).

Live: the event loop answers (a wedged loop never gets here, so the probe times out).
Ready: every shard of this process holds a gateway session, Redis and the database answer
(during an outage: 503 "redis unreachable …" or "database unreachable …", while the bot waits
it out or refuses commands in the meantime) and the bot is not draining; a bot that
is reconnecting or restarting takes no interactions, so it reports 503.
"""

from __future__ import annotations

from core.db import ping
from core.metrics import serve_endpoints


async def live() -> tuple[bool, str]:
    return True, "ok"


def readiness(client):
    async def ready() -> tuple[bool, str]:
        if client.services is not None and client.services.draining:
            return False, "draining for a restart"
        if client.services is not None and client.services.redis_health.down_since is not None:
            return client.services.redis_health.health()
        if client.services is not None:
            ok, detail = await ping(client.services.store.engine)
            if not ok:
                return False, detail + "; commands are refused with 'try again in a moment'"
        if client.is_closed() or not client.is_ready():
            return False, "not connected to the Discord gateway yet"
        down = sorted(shard_id for shard_id, shard in client.shards.items() if shard.is_closed())
        if down:
            return False, f"gateway disconnected on shard {', '.join(map(str, down))}"
        return True, "ok"
    return ready


async def serve(settings, client):
    """The runner (`await runner.cleanup()` on exit), or None when no port is set or it is taken."""
    from bot import metrics  # noqa: F401 — registers the bot's series before the first scrape

    return await serve_endpoints(settings, live=live, ready=readiness(client))
