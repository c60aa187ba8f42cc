"""Progress and outcomes in Redis.

Progress: the latest value in a hash per clip (readable at any time) plus a pub/sub feed.
Outcomes: a Redis Stream read through a consumer group, so a bot that was down when a job
finished still gets the outcome when it comes back. Each clip gets at most one outcome:
the append is guarded by a key set in the same Lua call.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from core.contract import (
    OUTCOMES_GROUP,
    OUTCOMES_STREAM,
    PROGRESS_CHANNEL,
    Outcome,
    Progress,
    cancel_key,
    outcome_key,
    progress_key,
)

DAY = 24 * 3600
STREAM_MAXLEN = 100_000

_PUBLISH_ONCE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'outcome', ARGV[1])
end
return false
"""

# A denoising step's progress and the cancel check in one round trip (the worker's event
# loop sends it while the render thread goes on). A step of a clip asked to cancel is not
# written: members never see it move on after they cancelled it.
_STEP = """
if ARGV[3] == 'running' and redis.call('EXISTS', KEYS[3]) == 1 then return 1 end
redis.call('HSET', KEYS[1], 'step', ARGV[1], 'total', ARGV[2], 'status', ARGV[3], 'stage', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', KEYS[2], ARGV[5])
return redis.call('EXISTS', KEYS[3])
"""

# A finished clip's outcome, published once and only if the member has not cancelled it:
# the last word on a cancel that came after the last denoising step (decode, encode, upload).
_PUBLISH_DONE = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 'cancelled' end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'outcome', ARGV[1])
  return 'published'
end
return 'taken'
"""


async def report_progress(redis: Redis, progress: Progress) -> bool:
    """Store and broadcast progress; returns True when the clip has been asked to cancel
    (a running step is then not stored; a final status always is)."""
    cancelled = await redis.eval(
        _STEP, 3, progress_key(progress.clip_id), PROGRESS_CHANNEL, cancel_key(progress.clip_id),
        progress.step, progress.total, progress.status.value, DAY, progress.model_dump_json(), progress.stage or "",
    )
    return bool(cancelled)


async def read_progress(redis: Redis, clip_id: str) -> Progress | None:
    data = await redis.hgetall(progress_key(clip_id))
    if not data:
        return None
    return Progress(clip_id=clip_id, step=int(data[b"step"]), total=int(data[b"total"]),
                    status=data[b"status"].decode(), stage=data.get(b"stage", b"").decode() or None)


async def publish_outcome(redis: Redis, outcome: Outcome) -> bool:
    """Append the clip's final outcome unless one was already published. True if appended."""
    added = await redis.eval(_PUBLISH_ONCE, 2, outcome_key(outcome.clip_id), OUTCOMES_STREAM,
                             outcome.model_dump_json(), 30 * DAY, STREAM_MAXLEN)
    return bool(added)


async def publish_done(redis: Redis, outcome: Outcome) -> str:
    """Publish a finished clip's outcome unless it was cancelled. Returns "published",
    "cancelled" (nothing published: the caller reports the cancel), or "taken" (another
    try published first)."""
    answer = await redis.eval(_PUBLISH_DONE, 3, outcome_key(outcome.clip_id), OUTCOMES_STREAM,
                              cancel_key(outcome.clip_id), outcome.model_dump_json(), 30 * DAY, STREAM_MAXLEN)
    return answer.decode() if isinstance(answer, bytes) else answer


async def published_outcome(redis: Redis, clip_id: str) -> Outcome | None:
    raw = await redis.get(outcome_key(clip_id))
    return Outcome.model_validate_json(raw) if raw else None


class OutcomeReader:
    """One consumer in the outcomes group. Read, deliver, then ack: an outcome not acked
    (the consumer died mid-delivery) is read again on restart and can be claimed by others."""

    def __init__(self, redis: Redis, consumer: str, group: str = OUTCOMES_GROUP):
        self.redis = redis
        self.consumer = consumer
        self.group = group

    async def ensure_group(self) -> None:
        try:
            # id 0: a group created after outcomes were appended still sees all of them.
            await self.redis.xgroup_create(OUTCOMES_STREAM, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, count: int = 50, block_ms: int | None = 1000) -> list[tuple[str, Outcome]]:
        """Own pending entries first (left unacked by a previous run), then new ones."""
        pending = await self._read("0", count, None)
        if pending:
            return pending
        return await self._read(">", count, block_ms)

    async def claim_stale(self, idle_ms: int = 60_000, count: int = 50) -> list[tuple[str, Outcome]]:
        """Take over entries another consumer read but never acked (it died)."""
        _next, entries, *_ = await self.redis.xautoclaim(OUTCOMES_STREAM, self.group, self.consumer,
                                                         idle_ms, "0-0", count=count)
        return [self._decode(mid, fields) for mid, fields in entries if fields]

    async def ack(self, message_id: str) -> None:
        await self.redis.xack(OUTCOMES_STREAM, self.group, message_id)

    async def _read(self, start: str, count: int, block_ms: int | None):
        reply = await self.redis.xreadgroup(self.group, self.consumer, {OUTCOMES_STREAM: start},
                                            count=count, block=block_ms)
        out = []
        for _stream, entries in reply or []:
            out.extend(self._decode(mid, fields) for mid, fields in entries if fields)
        return out

    @staticmethod
    def _decode(message_id, fields) -> tuple[str, Outcome]:
        mid = message_id.decode() if isinstance(message_id, bytes) else message_id
        return mid, Outcome.model_validate_json(fields[b"outcome"])
