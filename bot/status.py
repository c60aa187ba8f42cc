"""Status messages: `Queued · position 3 · ETA ~40 s`, then `Rendering ▰▰▰▱▱ 60%`, then the
outcome, edited in place no more often than every `progress_edit_seconds`. While the job
runs the message carries a ✖ Cancel button for its author (`CancelButton`, defined here
with what it does).

The board polls Redis (one pipelined round trip for every watched clip) instead of
holding a pub/sub subscription: after a restart it rebuilds itself from the clip
records and the progress hashes, with nothing to replay. Public status messages are
edited with the bot token, which never expires; a private (ephemeral) one can only be
edited through its interaction, and only within the token's 15 minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import discord
from redis.exceptions import RedisError

from bot import messages, records
from bot.answers import reply_private, services_of
from bot.buttons import ClipButton, view_of
from bot.metrics import COMMANDS
from core.contract import UPLOADING, Status, progress_key
from core.fair import Standing
from core.logging import get_logger
from core.queue import cancel, standings

log = get_logger("bot")
TOKEN_LIFETIME_S = 15 * 60
TOKEN_MARGIN_S = 60  # stop using an interaction token a minute before Discord does


@dataclass
class Watched:
    clip_id: str
    model: str
    channel_id: int | None = None
    message_id: int | None = None
    interaction: discord.Interaction | None = None  # private status messages only
    text: str = ""
    position: int | None = None  # the queue position the message shows, while queued
    lane: str = "fast"
    moved: str | None = None  # why a clip went to the relax lane (its fast time was spent)
    rose_from: int | None = None  # the position before it rose (fairer clips went ahead): said until it falls back
    edited_at: float = field(default_factory=time.monotonic)
    token_at: float = field(default_factory=time.monotonic)

    def token_fresh(self) -> bool:
        return (self.interaction is not None
                and time.monotonic() - self.token_at < TOKEN_LIFETIME_S - TOKEN_MARGIN_S)


def worth_editing(w: Watched, text: str | None, position: int | None) -> bool:
    """Whether a new status line is worth an edit. Discord allows a channel only a few edits a
    second, and a long queue would spend them all on positions: a queued message is edited
    when it nears the front or its position fell by a fifth; progress always (throttled)."""
    if text is None or text == w.text:
        return False
    if position is None or w.position is None or messages.waiting(text) != messages.waiting(w.text):
        return True
    # Rising is always shown (members must see a place lost to the fair order, and why).
    return position <= 3 or position <= 0.8 * w.position or position > w.position


class StatusBoard:
    def __init__(self, client: discord.Client, services, concurrency: int = 8):
        self.client = client
        self.services = services
        self.watched: dict[str, Watched] = {}
        self.interval = services.settings.progress_edit_seconds
        self._edits = asyncio.Semaphore(concurrency)

    def watch(self, item: Watched) -> None:
        self.watched[item.clip_id] = item

    def forget(self, clip_id: str) -> Watched | None:
        return self.watched.pop(clip_id, None)

    async def restore(self) -> None:
        """Watch every unfinished public clip again after a restart."""
        serves = getattr(self.client, "serves_guild", lambda _guild_id: True)
        for clip in await records.watched_clips(self.services.store):
            if clip.private or clip.id in self.watched or not serves(clip.guild_id):
                continue  # another shard process shows this one
            self.watch(Watched(clip.id, clip.model, int(clip.channel_id), int(clip.status_message_id),
                               lane=clip.lane or "fast", edited_at=0.0))
        log.info("status board restored", watching=len(self.watched))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.interval / 2))
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:  # Redis away: wait it out (delivery's backoff, one log line)
                await self.services.redis_health.failed(exc)
            except Exception:  # noqa: BLE001 — Discord trouble: next tick tries again
                log.exception("status refresh failed")

    async def refresh(self) -> None:
        now = time.monotonic()
        due = [w for w in self.watched.values() if now - w.edited_at >= self.interval]
        if not due:
            return
        edits = [self._edit(w, text, cancel_view(w.clip_id), position)
                 for w, (text, position) in zip(due, await self._texts(due)) if worth_editing(w, text, position)]
        await asyncio.gather(*edits)

    async def _texts(self, items: list[Watched]) -> list[tuple[str | None, int | None]]:
        services = self.services
        redis = services.redis
        async with redis.pipeline(transaction=False) as pipe:
            for w in items:
                pipe.hgetall(progress_key(w.clip_id))
            progress = await pipe.execute()
        where: dict[str, Standing] = {}
        for model in {w.model for w in items}:  # one call per model for all its watched clips
            where.update(await standings(redis, model, [w.clip_id for w in items if w.model == model],
                                         typical_s=services.eta.per_clip(model), policy=services.policy))
        online = await services.workers.get()
        return [self._text(w, state, where.get(w.clip_id, Standing(None)), online.workers.get(w.model, 0))
                for w, state in zip(items, progress)]

    def _text(self, w: Watched, progress: dict, standing: Standing, workers: int) -> tuple[str | None, int | None]:
        """(what the status message should say, the queue position it shows)."""
        if progress and progress.get(b"status") == Status.RUNNING.value.encode():
            if progress.get(b"stage") == UPLOADING.encode():
                return messages.STATUS_UPLOADING, None
            step, total = int(progress.get(b"step", 0)), int(progress.get(b"total", 0))
            return messages.status_rendering(step / total if total else 0.0), None
        if progress:
            return None, None  # final: delivery writes the last word
        if standing.ahead is None or standing.running:
            return None, None  # between queue and worker, or gone: nothing new to say
        place = standing.ahead + 1
        if w.position is not None and place > w.position:
            w.rose_from = min(w.rose_from or w.position, w.position)
        elif w.rose_from is not None and place <= w.rose_from:
            w.rose_from = None
        low, high = self.services.eta.eta_range(w.model, place, standing.more, workers) if workers else (None, None)
        return messages.status_queued(place, low, not workers, eta_high=high, lane=w.lane, moved=w.moved,
                                      rose_from=w.rose_from), place

    async def _edit(self, w: Watched, text: str, view: discord.ui.View | None, position: int | None = None) -> bool:
        async with self._edits:
            try:
                if w.interaction is not None:
                    if not w.token_fresh():
                        return False
                    await w.interaction.edit_original_response(content=text, view=view)
                elif w.channel_id and w.message_id:
                    channel = self.client.get_partial_messageable(w.channel_id)
                    await channel.get_partial_message(w.message_id).edit(content=text, view=view)
                else:
                    return False
            except discord.NotFound:
                self.forget(w.clip_id)  # the status message was deleted: stop editing it
                return False
            except discord.HTTPException as exc:
                log.warning("status edit failed", clip_id=w.clip_id, status=exc.status)
                return False
            w.text, w.position, w.edited_at = text, position, time.monotonic()
            return True

    async def finish(self, clip, text: str) -> None:
        """The last edit of a status message: the outcome, and no Cancel button."""
        w = self.forget(clip.id)
        if w is None and clip.status_message_id and clip.channel_id and not clip.private:
            w = Watched(clip.id, clip.model, int(clip.channel_id), int(clip.status_message_id))
        if w is not None:
            with contextlib.suppress(Exception):
                await self._edit(w, text, None)


class CancelButton(ClipButton, action="cancel"):
    label, emoji, style = "Cancel", "✖", discord.ButtonStyle.danger

    async def pressed(self, interaction: discord.Interaction, clip) -> None:
        await cancel_clip(interaction, clip)


def cancel_view(clip_id: str) -> discord.ui.View:
    return view_of(CancelButton(clip_id))


async def cancel_clip(interaction: discord.Interaction, clip, command: str = "button:cancel") -> None:
    """Stop a queued or running clip of the member's own (✖ Cancel and /cancel)."""
    if clip.author_id != str(interaction.user.id):
        COMMANDS.labels(command, "refused").inc()
        await reply_private(interaction, f"Only <@{clip.author_id}> can cancel this clip.")
        return
    if Status(clip.status).final:
        COMMANDS.labels(command, "refused").inc()
        await reply_private(interaction, f"This clip is already {clip.status}.")
        return
    services = services_of(interaction)
    how = await cancel(services.redis, services.store, clip.id, clip.model)
    COMMANDS.labels(command, "ok").inc()
    if how == "unqueued":
        await reply_private(interaction, "Cancelled: the clip was taken off the queue.")
    elif how == "signalled":
        await reply_private(interaction, "Stopping the render at its next step…")
    else:
        await reply_private(interaction, f"This clip is already {how}.")
