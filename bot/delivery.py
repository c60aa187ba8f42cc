"""Final posts, exactly once: outcomes come from the Redis stream through the bot's
consumer group; each is posted, recorded on the clip, and only then acked.

What makes "once" hold when things go wrong:
- A bot that dies before acking reads its own pending outcomes again on restart (the
  consumer name is stable), and a crashed process's outcomes are claimed by another.
- The clip record says whether it was delivered (`result_message_id`, set by a
  conditional UPDATE): an outcome read twice is acked the second time, not posted.
- Discord answering 500 after saving a message makes discord.py send the POST again;
  every post carries the clip id as its `nonce` with `enforce_nonce`, so Discord hands
  back the saved message instead of making a second one.
- A post that may have been made by an attempt that then died (it set the attempt key
  but never recorded the message) is looked for in the channel's recent messages, by the
  `clip <id>` footer, before posting again.
- One poster at a time per clip: a short Redis lock (redis-py's), renewed while the post is
  in progress, so a dead holder's lock frees itself in seconds. Its token names the consumer
  and this process: a bot restarted under the same consumer name recognises a lock its dead
  predecessor left on its own pending outcome and takes it over at once instead of waiting
  it out. (A live predecessor still draining in a rolling deploy could be posting the same
  clip; the post's nonce, the footer lookup and the conditional record keep that to one post.)
Final posts always use the bot token, never the interaction webhook, so a job that
outlives the 15-minute interaction token is still delivered.

A clip the image-safety check withheld (core/safety.py) is posted nowhere public: its
author gets the notice by DM (an ephemeral followup when their DMs are closed and the
command was private), through the same once-only path, and the status message says only
that it was not posted. A flagged clip from an age-restricted channel is posted there,
marked (bot/posts.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import datetime, timezone

import discord
from redis.exceptions import LockError, RedisError

from bot import messages, posts, records
from bot.metrics import DELIVERY_SECONDS, OUTCOMES_PENDING
from core.backoff import MAX_DELAY_S
from core.contract import OUTCOMES_STREAM, Outcome, Status
from core.db import unavailable
from core.events import OutcomeReader
from core.media import clip_link, publish, upload_limit
from core.quality import waited
from core.storage import unavailable as storage_unavailable
from core.tasks import stop_task
from core.logging import get_logger

log = get_logger("bot")
RETRY_CAP_S = 60.0  # between tries of one outcome Discord keeps refusing
LOCK_S = 10.0  # a dead holder's lock is gone this soon after its last renewal
RENEW_S = 3.0
ATTEMPT_TTL_S = 7 * 24 * 3600
SETUP_WAIT_S = 30.0
CLAIM_EVERY_S = 15.0
CLAIM_IDLE_MS = 60_000
HISTORY_LIMIT = 50

# Free a lock that an earlier process of this consumer name left (its token starts with the
# name and is not this process's), atomically against that lock changing hands meanwhile.
_TAKE_OVER = """
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] and string.sub(held, 1, string.len(ARGV[2])) == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class _Outcomes(OutcomeReader):
    """The shared reader, split into "mine from before" and "new", so one outcome that keeps
    failing (Discord down for that channel) never holds up the others."""

    async def read_pending(self, count: int = 100) -> list[tuple[str, Outcome]]:
        return await self._read("0", count, None)

    async def read_new(self, count: int = 50, block_ms: int = 1000) -> list[tuple[str, Outcome]]:
        return await self._read(">", count, block_ms)


class Undeliverable(Exception):
    """Discord refuses every place this clip could go (deleted channel, no permission, DMs closed)."""


