"""The discord.py client: the cogs (each feature's commands, buttons and dialogs), and the
two loops (status edits, delivery) that run beside it."""

from __future__ import annotations

import asyncio

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import accepting, went_wrong
from bot.commands.admin import Admin
from bot.commands.animate import Animate
from bot.commands.cancel import Cancel
from bot.commands.create import Create
from bot.commands.details import Details
from bot.commands.delete import Delete
from bot.commands.edit import Edit
from bot.commands.effects import Effects
from bot.commands.extend import Extend
from bot.commands.gallery import Gallery
from bot.commands.help import Help
from bot.commands.keyframes import Keyframes
from bot.commands.lipsync import LipSync
from bot.commands.me import Me
from bot.commands.queue import Queue
from bot.commands.remix import Remix
from bot.commands.report import Report
from bot.commands.retry import Retry
from bot.commands.scene import Scene
from bot.commands.settings import Settings
from bot.commands.show import Show
from bot.commands.theme import Themes
from bot.commands.upvote import Upvote
from bot.delivery import Delivery
from bot.showcase import Showcase
from bot.status import StatusBoard
from core.logging import get_logger
from core.settings import SettingsError
from core.tasks import stop_task

log = get_logger("bot")
COGS = (Create, Animate, Extend, Keyframes, Edit, LipSync, Cancel, Retry, Remix, Upvote, Delete, Queue, Me, Settings,
        Show,
        Gallery, Help, Admin, Report, Themes, Effects, Scene, Details)


class ReelbotTree(app_commands.CommandTree):
    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await accepting(interaction)

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.CheckFailure):
            return  # the check already told the member why
        name = interaction.command.qualified_name if interaction.command else "unknown"
        await went_wrong(interaction, name, getattr(error, "original", error),
                         "Something went wrong on Reelbot's side. If a clip was queued you'll still get it; "
                         "otherwise please try again.")


def intents() -> discord.Intents:
    # Guilds only: interactions carry the member and their permissions; no message content.
    wanted = discord.Intents.none()
    wanted.guilds = True
    return wanted


def sharding(settings) -> dict:
    """AutoShardedBot's options: Discord's recommended count, or this process's share of a fixed count."""
    if settings is None or settings.discord_shard_count is None:
        return {}
    ids = settings.discord_shard_ids or None
    if ids and any(not 0 <= i < settings.discord_shard_count for i in ids):
        raise SettingsError("bad setting REELBOT_DISCORD_SHARD_IDS: every id must be below "
                            f"REELBOT_DISCORD_SHARD_COUNT ({settings.discord_shard_count})")
    return {"shard_count": settings.discord_shard_count, "shard_ids": ids}


class Reelbot(commands.AutoShardedBot):
    def __init__(self, services, **options):
        super().__init__(command_prefix=commands.when_mentioned, intents=intents(), tree_cls=ReelbotTree,
                         help_command=None, allowed_mentions=discord.AllowedMentions.none(),
                         **sharding(services.settings if services else None), **options)
        self.services = services
        self._loops: list[asyncio.Task] = []

    def serves_guild(self, guild_id: str | None) -> bool:
        """Whether this process's shards carry a server (DMs travel on shard 0)."""
        count = self.shard_count or 1
        shard = (int(guild_id) >> 22) % count if guild_id else 0
        return self.shard_ids is None or shard in self.shard_ids

    async def setup_hook(self) -> None:
        for cog in COGS:
            await self.add_cog(cog(self))
        services = self.services
        if services is None:
            return  # only registering the commands (reelbot sync-commands)
        services.board = StatusBoard(self, services)
        services.delivery = Delivery(self, services)
        services.showcase = Showcase(self, services)
        await services.board.restore()
        self._loops = [asyncio.create_task(services.board.run(), name="status-board"),
                       asyncio.create_task(services.delivery.run(), name="delivery")]

    async def on_ready(self) -> None:
        log.info("bot connected", user=str(self.user), guilds=len(self.guilds))

    async def drain(self) -> None:
        """SIGTERM: take no new commands, finish the posts in hand, then disconnect."""
        if self.services is None or self.services.draining:
            return
        self.services.draining = True
        log.info("draining: finishing posts in hand", seconds=self.services.settings.bot_drain_seconds)
        if self.services.delivery is not None:
            await self.services.delivery.stop(self.services.settings.bot_drain_seconds)
        await self.close()

    async def close(self) -> None:
        await asyncio.gather(*(stop_task(task) for task in self._loops))
        self._loops = []
        await super().close()
