"""The closer: one leader among the bot processes closes themes at their end and posts each
result once (see bot/commands/theme/__init__.py)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import discord
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from bot.commands.theme._posts import is_result_of, result_channel, result_embed
from core import themes
from core.backoff import Backoff, delays
from core.leader import Leader
from core.logging import get_logger
from core.tables import utcnow

log = get_logger("bot")
LEADER_KEY = "reelbot:theme-closer"
LEAD_TIMEOUT_S = 10.0  # a dead leader hands over within this
POLL_S = 3.0  # how often the leader looks for themes other processes started (and renews its lock)
# One poster per theme, even if a leader stalls past its lock (discord.py retries a 5xx for ~16 s;
# past that the nonce still keeps a second post out). A poster killed mid-post holds its
# successor up this long.
POSTING_LOCK_S = 20
HISTORY_LIMIT = 50
RETRY_S = 30  # a result Discord refused for a moment (5xx) is tried again after this


class Closer:
    """Closes themes at their end and posts each result once (see the module's docstring)."""

    def __init__(self, client: discord.Client, services):
        self.client = client
        self.services = services
        self.leader = Leader(services.redis, LEADER_KEY, timeout=LEAD_TIMEOUT_S, name="theme closer")
        self.wake = asyncio.Event()
        self._redis_delays = delays()  # its own waits; the outage itself is the bot's one redis_health
        self.database = Backoff("database")
        self._retry_at: dict[str, datetime] = {}  # theme id -> when to try its post again

    async def run(self) -> None:
        while True:
            wait = POLL_S
            try:
                leading = await self.leader.lead()
                self._redis_delays = delays()
                if leading:
                    wait = await self.step()
                    self.database.ok()
            except asyncio.CancelledError:
                raise
            except RedisError as exc:  # said once per outage by the whole bot (delivery says when it is back)
                self.leader.leading = False
                self.services.redis_health.down(exc, "closing themes")
                await asyncio.sleep(next(self._redis_delays))
                continue
            except (DBAPIError, OSError) as exc:  # said once per outage, not every pass
                await self.database.failed(exc)
            except Exception:  # noqa: BLE001 — a bug: logged, and the next pass tries again
                log.exception("theme closer pass failed")
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), wait)

    async def step(self) -> float:
        """Close what is due and post what is closed; seconds until there is more to do."""
        sessions = self.services.store.session
        now = utcnow()
        async with sessions() as s:
            due = await themes.due(s, now)
        for theme_id in due:
            async with sessions.begin() as s:
                if await themes.close(s, theme_id, now=now):
                    log.info("theme closed", theme_id=theme_id)
        async with sessions() as s:
            closed = await themes.unposted(s)
            upcoming = await themes.next_end(s)
        for theme in closed:
            if self._retry_at.get(theme.id, now) <= now:
                await self._post_or_retry(theme)
        if upcoming is None:
            return POLL_S
        return max(0.0, min(POLL_S, (upcoming - utcnow()).total_seconds()))

    async def _post_or_retry(self, theme) -> None:
        try:
            await self.post_result(theme)
            self._retry_at.pop(theme.id, None)
        except Exception as exc:  # noqa: BLE001 — Discord (5xx, network) or the database: try again later
            log.warning("theme result not posted; will try again", theme_id=theme.id, error=repr(exc))
            self._retry_at[theme.id] = utcnow() + timedelta(seconds=RETRY_S)

    async def post_result(self, theme) -> None:
        lock = self.services.redis.lock(f"reelbot:theme-result:{theme.id}", timeout=POSTING_LOCK_S,
                                        thread_local=False)
        if not await lock.acquire(blocking=False):
            return  # another process is posting it right now
        try:
            await self._post_locked(theme)
        finally:
            with contextlib.suppress(Exception):
                await lock.release()

    async def _post_locked(self, theme) -> None:
        services = self.services
        async with services.store.session() as s:
            theme = await themes.get(s, theme.id)
            if theme.result_posted_at is not None:
                return
            standings = await themes.standings(s, theme, limit=theme.winners)
            entries = await themes.entry_count(s, theme.id)
        embed = result_embed(theme, standings, entries, services.settings.gallery_url)
        places = [c for c in dict.fromkeys((await result_channel(services, theme), theme.announce_channel_id)) if c]
        message, channel_id = None, None
        for channel_id in places:
            channel = self.client.get_partial_messageable(int(channel_id))
            try:
                message = await self._find(channel, theme.id) or await channel.send(
                    embed=embed, nonce=f"theme-{theme.id}", allowed_mentions=discord.AllowedMentions.none())
                break
            except (discord.NotFound, discord.Forbidden) as exc:
                log.warning("theme result refused here; trying the next place", theme_id=theme.id,
                            channel_id=channel_id, status=exc.status)
        async with services.store.session.begin() as s:
            await themes.record_result(s, theme.id, channel_id=channel_id if message else None,
                                       message_id=str(message.id) if message else None)
        log.info("theme result posted" if message else "theme result had nowhere to go", theme_id=theme.id,
                 channel_id=channel_id, message_id=getattr(message, "id", None), winners=len(standings))

    async def _find(self, channel, theme_id: str) -> discord.Message | None:
        """A result an earlier attempt posted but never recorded (it died in between)."""
        me = self.client.user.id if self.client.user else None
        with contextlib.suppress(discord.NotFound, discord.Forbidden):
            async for message in channel.history(limit=HISTORY_LIMIT):
                if message.author.id == me and is_result_of(message, theme_id):
                    return message
        return None