class Delivery:
    def __init__(self, client: discord.Client, services, concurrency: int = 16):
        self.client = client
        self.services = services
        self.consumer = services.settings.bot_consumer
        self._token = f"{self.consumer} {uuid.uuid4().hex}"  # this process, under its stable name
        self.reader = _Outcomes(services.redis, self.consumer)
        self._slots = asyncio.Semaphore(concurrency)
        self._active: dict[str, asyncio.Task] = {}  # stream message id -> its delivery
        self._retry: dict[str, tuple[Outcome, float, int]] = {}  # message id -> (outcome, due, tries)
        self._stopping = asyncio.Event()

    # --- the loop ----------------------------------------------------------------

    async def run(self) -> None:
        """Read and deliver until stopped. Redis going away is waited out with backoff (one log
        line, and /readyz says so); afterwards reading resumes where the group left off."""
        redis_health = self.services.redis_health
        joined = False
        last_claim = 0.0
        while not self._stopping.is_set():
            try:
                if not joined:
                    await self.reader.ensure_group()
                    for mid, outcome in await self.reader.read_pending():
                        self._start(mid, outcome)
                    joined = True
                for mid, outcome in await self.reader.read_new():
                    self._start(mid, outcome)
                if time.monotonic() - last_claim > CLAIM_EVERY_S:
                    last_claim = time.monotonic()
                    for mid, outcome in await self.reader.claim_stale(idle_ms=CLAIM_IDLE_MS):
                        self._start(mid, outcome)
                redis_health.ok()
                self._start_due_retries()
                await self._count_pending()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                # Join again and re-read this consumer's pending outcomes: a Redis that came back
                # without its data has no group, and a failover to a replica that missed an ack
                # hands back an outcome already posted (recognised by its record, acked unposted).
                joined = False
                await redis_health.failed(exc)
            except Exception:  # noqa: BLE001 — a bad entry or the database: wait a moment and read again
                log.exception("reading outcomes failed")
                await asyncio.sleep(1.0)

    async def stop(self, timeout: float) -> None:
        """Read nothing new; let the posts in hand finish (up to `timeout` seconds)."""
        self._stopping.set()
        active = list(self._active.values())
        if active:
            await asyncio.wait(active, timeout=timeout)

    def _start(self, mid: str, outcome: Outcome) -> None:
        if mid in self._active or self._stopping.is_set():
            return
        self._retry.pop(mid, None)
        self._active[mid] = asyncio.create_task(self._deliver_entry(mid, outcome))

    def _start_due_retries(self) -> None:
        now = time.monotonic()
        for mid, (outcome, due, _tries) in list(self._retry.items()):
            if due <= now:
                self._start(mid, outcome)

    async def _deliver_entry(self, mid: str, outcome: Outcome) -> None:
        cap = RETRY_CAP_S
        try:
            async with self._slots:
                done = await self.deliver(outcome)
            if done:
                await self.reader.ack(mid)
                return
        except discord.HTTPException as exc:  # Discord trouble: leave it pending and try again shortly
            log.warning("delivery failed; will try again", clip_id=outcome.clip_id, status=exc.status,
                        code=exc.code)
        except Exception as exc:  # noqa: BLE001 — Redis, the database, storage: the same
            if not (unavailable(exc) or storage_unavailable(exc)):
                log.exception("delivery failed; will try again", clip_id=outcome.clip_id)
            else:  # back within seconds of the database or storage, however long it was away
                log.warning("delivery waits for the database or storage", clip_id=outcome.clip_id,
                            error=repr(exc)[:200])
                cap = MAX_DELAY_S
        finally:
            self._active.pop(mid, None)
        tries = self._retry.get(mid, (None, 0, 0))[2] + 1
        self._retry[mid] = (outcome, time.monotonic() + min(cap, 2.0 ** tries), tries)

    async def _count_pending(self) -> None:
        with contextlib.suppress(Exception):
            summary = await self.services.redis.xpending(OUTCOMES_STREAM, self.reader.group)
            OUTCOMES_PENDING.set(summary.get("pending", 0) if isinstance(summary, dict) else 0)

    # --- one outcome -------------------------------------------------------------

    async def deliver(self, outcome: Outcome) -> bool:
        """Post one outcome. True when it is settled (posted now or before, or nowhere to
        post); False to try again later."""
        store = self.services.store
        clip = await store.get(outcome.clip_id)
        if clip is None:
            return True  # not made through Discord (the CLI, a test): nothing to post
        # The record turns final first (a no-op when the worker already did it), so /me,
        # /show and the buttons agree with the post the member is about to see.
        await store.record_outcome(outcome)
        if clip.result_message_id:
            self.services.board.forget(clip.id)
            return True
        setup = self.services.setups.get(clip.id)
        if setup is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(setup.wait(), SETUP_WAIT_S)
        clip = await store.get(outcome.clip_id)
        if clip.result_message_id:
            return True
        if setup is None and _still_being_set_up(clip):
            return False  # another shard process is opening its thread: try again in a moment
        lock = await self._lock(clip.id)
        if lock is None:
            return False  # another bot process is posting it right now
        renewing = asyncio.create_task(_keep(lock))
        try:
            return await self._deliver_locked(clip, outcome)
        finally:
            await stop_task(renewing)
            with contextlib.suppress(Exception):
                await lock.release()

    async def _lock(self, clip_id: str):
        """The clip's posting lock, or None while another live process holds it."""
        redis = self.services.redis
        lock = redis.lock(f"reelbot:delivering:{clip_id}", timeout=LOCK_S, thread_local=False)
        if await lock.acquire(blocking=False, token=self._token):
            return lock
        if await redis.eval(_TAKE_OVER, 1, lock.name, self._token, f"{self.consumer} "):
            log.info("took over the posting lock an earlier run of this bot left", clip_id=clip_id)
            if await lock.acquire(blocking=False, token=self._token):
                return lock
        return None

    async def _deliver_locked(self, clip, outcome: Outcome) -> bool:
        watched = self.services.board.watched.get(clip.id)
        if outcome.status is Status.DONE and not clip.private:
            clip = await self._publish(clip)
        try:
            message = await self._post_once(clip, outcome, watched)
        except Undeliverable as exc:
            log.warning("clip could not be posted anywhere", clip_id=clip.id, reason=str(exc))
            await self.services.board.finish(clip, messages.status_withheld(told=False) if withheld(outcome)
                                             else messages.status_undeliverable())
            self.services.setups.pop(clip.id, None)
            return True
        if message is not None and not await records.mark_delivered(self.services.store, clip.id, str(message.id)):
            log.warning("clip was delivered twice; removing the extra post", clip_id=clip.id)
            with contextlib.suppress(Exception):
                await message.delete()
        await self.services.board.finish(clip, _status_line(clip, outcome))
        self.services.setups.pop(clip.id, None)
        if outcome.status is Status.DONE:
            busy = posts.job_seconds(clip)
            if busy:
                self.services.eta.record(clip.model, busy)
        DELIVERY_SECONDS.observe(max(0.0, time.time() - outcome.at))
        log.info("clip delivered", clip_id=clip.id, status=outcome.status.value,
                 message_id=getattr(message, "id", None))
        return True

    async def _publish(self, clip):
        """A public clip's video and poster go to the world-readable prefix as it is posted (its
        links then keep working); on a storage fault it is posted all the same and served as before."""
        try:
            return await publish(self.services.storage, self.services.store, clip)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not publish a clip's media", clip_id=clip.id, error=repr(exc))
            return clip

    async def _post_once(self, clip, outcome: Outcome, watched) -> discord.Message | None:
        redis = self.services.redis
        first_attempt = await redis.set(f"reelbot:delivery-attempt:{clip.id}", b"1", nx=True, ex=ATTEMPT_TTL_S)
        errors = []
        for destination, reference in await self._destinations(clip, outcome):
            if not first_attempt or outcome.recovered:
                found = await self._find_post(destination, clip.id)
                if found is not None:
                    log.info("found the clip's earlier post", clip_id=clip.id, message_id=found.id)
                    return found
            try:
                return await self._send(destination, reference, clip, outcome)
            except (discord.NotFound, discord.Forbidden) as exc:
                errors.append(f"{destination.id}: {exc.status} {exc.code}")
                continue  # try the next place: thread → channel, DM → the interaction
        if watched is not None and watched.token_fresh():
            # DMs closed: a private clip can still reach its author through their interaction.
            post = await self._build(clip, outcome, mention=False, private=True)
            return await watched.interaction.followup.send(
                content=post.content, embed=post.embed, view=post.view or discord.utils.MISSING,
                file=post.file() or discord.utils.MISSING, ephemeral=True, wait=True)
        raise Undeliverable("; ".join(errors) or "no channel recorded")

    async def _destinations(self, clip, outcome: Outcome) -> list[tuple[discord.abc.Messageable,
                                                                        discord.MessageReference | None]]:
        if clip.private or withheld(outcome):
            if not clip.author_id:
                return []
            try:
                dm = await self.client.create_dm(discord.Object(int(clip.author_id)))
            except (discord.NotFound, discord.Forbidden):
                return []
            return [(dm, None)]
        out = []
        if clip.thread_id:
            out.append((self.client.get_partial_messageable(int(clip.thread_id)), None))
        if clip.channel_id:
            reference = None
            if clip.status_message_id:
                reference = discord.MessageReference(message_id=int(clip.status_message_id),
                                                     channel_id=int(clip.channel_id), fail_if_not_exists=False)
            out.append((self.client.get_partial_messageable(int(clip.channel_id)), reference))
        return out

    async def _find_post(self, destination, clip_id: str) -> discord.Message | None:
        me = self.client.user.id if self.client.user else None
        try:
            async for message in destination.history(limit=HISTORY_LIMIT):
                if message.author.id == me and posts.is_post_of(message, clip_id):
                    return message
        except discord.HTTPException:
            return None
        return None

    async def _send(self, destination, reference, clip, outcome: Outcome) -> discord.Message:
        private = clip.private or withheld(outcome)
        mention = not private and bool(clip.thread_id or clip.channel_id)
        post = await self._build(clip, outcome, mention=mention, private=private)
        try:
            return await self._send_post(destination, reference, post, clip)
        except discord.HTTPException as exc:
            if exc.status != 413 or post.video is None:
                raise
        # The server's upload limit is lower than we were told: post a link instead.
        post = await self._build(clip, outcome, mention=mention, private=private, attach=False)
        return await self._send_post(destination, reference, post, clip)

    async def _send_post(self, destination, reference, post: posts.Post, clip) -> discord.Message:
        mentions = discord.AllowedMentions(everyone=False, roles=False, replied_user=False,
                                           users=[discord.Object(int(clip.author_id))] if clip.author_id else False)
        return await destination.send(
            content=post.content, embed=post.embed, view=post.view or discord.utils.MISSING,
            file=post.file() or discord.utils.MISSING, reference=reference,
            allowed_mentions=mentions, nonce=clip.id)

    async def _build(self, clip, outcome: Outcome, *, mention: bool, private: bool, attach: bool = True) -> posts.Post:
        if outcome.status is Status.CANCELLED:
            return posts.cancelled_post(clip)
        if withheld(outcome):
            return posts.withheld_post(clip, outcome.error or clip.error)
        if outcome.status is Status.FAILED:
            return posts.failed_post(clip, outcome.error or clip.error, mention=mention)
        settings, storage = self.services.settings, self.services.storage
        limit = upload_limit(settings, clip.max_bytes, private)
        size = clip.video_bytes or outcome.video_bytes or 0
        if attach and clip.video_key and 0 < size <= limit:
            video = await asyncio.to_thread(storage.get, clip.video_key)
            return posts.result_post(clip, video=video, video_url=None, mention=mention,
                                     asked_seconds=outcome.asked_seconds)
        # Too big even after the worker tried to fit it: a link that keeps working, never a path.
        return posts.result_post(clip, video=None, video_url=clip_link(clip, settings, storage), mention=mention,
                                 asked_seconds=outcome.asked_seconds)


async def _keep(lock) -> None:
    """Renew a posting lock while the post is in progress (a large upload may outlast LOCK_S)."""
    with contextlib.suppress(LockError, RedisError, OSError):
        while True:
            await asyncio.sleep(RENEW_S)
            await lock.reacquire()


def _still_being_set_up(clip) -> bool:
    """A public clip queued moments ago whose status message isn't recorded yet."""
    if clip.private or clip.status_message_id or not clip.channel_id or clip.created_at is None:
        return False
    created = clip.created_at if clip.created_at.tzinfo else clip.created_at.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - created).total_seconds() < SETUP_WAIT_S


def withheld(outcome: Outcome) -> bool:
    """The safety check flagged the clip or its input: its author is told, privately only."""
    return outcome.status is Status.FAILED and outcome.flagged


def _status_line(clip, outcome: Outcome) -> str:
    if withheld(outcome):
        return messages.status_withheld(told=True)
    if outcome.status is Status.DONE:
        return messages.status_done(waited(clip, now=datetime.now(timezone.utc)))
    if outcome.status is Status.FAILED:
        return messages.status_failed(outcome.error or clip.error)
    return messages.status_cancelled()
