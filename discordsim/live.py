"""Live updates for the sandbox page: server-sent events per open tab, filtered by what its
member may see (a MemberView), fed by the sim's change listeners."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from typing import Any

from aiohttp import web

from .view import MemberView

QUEUE_SIZE = 2000


@dataclasses.dataclass(eq=False)
class _Subscriber:
    member_id: int
    queue: asyncio.Queue


class LiveUpdates:
    """Events: message, delete, channels, commands, violation, status (the bot online or not),
    resync (a tab that fell behind fetches everything again)."""

    def __init__(self, view: MemberView) -> None:
        self.view = view
        self._subscribers: set[_Subscriber] = set()
        self._closing = False

    def changed(self, kind: str, obj: Any) -> None:
        """A sim listener: turn a change into events for the tabs whose member may see it."""
        if not self._subscribers:
            return
        if kind in ("message", "delete"):
            if kind == "message":
                data = self.view.message_json(obj)
            else:
                data = {"id": str(obj.id), "channel_id": str(obj.channel_id)}
            for sub in self._subscribers:
                if self.view.can_see(obj, sub.member_id):
                    self._push(sub, kind, data)
        elif kind == "channel":
            for sub in self._subscribers:
                if self.view.can_see_channel(obj, sub.member_id):
                    self._push(sub, "channels", {})
        elif kind == "commands":
            for sub in self._subscribers:
                self._push(sub, "commands", {})
        elif kind == "violation":
            data = self.view.violation_json(obj)
            for sub in self._subscribers:
                self._push(sub, "violation", data)

    @staticmethod
    def _push(sub: _Subscriber, event: str, data: Any) -> None:
        try:
            sub.queue.put_nowait((event, data))
        except asyncio.QueueFull:
            # A tab that stopped reading: drop what it missed and have it fetch everything again.
            while not sub.queue.empty():
                sub.queue.get_nowait()
            sub.queue.put_nowait(("resync", {}))

    async def stream(self, request: web.Request, member_id: int, headers: dict[str, str]) -> web.StreamResponse:
        """Until the tab closes or the sim stops."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               **headers})
        await response.prepare(request)
        sub = _Subscriber(member_id, asyncio.Queue(QUEUE_SIZE))
        self._subscribers.add(sub)
        online = None
        try:
            await response.write(b"retry: 1000\n\n")
            while not self._closing:
                if self.view.bot_online() != online:
                    online = self.view.bot_online()
                    await response.write(_event("status", {"online": online}))
                try:
                    item = await asyncio.wait_for(sub.queue.get(), 1.0)
                except asyncio.TimeoutError:
                    await response.write(b": still here\n\n")
                    continue
                if item is None:
                    break
                await response.write(_event(*item))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._subscribers.discard(sub)
        return response

    async def close(self, app: web.Application) -> None:
        """on_shutdown: end every stream, so the server stops at once."""
        self._closing = True
        for sub in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n".encode()
