"""/gallery [sort] [user]: a private, paged browser of public clips, with the web gallery's link.

The pages come from core.listings (the web gallery's queries), so private, deleted and
banned members' clips never show. Previous/next are dynamic items whose custom id carries
the whole position (`reelbot:g:a2:t:<member id>:<cursor>`: after or before the cursor,
the page number, the sort, the member), so a browser opened before a restart keeps paging.
"""

from __future__ import annotations

import re
from typing import Literal

import discord
from discord import app_commands

from bot.answers import accepting, reply_private, services_of, went_wrong
from bot.buttons import ButtonCog
from bot.messages import truncate
from bot.metrics import COMMANDS
from core.listings import CursorError, Listing, ListingError, Sort, Window, encode_cursor, page, page_before
from core.media import clip_link

PER_PAGE = 5
MAX_PAGE_NUMBER = 999
CUSTOM_ID_MAX = 100
PROMPT_CHARS = 90
_SORTS = {"t": Sort.TOP, "n": Sort.NEW}
_PAGE_ID = r"reelbot:g:(?P<way>[ab])(?P<number>\d{1,3}):(?P<sort>[tn]):(?P<member>\d{0,20}):(?P<cursor>[\w-]{1,80})"


def listing_for(sort: str, member_id: str | None) -> Listing:
    # All time: a Discord browser is for looking back through everything; the web gallery has the windows.
    return Listing.build(sort, Window.ALL, member_id)


def page_custom_id(way: str, number: int, listing: Listing, cursor: str) -> str | None:
    """The custom id of a previous ('b') or next ('a') button; None when it would not fit Discord's 100 characters."""
    value = (f"reelbot:g:{way}{min(number, MAX_PAGE_NUMBER)}:{listing.sort.value[0]}:"
             f"{listing.member_id or ''}:{cursor}")
    return value if len(value) <= CUSTOM_ID_MAX and re.fullmatch(_PAGE_ID, value) else None


def clip_line(index: int, clip, link: str | None) -> str:
    prompt = " ".join((clip.prompt or "").split()) or "(no prompt)"
    prompt = discord.utils.escape_markdown(truncate(prompt, PROMPT_CHARS)).replace("[", "\\[").replace("]", "\\]")
    title = f"[{prompt}]({link})" if link else f"**{prompt}**"
    author = f" · <@{clip.author_id}>" if clip.author_id else ""
    return f"**{index}.** {title}\n👍 {clip.vote_count or 0}{author} · `{clip.id}`"


def web_gallery_url(settings, listing: Listing) -> str | None:
    if not settings.gallery_url:
        return None
    base = settings.gallery_url.rstrip("/")
    if listing.member_id:
        return f"{base}/members/{listing.member_id}"
    return f"{base}/?sort={listing.sort.value}"


def browser(clips: list, listing: Listing, number: int, *, has_previous: bool, has_next: bool, settings,
            storage, user_name: str | None = None) -> tuple[discord.Embed, discord.ui.View]:
    """One page of the browser: the embed and its buttons."""
    title = ("Top clips" if listing.sort is Sort.TOP else "New clips") + (f" by {user_name}" if user_name else "")
    if clips:
        first = (number - 1) * PER_PAGE + 1
        lines = [clip_line(first + i, clip, clip_link(clip, settings, storage)) for i, clip in enumerate(clips)]
        description = "\n".join(lines)
    else:
        description = "No public clips here yet. Upvote the clips you like: the best ones show up first."
    embed = discord.Embed(title=truncate(title, 256), description=truncate(description, 4000),
                          color=discord.Color.blurple())
    embed.set_footer(text=f"Page {number}")
    view = discord.ui.View(timeout=None)
    previous = page_custom_id("b", number - 1, listing, encode_cursor(listing, clips[0])) if clips else None
    following = page_custom_id("a", number + 1, listing, encode_cursor(listing, clips[-1])) if clips else None
    view.add_item(_button(PageButton, "Previous", "◀", previous if has_previous else None, "reelbot:g:x:previous"))
    view.add_item(_button(PageButton, "Next", "▶", following if has_next else None, "reelbot:g:x:next"))
    web = web_gallery_url(settings, listing)
    if web:
        view.add_item(discord.ui.Button(label="Web gallery", url=web, style=discord.ButtonStyle.link))
    return embed, view


