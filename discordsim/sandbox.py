"""The sandbox page: a small Discord client in the browser, served by the sim itself.

A newcomer acts as one of the seeded members. Everything they do goes through the sim's own
interaction machinery (`sim.slash`, `sim.click`, `sim.submit_modal`, `sim.autocomplete`), so
the bot gets the gateway events Discord would send and answers through the same REST routes,
with the same rules checked and every break listed in the page's violations panel.

Routes (same origin as the attachments the page plays):

    GET  /                              the page (discordsim/static/index.html)
    GET  /static/<file>                 its script and style sheet
    GET  /sandbox/state?member=ID       guild, members, channels and threads, the member's DMs,
                                        the commands as the bot registered them, violations
    GET  /sandbox/channels/ID/messages?member=ID
    GET  /sandbox/events?member=ID&guild=ID   server-sent events: message, delete, channels,
                                        commands, violation, status (is the bot online)
    POST /sandbox/slash                 JSON, or multipart with a "payload" part and one file
                                        part per attachment option
    POST /sandbox/click | /sandbox/modal | /sandbox/autocomplete | /sandbox/app | /sandbox/dm
    POST /sandbox/servers {"name": …}   one more server, with the same channels and members

Several servers: the page shows one at a time and switches between them (`guild=ID` on the
state and the events; everything else follows from the channel acted in). The seeded people
are members of every server, so a member keeps their DMs across them.

The page runs only its own script (a strict Content-Security-Policy), fetches only this
origin, and puts every string it shows into the page as text, never as markup. POSTs need
the `X-Sandbox` header and this host (a page on another site can neither send it without
a CORS preflight, which is never granted, nor reach it through a rebound DNS name).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import model
from .live import LiveUpdates
from .slash import ATTACHMENT, BOOLEAN, CHANNEL, INTEGER, MENTIONABLE, NUMBER, ROLE, STRING, USER
from .view import MemberView

if TYPE_CHECKING:
    from .interactions import SimInteraction
    from .sim import DiscordSim

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "connect-src 'self'; font-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
                ".png": "image/png"}
# Discord's client waits this long for the first answer, then says the application did not respond.
ANSWER_WAIT_S = 3.5
MESSAGES_SHOWN = 100


@dataclasses.dataclass(frozen=True)
class SeededMember:
    name: str
    manage_messages: bool = False
    manage_guild: bool = False


DEFAULT_MEMBERS = (SeededMember("alice"), SeededMember("mod", manage_messages=True),
                   SeededMember("admin", manage_guild=True))


def seed(sim: "DiscordSim", guild_name: str = "Sandbox", channels: tuple[str, ...] = ("general",),
         members: tuple[SeededMember, ...] = DEFAULT_MEMBERS, *, upload_limit: int = 10 * 1024 * 1024,
         like: model.Guild | None = None) -> model.Guild:
    """A guild with its channels and members, for the standalone sim and `reelbot sandbox`.
    `like`: an earlier seeded guild whose people (the same users) join this one too."""
    guild = sim.add_guild(guild_name, attachment_size_limit=upload_limit)
    for name in channels:
        sim.add_channel(guild, name)
    people = {m.name: m.user for m in like.members.values() if not m.user.bot} if like is not None else {}
    for member in members:
        sim.add_member(guild, member.name, manage_messages=member.manage_messages,
                       manage_guild=member.manage_guild, user=people.get(member.name))
    return guild


def seed_like(sim: "DiscordSim", first: model.Guild, name: str) -> model.Guild:
    """One more server like `first`: its text channels' names, its people with the same powers."""
    channels = tuple(c.name for c in first.channels.values() if not c.is_thread)
    members = tuple(SeededMember(m.name, m.manage_messages, m.manage_guild)
                    for m in first.members.values() if not m.user.bot)
    return seed(sim, name, channels, members, upload_limit=first.attachment_size_limit, like=first)


