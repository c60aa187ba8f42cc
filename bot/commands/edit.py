"""✏️ Edit and /edit: change what is in a video (swap, add or restyle something) while
keeping its motion, length and fps.

/edit takes the source as an attached `video` or as a `clip` (its id or a link to its
message), the change as `prompt` ("make the jacket red", "turn the dog into a cat"), and
optionally an `image` of an object or character to put in. The ✏️ Edit button on a
finished clip opens a dialog asking for the change; the edit is a new clip whose parent is
that one. discord.py keeps modals in memory only, so the dialog's submission is routed by
its custom id (`reelbot:edited:<clip id>`) in this cog's listener: one opened before a
restart still works after it.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import (modal_values, observe_ack, reply_private, services_of)
from bot.buttons import ButtonCog, ClipButton, dialog_submitted
from bot.commands.lookup import find_clip, not_found
from bot.metrics import COMMANDS
from bot.orders import Order, order_for, place_order
from core.catalog import Task
from core.contract import Status
from core.quality import Kind

EDITED = "reelbot:edited:"
EXAMPLE = "/edit clip: <its id> prompt: make the jacket red"
PROMPT_MAX = 6000  # Discord's own limit; the prompt's real limit (flags excluded) is checked by the parser
CHANGE_MAX = 4000  # a modal's text input


def edit_order(interaction: discord.Interaction, prompt: str, *, video: discord.Attachment | None = None,
               clip=None, image: discord.Attachment | None = None) -> Order:
    """An edit of an attached `video` or of a finished `clip` (its parent; private if it is),
    with an `image` to put in."""
    attachments = {"video": (video, "video")} if video is not None else {}
    if image is not None:
        attachments["reference"] = (image, "image")
    return order_for(interaction, prompt, task=Task.EDIT, attachments=attachments,
                     reuse_inputs={"video": clip.video_key} if clip is not None else {},
                     parent_id=clip.id if clip is not None else None, example=EXAMPLE, any_capable=True,
                     private=bool(clip is not None and clip.private),
                     reacting=(clip.id, Kind.EDIT) if clip is not None else None)


async def editable(interaction: discord.Interaction, clip, command: str) -> bool:
    """Whether `clip` can be the source of an edit by this member; refuses privately when not."""
    if clip.private and clip.author_id != str(interaction.user.id):
        refusal = "Only its author can edit a private clip."
    elif clip.deleted:
        refusal = "This clip was deleted, so it can't be edited."
    elif clip.status != Status.DONE.value or not clip.video_key:
        refusal = "Only a finished clip can be edited."
    else:
        return True
    COMMANDS.labels(command, "refused").inc()
    await reply_private(interaction, refusal)
    return False


class EditModal(discord.ui.Modal):
    def __init__(self, clip):
        super().__init__(title="Edit this clip", custom_id=f"{EDITED}{clip.id}", timeout=15 * 60)
        self.add_item(discord.ui.TextInput(
            label="What should change?", custom_id="prompt", style=discord.TextStyle.paragraph,
            placeholder="make the jacket red · turn the dog into a cat · it is snowing", max_length=CHANGE_MAX,
            required=True))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        pass  # Edit.on_interaction handles every submission, also those from before a restart


class EditButton(ClipButton, action="edit"):
    label, emoji = "Edit", "✏️"

    async def pressed(self, interaction: discord.Interaction, clip) -> None:
        if not await editable(interaction, clip, "button:edit"):
            return
        # A modal must be the first response: nothing slow may come before it.
        await interaction.response.send_modal(EditModal(clip))
        observe_ack(interaction)
        COMMANDS.labels("button:edit", "ok").inc()


class Edit(ButtonCog):
    buttons = (EditButton,)

    @app_commands.command(name="edit", description="Change what is in a video, keeping its motion")
    @app_commands.describe(prompt="The change, e.g. make the jacket red, turn the dog into a cat (flags go after it)",
                           video="The video to edit (MP4, WebM or MOV, up to 10 s)",
                           clip="Or one of the clips: its id (in its footer) or a link to its message",
                           image="Something to put in: a picture of an object or character (PNG, JPEG or WebP)")
    async def edit(self, interaction: discord.Interaction, prompt: app_commands.Range[str, 1, PROMPT_MAX],
                   video: discord.Attachment | None = None, clip: app_commands.Range[str, 1, 200] | None = None,
                   image: discord.Attachment | None = None) -> None:
        if (video is None) == (clip is None):
            COMMANDS.labels("edit", "refused").inc()
            await reply_private(interaction, "Give the video to edit: attach it as `video`, or name one of the clips "
                                             "in `clip` (one of the two, not both).")
            return
        found = None
        if clip is not None:
            found = await find_clip(services_of(interaction).store, clip)
            if found is None or (found.private and found.author_id != str(interaction.user.id)):
                COMMANDS.labels("edit", "refused").inc()
                await reply_private(interaction, not_found(clip))
                return
            if not await editable(interaction, found, "edit"):
                return
        await place_order(interaction, edit_order(interaction, prompt, video=video, clip=found, image=image), "edit")

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await dialog_submitted(interaction, EDITED, "edit", self.edited)

    async def edited(self, interaction: discord.Interaction, clip) -> None:
        if not await editable(interaction, clip, "edit"):
            return
        change = modal_values(interaction.data or {}).get("prompt", "")
        await place_order(interaction, edit_order(interaction, change, clip=clip), "edit")
