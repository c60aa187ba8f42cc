"""What `/admin tier`, `/admin tiers` and `/admin tier-remove` do and say (the commands are
in /admin's group, bot/commands/admin.py). A tier is what a role gives its members in this
server: jobs in flight, jobs a day, fast minutes a day and priority (core/limits.py); a
member gets the best of their roles' tiers, else the server's defaults. Every change is in
the audit log."""

from __future__ import annotations

import discord

from bot.answers import services_of
from bot.messages import CONTENT_MAX
from core.limits import TierSpec, list_tiers, remove_tier, set_tier

TIERS_SHOWN = 40


def defaults_line(limits) -> str:
    fast = "no cap" if limits.fast_minutes is None else f"{limits.fast_minutes} min"
    return (f"Defaults here (members with no tier): {limits.jobs_in_flight} in flight, {limits.jobs_per_day} a day, "
            f"fast time a day: {fast}.")


def role_label(role: discord.Role | None, spec: TierSpec) -> str:
    if role is not None:
        return "@everyone" if role.is_default() else role.mention
    return f"@{spec.role_name or spec.role_id}"


async def set_role_tier(interaction: discord.Interaction, role: discord.Role, in_flight: int | None,
                        per_day: int | None, fast_minutes: int | None, priority: str | None) -> str:
    store = services_of(interaction).store
    guild_id = str(interaction.guild_id)
    if all(v is None for v in (in_flight, per_day, fast_minutes, priority)):
        current = next((t for t in await list_tiers(store.session, guild_id) if t.role_id == str(role.id)), None)
        if current is None:
            return f"{role_label(role, None)} has no tier: its members get the server's defaults (or their other roles')."
        return f"{role_label(role, current)}: {current.describe()}."
    spec = TierSpec(str(role.id), role.name[:100], in_flight, per_day, fast_minutes, priority)
    now = await set_tier(store.session, guild_id, spec, by=str(interaction.user.id))
    return (f"Tier for {role_label(role, now)}: {now.describe()}. Members with several tiered roles get the best "
            "of each; it applies to their next clip.")


async def remove_role_tier(interaction: discord.Interaction, role: discord.Role) -> str:
    gone = await remove_tier(services_of(interaction).store.session, str(interaction.guild_id), str(role.id),
                             by=str(interaction.user.id))
    if gone is None:
        return f"{role_label(role, None)} had no tier."
    return f"Removed the tier of {role_label(role, gone)} ({gone.describe()}): its members get the server's defaults."


async def tiers_text(interaction: discord.Interaction) -> str:
    services = services_of(interaction)
    tiers = await list_tiers(services.store.session, str(interaction.guild_id))
    lines = [defaults_line(services.limits.limits)]
    if not tiers:
        lines.append("No tiers yet: `/admin tier role:<role> in_flight:… per_day:… fast_minutes:… priority:…`.")
    guild = interaction.guild
    for spec in tiers[:TIERS_SHOWN]:
        role = guild.get_role(int(spec.role_id)) if guild is not None and spec.role_id.isdigit() else None
        lines.append(f"{role_label(role, spec)}: {spec.describe()}")
    text = "\n".join(lines)
    return text if len(text) <= CONTENT_MAX else text[:CONTENT_MAX - 1] + "…"
