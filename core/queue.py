"""Reelbot and arq: putting renders on the queue, cancelling them, reading queue state, and
the worker side of arq's queue (leases, admission).

The arq job id is the clip id, so arq itself refuses to queue the same clip twice.

The order is fair, not first come first served: a clip's arq score is its fair-queuing
tag (core/fair.py), computed once at enqueue.

This is the one module that relies on arq's internals, so an arq upgrade means reading
this file (and pyproject.toml pins arq to the version it was read against; tests/test_fair.py
checks what is relied on here, and open PR python-arq/arq#524, which splits a queue into
ready and deferred sets, would break it):
- a queue is one sorted set per model, and a worker's poll takes `ZRANGEBYSCORE queue -inf
  now`, lowest score first; `enqueue_job(_defer_until=…)` writes that score. The fair score
  is always in (0, now], so every waiting clip can be taken at once (a GPU never idles
  while one waits), and `_expires` is passed so that a score in the past never makes the
  job's data TTL (score - now + 1 day) short or negative (arq #447);
- a job handed back (a worker stopped or killed: its in-progress key expires) and a
  `Retry()` without defer keep their score, so they keep their place; `Retry(defer=…)`
  would re-score the job to now + defer, the back of the queue (`retry_in_place`);
- the Redis key prefixes of `arq.constants`, used in the Lua scripts below (cancel, and
  the reconciler's `live_jobs`, `requeue` and `drop_dead`: a job's data, in-progress, result
  and retry keys) and in core/fair.py's scripts (IN_PROGRESS_PREFIX, passed in);
- the in-progress key a worker sets when it picks a job up, which `renew_lease` keeps
  alive, and `Worker.in_progress_timeout_s`, its first lifetime;
- `Worker.start_jobs`, `Worker.tasks`, `Worker.job_counter` and `Worker.sem`, through
  which `RenderWorker` admits jobs (and repairs arq's count when Redis fails mid-lease).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Protocol

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import (expires_extra_ms, in_progress_key_prefix, job_key_prefix, result_key_prefix,
                           retry_key_prefix)
from arq.worker import Retry, Worker
from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError

from core import fair, sentinel
from core.contract import WORKERS_KEY, RenderJob, cancel_key, outcome_key, queue_name

RENDER_FUNCTION = "render_clip"
IN_PROGRESS_PREFIX = in_progress_key_prefix
RESULT_PREFIX = result_key_prefix
# How long a queued job's data lives (arq's own default from now, passed explicitly: see above).
JOB_EXPIRES = timedelta(milliseconds=expires_extra_ms)

# Remove a queued job unless a worker already holds it; atomic against arq's pick-up. A
# clip whose outcome is already published is past cancelling: say so instead (ARGV[2]).
_UNQUEUE = """
local published = redis.call('GET', KEYS[4])
if published then return published end
redis.call('SET', KEYS[5], '1', 'EX', ARGV[2])
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return removed
"""
CANCEL_FLAG_S = 24 * 3600


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


# A dead primary (or one a failover cut off) must fail a call in seconds, not hang it.
_TIMEOUTS = dict(socket_connect_timeout=5, socket_timeout=10)


def redis_settings(url: str) -> RedisSettings:
    target = sentinel.parse(url)
    if target is None:
        return RedisSettings.from_dsn(url)
    return RedisSettings(host=list(target.sentinels), sentinel=True, sentinel_master=target.service,
                         database=target.db, username=target.username, password=target.password)


async def connect(url: str) -> ArqRedis:
    """An arq pool, connected now (a few tries, then the error)."""
    if sentinel.parse(url) is None:
        return await create_pool(redis_settings(url))
    pool = lazy_pool(url)
    for delay in (0.5, 1, 2, 4, None):
        try:
            await pool.ping()
            return pool
        except (RedisError, OSError):
            if delay is None:
                raise
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def lazy_pool(url: str) -> ArqRedis:
    """An arq pool that connects on first use and again after an outage. `connect` (arq's
    create_pool) pings at once and gives up after a few tries, so a process that must start,
    or keep running, while Redis is away uses this. Through Sentinel, every new connection
    goes to the primary the sentinels name at that moment (arq's own sentinel pool sets no
    timeouts, so this one is built here)."""
    target = sentinel.parse(url)
    if target is None:
        return ArqRedis.from_url(url, **_TIMEOUTS)
    sentinels = Sentinel(list(target.sentinels), sentinel_kwargs={**_TIMEOUTS, "password": target.sentinel_password},
                         **_TIMEOUTS)
    return sentinels.master_for(target.service, redis_class=ArqRedis, db=target.db, username=target.username,
                                password=target.password)


async def enqueue(redis: ArqRedis, job: RenderJob, policy: fair.Policy = fair.Policy(), settle: bool = True) -> bool:
    """Queue a render at its fair place (a clip queued before gets its own place back). False
    when a job with this clip id is already queued, running or done. `settle=False`: the
    caller asks for the clip's standing next, which settles its score in the same call."""
    placed = await fair.tag(redis, job.model, job.clip_id, job.member_id, job.ticket, policy, IN_PROGRESS_PREFIX)
    at = datetime.fromtimestamp(placed.score / 1000, timezone.utc)
    queued = await redis.enqueue_job(RENDER_FUNCTION, job.model_dump(mode="json"), _job_id=job.clip_id,
                                     _queue_name=queue_name(job.model), _defer_until=at, _expires=JOB_EXPIRES)
    if queued is None:
        if not placed.again:  # a job of this id was there before its tag: leave that one be
            await fair.forget(redis, job.model, job.clip_id, IN_PROGRESS_PREFIX)
        return False
    if settle:
        await fair.settle(redis, job.model, job.clip_id)
    return True


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
    start), "signalled" when a worker holds it (it stops at its next denoising step, or
    before its clip is published), or the final status when its outcome is already out."""
    answer = await redis.eval(_UNQUEUE, 5, queue_name(model), job_key_prefix + clip_id,
                              in_progress_key_prefix + clip_id, outcome_key(clip_id), cancel_key(clip_id),
                              clip_id, CANCEL_FLAG_S)
    if isinstance(answer, (bytes, str)):
        from core.contract import Outcome

        return Outcome.model_validate_json(answer).status.value
    return "unqueued" if answer else "signalled"


async def queue_view(redis: Redis, model: str, clip_ids: list[str] = (), *, typical_s: float = 30.0,
                     policy: fair.Policy = fair.Policy(), now: float | None = None) -> fair.View:
    """The model's queue as workers will take it: depth, running, waiting per lane, the oldest
    waiting clip's enqueue time (one walk of the queue), and where each of `clip_ids` stands."""
    seen = await queue_counts(redis, model, now)
    mine = await standings(redis, model, clip_ids, typical_s=typical_s, policy=policy, now=now)
    return fair.View(seen.depth, seen.running, seen.fast, seen.relax, seen.oldest_queued_ms, mine)


