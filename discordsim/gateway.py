"""The websocket gateway: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME, dispatch.

One `Session` per IDENTIFY (a shard of the bot). Dispatched events get the session's next
sequence number and stay in a replay buffer, so a client that drops and RESUMEs receives what
it missed, as on Discord. `zlib-stream` transport compression is supported (discord.py asks for
it); other values get plain JSON text frames, which discord.py also reads.
"""

from __future__ import annotations

import asyncio
import collections
import json
import secrets
import zlib
from typing import TYPE_CHECKING, Any, Iterable

from aiohttp import WSCloseCode, WSMsgType, web

from . import payloads

if TYPE_CHECKING:
    from .sim import DiscordSim

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE, RESUME, RECONNECT = 0, 1, 2, 3, 4, 6, 7
REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 8, 9, 10, 11

# Intent bits that gate the events the sim sends.
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15

REPLAY_BUFFER = 5000  # events kept per session for RESUME
# A heartbeat's ACK leaves after about one network round trip, as Discord's does. discord.py's
# keep-alive thread stamps a beat's send time only after the event loop has sent it; on
# loopback an instant ACK can be read before that stamp, and the client then measures the
# whole interval since the previous beat ("Can't keep up ... 41.3s behind").
HEARTBEAT_ACK_DELAY_S = 0.05


