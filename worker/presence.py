"""Workers announce which models and tasks they serve, so the bot can answer /queue and
refuse a task no online model can do, without importing the models itself."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time

from redis.asyncio import Redis

from core.contract import WORKERS_KEY


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def announce(redis: Redis, wid: str, models: dict[str, list[str]], busy: str | None = None) -> None:
    entry = {"id": wid, "models": models, "busy": busy, "seen": time.time()}
    await redis.hset(WORKERS_KEY, wid, json.dumps(entry))


async def keep_announcing(redis: Redis, wid: str, models: dict[str, list[str]], every_s: float = 5.0) -> None:
    while True:
        await announce(redis, wid, models)
        await asyncio.sleep(every_s)


async def withdraw(redis: Redis, wid: str) -> None:
    await redis.hdel(WORKERS_KEY, wid)
