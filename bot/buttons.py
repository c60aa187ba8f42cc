"""The buttons, as `discord.ui.DynamicItem`s: the custom id carries the action and the clip
id (`reelbot:retry:<clip id>`), so a button on any message, however old and whatever
restarts came between, finds its clip again with no view kept in memory.

What each button does lives in bot/actions.py; this module only names and draws them.
"""

from __future__ import annotations

import re

import discord

PREFIX = "reelbot"
CLIP_ID = r"[0-9a-f]{8,32}"
ACTIONS = ("retry", "remix", "extend", "upvote", "delete", "cancel")
_CUSTOM_ID = re.compile(rf"{PREFIX}:(?P<action>[a-z]+):(?P<clip_id>{CLIP_ID})")


def custom_id(action: str, clip_id: str) -> str:
    if action not in ACTIONS or not re.fullmatch(CLIP_ID, clip_id):
        raise ValueError(f"bad button: {action}:{clip_id}")
    return f"{PREFIX}:{action}:{clip_id}"


def parse_custom_id(value: object) -> tuple[str, str] | None:
    """(action, clip id) for one of Reelbot's buttons, None for anything else."""
    if not isinstance(value, str) or len(value) > 100:
        return None
    match = _CUSTOM_ID.fullmatch(value)
    if match is None or match["action"] not in ACTIONS:
        return None
    return match["action"], match["clip_id"]


class _ClipButton(discord.ui.DynamicItem[discord.ui.Button], template=rf"{PREFIX}:base:(?P<clip_id>{CLIP_ID})"):
    action = "base"
    label: str | None = None
    emoji: str | None = None
    style = discord.ButtonStyle.secondary

    def __init__(self, clip_id: str, **button):
        super().__init__(discord.ui.Button(custom_id=custom_id(self.action, clip_id),
                                           label=button.get("label", self.label),
                                           emoji=self.emoji, style=self.style))
        self.clip_id = clip_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(match["clip_id"])

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        from bot import actions

        return await actions.accepting(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        from bot import actions

        await actions.run_button(self.action, interaction, self.clip_id)


class RetryButton(_ClipButton, template=rf"{PREFIX}:retry:(?P<clip_id>{CLIP_ID})"):
    action, label, emoji = "retry", "Retry", "🔁"


class RemixButton(_ClipButton, template=rf"{PREFIX}:remix:(?P<clip_id>{CLIP_ID})"):
    action, label, emoji = "remix", "Remix", "🔀"


class ExtendButton(_ClipButton, template=rf"{PREFIX}:extend:(?P<clip_id>{CLIP_ID})"):
    action, label, emoji = "extend", "Extend", "⏩"


class UpvoteButton(_ClipButton, template=rf"{PREFIX}:upvote:(?P<clip_id>{CLIP_ID})"):
    action, emoji, style = "upvote", "👍", discord.ButtonStyle.primary

    def __init__(self, clip_id: str, count: int = 0):
        super().__init__(clip_id, label=str(max(0, count)))

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        try:
            count = int(item.label or 0)
        except ValueError:
            count = 0
        return cls(match["clip_id"], count)


class DeleteButton(_ClipButton, template=rf"{PREFIX}:delete:(?P<clip_id>{CLIP_ID})"):
    action, label, emoji, style = "delete", "Delete", "🗑", discord.ButtonStyle.danger


class CancelButton(_ClipButton, template=rf"{PREFIX}:cancel:(?P<clip_id>{CLIP_ID})"):
    action, label, emoji, style = "cancel", "Cancel", "✖", discord.ButtonStyle.danger


DYNAMIC_ITEMS = (RetryButton, RemixButton, ExtendButton, UpvoteButton, DeleteButton, CancelButton)


def clip_view(clip_id: str, votes: int = 0) -> discord.ui.View:
    """The buttons of a finished clip (PRODUCT.md, "Buttons on a finished clip")."""
    view = discord.ui.View(timeout=None)
    for item in (RetryButton(clip_id), RemixButton(clip_id), ExtendButton(clip_id), UpvoteButton(clip_id, votes),
                 DeleteButton(clip_id)):
        view.add_item(item)
    return view


def retry_view(clip_id: str) -> discord.ui.View:
    """A failed clip can only be tried again."""
    view = discord.ui.View(timeout=None)
    view.add_item(RetryButton(clip_id))
    return view


def cancel_view(clip_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(clip_id))
    return view