class SandboxPage:
    """Serve the page for `guild` on the sim's own port. Create it before `sim.start()`.

    `video_notice`: a line shown under every video attachment (the tiny test model's "noise").
    `welcome`: lines shown at the top of the first channel. `links`: (label, url) pairs in the
    header, e.g. the web gallery on loopback.
    """

    def __init__(self, sim: "DiscordSim", guild: model.Guild, *, title: str = "Sandbox",
                 video_notice: str | None = None, welcome: tuple[str, ...] = (),
                 links: tuple[tuple[str, str], ...] = (), more: tuple[model.Guild, ...] = ()) -> None:
        self.sim = sim
        self.guild = guild  # the first server, shown unless the page asks for another
        self.title = title
        self.video_notice = video_notice
        self.welcome = welcome
        self.links = links
        self.views: dict[int, MemberView] = {}
        self.lives: dict[int, LiveUpdates] = {}
        for server in (guild, *more):
            self.add_server(server)
        self.view, self.live = self.views[guild.id], self.lives[guild.id]
        sim.extensions.append(self.install)

    def add_server(self, guild: model.Guild) -> None:
        """Show `guild` on the page too (its members act there as in the first one)."""
        if guild.id in self.views:
            return
        self.views[guild.id] = view = MemberView(self.sim, guild)
        self.lives[guild.id] = live = LiveUpdates(view)
        self.sim.listeners.append(live.changed)

    def _view(self, guild: Any = None, channel: Any = None) -> MemberView:
        """The view of the server a channel belongs to, or named by id; the first server's
        for a DM, or when none is named."""
        found = None
        try:
            where = self.sim.channels.get(int(channel)) if channel not in (None, "") else None
            found = where.guild if where is not None else None
            if found is None and guild not in (None, ""):
                found = self.sim.guilds.get(int(guild))
        except (TypeError, ValueError):
            found = None
        return self.views.get(found.id) if found is not None and found.id in self.views else self.view

    @property
    def url(self) -> str:
        return f"{self.sim.base_url}/"

    def install(self, app: web.Application) -> None:
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        routes = [
            ("GET", "/sandbox/state", self._state),
            ("GET", "/sandbox/channels/{channel_id}/messages", self._messages),
            ("POST", "/sandbox/slash", self._slash),
            ("POST", "/sandbox/click", self._click),
            ("POST", "/sandbox/modal", self._modal),
            ("POST", "/sandbox/autocomplete", self._autocomplete),
            ("POST", "/sandbox/app", self._app_command),
            ("POST", "/sandbox/dm", self._open_dm),
            ("POST", "/sandbox/say", self._say),
            ("POST", "/sandbox/servers", self._add_server),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._guarded(handler))
        app.router.add_get("/sandbox/events", self._events)
        app.on_shutdown.append(self._close_streams)

    async def _close_streams(self, app: web.Application) -> None:
        for live in self.lives.values():
            await live.close(app)

    # ---- who and what ----------------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        refused = self._refuse_host(request)
        if refused is not None:
            return refused
        view = self._view(guild=request.query.get("guild"))
        try:
            member = view.member(request.query.get("member"))
        except ValueError as exc:
            return _json(400, {"error": str(exc)})
        return await self.lives[view.guild.id].stream(request, member.id, SECURITY_HEADERS)

    # ---- the page's files ------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        return self._file("index.html", request)

    async def _static(self, request: web.Request) -> web.Response:
        return self._file(request.match_info["name"], request)

    def _file(self, name: str, request: web.Request) -> web.Response:
        refused = self._refuse_host(request)
        if refused is not None:
            return refused
        path = STATIC / name
        if "/" in name or name.startswith(".") or not path.is_file() or path.suffix not in STATIC_TYPES:
            return web.Response(status=404, text="not found", headers=SECURITY_HEADERS)
        return web.Response(body=path.read_bytes(), headers={"Content-Type": STATIC_TYPES[path.suffix],
                                                            "Cache-Control": "no-cache", **SECURITY_HEADERS})

    # ---- acting as a member ----------------------------------------------------------------

    def _refuse_host(self, request: web.Request) -> web.Response | None:
        host = (request.host or "").rsplit(":", 1)[0].strip("[]")
        if host not in ("127.0.0.1", "localhost", "::1"):
            return _json(403, {"error": "the sandbox answers only on loopback"})
        return None

    def _guarded(self, handler: Any) -> Any:
        async def run(request: web.Request) -> web.Response:
            refused = self._refuse_host(request)
            if refused is not None:
                return refused
            if request.method == "POST":
                origin = request.headers.get("Origin")
                if request.headers.get("X-Sandbox") != "1" or (origin and origin.split("://", 1)[-1] != request.host):
                    return _json(403, {"error": "the sandbox takes requests from its own page only"})
            try:
                return _json(200, await handler(request))
            except (ValueError, KeyError, RuntimeError) as exc:
                return _json(400, {"error": str(exc).strip("'\"")})

        return run

    async def _state(self, request: web.Request) -> Any:
        view = self._view(guild=request.query.get("guild"))
        state = view.state(view.member(request.query.get("member")))
        return {**state, "title": self.title, "video_notice": self.video_notice, "welcome": list(self.welcome),
                "links": [{"label": label, "url": url} for label, url in self.links],
                "servers": [{"id": str(v.guild.id), "name": v.guild.name} for v in self.views.values()]}

    async def _add_server(self, request: web.Request) -> Any:
        """One more server like the first: its channels, its people (a test of fairness between servers)."""

        body = await request.json()
        name = " ".join(str(body.get("name") or "").split())[:100] or f"Server {len(self.views) + 1}"
        guild = seed_like(self.sim, self.guild, name)
        self.add_server(guild)
        return {"id": str(guild.id), "name": guild.name}

    async def _messages(self, request: web.Request) -> Any:
        view = self._view(channel=request.match_info["channel_id"])
        member = view.member(request.query.get("member"))
        channel = view.channel(request.match_info["channel_id"], member)
        shown = self.sim.messages(channel, member=member)[-MESSAGES_SHOWN:]
        return [view.message_json(m) for m in shown]

    async def _open_dm(self, request: web.Request) -> Any:
        body = await request.json()
        view = self._view(guild=body.get("guild"))
        member = view.member(body.get("member"))
        return view.channel_json(self.sim.dm_channel(member))

    async def _say(self, request: web.Request) -> Any:
        body = await request.json()
        view = self._view(channel=body.get("channel"))
        member = view.member(body.get("member"))
        channel = view.channel(body.get("channel"), member)
        content = str(body.get("content") or "")
        if not content.strip() or len(content) > 2000:
            raise ValueError("a message is 1 to 2000 characters")
        return {"message": str((await self.sim.say(member, channel, content)).id)}

    def _online_or_refuse(self, view: MemberView | None = None) -> None:
        if not (view or self.view).bot_online():
            raise RuntimeError(f"{self.sim.bot_user.name} is offline right now (starting or restarting); "
                               "try again in a few seconds")

    def _command(self, body: dict[str, Any]) -> tuple[model.Member, model.Channel, str, dict[str, Any], str | None]:
        """Who types which command where, from a page's request; ValueError for one not registered here."""
        view = self._view(channel=body.get("channel"))
        member = view.member(body.get("member"))
        channel = view.channel(body.get("channel"), member)
        name = str(body.get("command") or "")
        definition = self.sim.registry.find(channel.guild_id, name)
        if definition is None:
            raise ValueError(f"/{name} is not a command here")
        return member, channel, name, definition, body.get("subcommand") or None

    async def _slash(self, request: web.Request) -> Any:
        body, files = await _read_command(request)
        member, channel, name, definition, subcommand = self._command(body)
        options, attachments = self._options(definition, subcommand, body.get("options") or {}, files, channel)
        self._online_or_refuse(self._view(channel=channel.id))
        ix = await self.sim.slash(member, channel, name, options, attachments=attachments, subcommand=subcommand)
        return await self._answer(ix)

    async def _autocomplete(self, request: web.Request) -> Any:
        body = await request.json()
        member, channel, name, definition, subcommand = self._command(body)
        typed = {k: v for k, v in (body.get("options") or {}).items() if not isinstance(v, dict)}
        options, _ = self._options(definition, subcommand, typed, {}, channel)
        self._online_or_refuse(self._view(channel=channel.id))
        ix = await self.sim.autocomplete(member, channel, name, options, str(body.get("focused")),
                                         subcommand=subcommand)
        try:
            response = await ix.wait_response(ANSWER_WAIT_S)
        except TimeoutError:
            return {"choices": []}
        return {"choices": response.choices}

    async def _click(self, request: web.Request) -> Any:
        body = await request.json()
        message = self.sim.message(int(body.get("message")))
        view = self._view(channel=message.channel_id if message is not None else None)
        member = view.member(body.get("member"))
        if message is None or message.deleted or not view.can_see(message, member.id):
            raise ValueError("that message is gone")
        self._online_or_refuse(view)
        values = body.get("values")
        ix = await self.sim.click(member, message, str(body.get("custom_id")),
                                  values=[str(v) for v in values] if isinstance(values, list) else None)
        return await self._answer(ix)

    async def _modal(self, request: web.Request) -> Any:
        body = await request.json()
        shown = self.sim.interaction_by_id(int(body.get("interaction")))
        if shown is None:
            raise ValueError("that dialog is gone")
        view = self._view(channel=shown.channel.id if shown.channel is not None else None)
        member = view.member(body.get("member"))
        self._online_or_refuse(view)
        values = {str(k): v if isinstance(v, list) else str(v) for k, v in (body.get("values") or {}).items()}
        ix = await self.sim.submit_modal(member, shown, values)
        return await self._answer(ix)

    async def _app_command(self, request: web.Request) -> Any:
        """A message's (or member's) Apps menu entry: a context-menu command the bot registered."""
        body = await request.json()
        message = self.sim.message(int(body.get("message")))
        view = self._view(channel=message.channel_id if message is not None else None)
        member = view.member(body.get("member"))
        if message is None or message.deleted or not view.can_see(message, member.id):
            raise ValueError("that message is gone")
        self._online_or_refuse(view)
        ix = await self.sim.message_command(member, message, str(body.get("command")))
        return await self._answer(ix)

    async def _answer(self, ix: "SimInteraction") -> dict[str, Any]:
        """The bot's first answer, as Discord's client waits for it: a modal to show, or nothing
        (its messages arrive over the event stream)."""
        try:
            response = await ix.wait_response(ANSWER_WAIT_S)
        except TimeoutError:
            return {"interaction": str(ix.id),
                    "error": f"{self.sim.bot_user.name} did not respond (Discord shows “The application did not "
                             "respond”)"}
        return {"interaction": str(ix.id), "type": response.type, "modal": ix.modal}

    def _options(self, definition: dict[str, Any], subcommand: str | None, raw: dict[str, Any],
                 files: dict[str, tuple[str, bytes, str | None]], channel: model.Channel,
                 ) -> tuple[dict[str, Any], dict[str, tuple[str, bytes, str | None]]]:
        """The page's values typed by the command's declared options (members, channels and roles
        become the sim's objects); unknown names are left for the sim to refuse."""
        declared = definition.get("options") or []
        for name in (subcommand or "").split():
            group = next((o for o in declared if o.get("name") == name and o.get("type") in (1, 2)), None)
            if group is None:
                raise ValueError(f"/{definition['name']} has no subcommand {name!r}")
            declared = group.get("options") or []
        kinds = {o.get("name"): o.get("type") for o in declared}
        options: dict[str, Any] = {}
        for name, value in raw.items():
            if value is None or value == "":
                continue
            options[name] = self._typed(name, kinds.get(name, STRING), value, channel)
        attachments = {name: file for name, file in files.items() if kinds.get(name) == ATTACHMENT}
        unknown = set(files) - set(attachments)
        if unknown:
            raise ValueError(f"/{definition['name']} takes no file as {sorted(unknown)}")
        return options, attachments

    def _typed(self, name: str, kind: int, value: Any, channel: model.Channel) -> Any:
        try:
            if kind == STRING:
                return str(value)
            if kind == INTEGER:
                return int(value)
            if kind == NUMBER:
                return float(value)
            if kind == BOOLEAN:
                return value is True or str(value).lower() in ("true", "1", "yes")
            guild = channel.guild or self.guild
            if kind in (USER, MENTIONABLE) and int(value) in guild.members:
                return guild.members[int(value)]
            if kind in (ROLE, MENTIONABLE) and int(value) in guild.roles:
                return guild.roles[int(value)]
            if kind == CHANNEL and int(value) in self.sim.channels:
                return self.sim.channels[int(value)]
        except (TypeError, ValueError):
            pass
        raise ValueError(f"option {name!r}: {value!r} is not a valid value")


async def _read_command(request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes, str | None]]]:
    """JSON, or multipart: a "payload" JSON part and one part per attachment option."""
    if not request.content_type.startswith("multipart/"):
        return await request.json(), {}
    body: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes, str | None]] = {}
    reader = await request.multipart()
    async for part in reader:
        if part.name == "payload":
            body = json.loads(await part.text())
        elif part.name:
            data = await part.read()
            files[part.name] = (part.filename or part.name, bytes(data), part.headers.get("Content-Type"))
    return body, files


def _json(status: int, data: Any) -> web.Response:
    return web.Response(status=status, body=json.dumps(data, default=str).encode(),
                        headers={"Content-Type": "application/json", "Cache-Control": "no-store",
                                 **SECURITY_HEADERS})
