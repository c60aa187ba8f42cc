"""/queue: the deployment's models with their queue length, workers online and tasks, and
where your clips stand."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import records
from bot.answers import reply_private, services_of
from bot.messages import WAITING, code, eta_text, model_label
from bot.metrics import COMMANDS
from core.catalog import Task
from core.queue import depth, position


class Queue(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="queue", description="How busy the queue is, and where your clips are in it")
    async def queue(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        online = await services.workers.get()
        lines = []
        for name, spec in services.catalog.items():
            waiting = await depth(services.redis, name)
            workers = online.workers.get(name, 0)
            serving = f"{workers} worker{'s' if workers != 1 else ''}" if workers else \
                "no worker online (clips wait for one)"
            sound = " · sound" if spec.sound else ""
            tasks = ", ".join(task for task in Task if task in spec.tasks)
            lines.append(f"{code(model_label(name))}: {waiting} in the queue · {serving} · {tasks}{sound}")
        mine = await records.unfinished(services.store, str(interaction.user.id))
        for clip in mine:
            place = await position(services.redis, clip.id, clip.model)
            workers = online.workers.get(clip.model, 0)
            eta = f"ETA {eta_text(services.eta.eta(clip.model, place, workers))}" if workers else WAITING
            where = f"position {place} · {eta}" if place else clip.status
            lines.append(f"Your clip `{clip.id}`: {where}")
        if not mine:
            lines.append("You have no clips in the queue.")
        await reply_private(interaction, "\n".join(lines))
        COMMANDS.labels("queue", "ok").inc()
