"""Putting renders on the arq queue, cancelling them, and reading queue state.

The arq job id is the clip id, so arq itself refuses to queue the same clip twice.
"""

from __future__ import annotations

import json

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix, retry_key_prefix
from redis.asyncio import Redis

from core.contract import WORKERS_KEY, RenderJob, cancel_key, queue_name

RENDER_FUNCTION = "render_clip"

# Remove a queued job unless a worker already holds it; atomic against arq's pick-up.
_UNQUEUE = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return removed
"""


# Per clip id: 1 when arq holds a job for it (queued, deferred or running), else 0. A job's
# data key lives until it finishes (or expires); the in-progress key while a worker has it.
_LIVE = """
local out = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local live = redis.call('EXISTS', ARGV[1] .. id) == 1 or redis.call('EXISTS', ARGV[2] .. id) == 1
  out[#out + 1] = live and 1 or 0
end
return out
"""

# Take a clip off its model's queue when arq holds no job for it: what is left in the sorted set
# after the job's data expired with no worker to notice.
_DROP_DEAD = """
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
return redis.call('ZREM', KEYS[1], ARGV[1])
"""


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


async def connect(url: str) -> ArqRedis:
    return await create_pool(redis_settings(url))


def lazy_pool(url: str) -> ArqRedis:
    """An arq pool that connects on first use and again after an outage. `connect` (arq's
    create_pool) pings at once and gives up after a few tries, so a process that must start,
    or keep running, while Redis is away uses this."""
    return ArqRedis.from_url(url, socket_connect_timeout=5, socket_timeout=10)


async def enqueue(redis: ArqRedis, job: RenderJob) -> bool:
    """Queue a render. False when a job with this clip id is already queued, running or done."""
    queued = await redis.enqueue_job(RENDER_FUNCTION, job.model_dump(mode="json"),
                                     _job_id=job.clip_id, _queue_name=queue_name(job.model))
    return queued is not None


async def live_jobs(redis: Redis, clip_ids: list[str]) -> set[str]:
    """The clips among `clip_ids` that arq holds a job for."""
    if not clip_ids:
        return set()
    flags = await redis.eval(_LIVE, 0, job_key_prefix, in_progress_key_prefix, *clip_ids)
    return {clip_id for clip_id, live in zip(clip_ids, flags) if live}


async def requeue(redis: ArqRedis, job: RenderJob) -> bool:
    """Queue again a clip whose arq job is gone. arq keeps a finished (or expired) job's result
    under its id and refuses the id while it exists, so that result and the try count go first."""
    await redis.delete(result_key_prefix + job.clip_id, retry_key_prefix + job.clip_id)
    return await enqueue(redis, job)


async def drop_dead(redis: Redis, clip_id: str, model: str) -> bool:
    """Remove a queue entry arq holds no job for (True when there was one)."""
    removed = await redis.eval(_DROP_DEAD, 3, queue_name(model), job_key_prefix + clip_id,
                               in_progress_key_prefix + clip_id, clip_id)
    return bool(removed)


async def request_cancel(redis: Redis, clip_id: str, model: str) -> str:
    """Flag a clip as cancelled. Returns "unqueued" when it was still waiting (it will never
    start) or "signalled" when a worker holds it (it stops at its next denoising step)."""
    await redis.set(cancel_key(clip_id), b"1", ex=24 * 3600)
    removed = await redis.eval(_UNQUEUE, 3, queue_name(model), job_key_prefix + clip_id,
                               in_progress_key_prefix + clip_id, clip_id)
    return "unqueued" if removed else "signalled"


async def position(redis: Redis, clip_id: str, model: str) -> int | None:
    """1-based place in the model's queue (1 = next or running), None when not queued."""
    rank = await redis.zrank(queue_name(model), clip_id)
    return None if rank is None else rank + 1


async def depth(redis: Redis, model: str) -> int:
    return await redis.zcard(queue_name(model))


async def workers_online(redis: Redis, max_age_s: float = 30.0) -> list[dict]:
    """Workers that announced themselves recently (see worker.presence)."""
    import time

    now = time.time()
    raw = await redis.hgetall(WORKERS_KEY)
    workers = [json.loads(v) for v in raw.values()]
    return [w for w in workers if now - w.get("seen", 0) <= max_age_s]


async def cancel(redis: Redis, store, clip_id: str, model: str) -> str:
    """Cancel a clip for a member: a queued one is removed and reported here; a running one
    is reported by its worker when it stops at the next step. Returns what happened."""
    from core.contract import Outcome, Status
    from core.events import publish_outcome

    clip = await store.get(clip_id)
    if clip is not None and Status(clip.status).final:
        return clip.status
    how = await request_cancel(redis, clip_id, model)
    if how == "unqueued":
        outcome = Outcome(clip_id=clip_id, status=Status.CANCELLED, model=model)
        if await publish_outcome(redis, outcome):
            await store.record_outcome(outcome)
    return how
