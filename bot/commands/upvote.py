"""👍 N: an upvote per member (pressing again takes it back); N is the count. The vote that
reaches the threshold posts the clip to the server's showcase channel."""

from __future__ import annotations

import discord

from bot.answers import observe_ack, reply_private, services_of
from bot.buttons import ButtonCog, ClipButton
from bot.metrics import COMMANDS
from core import quality
from core.votes import toggle_vote


class UpvoteButton(ClipButton, action="upvote"):
    emoji, style = "👍", discord.ButtonStyle.primary

    def __init__(self, clip_id: str, count: int = 0):
        super().__init__(clip_id, label=str(max(0, count)))

    async def pressed(self, interaction: discord.Interaction, clip) -> None:
        services = services_of(interaction)
        result = await toggle_vote(services.store.session, clip.id, str(interaction.user.id))
        if result is None:
            COMMANDS.labels("button:upvote", "refused").inc()
            await reply_private(interaction, "This clip was deleted.")
            return
        await interaction.response.edit_message(view=self.counted(interaction.message, result.count))
        observe_ack(interaction)
        member_id = str(interaction.user.id)
        if result.voted:
            await quality.react(services.store.session, clip.id, quality.Kind.UPVOTE, member_id)
        else:
            await quality.unreact(services.store.session, clip.id, quality.Kind.UPVOTE, member_id)
        COMMANDS.labels("button:upvote", "ok").inc()
        if result.voted:
            await services.showcase.after_upvote(interaction, clip, result.count)

    def counted(self, message: discord.Message | None, count: int) -> discord.ui.View:
        """The message's own buttons, this one showing the new count (whatever else the row holds)."""
        if message is None:
            view = discord.ui.View(timeout=None)
            view.add_item(UpvoteButton(self.clip_id, count))
            return view
        view = discord.ui.View.from_message(message, timeout=None)
        for item in view.children:
            if getattr(item, "custom_id", None) == self.custom_id:
                item.label = str(max(0, count))
        return view


class Upvote(ButtonCog):
    buttons = (UpvoteButton,)
