"""What every button on a clip shares: a `discord.ui.DynamicItem` whose custom id carries
its action and the clip id (`reelbot:retry:<clip id>`), so a button on any message, however
old and whatever restarts came between, finds its clip again with no view kept in memory.

Each feature defines its own button next to what it does (RetryButton in
bot/commands/retry.py, ...), as `class RetryButton(ClipButton, action="retry")` with a
`pressed(interaction, clip)` method; this module only parses ids and loads the clip.
"""

from __future__ import annotations

import re

import discord
from discord.ext import commands

from bot.answers import accepting, is_submission, reply_private, services_of, submitted_id, went_wrong
from bot.metrics import COMMANDS

PREFIX = "reelbot"
ACTION = r"[a-z]+(?:-[a-z]+)*"
CLIP_ID = r"[0-9a-f]{8,32}"


def custom_id(action: str, clip_id: str) -> str:
    """`reelbot:<action>:<clip id>`, well under Discord's 100 characters."""
    if not re.fullmatch(ACTION, action) or not re.fullmatch(CLIP_ID, clip_id):
        raise ValueError(f"bad button: {action}:{clip_id}")
    return f"{PREFIX}:{action}:{clip_id}"


class ClipButton(discord.ui.DynamicItem[discord.ui.Button], template=rf"{PREFIX}:clip:(?P<clip_id>{CLIP_ID})"):
    action = "clip"
    label: str | None = None
    emoji: str | None = None
    style = discord.ButtonStyle.secondary

    def __init_subclass__(cls, *, action: str, **kwargs):
        super().__init_subclass__(template=rf"{PREFIX}:{action}:(?P<clip_id>{CLIP_ID})", **kwargs)
        cls.action = action

    def __init__(self, clip_id: str, *, label: str | None = None):
        super().__init__(discord.ui.Button(custom_id=custom_id(self.action, clip_id), label=label or self.label,
                                           emoji=self.emoji, style=self.style))
        self.clip_id = clip_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(match["clip_id"])

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await accepting(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        name = f"button:{self.action}"
        try:
            clip = await services_of(interaction).store.get(self.clip_id)
            if clip is None:
                COMMANDS.labels(name, "refused").inc()
                await reply_private(interaction, "This clip doesn't exist any more.")
                return
            await self.pressed(interaction, clip)
        except Exception as exc:  # noqa: BLE001 — the member gets an answer; the bot stays up
            await went_wrong(interaction, name, exc)

    async def pressed(self, interaction: discord.Interaction, clip) -> None:
        raise NotImplementedError


async def dialog_submitted(interaction: discord.Interaction, prefix: str, name: str, submitted) -> None:
    """For a cog's on_interaction: when `interaction` submits one of its dialogs about a clip
    (custom id `<prefix><clip id>`), run `submitted(interaction, clip)`. Dialogs are routed by
    custom id, not kept in memory, so one opened before a restart still works after it."""
    if not is_submission(interaction, prefix):
        return
    try:
        if not await accepting(interaction):
            return
        clip = await services_of(interaction).store.get(submitted_id(interaction, prefix))
        if clip is None:
            await reply_private(interaction, "This clip doesn't exist any more.")
            return
        await submitted(interaction, clip)
    except Exception as exc:  # noqa: BLE001 — tell the member, keep the bot up
        await went_wrong(interaction, name, exc)


def view_of(*items: discord.ui.Item) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


class ButtonCog(commands.Cog):
    """The cog of a feature whose buttons must work on any message, however old: it hands
    them to the client (which routes a click by its custom id) when it loads."""

    buttons: tuple[type[discord.ui.DynamicItem], ...] = ()

    def __init__(self, bot: commands.Bot):
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*self.buttons)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*self.buttons)
