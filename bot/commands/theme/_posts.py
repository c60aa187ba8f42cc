"""What a theme looks like in Discord: its announcement, its entries as lines (rank, author,
votes, prompt, links) and its result post, which carries `theme <id>` in its footer so the
closer can recognise a result it already made."""

from __future__ import annotations

import discord

from bot import records
from bot.messages import timestamp, truncate
from core import themes

FOOTER_PREFIX = "theme "
MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}


def shown(words: str) -> str:
    return discord.utils.escape_markdown(words)


def entry_line(standing: themes.Standing, gallery_url: str | None) -> str:
    """`🥇 @ann · 3 votes · “a fox in snow” · clip`: rank, author, votes, prompt and a link."""
    clip = standing.clip
    mark = MEDALS.get(standing.rank, f"**{standing.rank}.**")
    votes = f"{standing.votes} vote{'s' if standing.votes != 1 else ''}"
    prompt = shown(truncate(" ".join((clip.prompt or "untitled").split()), 80))
    where = clip.thread_id or clip.channel_id
    links = []
    if clip.result_message_id and clip.guild_id and where:
        links.append(f"[clip](https://discord.com/channels/{clip.guild_id}/{where}/{clip.result_message_id})")
    if gallery_url:
        links.append(f"[page]({gallery_url.rstrip('/')}/clips/{clip.id})")
    author = f"<@{clip.author_id}>" if clip.author_id else shown(clip.author_name or "someone")
    return " · ".join([f"{mark} {author}", votes, f"“{prompt}”", *links])


def theme_page(theme, gallery_url: str | None) -> str | None:
    return f"{gallery_url.rstrip('/')}/themes/{theme.id}" if gallery_url else None


def announcement(theme, result_channel_id: str | None) -> str:
    where = f" in <#{theme.channel_id}>" if theme.channel_id else ""
    result = f"<#{result_channel_id}>" if result_channel_id else "this channel"
    return (f"🎬 **New theme: {shown(theme.words)}**\n"
            f"Enter by adding `-theme` to your prompt{where}, e.g. `/create a scene of your own -theme` "
            f"(up to {theme.max_entries} entries each; deleting one withdraws it).\n"
            f"Vote with 👍 on the entries you like (your own vote doesn't count). It ends {timestamp(theme.ends_at)} "
            f"({timestamp(theme.ends_at, 'f')}); the top {theme.winners} are posted in {result}.")


def result_embed(theme, standings: list[themes.Standing], entries: int, gallery_url: str | None) -> discord.Embed:
    lines = [f"The theme has ended. The top {len(standings)} of {entries} entr{'ies' if entries != 1 else 'y'} "
             "by 👍 (an author's own vote doesn't count):" if standings else "The theme has ended with no entries."]
    lines += [entry_line(s, gallery_url) for s in standings]
    page = theme_page(theme, gallery_url)
    if page:
        lines.append(f"\nEvery entry: {page}")
    embed = discord.Embed(title=truncate(f"🏆 Theme results: {shown(theme.words)}", 256),
                          description=truncate("\n".join(lines), 4000), color=discord.Color.gold())
    embed.set_footer(text=f"{FOOTER_PREFIX}{theme.id} · ended {themes.utc(theme.ends_at):%Y-%m-%d %H:%M} UTC")
    return embed


def is_result_of(message, theme_id: str) -> bool:
    return any((embed.footer and embed.footer.text or "").split(" · ")[0] == f"{FOOTER_PREFIX}{theme_id}"
               for embed in getattr(message, "embeds", []))


async def result_channel(services, theme) -> str | None:
    """Where a theme's result goes: the server's showcase channel, else where it was announced."""
    settings = await records.guild(services.store, theme.guild_id)
    return (settings.gallery_channel_id if settings is not None else None) or theme.announce_channel_id
