"""`reelbot bot` and `reelbot sync-commands`."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import discord
from redis.exceptions import RedisError

from bot import health
from bot.endpoints import point_at
from core.logging import get_logger, scrub
from core.settings import Settings, SettingsError

log = get_logger("bot")


def _token(settings: Settings) -> str:
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise SettingsError("bad setting REELBOT_DISCORD_TOKEN: the bot needs its Discord token")
    return settings.discord_token.get_secret_value().strip()


def run(settings: Settings, sync: bool = False, guild_id: int | None = None) -> None:
    """Blocking. uvloop, where installed (the bot extra), takes some of the event loop's own
    cost off every interaction; plain asyncio otherwise."""
    try:
        import uvloop
    except ImportError:
        uvloop = None
    with asyncio.Runner(loop_factory=uvloop.new_event_loop if uvloop else None) as runner:
        with refused_token():
            runner.run(serve(settings, sync, guild_id))


@contextlib.contextmanager
def refused_token():
    """Discord refusing the token is a configuration error: one line, not a traceback."""
    try:
        yield
    except discord.LoginFailure:
        raise SettingsError("bad setting REELBOT_DISCORD_TOKEN: Discord refused the token") from None


async def serve(settings: Settings, sync: bool = False, guild_id: int | None = None) -> None:
    from bot.client import Reelbot
    from bot.services import Services

    token = _token(settings)
    if not settings.redis_url:
        raise SettingsError("bad setting REELBOT_REDIS_URL: the bot needs a Redis URL (or run `reelbot up`)")
    point_at(settings.discord_api_base, settings.discord_gateway_url)
    try:
        services = await Services.open(settings)
    except (OSError, RedisError) as exc:
        raise SettingsError(f"bad setting REELBOT_REDIS_URL: cannot reach Redis ({scrub(str(exc))})") from None
    bot = Reelbot(services)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.drain()))
    endpoints = await health.serve(settings, bot)
    try:
        async with bot:
            if sync:
                await bot.login(token)
                await _sync(bot, guild_id)
                await bot.connect()
            else:
                await bot.start(token)
    finally:
        if endpoints is not None:
            await endpoints.cleanup()
        await services.close()
        log.info("bot stopped")


async def sync_commands(settings: Settings, guild_id: int | None = None) -> list[str]:
    """Register the slash commands with Discord, globally or for one server (instant).
    Needs only the token: no Redis, no database."""
    from bot.client import Reelbot

    token = _token(settings)
    point_at(settings.discord_api_base, settings.discord_gateway_url)
    async with Reelbot(None) as bot:
        with refused_token():
            await bot.login(token)  # runs setup_hook: the cogs add their commands
        return await _sync(bot, guild_id)


async def _sync(bot, guild_id: int | None) -> list[str]:
    guild = discord.Object(guild_id) if guild_id else None
    if guild is not None:
        bot.tree.copy_global_to(guild=guild)
    synced = await bot.tree.sync(guild=guild)
    names = sorted(command.name for command in synced)
    log.info("commands synced", scope=f"guild {guild_id}" if guild_id else "global", commands=names)
    return names
