"""/settings [ar] [fps] [length] [model] [private] [lane] [reset]: your default flags.

Values go through the same parser as flags in a prompt, so the rules and the messages
are the same in both places. A flag typed in a prompt always wins over a default.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import records
from bot.answers import reply_private, services_of
from bot.messages import code
from bot.metrics import COMMANDS
from core.flags import FPS_MAX, FPS_MIN, LANES, LEN_MAX, LEN_MIN, FlagError, Flags, format_flags, parse_prompt


def settings_text(ar: str | None, fps: int | None, length: float | None, model: str | None) -> str:
    parts = []
    for flag, value in (("ar", ar), ("fps", fps), ("len", length), ("model", model)):
        if value is not None:
            parts.append(f"-{flag} {value}")
    return " ".join(parts)


class Settings(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="settings", description="Your default flags (a flag in a prompt still wins)")
    @app_commands.describe(ar="Aspect ratio, e.g. 16:9 or 9:16", fps="Frames per second", length="Seconds",
                           model="Which model renders (see /queue)", private="Keep your clips to yourself",
                           lane="fast: uses your fast GPU time; relax: waits behind fast clips, costs none",
                           reset="Forget all your defaults first")
    @app_commands.choices(lane=[app_commands.Choice(name=lane, value=lane) for lane in LANES])
    async def settings(self, interaction: discord.Interaction, ar: app_commands.Range[str, 1, 20] | None = None,
                       fps: app_commands.Range[int, FPS_MIN, FPS_MAX] | None = None,
                       length: app_commands.Range[float, LEN_MIN, LEN_MAX] | None = None,
                       model: app_commands.Range[str, 1, 100] | None = None, private: bool | None = None,
                       lane: str | None = None, reset: bool = False) -> None:
        services = services_of(interaction)
        member_id = str(interaction.user.id)
        parsed = parse_prompt(settings_text(ar, fps, length, model), models=list(services.catalog))
        if lane is not None and lane not in LANES:
            parsed = FlagError("lane", f"`lane` is `fast` or `relax`, not {code(lane[:20])}.")
        if isinstance(parsed, FlagError):
            COMMANDS.labels("settings", "refused").inc()
            await reply_private(interaction, str(parsed))
            return
        current = Flags() if reset else await records.member_defaults(services.store, member_id)
        given = {name: value for name, value in parsed.flags if value is not None and name != "private"}
        if private is not None:
            given["private"] = private
        if lane is not None:
            given["lane"] = lane
        updated = current.model_copy(update=given)
        changed = reset or bool(given)
        if changed:
            await records.set_defaults(services.store, member_id, interaction.user.name, updated)
        shown = format_flags(updated)
        head = "Saved. " if changed else ""
        await reply_private(interaction, f"{head}Your defaults: {code(shown) if shown else 'none'}")
        COMMANDS.labels("settings", "ok").inc()
