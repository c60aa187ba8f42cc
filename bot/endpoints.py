"""Pointing discord.py at a Discord-compatible proxy or test server.

Large bots put a REST proxy in front of Discord so that many processes share one set of
rate limits; tests and the offline sandbox use a local server. discord.py builds every
REST URL from `Route.BASE`, and a plain client connects its websocket to
`DiscordWebSocket.DEFAULT_GATEWAY` (sharded clients ask `GET /gateway/bot` instead, whose
answer is overridden here too). After READY, resumes go to the READY payload's
`resume_gateway_url`, which the proxy or server controls.
"""

from __future__ import annotations

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import HTTPClient, Route

DISCORD_API_BASE = Route.BASE
DISCORD_GATEWAY = DiscordWebSocket.DEFAULT_GATEWAY
_original_get_bot_gateway = HTTPClient.get_bot_gateway


def point_at(api_base: str | None, gateway_url: str | None) -> None:
    """Process-wide: call once before the client is created."""
    Route.BASE = api_base.rstrip("/") if api_base else DISCORD_API_BASE
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url) if gateway_url else DISCORD_GATEWAY
    if gateway_url:
        async def get_bot_gateway(self: HTTPClient):
            shards, _url, limits = await _original_get_bot_gateway(self)
            return shards, gateway_url, limits

        HTTPClient.get_bot_gateway = get_bot_gateway
    else:
        HTTPClient.get_bot_gateway = _original_get_bot_gateway

