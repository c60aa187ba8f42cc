"""`DiscordSim`: a local server that speaks Discord's REST API v10 and gateway to discord.py.

Tests (and the offline sandbox) create guilds, channels and members, act as members
(`slash`, `click`, `submit_modal`, `say`), read what members see (`messages`, `dms`,
`SimInteraction`), inject faults, and assert `sim.violations` stays empty.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import time
from typing import Any, Callable

from aiohttp import web

from . import gateway as gw
from . import interactions as ix_mod
from . import model, payloads
from .commands import Registry
from .control import install as install_control
from .faults import Faults
from .gateway import Gateway
from .ids import Clock, Snowflakes
from .interactions import SimInteraction
from .messages import Body, Upload
from .rest import RequestRecord, Rest, unknown_api
from .slash import build_command_data, build_modal_data, check_visible
from .store import Store

log = logging.getLogger("discordsim")
MiB = 1024 * 1024


class DiscordSim:
    def __init__(self, token: str = "sim-token", application_id: int | None = None, *, strict: bool = True,
                 host: str = "127.0.0.1", port: int = 0, shard_count: int = 1, bot_name: str = "Reelbot",
                 heartbeat_interval_ms: int = 41250, dm_attachment_size_limit: int = 10 * MiB) -> None:
        self.token = token
        self.strict = strict
        self.host, self.port = host, port
        self.shard_count = shard_count
        self.dm_attachment_size_limit = dm_attachment_size_limit
        self.clock = Clock()
        self.ids = Snowflakes(self.clock)
        self.application_id = application_id or self.ids.next()
        self.bot_user = model.User(self.application_id, bot_name, bot=True)
        self.owner_user = model.User(self.ids.next(), "server-owner")
        self.users: dict[int, model.User] = {self.bot_user.id: self.bot_user, self.owner_user.id: self.owner_user}
        self.guilds: dict[int, model.Guild] = {}
        self.channels: dict[int, model.Channel] = {}
        self._dms: dict[int, model.Channel] = {}
        self.violations: list[model.Violation] = []
        self.requests: list[RequestRecord] = []
        self.interactions: list[SimInteraction] = []
        self._by_id: dict[int, SimInteraction] = {}
        self._by_token: dict[str, SimInteraction] = {}
        self.store = Store(self)
        self.registry = Registry(self)
        self.faults = Faults()
        self.gateway = Gateway(self, heartbeat_interval_ms)
        self.rest = Rest(self)
        # Who is told of every change members could see (the sandbox page's live updates):
        # callables (kind, object) with kind "message", "delete", "channel", "commands", "violation".
        self.listeners: list[Callable[[str, Any], None]] = []
        # Callables that add routes to the app before the catch-all (the sandbox page).
        self.extensions: list[Callable[[web.Application], None]] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> "DiscordSim":
        app = web.Application(client_max_size=1024 * MiB)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_route("*", "/api/v10/{tail:.*}", self.rest.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._serve_file)
        install_control(self, app)
        for extend in self.extensions:
            extend(app)
        app.router.add_route("*", "/{tail:.*}", unknown_api(self))
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{self.port}"
        return self

    async def stop(self) -> None:
        for ix in self.interactions:
            if ix._deadline_handle is not None:
                ix._deadline_handle.cancel()
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "DiscordSim":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def clock_offset(self) -> float:
        return self.clock.offset

    @clock_offset.setter
    def clock_offset(self, seconds: float) -> None:
        self.clock.offset = seconds

    def secret_suffix(self) -> str:
        return secrets.token_urlsafe(24)

    def changed(self, kind: str, obj: Any) -> None:
        """Tell the listeners; one that fails is logged, never breaks the request that made the change."""
        for listener in list(self.listeners):
            try:
                listener(kind, obj)
            except Exception:
                log.exception("discordsim listener failed on %s", kind)

    # ---- the world -----------------------------------------------------------------------

    def add_guild(self, name: str, *, attachment_size_limit: int = 10 * MiB,
                  bot_permissions: int = model.BOT_PERMISSIONS) -> model.Guild:
        guild = model.Guild(self.ids.next(), name, attachment_size_limit, self.owner_user.id, self.clock.iso())
        guild.roles[guild.id] = model.Role(guild.id, "@everyone", model.EVERYONE_PERMISSIONS)
        bot_role = model.Role(self.ids.next(), self.bot_user.name, bot_permissions, position=1, managed=True)
        guild.roles[bot_role.id] = bot_role
        guild.members[self.bot_user.id] = model.Member(self.bot_user, guild, [bot_role.id], self.clock.iso())
        self.guilds[guild.id] = guild
        for session in self.gateway.sessions_for(guild.id):
            if session.intents & gw.GUILDS:
                session.push("GUILD_CREATE", payloads.guild_create(self, guild))
        return guild

    def add_channel(self, guild: model.Guild, name: str, *, bot_deny: int = 0, nsfw: bool = False) -> model.Channel:
        """A text channel; `nsfw`: age-restricted (its threads are too)."""
        channel = model.Channel(self.ids.next(), model.GUILD_TEXT, name, guild=guild,
                                position=sum(1 for c in guild.channels.values() if not c.is_thread),
                                bot_deny=bot_deny, nsfw=nsfw)
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        self.gateway.dispatch("CHANNEL_CREATE", payloads.channel(self, channel), guild_id=guild.id,
                              intent=gw.GUILDS)
        self.changed("channel", channel)
        return channel

    def add_member(self, guild: model.Guild, name: str, *, manage_messages: bool = False,
                   manage_guild: bool = False, administrator: bool = False, dms_open: bool = True,
                   user: model.User | model.Member | None = None) -> model.Member:
        """A member of `guild`. Pass `user=` (a User or another guild's Member) to reuse one person."""
        if isinstance(user, model.Member):
            user = user.user
        if user is None:
            user = model.User(self.ids.next(), name, dms_open=dms_open)
        self.users[user.id] = user
        roles = []
        for wanted, role_name, bits in ((manage_messages, "Moderator", model.MANAGE_MESSAGES),
                                        (manage_guild, "Manager", model.MANAGE_GUILD),
                                        (administrator, "Admin", model.ADMINISTRATOR)):
            if wanted:
                roles.append(self._role(guild, role_name, bits).id)
        member = model.Member(user, guild, roles, self.clock.iso())
        guild.members[user.id] = member
        self.gateway.dispatch("GUILD_MEMBER_ADD", payloads.member(member) | {"guild_id": str(guild.id)},
                              guild_id=guild.id, intent=gw.GUILD_MEMBERS)
        return member

    def _role(self, guild: model.Guild, name: str, bits: int) -> model.Role:
        for role in guild.roles.values():
            if role.name == name:
                return role
        role = model.Role(self.ids.next(), name, model.EVERYONE_PERMISSIONS | bits, position=len(guild.roles))
        guild.roles[role.id] = role
        self.gateway.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": payloads.role(role)},
                              guild_id=guild.id, intent=gw.GUILDS)
        return role

    def add_role(self, guild: model.Guild, name: str, *, permissions: int = 0) -> model.Role:
        """A role of `guild` (one named so already is returned as it is), e.g. a supporter role to tier."""
        return self._role(guild, name, permissions)

    def assign_role(self, member: model.Member, role: model.Role) -> model.Member:
        """Give `member` the role (GUILD_MEMBER_UPDATE, as Discord sends when a manager does it)."""
        assert member.guild is not None and role.id in member.guild.roles
        if role.id not in member.role_ids:
            member.role_ids.append(role.id)
            self.gateway.dispatch("GUILD_MEMBER_UPDATE", payloads.member(member) | {"guild_id": str(member.guild.id)},
                                  guild_id=member.guild.id, intent=gw.GUILD_MEMBERS)
        return member

    def bot_role(self, guild: model.Guild) -> model.Role:
        return next(r for r in guild.roles.values() if r.managed)

    def dm_channel(self, member: model.Member | model.User) -> model.Channel:
        return self.dm_for_user(member.user if isinstance(member, model.Member) else member)

    def existing_dm(self, member: model.Member | model.User) -> model.Channel | None:
        """The member's DM channel with the bot, if either side opened it (None: never)."""
        return self._dms.get(member.id)

    def dm_for_user(self, user: model.User) -> model.Channel:
        if user.id not in self._dms:
            channel = model.Channel(self.ids.next(), model.DM, "", recipient=user)
            self._dms[user.id] = channel
            self.channels[channel.id] = channel
            self.changed("channel", channel)
        return self._dms[user.id]

    def open_thread(self, parent: model.Channel, name: str, *, thread_id: int | None = None,
                    starter: model.Message | None = None, kind: int = model.PUBLIC_THREAD) -> model.Channel:
        assert parent.guild is not None
        thread = model.Channel(thread_id or self.ids.next(), kind, name, guild=parent.guild, parent_id=parent.id,
                               owner_id=self.bot_user.id, created_at=self.clock.iso(),
                               starter_message_id=starter.id if starter else None)
        thread.thread_members.add(self.bot_user.id)
        parent.guild.channels[thread.id] = thread
        self.channels[thread.id] = thread
        if starter is not None:
            starter.thread = thread
        self.gateway.dispatch("THREAD_CREATE", payloads.thread_create(self, thread, newly_created=True),
                              guild_id=parent.guild.id, intent=gw.GUILDS)
        self.changed("channel", thread)
        return thread

    def remove_channel(self, channel: model.Channel) -> None:
        assert channel.guild is not None
        channel.guild.channels.pop(channel.id, None)
        self.channels.pop(channel.id, None)
        if channel.starter_message_id is not None:
            starter = self.store.messages.get(channel.starter_message_id)
            if starter is not None:
                starter.thread = None
        if channel.is_thread:
            data = {"id": str(channel.id), "guild_id": str(channel.guild.id), "parent_id": str(channel.parent_id),
                    "type": channel.type}
            self.gateway.dispatch("THREAD_DELETE", data, guild_id=channel.guild.id, intent=gw.GUILDS)
        else:
            self.gateway.dispatch("CHANNEL_DELETE", payloads.channel(self, channel), guild_id=channel.guild.id,
                                  intent=gw.GUILDS)
        self.changed("channel", channel)

    # ---- permissions and limits ----------------------------------------------------------

    def bot_permissions_in(self, channel: model.Channel) -> int:
        if channel.guild is None:
            return model.EVERYONE_PERMISSIONS
        value = channel.guild.roles[channel.guild.id].permissions | self.bot_role(channel.guild).permissions
        if value & model.ADMINISTRATOR:
            return model.ALL_PERMISSIONS
        holder = self.channels.get(channel.parent_id) if channel.is_thread and channel.parent_id else channel
        return value & ~(holder.bot_deny if holder else 0)

    def member_permissions_in(self, member: model.Member, channel: model.Channel) -> int:
        return member.permissions

    def upload_limit_for(self, channel: model.Channel) -> int:
        return channel.guild.attachment_size_limit if channel.guild else self.dm_attachment_size_limit

    # ---- acting as members ---------------------------------------------------------------

    def _membership(self, member: model.Member, channel: model.Channel) -> model.Member:
        """The member as seen where they act (their Member of the channel's guild)."""
        if channel.is_dm:
            if channel.recipient is None or channel.recipient.id != member.id:
                raise ValueError(f"{member!r} is not the recipient of DM channel {channel.id}")
            return member
        assert channel.guild is not None
        found = channel.guild.members.get(member.id)
        if found is None:
            raise ValueError(f"{member!r} is not a member of {channel.guild!r}")
        return found

    def _resolve_channel(self, channel: model.Channel | int) -> model.Channel:
        found = self.channels.get(channel if isinstance(channel, int) else channel.id)
        if found is None:
            raise ValueError(f"unknown channel {channel!r}")
        return found

    async def slash(self, member: model.Member, channel: model.Channel | int, command: str,
                    options: dict[str, Any] | None = None, *,
                    attachments: dict[str, tuple[str, bytes, str | None]] | None = None,
                    subcommand: str | None = None, check: bool = True) -> SimInteraction:
        """A member runs `/command` with `options` (and attachment options as (filename, bytes, type)).

        `check=False` skips what Discord's client enforces (required options, choices, lengths,
        visibility), to feed the bot requests a real client would not send.
        """
        where = self._resolve_channel(channel)
        acting = self._membership(member, where)
        definition = self.registry.find(where.guild_id, command)
        if definition is None:
            raise ValueError(f"/{command} is not registered for {where.guild!r} or globally; "
                             f"registered: {[c['name'] for c in self.commands(where.guild)] + [c['name'] for c in self.commands()]}")
        data = build_command_data(self, definition, acting, where, options or {}, attachments or {},
                                  subcommand, check=check)
        ix = SimInteraction(self, type=ix_mod.APPLICATION_COMMAND, member=acting, channel=where, data=data,
                            command_name=command)
        return self._dispatch_interaction(ix)

    async def autocomplete(self, member: model.Member, channel: model.Channel | int, command: str,
                           options: dict[str, Any], focused: str, *, subcommand: str | None = None) -> SimInteraction:
        """A member typing in option `focused` of `/command`; the bot answers with choices (`ix.response.choices`)."""
        where = self._resolve_channel(channel)
        acting = self._membership(member, where)
        definition = self.registry.find(where.guild_id, command)
        if definition is None:
            raise ValueError(f"/{command} is not registered for {where.guild!r} or globally")
        data = build_command_data(self, definition, acting, where, options, {}, subcommand, check=False,
                                  focused=focused)
        ix = SimInteraction(self, type=ix_mod.AUTOCOMPLETE, member=acting, channel=where, data=data,
                            command_name=command)
        return self._dispatch_interaction(ix)

    def _seen_by(self, member: model.Member, message: model.Message | int
                 ) -> tuple[model.Message, model.Channel, model.Member]:
        """The message a member acts on, its channel and the member there; ValueError if they can't see it."""
        msg = self.store.messages.get(message if isinstance(message, int) else message.id)
        if msg is None or msg.deleted:
            raise ValueError(f"message {message!r} does not exist (deleted?)")
        where = self._resolve_channel(msg.channel_id)
        acting = self._membership(member, where)
        if msg.ephemeral and msg.visible_to != member.id:
            raise ValueError(f"{member!r} cannot see ephemeral message {msg.id}")
        return msg, where, acting

    async def message_command(self, member: model.Member, message: model.Message | int, command: str, *,
                              check: bool = True) -> SimInteraction:
        """A member picks `command` in a message's Apps menu (a message command the bot registered)."""
        msg, where, acting = self._seen_by(member, message)
        definition = self.registry.find(where.guild_id, command, kind=3)
        if definition is None:
            raise ValueError(f"no message command {command!r} is registered for {where.guild!r} or globally")
        if check:
            check_visible(definition, acting, where)
        data: dict[str, Any] = {"id": definition["id"], "name": definition["name"], "type": 3,
                                "target_id": str(msg.id),
                                "resolved": {"messages": {str(msg.id): payloads.message(self, msg)}}}
        if definition.get("guild_id"):
            data["guild_id"] = definition["guild_id"]
        ix = SimInteraction(self, type=ix_mod.APPLICATION_COMMAND, member=acting, channel=where, data=data,
                            command_name=command)
        return self._dispatch_interaction(ix)

    async def click(self, member: model.Member, message: model.Message | int, custom_id: str, *,
                    values: list[str] | None = None) -> SimInteraction:
        """A member presses the button (or picks `values` in the select menu) `custom_id` on `message`."""
        msg, where, acting = self._seen_by(member, message)
        component = next((c for c in msg.walk_components() if c.get("custom_id") == custom_id), None)
        if component is None:
            raise ValueError(f"no component {custom_id!r} on message {msg.id}; it has {msg.custom_ids}")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} on message {msg.id} is disabled")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if isinstance(component.get("id"), int):
            data["id"] = component["id"]
        if component["type"] != 2:
            data["values"] = list(values or [])
        ix = SimInteraction(self, type=ix_mod.MESSAGE_COMPONENT, member=acting, channel=where, data=data,
                            source_message=msg)
        return self._dispatch_interaction(ix)

    async def submit_modal(self, member: model.Member, shown_by: SimInteraction,
                           values: dict[str, str] | None = None) -> SimInteraction:
        """Submit the modal the bot showed as `shown_by`'s response; unset inputs keep their pre-filled value."""
        if shown_by.modal is None:
            raise ValueError(f"{shown_by!r} was not answered with a modal")
        if member.id != shown_by.user.id:
            raise ValueError(f"{member!r} did not see the modal of {shown_by!r}")
        if shown_by.modal_submitted:
            raise ValueError(f"the modal of {shown_by!r} was already submitted")
        data = build_modal_data(shown_by.modal, values or {})
        shown_by.modal_submitted = True
        ix = SimInteraction(self, type=ix_mod.MODAL_SUBMIT, member=shown_by.member, channel=shown_by.channel,
                            data=data, source_message=shown_by.source_message, parent=shown_by)
        return self._dispatch_interaction(ix)

    def _dispatch_interaction(self, ix: SimInteraction) -> SimInteraction:
        if not self.gateway.sessions_for(ix.guild.id if ix.guild else None):
            raise RuntimeError("no bot gateway session for this guild's shard: start the bot and "
                               "`await sim.wait_connected()` first")
        ix.payload = ix_mod.base_payload(self, ix)
        self.interactions.append(ix)
        self._by_id[ix.id] = ix
        self._by_token[ix.token] = ix
        self.gateway.dispatch("INTERACTION_CREATE", ix.payload, guild_id=ix.guild.id if ix.guild else None)
        ix.start_deadline()
        return ix

    async def say(self, member: model.Member, channel: model.Channel | int, content: str, *,
                  attachments: list[tuple[str, bytes, str | None]] | None = None) -> model.Message:
        """A member posts an ordinary message (e.g. to get a message link the bot should accept)."""
        where = self._resolve_channel(channel)
        acting = self._membership(member, where)
        uploads = [Upload(i, name, data, ctype) for i, (name, data, ctype) in enumerate(attachments or [])]
        return self.store.create(where, author_id=acting.id, body=Body({"content": content}, uploads))

    def interaction_by_id(self, interaction_id: int) -> SimInteraction | None:
        return self._by_id.get(interaction_id)

    def interaction_by_token(self, token: str) -> SimInteraction | None:
        return self._by_token.get(token)

    # ---- what members see ----------------------------------------------------------------

    def messages(self, channel: model.Channel | int, *, member: model.Member | None = None,
                 include_ephemeral: bool = False) -> list[model.Message]:
        """Messages in a channel/thread/DM, oldest first. Ephemeral ones only for `member` (or all if asked)."""
        channel_id = channel if isinstance(channel, int) else channel.id
        return [m for m in self.store.by_channel.get(channel_id, [])
                if not m.ephemeral or include_ephemeral or (member is not None and m.visible_to == member.id)]

    def message(self, message_id: int) -> model.Message | None:
        return self.store.messages.get(message_id)

    def thread_of(self, message: model.Message | int) -> model.Channel | None:
        msg = self.store.messages.get(message if isinstance(message, int) else message.id)
        return msg.thread if msg else None

    def threads(self, channel: model.Channel | int) -> list[model.Channel]:
        parent_id = channel if isinstance(channel, int) else channel.id
        return [c for c in self.channels.values() if c.is_thread and c.parent_id == parent_id]

    def dms(self, member: model.Member | model.User) -> list[model.Message]:
        user = member.user if isinstance(member, model.Member) else member
        channel = self._dms.get(user.id)
        return [] if channel is None else self.messages(channel, include_ephemeral=True)

    def commands(self, guild: model.Guild | None = None) -> list[dict[str, Any]]:
        return self.registry.list(guild.id if guild else None)

    def duplicate_posts(self, channel: model.Channel | int | None = None) -> list[list[model.Message]]:
        """Groups of live messages that look identical to members and answer the same interaction
        (or none): the trace of a POST retried after a 5xx that Discord had in fact saved."""
        groups: dict[str, list[model.Message]] = {}
        for msg in self.store.messages.values():
            if msg.deleted or msg.loading:
                continue
            if channel is not None and msg.channel_id != (channel if isinstance(channel, int) else channel.id):
                continue
            groups.setdefault(msg.fingerprint(), []).append(msg)
        return [group for group in groups.values() if len(group) > 1]

    # ---- rules and faults ----------------------------------------------------------------

    def violate(self, rule: str, detail: str, method: str = "", path: str = "") -> None:
        violation = model.Violation(rule, detail, method, path)
        self.violations.append(violation)
        log.warning("discordsim violation: %r", violation)
        self.changed("violation", violation)

    def drop_gateway(self, resume: bool = True, *, shard: int | None = None) -> int:
        return self.gateway.drop(resume=resume, shard=shard)

    def request_reconnect(self) -> None:
        self.gateway.request_reconnect()

    def fail(self, method: str, path_regex: str, status: int = 500, after_write: bool = True,
             times: int = 1) -> None:
        self.faults.add("fail", method, path_regex, times, status=status, after_write=after_write)

    def slow(self, method: str, path_regex: str, seconds: float, times: int = 1) -> None:
        self.faults.add("slow", method, path_regex, times, seconds=seconds)

    def rate_limit(self, method: str, path_regex: str, retry_after: float = 0.5, times: int = 1) -> None:
        self.faults.add("rate_limit", method, path_regex, times, retry_after=retry_after)

    def clear_faults(self) -> None:
        self.faults.clear()

    # ---- waiting -------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.02) -> Any:
        """Poll `predicate` (sync or async) until it returns something truthy; return that."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s: {getattr(predicate, '__name__', predicate)}")
            await asyncio.sleep(interval)

    async def wait_connected(self, timeout: float = 30) -> None:
        """Until every shard has a live gateway session (READY and GUILD_CREATEs sent)."""
        wanted = set(range(self.shard_count))
        await self.wait_for(lambda: wanted <= self.gateway.connected_shards(), timeout)

    # ---- files ---------------------------------------------------------------------------

    async def _serve_file(self, request: web.Request) -> web.StreamResponse:
        try:
            att = self.store.files.get(int(request.match_info["attachment_id"]))
        except ValueError:
            att = None
        if att is None or str(att.url.rsplit("/", 3)[1]) != request.match_info["channel_id"]:
            return web.Response(status=404, body=b'{"message": "404: Not Found", "code": 0}',
                                headers={"Content-Type": "application/json"})
        headers = {"Content-Type": att.content_type or "application/octet-stream", "Accept-Ranges": "bytes"}
        try:
            wanted = request.http_range
        except ValueError:
            wanted = slice(None, None)
        if wanted.start is None and wanted.stop is None:
            return web.Response(body=att.data, headers=headers)
        # A Range request, as a browser's <video> sends: the CDN answers 206 with that part.
        start, stop, _ = wanted.indices(att.size)
        if start >= att.size or start >= stop:
            return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{att.size}"})
        return web.Response(status=206, body=att.data[start:stop],
                            headers={**headers, "Content-Range": f"bytes {start}-{stop - 1}/{att.size}"})

