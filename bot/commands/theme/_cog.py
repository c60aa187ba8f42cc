"""`/theme` for members, and `/admin theme start|end` for server managers (the Admin cog's
subcommands call `start` and `end` through `bot.get_cog("Theme")`). The cog runs the closer."""

from __future__ import annotations

import asyncio

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import observe_ack, reply_private, services_of
from bot.commands.theme._closer import Closer
from bot.commands.theme._posts import announcement, entry_line, result_channel, shown, theme_page
from bot.messages import timestamp
from bot.metrics import COMMANDS
from core import themes
from core.logging import get_logger
from core.tables import utcnow
from core.tasks import stop_task

log = get_logger("bot")
LEADING_SHOWN = 5
DURATIONS = {"1m": "1 minute", "30m": "30 minutes", "1h": "1 hour", "6h": "6 hours", "1d": "1 day", "7d": "7 days"}


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
            await stop_task(self._task)
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
        showcase = await result_channel(services, theme)
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
        text = announcement(started, await result_channel(services, started))
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
        where = await result_channel(services, ended)
        COMMANDS.labels("admin theme end", "ok").inc()
        await interaction.response.send_message(
            f"🏁 The theme “{shown(ended.words)}” has ended. Its results are being posted in "
            f"{f'<#{where}>' if where else 'this server'}.")
        observe_ack(interaction)
