"""A small JSON control API under /_sim/ so an operator (or a script) can act as members.

This is what makes `python -m discordsim` an offline sandbox: point `reelbot bot` at it, then
`curl -X POST .../_sim/slash -d '{"member": "alice", "channel": "general", "command": "create",
"options": {"prompt": "a fox"}}'` and read `.../_sim/messages/<channel id>`.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import model

if TYPE_CHECKING:
    from .interactions import SimInteraction
    from .sim import DiscordSim


def install(sim: "DiscordSim", app: web.Application) -> None:
    routes = [
        ("GET", "/_sim/state", state),
        ("POST", "/_sim/slash", slash),
        ("POST", "/_sim/click", click),
        ("POST", "/_sim/modal", modal),
        ("POST", "/_sim/say", say),
        ("GET", "/_sim/messages/{channel_id}", messages),
        ("GET", "/_sim/interactions/{interaction_id}", interaction),
        ("GET", "/_sim/violations", violations),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _wrap(sim, handler))


def _wrap(sim: "DiscordSim", handler: Any) -> Any:
    async def run(request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
            result = await handler(sim, request, body)
            return _json(200, result)
        except (ValueError, KeyError, RuntimeError) as exc:
            return _json(400, {"error": str(exc)})

    return run


def _json(status: int, data: Any) -> web.Response:
    return web.Response(status=status, body=json.dumps(data, default=str).encode(),
                        headers={"Content-Type": "application/json"})


def _member(sim: "DiscordSim", ref: Any) -> model.Member:
    for guild in sim.guilds.values():
        for member in guild.members.values():
            if str(member.id) == str(ref) or member.name == ref:
                return member
    raise ValueError(f"no member {ref!r}")


def _channel(sim: "DiscordSim", ref: Any) -> model.Channel:
    for channel in sim.channels.values():
        if str(channel.id) == str(ref) or (channel.name and channel.name == ref):
            return channel
    raise ValueError(f"no channel {ref!r}")


def message_summary(msg: model.Message) -> dict[str, Any]:
    return {
        "id": str(msg.id), "channel_id": str(msg.channel_id), "author_id": str(msg.author_id),
        "content": msg.content, "embeds": msg.embeds, "custom_ids": msg.custom_ids, "labels": msg.labels,
        "attachments": [{"filename": a.filename, "size": a.size, "url": a.url} for a in msg.attachments],
        "ephemeral": msg.ephemeral, "loading": msg.loading,
        "thread_id": str(msg.thread.id) if msg.thread else None, "edits": len(msg.edits),
    }


def interaction_summary(ix: "SimInteraction") -> dict[str, Any]:
    return {
        "id": str(ix.id), "what": ix.describe(),
        "responses": [{"type": r.type, "accepted": r.accepted, "latency_ms": round(r.latency * 1000, 1),
                       "data": r.data} for r in ix.responses],
        "message": message_summary(ix.message) if ix.message else None,
        "followups": [message_summary(m) for m in ix.followups],
        "modal": ix.modal,
    }


async def state(sim: "DiscordSim", request: web.Request, body: Any) -> Any:
    return {
        "api_base": sim.api_base, "gateway_url": sim.gateway_url, "application_id": str(sim.application_id),
        "connected_shards": sorted(sim.gateway.connected_shards()),
        "guilds": [{
            "id": str(g.id), "name": g.name, "attachment_size_limit": g.attachment_size_limit,
            "channels": [{"id": str(c.id), "name": c.name, "type": c.type} for c in g.channels.values()],
            "members": [{"id": str(m.id), "name": m.name, "manage_messages": m.manage_messages,
                         "manage_guild": m.manage_guild} for m in g.members.values() if not m.user.bot],
            "commands": [c["name"] for c in sim.commands(g)],
        } for g in sim.guilds.values()],
        "global_commands": [c["name"] for c in sim.commands()],
        "violations": [repr(v) for v in sim.violations],
    }


async def slash(sim: "DiscordSim", request: web.Request, body: Any) -> Any:
    attachments = {
        name: (spec["filename"], base64.b64decode(spec["base64"]), spec.get("content_type"))
        for name, spec in (body.get("attachments") or {}).items()
    }
    ix = await sim.slash(_member(sim, body["member"]), _channel(sim, body["channel"]), body["command"],
                         body.get("options") or {}, attachments=attachments, subcommand=body.get("subcommand"))
    return {"interaction": str(ix.id)}


async def click(sim: "DiscordSim", request: web.Request, body: Any) -> Any:
    ix = await sim.click(_member(sim, body["member"]), int(body["message"]), body["custom_id"],
                         values=body.get("values"))
    return {"interaction": str(ix.id)}


async def modal(sim: "DiscordSim", request: web.Request, body: Any) -> Any:
    shown = sim.interaction_by_id(int(body["interaction"]))
    if shown is None:
        raise ValueError(f"no interaction {body['interaction']}")
    ix = await sim.submit_modal(_member(sim, body["member"]), shown, body.get("values") or {})
    return {"interaction": str(ix.id)}


async def say(sim: "DiscordSim", request: web.Request, body: Any) -> Any:
    msg = await sim.say(_member(sim, body["member"]), _channel(sim, body["channel"]), body["content"])
    return {"message": str(msg.id)}


async def messages(sim: "DiscordSim", request: web.Request, body: Any) -> Any:
    channel = _channel(sim, request.match_info["channel_id"])
    return [message_summary(m) for m in sim.messages(channel, include_ephemeral=True)]


async def interaction(sim: "DiscordSim", request: web.Request, body: Any) -> Any:
    ix = sim.interaction_by_id(int(request.match_info["interaction_id"]))
    if ix is None:
        raise ValueError("no such interaction")
    return interaction_summary(ix)


async def violations(sim: "DiscordSim", request: web.Request, body: Any) -> Any:
    return [{"rule": v.rule, "detail": v.detail, "method": v.method, "path": v.path} for v in sim.violations]
