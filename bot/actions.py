"""What happens when a member asks for a clip, and what each button does.

`place_order` is the one path from an interaction to a queued clip: it answers within
Discord's 3 seconds (deferring privately first when attachments must be downloaded and
decoded), refuses privately, or shows the status message, opens the thread on it and
writes both ids into the clip record, so delivery can find them after a restart.
"""

from __future__ import annotations

import contextlib
import time

import discord

from bot import buttons, messages, records, showcase
from bot.metrics import ACK_SECONDS, COMMANDS
from bot.orders import Order, Queued, Refused, inputs_of, submit, text_of
from bot.status import Watched
from core.contract import Status
from core.catalog import Task
from core.logging import get_logger
from core.queue import cancel
from core.votes import toggle_vote

log = get_logger("bot")
THREAD_ARCHIVE_MINUTES = 1440
REMIX_MODAL = "reelbot:remixed:"
THREAD_ALREADY_CREATED = 160004


def services_of(interaction: discord.Interaction):
    return interaction.client.services


def order_for(interaction: discord.Interaction, text: str, **fields) -> Order:
    channel = interaction.channel
    parent_id = getattr(channel, "parent_id", None)
    return Order(
        member_id=str(interaction.user.id), member_name=interaction.user.name, text=text or "",
        channel_id=str(interaction.channel_id), guild_id=str(interaction.guild_id) if interaction.guild_id else None,
        parent_channel_id=str(parent_id) if parent_id else None, max_bytes=interaction.filesize_limit, **fields,
    )