def _button(cls, label: str, emoji: str, custom_id: str | None, idle_id: str):
    if custom_id is None:  # nothing that way: a disabled button (its id only has to be unique)
        return discord.ui.Button(label=label, emoji=emoji, custom_id=idle_id, disabled=True)
    return cls(custom_id, label=label, emoji=emoji)


async def open_page(services, listing: Listing, way: str | None, cursor: str | None, number: int) -> tuple:
    """(clips, page number, has previous, has next) for the first page, or the page after/before `cursor`."""
    async with services.store.session() as s:
        if way == "b" and cursor:
            clips, more_before = await page_before(s, listing, cursor, limit=PER_PAGE)
            if clips:
                return clips, (max(2, number) if more_before else 1), more_before, True
        elif way == "a" and cursor:
            found = await page(s, listing, cursor=cursor, limit=PER_PAGE)
            if found.clips:
                return found.clips, max(2, number), True, found.next_cursor is not None
        # The first page, also when the clips a button pointed at are gone (deleted meanwhile).
        first = await page(s, listing, limit=PER_PAGE)
    return first.clips, 1, False, first.next_cursor is not None


class PageButton(discord.ui.DynamicItem[discord.ui.Button], template=_PAGE_ID):
    def __init__(self, custom_id: str, *, label: str | None = None, emoji: str | None = None):
        super().__init__(discord.ui.Button(custom_id=custom_id, label=label, emoji=emoji,
                                           style=discord.ButtonStyle.secondary))
        match = re.fullmatch(_PAGE_ID, custom_id)
        self.way, self.number = match["way"], int(match["number"])
        self.sort, self.member_id, self.cursor = _SORTS[match["sort"]], match["member"] or None, match["cursor"]

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(match.group(0), label=item.label, emoji=str(item.emoji) if item.emoji else None)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await accepting(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        try:
            listing = listing_for(self.sort, self.member_id)
            clips, number, has_previous, has_next = await open_page(services, listing, self.way, self.cursor,
                                                                    self.number)
            user_name = _title_name(interaction.message) if self.member_id else None
            embed, view = browser(clips, listing, number, has_previous=has_previous, has_next=has_next,
                                  settings=services.settings, storage=services.storage, user_name=user_name)
            await interaction.response.edit_message(embed=embed, view=view)
            COMMANDS.labels("button:gallery", "ok").inc()
        except CursorError:
            COMMANDS.labels("button:gallery", "refused").inc()
            await reply_private(interaction, "This page can't be found any more: run `/gallery` again.")
        except Exception as exc:  # noqa: BLE001 — the member gets an answer; the bot stays up
            await went_wrong(interaction, "button:gallery", exc)


def _title_name(message: discord.Message | None) -> str | None:
    """The member's name shown on the page before (custom ids have no room for it)."""
    title = message.embeds[0].title if message is not None and message.embeds else None
    return title.split(" by ", 1)[1] if title and " by " in title else None


class Gallery(ButtonCog):
    buttons = (PageButton,)

    @app_commands.command(name="gallery", description="Browse the community's public clips (only you see it)")
    @app_commands.describe(sort="Most upvoted first, or newest first", user="Only this member's clips")
    async def gallery(self, interaction: discord.Interaction, sort: Literal["top", "new"] = "top",
                      user: discord.User | None = None) -> None:
        services = services_of(interaction)
        try:
            listing = listing_for(sort, str(user.id) if user else None)
        except ListingError as exc:
            COMMANDS.labels("gallery", "refused").inc()
            return await reply_private(interaction, str(exc))
        clips, number, has_previous, has_next = await open_page(services, listing, None, None, 1)
        embed, view = browser(clips, listing, number, has_previous=has_previous, has_next=has_next,
                              settings=services.settings, storage=services.storage,
                              user_name=user.display_name if user else None)
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)
        COMMANDS.labels("gallery", "ok").inc()
