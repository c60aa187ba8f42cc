"""Nothing stuck: clips whose record says queued or running while no arq job will ever run them
are queued again, or reported failed to the member when they are too old to start.

Such a clip holds its member's in-flight slot for good ("You already have 2 clips queued").
It happens when
- the bot died between recording the clip and enqueueing it (the record comes first, so a
  counted job always has one);
- arq dropped the job without calling the worker: a job that waited past its expiry is
  failed by arq itself, and one whose data expired while no worker served its model stays
  in the queue's sorted set, data-less, forever;
- the worker lost its job in a way that left no outcome (arq recorded an exception).

`reelbot exporter` runs a `Reconciler` (it is the process that is always up, see
core/metrics.py). Several exporters may run: a redis-py Lock elects one leader at a time,
renewed every pass. A pass looks at unfinished clips older than a grace period (a bot may
be between recording and enqueueing right now) and, for those arq holds no job for:
1. an outcome was published (a worker finished, the record lagged): the record catches up;
2. the member asked to cancel: the cancel is reported;
3. young enough (REELBOT_REQUEUE_WITHIN_SECONDS) and its model is still in the catalog:
   the same job (clip id, prompt, flags, seed, inputs) goes on the queue again, at the fair
   place it had (core/fair.py keeps each clip's tag until the clip is final);
4. otherwise: a failure outcome in plain words goes on the outcomes stream, so the bot posts
   it exactly once, and the record turns final, which frees the member's slot.
A pass also looks at the other end: clips whose record is final but that were never posted
(no result message), finished more than the grace period ago and within the requeue window.
If Redis holds no outcome for one (a failover lost the worker's last writes after it recorded
the clip: "done but unposted"), its outcome is published again from the record, once.
Every step is safe to run twice: arq refuses a second job with the clip's id, and an
outcome is published at most once per clip.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy import and_, or_, select

from core.backoff import Backoff
from core.clips import ClipStore
from core.contract import UNFINISHED, Outcome, Status, cancel_key, outcome_key
from core.db import unavailable
from core.events import publish_outcome, published_outcome
from core.jobs import job_of, outcome_of
from core.leader import Leader
from core.logging import get_logger
from core.queue import drop_dead, finished, live_jobs, requeue
from core.tables import Clip

log = get_logger("reconcile")

LEADER_KEY = "reelbot:reconciler"
# A clip younger than this may be between its record and its enqueue in a live bot.
GRACE_S = 60.0
BATCH = 500

TOO_OLD = ("Reelbot lost this clip's place on the queue and it is too old to start now, so it "
           "was not rendered. Please try again.")


def model_gone(model: str) -> str:
    return f"The model {model} is no longer served here, so this clip can't be rendered. Try another model."


@dataclass
class Pass:
    """What one pass did, by clip id."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)  # records brought in line with a published outcome
    republished: list[str] = field(default_factory=list)  # final, unposted, their outcome lost

    def __bool__(self) -> bool:
        return bool(self.requeued or self.failed or self.settled or self.republished)


