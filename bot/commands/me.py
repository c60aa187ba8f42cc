"""/me: your jobs in flight, clips made, quota left, your tier here, fast GPU time used today
and left, and your default flags."""

from __future__ import annotations

import math

import discord
from discord import app_commands
from discord.ext import commands

from bot import records
from bot.answers import reply_private, services_of
from bot.messages import code, seconds_text
from bot.metrics import COMMANDS
from bot.orders import role_ids
from core.flags import format_flags
from core.limits import Where


class Me(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="me", description="Your clips, quota, tier, fast time and default flags")
    async def me(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        member_id = str(interaction.user.id)
        guild_id = str(interaction.guild_id) if interaction.guild_id else None
        usage = await services.limits.usage(member_id, where=Where(guild_id, role_ids(interaction.user)))
        _guild, row = await records.guild_and_member(services.store, guild_id, member_id)
        made = await records.clips_made(services.store, member_id)
        defaults = await records.member_defaults(services.store, member_id)
        shown = format_flags(defaults)
        limits = usage.limits
        lines = [
            f"In flight: {usage.in_flight} of {limits.jobs_in_flight}",
            f"Clips made: {made}",
            f"Today: {usage.today} of {limits.jobs_per_day} ({usage.left_today} left, resets at midnight UTC)",
            f"Tier: {tier_line(limits)}",
            f"Fast GPU time today: {fast_line(usage.fast_used_s, usage.fast_left_s)}",
            f"Your lane: {defaults.lane or 'fast'} (`-relax` / `-fast` per clip, `/settings lane` for the default)",
            f"Your defaults: {code(shown) if shown else 'none (set them with `/settings`)'}",
        ]
        if usage.cooldown_left > 0:
            lines.append(f"Next clip possible in {math.ceil(usage.cooldown_left)} s")
        if usage.banned:
            lines.append("Reelbot's operator has blocked you from making clips.")
        elif row is not None and row.banned_here:
            lines.append("This server's managers have blocked you from making clips here.")
        await reply_private(interaction, "\n".join(lines))
        COMMANDS.labels("me", "ok").inc()


def tier_line(limits) -> str:
    if limits.tier is None:
        return "the server's defaults"
    head = " · priority high (a head start in the queue)" if limits.priority == "high" else ""
    return f"{limits.tier}{head}"


def fast_line(used_s: float, left_s: float | None) -> str:
    used = f"{seconds_text(used_s)} used"
    if left_s is None:
        return f"{used} (no daily cap)"
    if left_s <= 0:
        return f"{used}, none left: new clips go to the relax lane until midnight UTC"
    return f"{used}, {seconds_text(left_s)} left"