async def queue_counts(redis: Redis, model: str, now: float | None = None) -> fair.View:
    """Depth, running, waiting per lane and the oldest waiting clip's enqueue time (the exporter)."""
    return await fair.counts(redis, model, IN_PROGRESS_PREFIX, now)


async def standings(redis: Redis, model: str, clip_ids: list[str], *, typical_s: float = 30.0,
                    policy: fair.Policy = fair.Policy(), now: float | None = None) -> dict[str, fair.Standing]:
    """Where each clip stands: the clips ahead of it now, and how many more other servers may
    still put ahead of it (no walk of the queue: every command and status edit asks)."""
    return await fair.standings(redis, model, IN_PROGRESS_PREFIX, list(clip_ids), typical_s=typical_s,
                                policy=policy, now=now)


async def finished(redis: Redis, model: str, clip_id: str) -> None:
    """The clip is final: the fair order forgets it."""
    await fair.forget(redis, model, clip_id, IN_PROGRESS_PREFIX)


async def workers_online(redis: Redis, max_age_s: float = 30.0) -> list[dict]:
    """Workers that announced themselves recently (see worker.presence)."""
    import time

    now = time.time()
    raw = await redis.hgetall(WORKERS_KEY)
    workers = [json.loads(v) for v in raw.values()]
    return [w for w in workers if now - w.get("seen", 0) <= max_age_s]