class Session:
    def __init__(self, shard: tuple[int, int] | None, intents: int) -> None:
        self.id = secrets.token_hex(16)
        self.shard = shard
        self.intents = intents
        self.seq = 0
        self.buffer: collections.deque[tuple[int, str]] = collections.deque(maxlen=REPLAY_BUFFER)
        self.conn: Connection | None = None
        self.resumable = True

    def owns(self, guild_id: int | None) -> bool:
        """Discord's routing: guild (id >> 22) % shard_count; DMs go to shard 0."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        return shard_id == (0 if guild_id is None else (guild_id >> 22) % count)

    def push(self, event: str, data: Any) -> None:
        """Number the event, keep it for replay, and send it if a connection is live."""
        self.seq += 1
        frame = json.dumps({"op": DISPATCH, "t": event, "s": self.seq, "d": data}, separators=(",", ":"))
        self.buffer.append((self.seq, frame))
        if self.conn is not None:
            self.conn.send(frame)


class Connection:
    """One websocket. Frames go through a queue and a single writer so compression stays in order."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.session: Session | None = None
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write())

    def send(self, frame: str) -> None:
        self._queue.put_nowait(frame)

    async def _write(self) -> None:
        while (frame := await self._queue.get()) is not None:
            try:
                if self._zlib is not None:
                    data = self._zlib.compress(frame.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return

    async def close(self, code: int, message: str = "") -> None:
        self._queue.put_nowait(None)
        await asyncio.wait([self._writer], timeout=2)
        if not self.ws.closed:
            await self.ws.close(code=code, message=message.encode())

    def stop(self) -> None:
        self._queue.put_nowait(None)


class Gateway:
    def __init__(self, sim: "DiscordSim", heartbeat_interval_ms: int = 41250) -> None:
        self.sim = sim
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        self.identify_count = 0
        self.resume_count = 0

    # ---- routing -------------------------------------------------------------------------

    def shard_of(self, guild_id: int | None) -> int:
        """The shard a guild belongs to with the shard count GET /gateway/bot recommends."""
        return 0 if guild_id is None else (guild_id >> 22) % self.sim.shard_count

    def sessions_for(self, guild_id: int | None) -> list[Session]:
        return [s for s in self.sessions.values() if s.owns(guild_id)]

    def live_sessions_for(self, guild_id: int | None) -> list[Session]:
        return [s for s in self.sessions_for(guild_id) if s.conn is not None]

    def connected_shards(self) -> set[int]:
        """Shard ids (of the recommended count) whose guilds a live session receives."""
        live = [s for s in self.sessions.values() if s.conn is not None]
        count = self.sim.shard_count
        return {shard for shard in range(count)
                if any(s.shard is None or s.shard == (shard, count) for s in live)}

    def dispatch(self, event: str, data: Any, *, guild_id: int | None, intent: int | None = None,
                 build: Any = None) -> int:
        """Send an event to every session of the owning shard; returns how many got it.

        `build(session)` may tailor the payload per session (MESSAGE_CONTENT intent).
        """
        count = 0
        for session in self.sessions_for(guild_id):
            if intent is not None and not session.intents & intent:
                continue
            session.push(event, build(session) if build else data)
            count += 1
        return count

    # ---- faults --------------------------------------------------------------------------

    def drop(self, *, resume: bool = True, shard: int | None = None) -> int:
        """Close live websockets (code 4000). resume=False also forgets the session (client re-identifies)."""
        dropped = 0
        for session in list(self.sessions.values()):
            if shard is not None and (session.shard or (0, 1))[0] != shard:
                continue
            if not resume:
                session.resumable = False
                self.sessions.pop(session.id, None)
            if session.conn is not None:
                conn, session.conn = session.conn, None
                asyncio.create_task(conn.close(4000 if resume else 4009, "sim: gateway dropped"))
                dropped += 1
        return dropped

    def request_reconnect(self) -> None:
        """Send op 7 RECONNECT on every live connection (the client closes and resumes)."""
        for conn in list(self.connections):
            conn.send(json.dumps({"op": RECONNECT, "d": None, "s": None, "t": None}))

    async def close_all(self) -> None:
        for conn in list(self.connections):
            await conn.close(1001, "sim stopping")

    # ---- the websocket -------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        conn = Connection(ws, request.query.get("compress"))
        self.connections.add(conn)
        if request.query.get("encoding", "json") != "json":
            await conn.close(4002, "sim: only encoding=json is supported")
            self.connections.discard(conn)
            return ws
        conn.send(json.dumps({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms,
                                                 "_trace": ["discordsim"]}, "s": None, "t": None}))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    if not await self._receive(conn, msg.data):
                        break
                elif msg.type is WSMsgType.BINARY:
                    await conn.close(4002, "sim: binary frames are not accepted")
                    break
        finally:
            self.connections.discard(conn)
            conn.stop()
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                # A clean close by the client ends the session; anything else may RESUME.
                if ws.close_code in (WSCloseCode.OK, WSCloseCode.GOING_AWAY):
                    session.resumable = False
                    self.sessions.pop(session.id, None)
        return ws

    async def _receive(self, conn: Connection, text: str) -> bool:
        try:
            msg = json.loads(text)
            op = msg["op"]
        except (ValueError, KeyError, TypeError, IndexError):
            await conn.close(4002, "Error while decoding payload.")
            return False
        data = msg.get("d") if isinstance(msg, dict) else None
        if op in (IDENTIFY, RESUME, REQUEST_MEMBERS) and not isinstance(data, dict):
            await conn.close(4002, "Error while decoding payload.")
            return False
        if op == HEARTBEAT:
            ack = json.dumps({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
            asyncio.get_running_loop().call_later(HEARTBEAT_ACK_DELAY_S, conn.send, ack)
            return True
        if op == IDENTIFY:
            return await self._identify(conn, data or {})
        if op == RESUME:
            return await self._resume(conn, data or {})
        if conn.session is None:
            await conn.close(4003, "Not authenticated.")
            return False
        if op == REQUEST_MEMBERS:
            self._members_chunk(conn.session, data or {})
            return True
        if op in (PRESENCE, VOICE_STATE):
            return True
        await conn.close(4001, "Unknown opcode.")
        return False

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> bool:
        if conn.session is not None:
            await conn.close(4005, "Already authenticated.")
            return False
        if data.get("token") != self.sim.token:
            self.sim.violate("gateway_auth", "IDENTIFY with a wrong token")
            await conn.close(4004, "Authentication failed.")
            return False
        shard = data.get("shard")
        if shard is not None:
            if (not isinstance(shard, list) or len(shard) != 2 or not all(isinstance(x, int) for x in shard)
                    or not 0 <= shard[0] < shard[1]):
                await conn.close(4010, "Invalid shard.")
                return False
            shard = (int(shard[0]), int(shard[1]))  # any count is accepted; events follow it
        intents = data.get("intents", 0)
        if not isinstance(intents, int) or isinstance(intents, bool) or intents < 0:
            await conn.close(4013, "Invalid intent(s).")
            return False
        session = Session(shard, intents)
        # A fresh IDENTIFY for a shard replaces sessions of a process that is gone.
        for old in list(self.sessions.values()):
            if old.conn is None and (old.shard == shard or shard is None or old.shard is None):
                self.sessions.pop(old.id, None)
        self.sessions[session.id] = session
        session.conn, conn.session = conn, session
        self.identify_count += 1
        self._ready(session)
        return True

    def _ready(self, session: Session) -> None:
        sim = self.sim
        guilds = [g for g in sim.guilds.values() if session.owns(g.id)]
        me = payloads.user(sim.bot_user) | {"verified": True, "mfa_enabled": False, "email": None}
        ready = {
            "v": 10,
            "user": me,
            "user_settings": {},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": sim.gateway_url,
            "application": {"id": str(sim.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "auth": {},
            "_trace": ["discordsim"],
        }
        if session.shard is not None:
            ready["shard"] = list(session.shard)
        session.push("READY", ready)
        if session.intents & GUILDS:
            for g in guilds:
                session.push("GUILD_CREATE", payloads.guild_create(sim, g))

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> bool:
        if data.get("token") != self.sim.token:
            self.sim.violate("gateway_auth", "RESUME with a wrong token")
            await conn.close(4004, "Authentication failed.")
            return False
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq") or 0
        if not isinstance(seq, int):
            await conn.close(4002, "Error while decoding payload.")
            return False
        lost = session is not None and seq < session.seq and (
            not session.buffer or session.buffer[0][0] > seq + 1)
        if session is None or not session.resumable or lost:
            conn.send(json.dumps({"op": INVALID_SESSION, "d": False, "s": None, "t": None}))
            return True
        if session.conn is not None and session.conn is not conn:
            asyncio.create_task(session.conn.close(4000, "sim: session resumed elsewhere"))
        session.conn, conn.session = conn, session
        self.resume_count += 1
        for number, frame in session.buffer:
            if number > seq:
                conn.send(frame)
        session.seq += 1
        conn.send(json.dumps({"op": DISPATCH, "t": "RESUMED", "s": session.seq, "d": {"_trace": ["discordsim"]}}))
        return True

    def _members_chunk(self, session: Session, data: dict[str, Any]) -> None:
        guild_ids: Iterable[Any] = data.get("guild_id") or []
        if not isinstance(guild_ids, list):
            guild_ids = [guild_ids]
        for raw in guild_ids:
            try:
                g = self.sim.guilds.get(int(raw))
            except (TypeError, ValueError):
                g = None
            if g is None:
                continue
            members = list(g.members.values())
            wanted = data.get("user_ids")
            if wanted:
                ids = {int(x) for x in (wanted if isinstance(wanted, list) else [wanted]) if str(x).isdigit()}
                members = [m for m in members if m.id in ids]
            elif data.get("query"):
                members = [m for m in members if m.name.lower().startswith(str(data["query"]).lower())]
            limit = data.get("limit") or 0
            if isinstance(limit, int) and limit > 0:
                members = members[:limit]
            chunk = {
                "guild_id": str(g.id),
                "members": [payloads.member(m) for m in members],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
            }
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            if data.get("presences"):
                chunk["presences"] = []
            session.push("GUILD_MEMBERS_CHUNK", chunk)
