"""/queue: queue length per model, workers online, and where your clips stand."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import records
from bot.actions import reply_private, services_of
from bot.messages import code, eta_text, model_label
from bot.metrics import COMMANDS
from core.queue import depth, position


class Queue(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="queue", description="How busy the queue is, and where your clips are in it")
    async def queue(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        online = await services.workers.get()
        lines = []
        if not online.models:
            lines.append("No workers are online right now: new clips can't be made until one comes back.")
        for model in online.models:
            waiting = await depth(services.redis, model)
            workers = online.workers.get(model, 0)
            tasks = ", ".join(sorted(online.tasks[model]))
            lines.append(f"{code(model_label(model))}: {waiting} in the queue · {workers} worker"
                         f"{'s' if workers != 1 else ''} · {tasks}")
        mine = await records.unfinished(services.store, str(interaction.user.id))
        for clip in mine:
            place = await position(services.redis, clip.id, clip.model)
            eta = services.eta.eta(clip.model, place, online.workers.get(clip.model, 1))
            where = f"position {place} · ETA {eta_text(eta)}" if place else clip.status
            lines.append(f"Your clip `{clip.id}`: {where}")
        if not mine:
            lines.append("You have no clips in the queue.")
        await reply_private(interaction, "\n".join(lines))
        COMMANDS.labels("queue", "ok").inc()
