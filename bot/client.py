"""The discord.py client: commands from the cogs, buttons as dynamic items, the remix
modal by custom id, and the two loops (status edits, delivery) that run beside it."""

from __future__ import annotations

import asyncio
import contextlib

import discord
from discord import app_commands
from discord.ext import commands

from bot import actions
from bot.buttons import DYNAMIC_ITEMS
from bot.commands import COGS
from bot.delivery import Delivery
from bot.metrics import COMMANDS
from bot.status import StatusBoard
from core.logging import get_logger
from core.settings import SettingsError

log = get_logger("bot")


class ReelbotTree(app_commands.CommandTree):
    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await actions.accepting(interaction)

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.CheckFailure):
            return  # the check already told the member why
        name = interaction.command.qualified_name if interaction.command else "unknown"
        COMMANDS.labels(name, "error").inc()
        log.error("command failed", command=name, error=repr(getattr(error, "original", error)),
                  exc_info=getattr(error, "original", error))
        with contextlib.suppress(discord.HTTPException):
            await actions.reply_private(interaction, "Something went wrong on Reelbot's side. If a clip was "
                                                     "queued you'll still get it; otherwise please try again.")


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
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        services = self.services
        if services is None:
            return  # only registering the commands (reelbot sync-commands)
        services.board = StatusBoard(self, services)
        services.delivery = Delivery(self, services)
        await services.board.restore()
        self._loops = [asyncio.create_task(services.board.run(), name="status-board"),
                       asyncio.create_task(services.delivery.run(), name="delivery")]

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        custom_id = str((interaction.data or {}).get("custom_id", ""))
        if interaction.type is discord.InteractionType.modal_submit and custom_id.startswith(actions.REMIX_MODAL):
            try:
                await actions.remix_submitted(interaction)
            except Exception as exc:  # noqa: BLE001 — tell the member, keep the bot up
                COMMANDS.labels("remix", "error").inc()
                log.error("remix failed", error=repr(exc), exc_info=exc)
                with contextlib.suppress(discord.HTTPException):
                    await actions.reply_private(interaction, "Something went wrong on Reelbot's side; "
                                                             "please try again.")

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
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loops = []
        await super().close()
