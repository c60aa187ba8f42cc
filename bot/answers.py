"""How the bot answers an interaction: privately, in time, and in words a member understands.

The lowest layer of bot/: every command, button and dialog answers through these, and
they know nothing of clips, orders or posts.
"""

from __future__ import annotations

import contextlib
import re
import time

import discord

from bot import messages
from bot.metrics import ACK_SECONDS, COMMANDS
from core.db import unavailable
from core.logging import get_logger

log = get_logger("bot")
WENT_WRONG = "Something went wrong on Reelbot's side; please try again."
_BUTTON_ACTION = re.compile(r"reelbot:(?P<action>[a-z-]+):")


def services_of(interaction: discord.Interaction):
    return interaction.client.services


def mark_received(interaction: discord.Interaction) -> None:
    interaction.extras.setdefault("received", time.perf_counter())


def observe_ack(interaction: discord.Interaction) -> None:
    """Time from receiving the interaction to its first response (Discord allows 3 s)."""
    started = interaction.extras.get("received")
    ACK_SECONDS.observe(time.perf_counter() - started if started else 0.0)


async def reply_private(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral answer, whether or not the interaction was answered already."""
    text = messages.truncate(text, messages.CONTENT_MAX)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)
        observe_ack(interaction)


async def went_wrong(interaction: discord.Interaction, name: str, exc: BaseException,
                     text: str = WENT_WRONG) -> None:
    """The one answer to a failure of Reelbot's own: logged with its traceback, counted, and
    the member told (if Discord still lets us). Never raises, so the bot stays up. The
    database being away (a restart, a failover) is said as such, in one log line."""
    if unavailable(exc):
        COMMANDS.labels(name, "database_away").inc()
        log.warning("interaction refused: the database is unreachable", command=name, error=repr(exc)[:200])
        text = messages.DATABASE_AWAY
    else:
        COMMANDS.labels(name, "error").inc()
        log.error("interaction failed", command=name, error=repr(exc), exc_info=exc)
    with contextlib.suppress(discord.HTTPException):
        await reply_private(interaction, text)


def interaction_name(interaction: discord.Interaction) -> str:
    """The metrics name of what was used: the command, `button:<action>`, or "component"."""
    if interaction.command is not None:
        return interaction.command.qualified_name
    match = _BUTTON_ACTION.match(str((interaction.data or {}).get("custom_id", "")))
    return f"button:{match['action']}" if match else "component"


async def accepting(interaction: discord.Interaction) -> bool:
    """False (after telling the member) while the bot drains for a restart."""
    mark_received(interaction)
    if not services_of(interaction).draining:
        return True
    COMMANDS.labels(interaction_name(interaction), "draining").inc()
    await reply_private(interaction, "Reelbot is restarting: try again in a minute.")
    return False


def is_submission(interaction: discord.Interaction, prefix: str) -> bool:
    """A modal submitted whose custom id starts with `prefix`: modals are routed by custom id,
    so one opened before a restart still works after it."""
    custom_id = str((interaction.data or {}).get("custom_id", ""))
    return interaction.type is discord.InteractionType.modal_submit and custom_id.startswith(prefix)


def submitted_id(interaction: discord.Interaction, prefix: str) -> str:
    """What follows `prefix` in a submitted modal's custom id (the clip id)."""
    return str((interaction.data or {}).get("custom_id", ""))[len(prefix):]


def modal_values(data: dict) -> dict[str, str]:
    """Text input values of a modal submission, by custom id (action rows or labels)."""
    values = {}
    for row in data.get("components") or []:
        inner = row.get("components") or ([row["component"]] if isinstance(row.get("component"), dict) else [])
        for component in inner:
            if isinstance(component, dict) and "custom_id" in component:
                values[str(component["custom_id"])] = str(component.get("value") or "")
    return values
