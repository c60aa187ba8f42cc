"""⏩ Extend and /extend clip [prompt]: continue a finished clip from its last frames, as a
new clip whose parent is this one."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.answers import reply_private, services_of
from bot.buttons import ButtonCog, ClipButton
from bot.commands.lookup import find_clip, not_found
from bot.metrics import COMMANDS
from bot.orders import order_for, place_order, text_of
from core.catalog import MODELS, AdapterKind, Task
from core.contract import Status
from core.flags import LORA_MOVES, Flags
from core.quality import Kind


async def extend_clip(interaction: discord.Interaction, clip, prompt: str | None = None,
                      command: str = "button:extend") -> None:
    if clip.status != Status.DONE.value or not clip.video_key:
        COMMANDS.labels(command, "refused").inc()
        await reply_private(interaction, "Only a finished clip can be extended.")
        return
    if clip.deleted:
        COMMANDS.labels(command, "refused").inc()
        await reply_private(interaction, "This clip was deleted, so it can't be extended.")
        return
    text = prompt if prompt is not None else text_of(clip, drop_seed=True, without=not_continued(clip))
    order = order_for(interaction, text, task=Task.EXTEND, reuse_inputs={"parent": clip.video_key},
                      parent_id=clip.id, model_hint=clip.model, prompt_required=False,
                      drop_seed=prompt is None, reacting=(clip.id, Kind.EXTEND))
    await place_order(interaction, order, command)


def not_continued(clip) -> dict:
    """Flags of the clip an extend does not carry: -loop (a continuation does not come back to the
    clip's start), and an effect or camera LoRA its model has not for extends."""
    try:
        flags = Flags.from_dict(clip.flags or {})
    except ValueError:
        return {}
    spec, dropped = MODELS.get(clip.model), {"loop": False}
    if flags.effect and (spec is None or not spec.adapter(AdapterKind.EFFECT, flags.effect, Task.EXTEND)):
        dropped["effect"] = None
    if flags.camera in LORA_MOVES and (spec is None or not spec.adapter(AdapterKind.CAMERA, flags.camera, Task.EXTEND)):
        dropped["camera"] = None
    return dropped


class ExtendButton(ClipButton, action="extend"):
    label, emoji = "Extend", "⏩"

    async def pressed(self, interaction: discord.Interaction, clip) -> None:
        await extend_clip(interaction, clip)


class Extend(ButtonCog):
    buttons = (ExtendButton,)

    @app_commands.command(name="extend", description="Continue one of the clips")
    @app_commands.describe(clip="The clip's id (in its footer) or a link to its message",
                           prompt="What happens next, and flags (default: the clip's own)")
    async def extend(self, interaction: discord.Interaction, clip: app_commands.Range[str, 1, 200],
                     prompt: app_commands.Range[str, 0, 6000] | None = None) -> None:
        found = await find_clip(services_of(interaction).store, clip)
        if found is None or (found.private and found.author_id != str(interaction.user.id)):
            COMMANDS.labels("extend", "refused").inc()
            await reply_private(interaction, not_found(clip))
            return
        await extend_clip(interaction, found, prompt=prompt or None, command="extend")
