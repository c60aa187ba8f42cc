"""REST API v10: routing, auth, body parsing, fault injection, and the route handlers.

Every answer carries `Content-Type: application/json` exactly (discord.py only parses JSON
when the header is exactly that). Unknown routes answer 404 JSON and count as a violation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web

from . import errors, gateway, model, payloads
from .errors import ApiError, form_error
from .messages import Body, Upload, check_message

if TYPE_CHECKING:
    from .sim import DiscordSim

log = logging.getLogger("discordsim")
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclasses.dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Body
    headers: Any


@dataclasses.dataclass
class RequestRecord:
    """One REST call as the sim saw it (tests count retries and faults with these)."""

    method: str
    path: str
    status: int
    at: float
    duration: float
    fault: str | None = None


Handler = Callable[[Request], Awaitable[tuple[int, Any]]]


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> web.Response:
    if status == 204:
        # No body, and so no JSON content type: discord.py would try to parse the empty body.
        return web.Response(status=204, headers=headers or {})
    body = json.dumps(data, separators=(",", ":")).encode()
    return web.Response(status=status, body=body, headers={**JSON_HEADERS, **(headers or {})})


def snowflake(value: Any, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise form_error(field, "NUMBER_TYPE_COERCE", f"Value \"{value}\" is not snowflake.",
                         rule="invalid_form_body") from None


class Rest:
    def __init__(self, sim: "DiscordSim") -> None:
        self.sim = sim
        self.routes: list[tuple[str, re.Pattern[str], Handler, bool, type]] = []
        self._install()

    # ---- routing -------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler, *, auth: bool = True, body: type = dict) -> None:
        """`body`: the JSON type the route takes (an object, or a list for bulk overwrites)."""
        self.routes.append((method, re.compile(f"^{pattern}$"), handler, auth, body))

    def _install(self) -> None:
        r = self.route
        ch, msg, app, gld = r"/channels/(?P<channel_id>\d+)", r"/messages/(?P<message_id>\d+)", \
            r"/applications/(?P<app_id>\d+)", r"/guilds/(?P<guild_id>\d+)"
        hook = r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)"
        r("GET", "/gateway/bot", self.gateway_bot)
        r("GET", "/gateway", self.gateway, auth=False)
        r("GET", "/users/@me", self.me)
        r("GET", r"/users/(?P<user_id>\d+)", self.get_user)
        r("GET", "/users/@me/guilds", self.my_guilds)
        r("POST", "/users/@me/channels", self.open_dm)
        r("GET", "/oauth2/applications/@me", self.application)
        r("GET", "/applications/@me", self.application)
        for scope in (app, app + gld):
            r("GET", scope + "/commands", self.list_commands)
            r("PUT", scope + "/commands", self.overwrite_commands, body=list)
            r("POST", scope + "/commands", self.upsert_command)
            r("GET", scope + r"/commands/(?P<command_id>\d+)", self.get_command)
            r("PATCH", scope + r"/commands/(?P<command_id>\d+)", self.edit_command)
            r("DELETE", scope + r"/commands/(?P<command_id>\d+)", self.delete_command)
        r("POST", r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback", self.callback, auth=False)
        r("POST", hook, self.followup, auth=False)
        r("GET", hook + r"/messages/(?P<message_id>@original|\d+)", self.webhook_get, auth=False)
        r("PATCH", hook + r"/messages/(?P<message_id>@original|\d+)", self.webhook_edit, auth=False)
        r("DELETE", hook + r"/messages/(?P<message_id>@original|\d+)", self.webhook_delete, auth=False)
        r("GET", ch, self.get_channel)
        r("PATCH", ch, self.edit_channel)
        r("DELETE", ch, self.delete_channel)
        r("GET", ch + "/messages", self.list_messages)
        r("POST", ch + "/messages", self.create_message)
        r("GET", ch + msg, self.get_message)
        r("PATCH", ch + msg, self.edit_message)
        r("DELETE", ch + msg, self.delete_message)
        r("POST", ch + msg + "/threads", self.thread_from_message)
        r("POST", ch + "/threads", self.thread_without_message)
        r("POST", ch + "/typing", self.typing)
        r("PUT", ch + r"/thread-members/(?P<user_id>@me|\d+)", self.join_thread)
        r("DELETE", ch + r"/thread-members/(?P<user_id>@me|\d+)", self.leave_thread)
        r("GET", gld, self.get_guild)
        r("GET", gld + "/channels", self.guild_channels)
        r("GET", gld + "/roles", self.guild_roles)
        r("GET", gld + r"/members/(?P<user_id>\d+)", self.get_member)
        r("GET", gld + "/threads/active", self.active_threads)

    def _match(self, method: str, path: str) -> tuple[Handler, dict[str, str], bool, type]:
        allowed = False
        for route_method, pattern, handler, auth, body in self.routes:
            found = pattern.match(path)
            if found:
                if route_method == method:
                    return handler, found.groupdict(), auth, body
                allowed = True
        if allowed:
            raise ApiError(405, 0, "405: Method Not Allowed", rule="unknown_route",
                           detail=f"{method} is not a method of {path}")
        raise ApiError(404, 0, "404: Not Found", rule="unknown_route", detail=f"no route {method} {path}")

    # ---- the request pipeline ------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        sim = self.sim
        method = request.method
        path = "/" + request.match_info.get("tail", "")
        started = time.monotonic()
        fault_used: str | None = None
        headers: dict[str, str] = {}
        limited = None
        try:
            handler, params, auth, body_type = self._match(method, path)
            if auth:
                self._check_auth(request)
            limited = sim.faults.take("rate_limit", method, path)
            if limited is not None:
                fault_used = "rate_limit"
                raise ApiError(429, 0, "You are being rate limited.", headers={
                    "Retry-After": str(max(1, round(limited.retry_after))), "Via": "1.1 google",
                    "X-RateLimit-Scope": "user", "X-RateLimit-Global": "false"})
            slow = sim.faults.take("slow", method, path)
            if slow is not None:
                fault_used = "slow"
                await asyncio.sleep(slow.seconds)
            failing = sim.faults.take("fail", method, path)
            if failing is not None and not failing.after_write:
                fault_used = "fail_before_write"
                raise ApiError(failing.status, 0, f"{failing.status}: Internal Server Error")
            body = await self._body(request)
            if not isinstance(body.json, body_type):
                raise form_error("_root", "MODEL_TYPE_CONVERT", f"The body must be a JSON {body_type.__name__}.",
                                 rule="invalid_form_body")
            req = Request(method, path, params, dict(request.query), body, request.headers)
            status, data = await handler(req)
            if failing is not None:
                # The write happened; the bot only learns "5xx" and (discord.py) retries it.
                fault_used = "fail_after_write"
                status, data = failing.status, {"message": f"{failing.status}: Internal Server Error", "code": 0}
        except ApiError as exc:
            if exc.rule:
                sim.violate(exc.rule, exc.detail, method, path)
            status, data, headers = exc.status, exc.body(), exc.headers
            if status == 429:
                data["retry_after"] = limited.retry_after if limited else 1.0
                data["global"] = False
        except ConnectionResetError:
            # The client died before its request was read (a bot killed mid-request): like
            # Discord, nothing was done, and there is no one to answer.
            status, data = 499, {"message": "client closed the request", "code": 0}
        except Exception as exc:  # a bug in the sim must fail the test, not hang the bot
            log.exception("discordsim: internal error on %s %s", method, path)
            sim.violate("sim_internal_error", f"{type(exc).__name__}: {exc}", method, path)
            status, data = 500, {"message": "500: Internal Server Error", "code": 0}
        sim.requests.append(RequestRecord(method, path, status, sim.clock.now(), time.monotonic() - started,
                                          fault_used))
        return json_response(status, data, headers)

    def _check_auth(self, request: web.Request) -> None:
        given = request.headers.get("Authorization")
        if given != f"Bot {self.sim.token}":
            detail = "no Authorization header" if given is None else "Authorization is not 'Bot <the token>'"
            raise ApiError(401, 0, "401: Unauthorized", rule="auth", detail=detail)

    async def _body(self, request: web.Request) -> Body:
        if request.method in ("GET", "DELETE") or not request.can_read_body:
            return Body({}, [])
        ctype = request.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip() == "application/json":
            raw = await request.read()
            try:
                data = json.loads(raw) if raw else {}
            except ValueError:
                raise ApiError(400, errors.INVALID_JSON, "The request body contains invalid JSON.",
                               rule="invalid_json", detail=f"unparseable JSON body: {raw[:80]!r}") from None
            return Body(data, [])
        if ctype.startswith("multipart/form-data"):
            return await self._multipart(request)
        raw = await request.read()
        if not raw:
            return Body({}, [])
        raise ApiError(400, errors.INVALID_JSON, "The request body contains invalid JSON.", rule="content_type",
                       detail=f"body sent as {ctype or 'no Content-Type'!r}, not application/json or multipart")

    async def _multipart(self, request: web.Request) -> Body:
        reader = await request.multipart()
        data: dict[str, Any] | None = None
        uploads: list[Upload] = []
        while (part := await reader.next()) is not None:
            name = part.name or ""
            raw = await part.read(decode=False)  # type: ignore[union-attr]
            if name == "payload_json":
                try:
                    data = json.loads(raw)
                except ValueError:
                    raise ApiError(400, errors.INVALID_JSON, "The request body contains invalid JSON.",
                                   rule="invalid_json", detail="payload_json is not JSON") from None
                continue
            found = re.fullmatch(r"files\[(\d+)\]", name)
            index = int(found.group(1)) if found else len(uploads)
            filename = part.filename or name  # type: ignore[union-attr]
            uploads.append(Upload(index, filename, bytes(raw), part.headers.get("Content-Type")))
        if data is None:
            raise ApiError(400, 50035, "Invalid Form Body", rule="content_type",
                           detail="multipart body without a payload_json part")
        return Body(data, uploads)

    # ---- lookups -------------------------------------------------------------------------

    def _channel(self, req: Request) -> model.Channel:
        channel = self.sim.channels.get(int(req.params["channel_id"]))
        if channel is None:
            raise errors.unknown("Channel", errors.UNKNOWN_CHANNEL)
        return channel

    def _guild(self, req: Request) -> model.Guild:
        guild = self.sim.guilds.get(int(req.params["guild_id"]))
        if guild is None:
            raise errors.unknown("Guild", errors.UNKNOWN_GUILD)
        return guild

    def _need(self, channel: model.Channel, bits: int, what: str) -> None:
        if channel.is_dm:
            return
        have = self.sim.bot_permissions_in(channel)
        if have & bits != bits:
            raise ApiError(403, errors.MISSING_PERMISSIONS, "Missing Permissions", rule="missing_permissions",
                           detail=f"the bot lacks permission to {what} in #{channel.name}")

    def _interaction(self, req: Request) -> Any:
        if int(req.params["app_id"]) != self.sim.application_id:
            raise ApiError(404, errors.UNKNOWN_WEBHOOK, "Unknown Webhook", rule="wrong_application",
                           detail=f"webhook id {req.params['app_id']} is not the application id")
        ix = self.sim.interaction_by_token(req.params["token"])
        if ix is None:
            raise ApiError(401, errors.INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token", rule="invalid_token",
                           detail="a webhook token that no interaction ever had")
        return ix

    # ---- gateway, users, application ----------------------------------------------------------

    async def gateway_bot(self, req: Request) -> tuple[int, Any]:
        return 200, {"url": self.sim.gateway_url, "shards": self.sim.shard_count,
                     "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000,
                                             "max_concurrency": 1}}

    async def gateway(self, req: Request) -> tuple[int, Any]:
        return 200, {"url": self.sim.gateway_url}

    async def me(self, req: Request) -> tuple[int, Any]:
        return 200, payloads.user(self.sim.bot_user) | {"verified": True, "mfa_enabled": False, "email": None,
                                                          "locale": "en-US", "premium_type": 0}

    async def get_user(self, req: Request) -> tuple[int, Any]:
        found = self.sim.users.get(int(req.params["user_id"]))
        if found is None:
            raise errors.unknown("User", errors.UNKNOWN_USER)
        return 200, payloads.user(found)

    async def my_guilds(self, req: Request) -> tuple[int, Any]:
        return 200, [{"id": str(g.id), "name": g.name, "icon": None, "banner": None, "owner": False,
                      "permissions": str(self.sim.bot_role(g).permissions), "features": []}
                     for g in self.sim.guilds.values()]

    async def open_dm(self, req: Request) -> tuple[int, Any]:
        recipient = self.sim.users.get(snowflake(req.body.json.get("recipient_id"), "recipient_id"))
        if recipient is None or recipient.bot:
            raise ApiError(400, errors.INVALID_RECIPIENT, "Invalid Recipient(s)")
        return 200, payloads.channel(self.sim, self.sim.dm_for_user(recipient))

    async def application(self, req: Request) -> tuple[int, Any]:
        sim = self.sim
        return 200, {
            "id": str(sim.application_id),
            "name": sim.bot_user.name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": payloads.user(sim.owner_user),
            "team": None,
            "bot": payloads.user(sim.bot_user),
            "rpc_origins": [],
            "redirect_uris": [],
            "tags": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(sim.guilds),
            "integration_types_config": {"0": {}},
        }

    # ---- application commands ------------------------------------------------------------

    def _scope(self, req: Request) -> int | None:
        if int(req.params["app_id"]) != self.sim.application_id:
            raise ApiError(403, 50001, "Missing Access", rule="wrong_application",
                           detail=f"application id {req.params['app_id']} is not {self.sim.application_id}")
        if req.params.get("guild_id") is not None:
            self._guild(req)
            return int(req.params["guild_id"])
        return None

    async def list_commands(self, req: Request) -> tuple[int, Any]:
        return 200, self.sim.registry.list(self._scope(req))

    async def overwrite_commands(self, req: Request) -> tuple[int, Any]:
        scope = self._scope(req)
        return 200, self.sim.registry.overwrite(scope, req.body.json, strict=self.sim.strict)

    async def upsert_command(self, req: Request) -> tuple[int, Any]:
        scope = self._scope(req)
        created, data = self.sim.registry.upsert(scope, req.body.json, strict=self.sim.strict)
        return (201 if created else 200), data

    async def get_command(self, req: Request) -> tuple[int, Any]:
        return 200, self.sim.registry.get(self._scope(req), int(req.params["command_id"]))

    async def edit_command(self, req: Request) -> tuple[int, Any]:
        scope = self._scope(req)
        return 200, self.sim.registry.edit(scope, int(req.params["command_id"]), req.body.json,
                                           strict=self.sim.strict)

    async def delete_command(self, req: Request) -> tuple[int, Any]:
        self.sim.registry.delete(self._scope(req), int(req.params["command_id"]))
        return 204, None

    # ---- interactions and their webhook --------------------------------------------------

    async def callback(self, req: Request) -> tuple[int, Any]:
        ix = self.sim.interaction_by_id(int(req.params["interaction_id"]))
        if ix is None or ix.token != req.params["token"]:
            raise ApiError(404, errors.UNKNOWN_INTERACTION, "Unknown interaction", rule="unknown_interaction",
                           detail="a callback for an interaction id/token the sim never sent")
        cb_type = req.body.json.get("type")
        if not isinstance(cb_type, int) or isinstance(cb_type, bool):
            raise form_error("type", "BASE_TYPE_REQUIRED", "This field is required", rule="invalid_callback_type")
        result = ix.callback(cb_type, req.body.json.get("data"), req.body)
        if req.query.get("with_response") in ("1", "true", "True"):
            return 200, result
        return 204, None

    async def followup(self, req: Request) -> tuple[int, Any]:
        ix = self._interaction(req)
        msg = ix.followup(req.body)
        if req.query.get("wait") in ("1", "true", "True"):
            return 200, payloads.message(self.sim, msg)
        return 204, None

    async def webhook_get(self, req: Request) -> tuple[int, Any]:
        ix = self._interaction(req)
        ix.check_token("GET message")
        return 200, payloads.message(self.sim, ix.find_message(req.params["message_id"]))

    async def webhook_edit(self, req: Request) -> tuple[int, Any]:
        ix = self._interaction(req)
        ix.check_token("edit message")
        target = ix.find_message(req.params["message_id"])
        check_message(req.body, strict=self.sim.strict, creating=False)
        edited = self.sim.store.edit(target, req.body, size_limit=ix.attachment_size_limit, resolve_loading=True)
        ix._notify()
        return 200, payloads.message(self.sim, edited)

    async def webhook_delete(self, req: Request) -> tuple[int, Any]:
        ix = self._interaction(req)
        ix.check_token("delete message")
        self.sim.store.delete(ix.find_message(req.params["message_id"]))
        ix._notify()
        return 204, None

    # ---- channels and messages -----------------------------------------------------------

    async def get_channel(self, req: Request) -> tuple[int, Any]:
        return 200, payloads.channel(self.sim, self._channel(req))

    async def edit_channel(self, req: Request) -> tuple[int, Any]:
        channel = self._channel(req)
        data = req.body.json
        if channel.is_dm:
            raise ApiError(400, errors.INVALID_CHANNEL_TYPE, "Cannot execute action on this channel type",
                           rule="invalid_channel_type", detail="PATCH on a DM channel")
        if "name" in data:
            name = data["name"]
            if not isinstance(name, str) or not 1 <= len(name) <= 100:
                raise form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            channel.name = name
        if channel.is_thread:
            channel.archived = bool(data.get("archived", channel.archived))
            channel.locked = bool(data.get("locked", channel.locked))
        event = "THREAD_UPDATE" if channel.is_thread else "CHANNEL_UPDATE"
        self.sim.gateway.dispatch(event, payloads.channel(self.sim, channel), guild_id=channel.guild_id,
                                  intent=gateway.GUILDS)
        return 200, payloads.channel(self.sim, channel)

    async def delete_channel(self, req: Request) -> tuple[int, Any]:
        channel = self._channel(req)
        data = payloads.channel(self.sim, channel)
        if channel.is_dm:
            return 200, data
        if not channel.is_thread:
            self._need(channel, 1 << 4, "delete channels")  # MANAGE_CHANNELS
        self.sim.remove_channel(channel)
        return 200, data

    async def list_messages(self, req: Request) -> tuple[int, Any]:
        channel = self._channel(req)
        self._need(channel, model.VIEW_CHANNEL | model.READ_MESSAGE_HISTORY, "read message history")
        limit = snowflake(req.query.get("limit", 50), "limit")
        if not 1 <= limit <= 100:
            raise form_error("limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 100",
                             rule="invalid_form_body")
        items = [m for m in self.sim.store.by_channel[channel.id] if not m.ephemeral]
        if "before" in req.query:
            items = [m for m in items if m.id < snowflake(req.query["before"], "before")]
        if "after" in req.query:
            items = [m for m in items if m.id > snowflake(req.query["after"], "after")][:limit]
            return 200, [payloads.message(self.sim, m) for m in reversed(items)]
        if "around" in req.query:
            pivot = snowflake(req.query["around"], "around")
            older = [m for m in items if m.id <= pivot][-(limit // 2 + limit % 2):]
            newer = [m for m in items if m.id > pivot][: limit // 2]
            items = older + newer
        items = items[-limit:]
        return 200, [payloads.message(self.sim, m) for m in reversed(items)]

    async def create_message(self, req: Request) -> tuple[int, Any]:
        sim = self.sim
        channel = self._channel(req)
        if channel.is_thread:
            self._need(channel, model.VIEW_CHANNEL | model.SEND_MESSAGES_IN_THREADS, "send messages in threads")
            if channel.locked:
                raise ApiError(400, 50083, "Thread is archived", rule="thread_locked",
                               detail=f"a message to locked thread {channel.name!r}")
        else:
            self._need(channel, model.VIEW_CHANNEL | model.SEND_MESSAGES, "send messages")
        if req.body.uploads:
            self._need(channel, model.ATTACH_FILES, "attach files")
        if channel.is_dm and channel.recipient is not None and not channel.recipient.dms_open:
            raise ApiError(403, errors.CANNOT_DM, "Cannot send messages to this user")
        check_message(req.body, strict=sim.strict, creating=True)
        if int(req.body.json.get("flags") or 0) & model.FLAG_EPHEMERAL:
            sim.violate("ephemeral_channel_message", f"flag EPHEMERAL on a channel message in #{channel.name} "
                                                     "(only interaction responses can be ephemeral)",
                        req.method, req.path)
        msg = sim.store.create(channel, author_id=sim.bot_user.id, body=req.body)
        if channel.is_thread and channel.archived:
            channel.archived = False  # posting in an archived (unlocked) thread reopens it
        return 200, payloads.message(sim, msg)

    async def get_message(self, req: Request) -> tuple[int, Any]:
        channel = self._channel(req)
        return 200, payloads.message(self.sim, self.sim.store.get(channel.id, int(req.params["message_id"])))

    async def edit_message(self, req: Request) -> tuple[int, Any]:
        channel = self._channel(req)
        target = self.sim.store.get(channel.id, int(req.params["message_id"]))
        if target.author_id != self.sim.bot_user.id:
            raise ApiError(403, errors.CANNOT_EDIT_OTHERS, "Cannot edit a message authored by another user",
                           rule="edit_others", detail=f"edit of message {target.id} by user {target.author_id}")
        check_message(req.body, strict=self.sim.strict, creating=False)
        return 200, payloads.message(self.sim, self.sim.store.edit(target, req.body))

    async def delete_message(self, req: Request) -> tuple[int, Any]:
        channel = self._channel(req)
        target = self.sim.store.get(channel.id, int(req.params["message_id"]))
        if target.author_id != self.sim.bot_user.id:
            if channel.is_dm:
                raise ApiError(403, errors.CANNOT_EDIT_OTHERS, "Cannot execute action on a DM channel")
            self._need(channel, model.MANAGE_MESSAGES, "delete other users' messages")
        self.sim.store.delete(target)
        return 204, None

    async def thread_from_message(self, req: Request) -> tuple[int, Any]:
        sim = self.sim
        channel = self._channel(req)
        if channel.type not in (model.GUILD_TEXT, 5):
            raise ApiError(400, errors.INVALID_CHANNEL_TYPE, "Cannot execute action on this channel type",
                           rule="invalid_channel_type",
                           detail=f"a thread started on a message in a {'DM' if channel.is_dm else 'thread'}")
        starter = sim.store.get(channel.id, int(req.params["message_id"]))
        self._need(channel, model.CREATE_PUBLIC_THREADS, "create public threads")
        if starter.thread is not None:
            raise ApiError(400, errors.THREAD_ALREADY_CREATED, "A thread has already been created for this message")
        name = self._thread_name(req.body.json)
        thread = sim.open_thread(channel, name, thread_id=starter.id, starter=starter)
        return 201, payloads.channel(sim, thread)

    async def thread_without_message(self, req: Request) -> tuple[int, Any]:
        sim = self.sim
        channel = self._channel(req)
        if channel.type not in (model.GUILD_TEXT, 5):
            raise ApiError(400, errors.INVALID_CHANNEL_TYPE, "Cannot execute action on this channel type",
                           rule="invalid_channel_type", detail="a thread opened in a DM or inside a thread")
        kind = req.body.json.get("type") or model.PRIVATE_THREAD
        if kind not in (model.PUBLIC_THREAD, model.PRIVATE_THREAD):
            raise form_error("type", "BASE_TYPE_CHOICES", "Value must be one of {10, 11, 12}.")
        need = model.CREATE_PUBLIC_THREADS if kind == model.PUBLIC_THREAD else model.CREATE_PRIVATE_THREADS
        self._need(channel, need, "create threads")
        thread = sim.open_thread(channel, self._thread_name(req.body.json), kind=kind)
        return 201, payloads.channel(sim, thread)

    @staticmethod
    def _thread_name(data: dict[str, Any]) -> str:
        name = data.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.",
                             rule="invalid_form_body")
        return name

    async def typing(self, req: Request) -> tuple[int, Any]:
        self._channel(req)
        return 204, None

    async def join_thread(self, req: Request) -> tuple[int, Any]:
        thread = self._channel(req)
        if not thread.is_thread:
            raise ApiError(400, errors.INVALID_CHANNEL_TYPE, "Cannot execute action on this channel type",
                           rule="invalid_channel_type", detail="thread-members on a channel that is not a thread")
        user_id = self.sim.bot_user.id if req.params["user_id"] == "@me" else int(req.params["user_id"])
        if user_id not in self.sim.users:
            raise errors.unknown("User", errors.UNKNOWN_USER)
        thread.thread_members.add(user_id)
        return 204, None

    async def leave_thread(self, req: Request) -> tuple[int, Any]:
        thread = self._channel(req)
        user_id = self.sim.bot_user.id if req.params["user_id"] == "@me" else int(req.params["user_id"])
        thread.thread_members.discard(user_id)
        return 204, None

    # ---- guilds --------------------------------------------------------------------------

    async def get_guild(self, req: Request) -> tuple[int, Any]:
        return 200, payloads.guild(self.sim, self._guild(req))

    async def guild_channels(self, req: Request) -> tuple[int, Any]:
        guild = self._guild(req)
        return 200, [payloads.channel(self.sim, c) for c in guild.channels.values() if not c.is_thread]

    async def guild_roles(self, req: Request) -> tuple[int, Any]:
        return 200, [payloads.role(r) for r in self._guild(req).roles.values()]

    async def get_member(self, req: Request) -> tuple[int, Any]:
        guild = self._guild(req)
        found = guild.members.get(int(req.params["user_id"]))
        if found is None:
            raise errors.unknown("Member", errors.UNKNOWN_MEMBER)
        return 200, payloads.member(found)

    async def active_threads(self, req: Request) -> tuple[int, Any]:
        guild = self._guild(req)
        threads = [c for c in guild.channels.values() if c.is_thread and not c.archived]
        bot_id = self.sim.bot_user.id
        return 200, {"threads": [payloads.channel(self.sim, t) for t in threads],
                     "members": [payloads.thread_member(self.sim, t, bot_id) for t in threads
                                 if bot_id in t.thread_members]}


def unknown_api(sim: "DiscordSim") -> Callable[[web.Request], Awaitable[web.Response]]:
    """Anything outside /api/v10 (another API version, a stray path): 404 JSON and a violation."""

    async def handler(request: web.Request) -> web.Response:
        sim.violate("unknown_route", f"no route {request.method} {request.path}", request.method, request.path)
        sim.requests.append(RequestRecord(request.method, request.path, 404, sim.clock.now(), 0.0))
        return json_response(404, {"message": "404: Not Found", "code": 0})

    return handler
