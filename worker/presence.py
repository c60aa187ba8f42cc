"""Workers announce which models and tasks they serve, for /queue, ETAs and the
`waiting for a worker` status line (core.queue.workers_online reads them).

Each worker keeps one entry in a Redis hash, refreshed every few seconds. A worker that
dies cannot withdraw its entry, so every announcement also scrubs entries not refreshed
for `STALE_S`, and the hash itself expires when no worker at all is left to refresh it.
Redis errors never end the loop: it logs once per outage and keeps announcing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time

from redis.asyncio import Redis

from core.backoff import Outage
from core.contract import WORKERS_KEY
from worker.outage import REDIS_DOWN

EVERY_S = 5.0
# Past this an entry is a dead worker's (readers already ignore entries older than 30 s).
STALE_S = 60.0

# Write this worker's entry; drop entries whose `seen` is older than ARGV[3]; keep the hash
# for STALE_S more (ARGV[4]). cjson is Redis's built-in JSON library.
_ANNOUNCE = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local ok, entry = pcall(cjson.decode, entries[i + 1])
  if not ok or type(entry) ~= 'table' or tonumber(entry['seen'] or 0) < tonumber(ARGV[3]) then
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
"""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def announce(redis: Redis, wid: str, models: dict[str, list[str]], busy: str | None = None) -> None:
    now = time.time()
    entry = {"id": wid, "models": models, "busy": busy, "seen": now}
    await redis.eval(_ANNOUNCE, 1, WORKERS_KEY, wid, json.dumps(entry), now - STALE_S, int(STALE_S))


async def keep_announcing(redis: Redis, wid: str, models: dict[str, list[str]], watch: Outage,
                          every_s: float = EVERY_S) -> None:
    while True:
        try:
            await announce(redis, wid, models)
        except REDIS_DOWN as exc:
            watch.down(exc, "announcing presence")
        else:
            watch.up()
        await asyncio.sleep(every_s)


async def withdraw(redis: Redis, wid: str) -> None:
    """Best effort on the way out: with Redis away, the entry is scrubbed later instead."""
    with contextlib.suppress(*REDIS_DOWN, asyncio.TimeoutError):
        await asyncio.wait_for(redis.hdel(WORKERS_KEY, wid), 2.0)
