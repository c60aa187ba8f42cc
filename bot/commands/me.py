"""/me: your jobs in flight, clips made, quota left and default flags."""

from __future__ import annotations

import math

import discord
from discord import app_commands
from discord.ext import commands

from bot import records
from bot.answers import reply_private, services_of
from bot.messages import code
from bot.metrics import COMMANDS
from core.flags import format_flags


class Me(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="me", description="Your clips, quota and default flags")
    async def me(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        member_id = str(interaction.user.id)
        usage = await services.limits.usage(member_id)
        _guild, row = await records.guild_and_member(services.store, str(interaction.guild_id)
                                                     if interaction.guild_id else None, member_id)
        made = await records.clips_made(services.store, member_id)
        defaults = format_flags(await records.member_defaults(services.store, member_id))
        limits = services.limits.limits
        lines = [
            f"In flight: {usage.in_flight} of {limits.jobs_in_flight}",
            f"Clips made: {made}",
            f"Today: {usage.today} of {limits.jobs_per_day} ({usage.left_today} left, resets at midnight UTC)",
            f"Your defaults: {code(defaults) if defaults else 'none (set them with `/settings`)'}",
        ]
        if usage.cooldown_left > 0:
            lines.append(f"Next clip possible in {math.ceil(usage.cooldown_left)} s")
        if usage.banned:
            lines.append("Reelbot's operator has blocked you from making clips.")
        elif row is not None and row.banned_here:
            lines.append("This server's managers have blocked you from making clips here.")
        await reply_private(interaction, "\n".join(lines))
        COMMANDS.labels("me", "ok").inc()
