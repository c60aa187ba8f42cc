"""/effects: the effects and LoRA camera moves this deployment serves, each with the models that
have it and an example command. Read from the deployment's catalog (core.catalog adapters), so
it lists what members may ask for whether or not a worker is online."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages
from bot.answers import observe_ack, services_of
from bot.metrics import COMMANDS
from core.catalog import AdapterKind, ModelSpec, Task, adapters_of

DESCRIPTION_MAX = 4096  # an embed's description


def effects_text(catalog: list[ModelSpec], default_model: str) -> str:
    """The /effects answer: one line per effect and per camera move, then how to use them."""
    lines = []
    effects = adapters_of(AdapterKind.EFFECT, catalog)
    if effects:
        lines.append("**Effects** (`-effect NAME`, or `/animate … effect:`)")
    for name, specs in effects.items():
        first = specs[0].adapter(AdapterKind.EFFECT, name)
        lines.append(f"`{name}` {first.description} · on {_models(specs, name, AdapterKind.EFFECT)} · "
                     f"e.g. {messages.code(_example(name, specs, default_model))}")
    moves = adapters_of(AdapterKind.CAMERA, catalog)
    if moves:
        lines.append("\n**Camera LoRA moves** (`-camera MOVE`; other moves go through the prompt's words)")
    for move, specs in moves.items():
        model = specs[0].name
        lines.append(f"`{move}` · on {_models(specs, move, AdapterKind.CAMERA)} · e.g. "
                     f"{messages.code(f'/create a lighthouse at dusk -camera {move} -model {model}')}")
    if not lines:
        return "This server's models have no effects or camera LoRAs yet: `-camera` moves go through the prompt."
    return messages.truncate("\n".join(lines), DESCRIPTION_MAX)


def _models(specs: list[ModelSpec], name: str, kind: AdapterKind) -> str:
    """The models with that adapter, each with the clips it applies to."""
    return ", ".join(f"`{spec.name}` ({', '.join(t for t in Task if t in spec.adapter(kind, name).tasks)})"
                     for spec in specs)


def _example(effect: str, specs: list[ModelSpec], default_model: str) -> str:
    spec = next((s for s in specs if s.name == default_model), specs[0])
    model = "" if spec.name == default_model else f" -model {spec.name}"
    if spec.adapter(AdapterKind.EFFECT, effect, Task.IMAGE_TO_VIDEO):
        return f"/animate image: (a picture) effect: {effect}" + (f" prompt:{model}" if model else "")
    return f"/create a rubber duck -effect {effect}{model}"


class Effects(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="effects", description="The effects and camera moves this server's models have")
    async def effects(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        text = effects_text(list(services.catalog.values()), services.settings.model)
        embed = discord.Embed(title="Effects and camera moves", description=text, color=discord.Color.blurple())
        await interaction.response.send_message(embed=embed, ephemeral=True)
        observe_ack(interaction)
        COMMANDS.labels("effects", "ok").inc()