class Reconciler:
    def __init__(self, redis: ArqRedis, store: ClipStore, *, catalog: list[str], interval_s: float = 30.0,
                 requeue_within_s: float = 3600.0, grace_s: float = GRACE_S):
        self.redis = redis
        self.store = store
        self.catalog = set(catalog)
        self.interval_s = interval_s
        self.requeue_within_s = requeue_within_s
        self.grace_s = grace_s
        # Longer than a pass takes and than the time between passes, so a leader keeps its lock.
        self.leader = Leader(redis, LEADER_KEY, timeout=max(30.0, 3 * interval_s), name="reconciler")
        self.lock = self.leader.lock
        self.backoff = Backoff("redis")

    @classmethod
    def from_settings(cls, redis: ArqRedis, store: ClipStore, settings) -> "Reconciler":
        return cls(redis, store, catalog=settings.catalog_models, interval_s=settings.reconcile_seconds,
                   requeue_within_s=settings.requeue_within_seconds)

    async def lead(self) -> bool:
        """Take or renew the leader's lock; True while this process is the leader."""
        return await self.leader.lead()

    async def run(self, stop: asyncio.Event) -> None:
        """Lead or stand by, one pass every interval_s, until `stop`; Redis outages are waited out."""
        while not stop.is_set():
            try:
                leading = await self.lead()
                self.backoff.ok()
                if leading:
                    done = await self.reconcile()
                    if done:
                        log.info("reconciled clips", requeued=done.requeued, failed=done.failed,
                                 settled=done.settled, republished=done.republished)
            except (RedisError, OSError) as exc:
                self.leader.leading = False
                await self.backoff.failed(exc)
                continue
            except Exception as exc:  # noqa: BLE001 — the database away: try again next interval
                if unavailable(exc):
                    log.warning("reconcile pass skipped: the database is unreachable", error=repr(exc)[:200])
                else:
                    log.exception("reconcile pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)
        await self.leader.resign()

    async def reconcile(self, now: float | None = None) -> Pass:
        """One pass over the unfinished clips older than the grace period, then over the
        finished ones that were never posted."""
        now = time.time() if now is None else now
        cutoff = datetime.fromtimestamp(now - self.grace_s, timezone.utc)
        done = Pass()
        after = None
        while clips := await self._unfinished(cutoff, after):
            live = await live_jobs(self.redis, [clip.id for clip in clips])
            for clip in clips:
                if clip.id not in live:
                    await self._settle(clip, now, done)
            after = (clips[-1].created_at, clips[-1].id)
        since = datetime.fromtimestamp(now - self.requeue_within_s, timezone.utc)
        for clip in await self._unposted(since, cutoff):
            if not await self.redis.exists(outcome_key(clip.id)) and await publish_outcome(self.redis, outcome_of(clip)):
                log.warning("finished clip was never posted and its outcome was lost; published it again",
                            clip_id=clip.id, status=clip.status)
                done.republished.append(clip.id)
        return done

    async def _unfinished(self, cutoff: datetime, after: tuple | None) -> list[Clip]:
        query = select(Clip).where(Clip.status.in_(UNFINISHED), Clip.created_at < cutoff)
        if after is not None:
            query = query.where(or_(Clip.created_at > after[0], and_(Clip.created_at == after[0], Clip.id > after[1])))
        async with self.store.session() as s:
            return list(await s.scalars(query.order_by(Clip.created_at, Clip.id).limit(BATCH)))

    async def _unposted(self, since: datetime, cutoff: datetime) -> list[Clip]:
        """Finished clips made through Discord (a channel, or a private one for its author) with
        no post recorded, that finished between `since` and `cutoff`."""
        query = select(Clip).where(Clip.status.not_in(UNFINISHED), Clip.result_message_id.is_(None),
                                   Clip.deleted.is_(False), Clip.finished_at > since, Clip.finished_at < cutoff,
                                   or_(Clip.channel_id.is_not(None), and_(Clip.private.is_(True), Clip.author_id.is_not(None))))
        async with self.store.session() as s:
            return list(await s.scalars(query.order_by(Clip.finished_at).limit(BATCH)))

    async def _settle(self, clip: Clip, now: float, done: Pass) -> None:
        earlier = await published_outcome(self.redis, clip.id)
        if earlier is not None:
            await self.store.record_outcome(earlier)
            await finished(self.redis, clip.model, clip.id)
            done.settled.append(clip.id)
            return
        if await self.redis.exists(cancel_key(clip.id)):
            await self._finish(Outcome(clip_id=clip.id, status=Status.CANCELLED, model=clip.model, seed=clip.seed))
            done.settled.append(clip.id)
            return
        created = clip.created_at if clip.created_at.tzinfo else clip.created_at.replace(tzinfo=timezone.utc)
        if clip.model not in self.catalog:
            reason = model_gone(clip.model)
        elif now - created.timestamp() <= self.requeue_within_s:
            if clip.status == Status.RUNNING.value:
                await self.store.transition(clip.id, Status.QUEUED)
            if await requeue(self.redis, job_of(clip)):
                log.warning("clip had no job; queued it again", clip_id=clip.id, model=clip.model,
                            status=clip.status)
                done.requeued.append(clip.id)
            return
        else:
            reason = TOO_OLD
        log.warning("clip had no job; reported it failed", clip_id=clip.id, model=clip.model, reason=reason)
        await drop_dead(self.redis, clip.id, clip.model)
        await self._finish(Outcome(clip_id=clip.id, status=Status.FAILED, model=clip.model, seed=clip.seed,
                                   error=reason))
        done.failed.append(clip.id)

    async def _finish(self, outcome: Outcome) -> None:
        # Published first (once per clip), then recorded, as a worker does: the bot posts it.
        if not await publish_outcome(self.redis, outcome):
            outcome = await published_outcome(self.redis, outcome.clip_id) or outcome
        await self.store.record_outcome(outcome)
        if outcome.model:
            await finished(self.redis, outcome.model, outcome.clip_id)
