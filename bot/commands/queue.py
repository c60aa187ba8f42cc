"""/queue: the deployment's models with the clips waiting in their fast and relax lanes,
workers online and tasks, and where your clips stand: how many clips are ahead of each now,
and an ETA range."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import records
from bot.answers import reply_private, services_of
from bot.messages import WAITING, ahead_text, code, eta_range_text, model_label
from bot.metrics import COMMANDS
from core.catalog import Task
from core.queue import queue_view


class Queue(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="queue", description="How busy the queue is, and where your clips are in it")
    async def queue(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        online = await services.workers.get()
        mine = await records.unfinished(services.store, str(interaction.user.id))
        lines, standing = [], {}
        for name, spec in services.catalog.items():
            seen = await queue_view(services.redis, name, [clip.id for clip in mine if clip.model == name],
                                    typical_s=services.eta.per_clip(name), policy=services.policy)
            standing.update(seen.clips)
            workers = online.workers.get(name, 0)
            serving = f"{workers} worker{'s' if workers != 1 else ''}" if workers else \
                "no worker online (clips wait for one)"
            sound = " · sound" if spec.sound else ""
            tasks = ", ".join(task for task in Task if task in spec.tasks)
            lines.append(f"{code(model_label(name))}: {seen.fast} waiting fast · {seen.relax} waiting relax · "
                         f"{seen.running} rendering · {serving} · {tasks}{sound}")
        for clip in mine:
            here = standing.get(clip.id)
            workers = online.workers.get(clip.model, 0)
            lane = " (relax)" if clip.lane == "relax" else ""
            if here is None or here.ahead is None:
                where = clip.status
            elif here.running:
                where = "rendering"
            else:
                place = here.ahead + 1
                low, high = services.eta.eta_range(clip.model, place, here.more, workers)
                eta = f"ETA {eta_range_text(low, high)}" if workers else WAITING
                where = f"position {place} · {ahead_text(place)} · {eta}"
            lines.append(f"Your clip `{clip.id}`{lane}: {where}")
        if not mine:
            lines.append("You have no clips in the queue.")
        await reply_private(interaction, "\n".join(lines))
        COMMANDS.labels("queue", "ok").inc()