async def reply_private(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral answer, whether or not the interaction was answered already."""
    text = messages.truncate(text, messages.CONTENT_MAX)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)
        ACK_SECONDS.observe(_since(interaction))


def _since(interaction: discord.Interaction) -> float:
    started = interaction.extras.get("received")
    return time.perf_counter() - started if started else 0.0


def mark_received(interaction: discord.Interaction) -> None:
    interaction.extras.setdefault("received", time.perf_counter())


async def accepting(interaction: discord.Interaction) -> bool:
    """False (after telling the member) while the bot drains for a restart."""
    mark_received(interaction)
    if not services_of(interaction).draining:
        return True
    COMMANDS.labels(_name(interaction), "draining").inc()
    await reply_private(interaction, "Reelbot is restarting: try again in a minute.")
    return False


def _name(interaction: discord.Interaction) -> str:
    if interaction.command is not None:
        return interaction.command.qualified_name
    parsed = buttons.parse_custom_id((interaction.data or {}).get("custom_id"))
    return f"button:{parsed[0]}" if parsed else "component"


# --- Orders -----------------------------------------------------------------------------

async def place_order(interaction: discord.Interaction, order: Order, command: str) -> Queued | None:
    services = services_of(interaction)
    mark_received(interaction)
    deferred = bool(order.attachments)
    if deferred:
        # Downloading and decoding may take longer than Discord's 3 s: answer privately now.
        await interaction.response.defer(ephemeral=True, thinking=True)
        ACK_SECONDS.observe(_since(interaction))
    result = await submit(services, order)
    if isinstance(result, Refused):
        COMMANDS.labels(command, "refused").inc()
        log.info("request refused", command=command, reason=result.reason, member_id=order.member_id)
        if deferred:
            await interaction.edit_original_response(content=messages.truncate(result.message, messages.CONTENT_MAX))
        else:
            await reply_private(interaction, result.message)
        return None
    try:
        await show_queued(interaction, result, deferred)
    finally:
        setup = services.setups.get(result.clip_id)
        if setup is not None:
            setup.set()
    COMMANDS.labels(command, "queued").inc()
    return result


async def show_queued(interaction: discord.Interaction, queued: Queued, deferred: bool) -> None:
    services = services_of(interaction)
    text, view = queued.status_text, buttons.cancel_view(queued.clip_id)
    if queued.private:
        if deferred:
            await interaction.edit_original_response(content=text, view=view)
        else:
            await interaction.response.send_message(text, view=view, ephemeral=True)
            ACK_SECONDS.observe(_since(interaction))
        services.board.watch(Watched(queued.clip_id, queued.model, interaction=interaction, text=text,
                                     position=queued.position))
        return
    if deferred:
        message = await interaction.channel.send(text, view=view)
        await interaction.edit_original_response(content=f"Your clip is queued: {message.jump_url}")
    else:
        callback = await interaction.response.send_message(text, view=view)
        ACK_SECONDS.observe(_since(interaction))
        message = callback.resource
        if not isinstance(message, discord.InteractionMessage):
            message = await interaction.original_response()
    thread_id = await _open_thread(interaction, message, queued)
    await records.set_status_message(services.store, queued.clip_id, str(message.id), thread_id)
    services.board.watch(Watched(queued.clip_id, queued.model, message.channel.id, message.id, text=text,
                                 position=queued.position))


async def _open_thread(interaction: discord.Interaction, message: discord.Message, queued: Queued) -> str | None:
    # In DMs and inside threads the clip is posted where the command was typed.
    channel_type = getattr(interaction.channel, "type", None)
    if channel_type not in (discord.ChannelType.text, discord.ChannelType.news):
        return None
    try:
        thread = await message.create_thread(name=messages.thread_name(queued.prompt, queued.clip_id),
                                             auto_archive_duration=THREAD_ARCHIVE_MINUTES)
    except discord.HTTPException as exc:
        if exc.code == THREAD_ALREADY_CREATED:
            # Our own request was saved before Discord failed it, and discord.py tried again.
            # A thread started on a message has the message's id.
            return str(message.id)
        log.warning("could not open a thread; the clip will be posted in the channel",
                    clip_id=queued.clip_id, status=exc.status)
        return None
    return str(thread.id)


# --- Buttons ----------------------------------------------------------------------------

async def run_button(action: str, interaction: discord.Interaction, clip_id: str) -> None:
    try:
        clip = await services_of(interaction).store.get(clip_id)
        if clip is None:
            COMMANDS.labels(f"button:{action}", "refused").inc()
            await reply_private(interaction, "This clip doesn't exist any more.")
            return
        await _BUTTONS[action](interaction, clip)
    except Exception as exc:  # noqa: BLE001 — the member gets an answer; the bot stays up
        COMMANDS.labels(f"button:{action}", "error").inc()
        log.error("button failed", action=action, clip_id=clip_id, error=repr(exc), exc_info=exc)
        with contextlib.suppress(discord.HTTPException):
            await reply_private(interaction, "Something went wrong on Reelbot's side; please try again.")


async def _retry(interaction: discord.Interaction, clip) -> None:
    order = order_for(interaction, text_of(clip, drop_seed=True), task=Task(clip.task),
                      reuse_inputs=inputs_of(clip), parent_id=clip.parent_id, model_hint=clip.model,
                      prompt_required=False, drop_seed=True)
    await place_order(interaction, order, "button:retry")


async def _remix(interaction: discord.Interaction, clip) -> None:
    # A modal must be the first response: nothing slow may come before it.
    await interaction.response.send_modal(RemixModal(clip))
    ACK_SECONDS.observe(_since(interaction))
    COMMANDS.labels("button:remix", "ok").inc()


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
    text = prompt if prompt is not None else text_of(clip, drop_seed=True)
    order = order_for(interaction, text, task=Task.EXTEND, reuse_inputs={"parent": clip.video_key},
                      parent_id=clip.id, model_hint=clip.model, prompt_required=False,
                      drop_seed=prompt is None)
    await place_order(interaction, order, command)


async def _upvote(interaction: discord.Interaction, clip) -> None:
    result = await toggle_vote(services_of(interaction).store.session, clip.id, str(interaction.user.id))
    if result is None:
        COMMANDS.labels("button:upvote", "refused").inc()
        await reply_private(interaction, "This clip was deleted.")
        return
    await interaction.response.edit_message(view=buttons.clip_view(clip.id, result.count))
    ACK_SECONDS.observe(_since(interaction))
    COMMANDS.labels("button:upvote", "ok").inc()
    if result.voted:
        await showcase.after_upvote(interaction, clip, result.count)


async def _delete(interaction: discord.Interaction, clip) -> None:
    is_author = clip.author_id == str(interaction.user.id)
    if not (is_author or interaction.permissions.manage_messages):
        COMMANDS.labels("button:delete", "refused").inc()
        await reply_private(interaction, "Only the clip's author, or members who can manage messages, can delete it.")
        return
    await records.mark_deleted(services_of(interaction).store, clip.id)
    await reply_private(interaction, "Deleted: the clip is gone from this channel and from the galleries.")
    COMMANDS.labels("button:delete", "ok").inc()
    await showcase.withdraw(interaction, clip)
    if interaction.message is not None:
        try:
            await interaction.message.delete()
        except discord.HTTPException as exc:
            log.warning("could not delete a clip post", clip_id=clip.id, status=exc.status)


async def cancel_clip(interaction: discord.Interaction, clip, command: str = "button:cancel") -> None:
    if clip.author_id != str(interaction.user.id):
        COMMANDS.labels(command, "refused").inc()
        await reply_private(interaction, f"Only <@{clip.author_id}> can cancel this clip.")
        return
    if Status(clip.status).final:
        COMMANDS.labels(command, "refused").inc()
        await reply_private(interaction, f"This clip is already {clip.status}.")
        return
    services = services_of(interaction)
    how = await cancel(services.redis, services.store, clip.id, clip.model)
    COMMANDS.labels(command, "ok").inc()
    if how == "unqueued":
        await reply_private(interaction, "Cancelled: the clip was taken off the queue.")
    elif how == "signalled":
        await reply_private(interaction, "Stopping the render at its next step…")
    else:
        await reply_private(interaction, f"This clip is already {how}.")


_BUTTONS = {"retry": _retry, "remix": _remix, "extend": extend_clip, "upvote": _upvote, "delete": _delete,
            "cancel": cancel_clip}


# --- Remix modal ------------------------------------------------------------------------

class RemixModal(discord.ui.Modal):
    """Pre-filled with the clip's prompt and flags. Its submission is handled by
    `remix_submitted` from the client's on_interaction, by custom id, so a modal opened
    before a restart still works after it."""

    def __init__(self, clip):
        super().__init__(title="Remix this clip", custom_id=f"{REMIX_MODAL}{clip.id}", timeout=15 * 60)
        self.add_item(discord.ui.TextInput(
            label="Prompt and flags", custom_id="prompt", style=discord.TextStyle.paragraph,
            default=messages.truncate(text_of(clip), 4000), max_length=4000, required=True))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        pass  # see remix_submitted


def modal_values(data: dict) -> dict[str, str]:
    """Text input values of a modal submission, by custom id (action rows or labels)."""
    values = {}
    for row in data.get("components") or []:
        inner = row.get("components") or ([row["component"]] if isinstance(row.get("component"), dict) else [])
        for component in inner:
            if isinstance(component, dict) and "custom_id" in component:
                values[str(component["custom_id"])] = str(component.get("value") or "")
    return values


async def remix_submitted(interaction: discord.Interaction) -> None:
    custom_id = str((interaction.data or {}).get("custom_id", ""))
    clip_id = custom_id[len(REMIX_MODAL):]
    if not await accepting(interaction):
        return
    clip = await services_of(interaction).store.get(clip_id)
    if clip is None:
        await reply_private(interaction, "This clip doesn't exist any more.")
        return
    text = modal_values(interaction.data or {}).get("prompt", "")
    order = order_for(interaction, text, task=Task(clip.task), reuse_inputs=inputs_of(clip), parent_id=clip.id,
                      model_hint=clip.model, prompt_required=not clip.input_keys)
    await place_order(interaction, order, "remix")
