"""Themes in Discord: `/theme` for members, `/admin theme start|end` for server managers (the
Admin cog hands those to this one with `bot.get_cog("Theme")`), and the closer.

The closer runs in every bot process; one of them leads (core/leader.py: a redis-py Lock,
so shard processes never close or post twice). The leader sleeps until the next theme's end
(or a few seconds, to see themes other processes started), closes what is due
(core/themes.close freezes the votes as they stood at the end, whenever it runs), then
posts each closed theme's result once: in the server's showcase channel (`/admin
gallery-channel`), else where the theme was announced. "Once" survives a crash at any
point: the post carries `theme <id>` in its footer and a nonce, a per-theme lock keeps two
posters apart, and before posting the channel's recent messages are searched for a result
an earlier attempt made but never recorded. A bot that was down at the end time finishes
the job when it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import discord
from discord import app_commands
from discord.ext import commands
from redis.exceptions import RedisError

from bot import records
from bot.answers import observe_ack, reply_private, services_of
from bot.messages import timestamp, truncate
from bot.metrics import COMMANDS
from core import themes
from core.backoff import Backoff
from core.leader import Leader
from core.logging import get_logger
from core.tables import utcnow

log = get_logger("bot")
LEADER_KEY = "reelbot:theme-closer"
LEAD_TIMEOUT_S = 10.0  # a dead leader hands over within this
POLL_S = 3.0  # how often the leader looks for themes other processes started (and renews its lock)
POSTING_LOCK_S = 120  # longer than discord.py's retries of one post
HISTORY_LIMIT = 50
FOOTER_PREFIX = "theme "
MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}
LEADING_SHOWN = 5
DURATIONS = {"1m": "1 minute", "30m": "30 minutes", "1h": "1 hour", "6h": "6 hours", "1d": "1 day", "7d": "7 days"}


def shown(words: str) -> str:
    return discord.utils.escape_markdown(words)


def entry_line(standing: themes.Standing, gallery_url: str | None) -> str:
    """`🥇 @ann · 3 votes · “a fox in snow” · clip`: rank, author, votes, prompt and a link."""
    clip = standing.clip
    mark = MEDALS.get(standing.rank, f"**{standing.rank}.**")
    votes = f"{standing.votes} vote{'s' if standing.votes != 1 else ''}"
    prompt = shown(truncate(" ".join((clip.prompt or "untitled").split()), 80))
    where = clip.thread_id or clip.channel_id
    links = []
    if clip.result_message_id and clip.guild_id and where:
        links.append(f"[clip](https://discord.com/channels/{clip.guild_id}/{where}/{clip.result_message_id})")
    if gallery_url:
        links.append(f"[page]({gallery_url.rstrip('/')}/clips/{clip.id})")
    author = f"<@{clip.author_id}>" if clip.author_id else shown(clip.author_name or "someone")
    return " · ".join([f"{mark} {author}", votes, f"“{prompt}”", *links])


def theme_page(theme, gallery_url: str | None) -> str | None:
    return f"{gallery_url.rstrip('/')}/themes/{theme.id}" if gallery_url else None


def announcement(theme, result_channel_id: str | None) -> str:
    where = f" in <#{theme.channel_id}>" if theme.channel_id else ""
    result = f"<#{result_channel_id}>" if result_channel_id else "this channel"
    return (f"🎬 **New theme: {shown(theme.words)}**\n"
            f"Enter by adding `-theme` to your prompt{where}, e.g. `/create a scene of your own -theme` "
            f"(up to {theme.max_entries} entries each; deleting one withdraws it).\n"
            f"Vote with 👍 on the entries you like (your own vote doesn't count). It ends {timestamp(theme.ends_at)} "
            f"({timestamp(theme.ends_at, 'f')}); the top {theme.winners} are posted in {result}.")


def result_embed(theme, standings: list[themes.Standing], entries: int, gallery_url: str | None) -> discord.Embed:
    lines = [f"The theme has ended. The top {len(standings)} of {entries} entr{'ies' if entries != 1 else 'y'} "
             "by 👍 (an author's own vote doesn't count):" if standings else "The theme has ended with no entries."]
    lines += [entry_line(s, gallery_url) for s in standings]
    page = theme_page(theme, gallery_url)
    if page:
        lines.append(f"\nEvery entry: {page}")
    embed = discord.Embed(title=truncate(f"🏆 Theme results: {shown(theme.words)}", 256),
                          description=truncate("\n".join(lines), 4000), color=discord.Color.gold())
    embed.set_footer(text=f"{FOOTER_PREFIX}{theme.id} · ended {themes.utc(theme.ends_at):%Y-%m-%d %H:%M} UTC")
    return embed


def is_result_of(message, theme_id: str) -> bool:
    return any((embed.footer and embed.footer.text or "").split(" · ")[0] == f"{FOOTER_PREFIX}{theme_id}"
               for embed in getattr(message, "embeds", []))


class Themes(commands.Cog, name="Theme"):
    def __init__(self, bot: commands.Bot):
        self.bot = bot
        self.closer: Closer | None = None
        self._task: asyncio.Task | None = None

    async def cog_load(self) -> None:
        services = getattr(self.bot, "services", None)
        if services is not None:  # None: only registering the commands
            self.closer = Closer(self.bot, services)
            self._task = asyncio.create_task(self.closer.run(), name="theme-closer")

    async def cog_unload(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            await self.closer.leader.resign()

    def _wake(self) -> None:
        if self.closer is not None:
            self.closer.wake.set()

    @app_commands.command(name="theme", description="The server's theme: its words, time left, how to enter, "
                                                    "the leading entries")
    async def theme(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        if interaction.guild_id is None:
            COMMANDS.labels("theme", "refused").inc()
            return await reply_private(interaction, "Themes run in servers: use `/theme` in one.")
        async with services.store.session() as s:
            theme = await themes.current(s, str(interaction.guild_id))
            if theme is None or not themes.is_running(theme):
                text = await self._none_running(s, str(interaction.guild_id))
            else:
                text = await self._running(s, theme, str(interaction.user.id))
        await reply_private(interaction, text)
        COMMANDS.labels("theme", "ok").inc()

    async def _running(self, session, theme, member_id: str) -> str:
        services = self.bot.services
        left = themes.span_text((themes.utc(theme.ends_at) - utcnow()).total_seconds())
        used = await themes.entries_used(session, theme.id, member_id)
        leading = await themes.standings(session, theme, limit=LEADING_SHOWN)
        showcase = await _result_channel(services, theme)
        where = f" in <#{theme.channel_id}>" if theme.channel_id else ""
        lines = [f"🎬 **Theme: {shown(theme.words)}** · ends {timestamp(theme.ends_at)} ({left} left)",
                 f"**Enter**: add `-theme` to your prompt{where}, e.g. `/create a scene of your own -theme` (or "
                 f"`/animate`, `/edit` …). Up to {theme.max_entries} entries each: you've entered {used}.",
                 f"**Vote**: 👍 on the entries you like; your own vote doesn't count. The top {theme.winners} are "
                 f"posted in {f'<#{showcase}>' if showcase else 'this server'} when it ends.",
                 "**Leading**" if leading else "No entries yet: be the first!"]
        lines += [entry_line(s, services.settings.gallery_url) for s in leading]
        page = theme_page(theme, services.settings.gallery_url)
        if page:
            lines.append(f"Every entry: {page}")
        return "\n".join(lines)

    async def _none_running(self, session, guild_id: str) -> str:
        text = "No theme is running on this server right now."
        last = await themes.latest(session, guild_id)
        if last is not None:
            page = theme_page(last, self.bot.services.settings.gallery_url)
            text += f" The last one, “{shown(last.words)}”, ended {timestamp(last.ends_at)}" + \
                (f": {page}" if page else ".")
        return text + " Server managers start one with `/admin theme start`."

    @staticmethod
    def duration_choices(current: str) -> list[app_commands.Choice[str]]:
        """`/admin theme start duration:` suggestions; anything `parse_duration` reads is accepted."""
        typed = current.strip().lower()
        if typed and typed not in DURATIONS and not isinstance(themes.parse_duration(typed), str):
            return [app_commands.Choice(name=typed, value=typed)]
        return [app_commands.Choice(name=f"{value} ({words})", value=value) for value, words in DURATIONS.items()
                if value.startswith(typed)]

    # --- /admin theme start|end (the Admin cog's subcommands call these) ------------------

    async def start(self, interaction: discord.Interaction, words: str, duration: str,
                    channel: discord.TextChannel | None, max_entries: int, winners: int) -> None:
        services = services_of(interaction)
        cleaned = themes.clean_words(words)
        length = themes.parse_duration(duration)
        if not cleaned or len(cleaned) > themes.MAX_WORDS_CHARS or isinstance(length, str):
            COMMANDS.labels("admin theme start", "refused").inc()
            return await reply_private(interaction, length if isinstance(length, str) else
                                       f"The theme's words must be 1 to {themes.MAX_WORDS_CHARS} characters.")
        announce = channel.id if channel is not None else interaction.channel_id
        started = await themes.start(services.store.session, guild_id=str(interaction.guild_id), words=cleaned,
                                     duration=length, by=str(interaction.user.id),
                                     channel_id=str(channel.id) if channel else None,
                                     announce_channel_id=str(announce), max_entries=max_entries, winners=winners)
        if isinstance(started, themes.Running):
            COMMANDS.labels("admin theme start", "refused").inc()
            running = started.theme
            return await reply_private(interaction, f"A theme is already running here: “{shown(running.words)}”, "
                                                    f"ending {timestamp(running.ends_at)}. End it first with "
                                                    "`/admin theme end`.")
        self._wake()
        log.info("theme started", theme_id=started.id, guild_id=started.guild_id, ends_at=started.ends_at.isoformat())
        text = announcement(started, await _result_channel(services, started))
        COMMANDS.labels("admin theme start", "ok").inc()
        if announce == interaction.channel_id:
            await interaction.response.send_message(text)
            observe_ack(interaction)
            return
        try:
            await self.bot.get_partial_messageable(announce).send(text)
            note = f"The theme is running and announced in <#{announce}>."
        except discord.HTTPException as exc:
            log.warning("could not announce a theme", theme_id=started.id, status=exc.status)
            note = f"The theme is running, but Reelbot couldn't post its announcement in <#{announce}>."
        await reply_private(interaction, note)

    async def end(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        ended = await themes.end(services.store.session, str(interaction.guild_id), by=str(interaction.user.id))
        if ended is None:
            COMMANDS.labels("admin theme end", "refused").inc()
            return await reply_private(interaction, "No theme is running on this server.")
        self._wake()
        where = await _result_channel(services, ended)
        COMMANDS.labels("admin theme end", "ok").inc()
        await interaction.response.send_message(
            f"🏁 The theme “{shown(ended.words)}” has ended. Its results are being posted in "
            f"{f'<#{where}>' if where else 'this server'}.")
        observe_ack(interaction)


async def _result_channel(services, theme) -> str | None:
    """Where a theme's result goes: the server's showcase channel, else where it was announced."""
    settings = await records.guild(services.store, theme.guild_id)
    return (settings.gallery_channel_id if settings is not None else None) or theme.announce_channel_id


class Closer:
    """Closes themes at their end and posts each result once (see the module's docstring)."""

    def __init__(self, client: discord.Client, services):
        self.client = client
        self.services = services
        self.leader = Leader(services.redis, LEADER_KEY, timeout=LEAD_TIMEOUT_S, name="theme closer")
        self.wake = asyncio.Event()
        self.backoff = Backoff("redis")
        self._retry_at: dict[str, datetime] = {}  # theme id -> when to try its post again

    async def run(self) -> None:
        while True:
            wait = POLL_S
            try:
                if await self.leader.lead():
                    wait = await self.step()
                self.backoff.ok()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.leader.leading = False
                await self.backoff.failed(exc)
                continue
            except Exception:  # noqa: BLE001 — the database away: try again shortly
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
        except discord.HTTPException as exc:  # Discord trouble: try again after a while
            log.warning("theme result not posted; will try again", theme_id=theme.id, status=exc.status)
            self._retry_at[theme.id] = utcnow() + timedelta(seconds=30)

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
        places = [c for c in dict.fromkeys((await _result_channel(services, theme), theme.announce_channel_id)) if c]
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