async def cancel(redis: Redis, store, clip_id: str, model: str) -> str:
    """Cancel a clip for a member: a queued one is removed and reported here; a running one
    is reported by its worker when it stops. Returns what happened: "unqueued",
    "signalled", or the clip's final status when it had already ended."""
    from core.contract import Outcome, Status
    from core.events import publish_outcome

    clip = await store.get(clip_id)
    if clip is not None and Status(clip.status).final:
        return clip.status
    how = await request_cancel(redis, clip_id, model)
    if how == "unqueued":
        await fair.forget(redis, model, clip_id, IN_PROGRESS_PREFIX, refund=True)
        outcome = Outcome(clip_id=clip_id, status=Status.CANCELLED, model=model)
        if await publish_outcome(redis, outcome):
            await store.record_outcome(outcome)
    return how


# --- the worker side ---------------------------------------------------------------------------


async def started(redis: Redis, model: str, clip_id: str) -> None:
    """A worker took the clip: the queue's virtual time moves up to its tag (core/fair.py)."""
    await fair.started(redis, model, clip_id)


def retry_in_place() -> Retry:
    """The exception that runs the job again at its own place in the queue: arq keeps the
    score of a job retried without a defer (a defer would re-score it to now + defer, behind
    every clip queued meanwhile)."""
    return Retry()


async def renew_lease(redis: Redis, job_id: str, lease_ms: int) -> None:
    """(Re)set the in-progress key of a job this process holds to `lease_ms`.

    arq marks a picked-up job with that key, and only a job without it can be picked up
    again. SET rather than PEXPIRE: after a Redis restart lost the key (or it expired in
    an outage), the holder takes its job back instead of leaving it to another worker.
    Call it only while the job function runs: arq deletes the key when the job ends.
    """
    await redis.set(in_progress_key_prefix + job_id, b"1", px=lease_ms)


class Admission(Protocol):
    """Decides, for every queue a process serves together, whether it may take a job now."""

    def holds(self, job_id: str) -> bool: ...

    def reserve(self, job_id: str) -> bool: ...

    def release(self, job_id: str) -> None: ...


class RenderWorker(Worker):
    """arq's Worker for one model queue, with Reelbot's two changes:

    - a short first lease (`lease_s`, renewed by the job through `renew_lease`) instead
      of arq's job timeout + 10 s, so a dead worker's job is taken over quickly;
    - one admission gate shared by every queue of the process: a job is leased only
      when `admission.reserve(job_id)` says the process can start it soon, so a worker
      never holds a job it cannot start while another worker idles.
    """

    def __init__(self, *args, admission: Admission, lease_s: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.in_progress_timeout_s = lease_s
        self.admission = admission

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        for raw in job_ids:
            job_id = raw.decode()
            if self.admission.holds(job_id):
                continue  # running here: arq keeps a job in its queue until it ends
            if not self.admission.reserve(job_id):
                return
            counted = self.job_counter
            try:
                await super().start_jobs([raw])  # another worker may have taken it meanwhile
            except BaseException as exc:
                # Redis failed between arq counting the job and starting it: arq never gives
                # that count (nor its semaphore) back, and would stop leasing after an outage.
                if self.job_counter > counted and job_id not in self.tasks:
                    self.job_counter -= 1
                    self.sem.release()
                self.admission.release(job_id)
                if isinstance(exc, WatchError):
                    # arq handles a claim lost to another worker itself; one that escapes is
                    # redis-py's word for the connection dying under the claim's WATCH (a
                    # Redis restart): an outage like any other, not a crash.
                    raise RedisConnectionError(f"Redis went away while claiming {job_id}: {exc}") from exc
                raise
            task = self.tasks.get(job_id)
            if task is None or task.done():
                self.admission.release(job_id)
            else:
                task.add_done_callback(lambda _task, job_id=job_id: self.admission.release(job_id))

    def jobs_in_hand(self) -> list:
        """The job tasks this worker is running (not yet finished)."""
        return [task for task in self.tasks.values() if not task.done()]
