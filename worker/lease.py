"""Keep arq's in-progress key alive while a render runs.

arq marks a picked-up job with a key that expires after the job timeout + 10 s, and only a
job whose key expired can be picked up again. With long renders that makes a dead worker's
job wait an hour. Instead the worker sets that key to a short lease and renews it while the
job is alive: a killed worker stops renewing, and another worker takes the job within
`lease_seconds` + a poll, while a long render that is still alive keeps its lease.
"""

from __future__ import annotations

import asyncio
import contextlib

from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis


async def _renew(redis: Redis, job_id: str, lease_ms: int, every_s: float) -> None:
    key = in_progress_key_prefix + job_id
    while True:
        # pexpire on a missing key is a no-op, so a job arq already finished is left alone.
        await redis.pexpire(key, lease_ms)
        await asyncio.sleep(every_s)


@contextlib.asynccontextmanager
async def held(redis: Redis, job_id: str, lease_s: float, every_s: float):
    task = asyncio.create_task(_renew(redis, job_id, int(lease_s * 1000), every_s))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
