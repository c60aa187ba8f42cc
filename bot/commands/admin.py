"""/admin: for server managers (the Manage Server permission). Pause and resume making
clips, ban and unban members here (an operator-wide ban is `reelbot ban`), the server's
banned terms, the channels Reelbot works in, the moderators' channel where reports go, the
audit log of moderation decisions, themes (start and end one: bot/commands/theme/) and role
tiers (bot/commands/tiers.py). Every decision is logged (core/audit.py)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import records, showcase
from bot.answers import reply_private, services_of
from bot.commands import tiers
from bot.messages import CONTENT_MAX, code, truncate
from bot.metrics import COMMANDS
from core import audit, bans, themes
from core.limits import PRIORITIES
from core.moderation import MAX_TERM_CHARS

AUDIT_SHOWN = 15


async def _managers_only(interaction: discord.Interaction) -> bool:
    # default_permissions hides the command; this check holds even if a server overrides that.
    if interaction.guild_id is not None and interaction.permissions.manage_guild:
        return True
    COMMANDS.labels("admin", "refused").inc()
    await reply_private(interaction, "Only members with the Manage Server permission can use `/admin`.")
    return False


async def _done(interaction: discord.Interaction, text: str) -> None:
    COMMANDS.labels(interaction.command.qualified_name if interaction.command else "admin", "ok").inc()
    await reply_private(interaction, text)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Admin(commands.GroupCog, group_name="admin", group_description="Reelbot settings for server managers"):
    terms = app_commands.Group(name="terms", description="Words that block a prompt on this server")
    channels = app_commands.Group(name="channels", description="Where Reelbot makes clips (none set: everywhere)")
    theme = app_commands.Group(name="theme", description="A theme members enter clips in with -theme (one at a time)")

    def __init__(self, bot: commands.Bot):
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await _managers_only(interaction)

    @app_commands.command(name="pause", description="Stop taking new clips on this server")
    async def pause(self, interaction: discord.Interaction) -> None:
        changed = await records.set_paused(services_of(interaction).store, str(interaction.guild_id), True,
                                           by=str(interaction.user.id))
        await _done(interaction, "Paused: new clips are refused until `/admin resume`. Clips already queued "
                                 "still finish." if changed else "Already paused.")

    @app_commands.command(name="resume", description="Take new clips again")
    async def resume(self, interaction: discord.Interaction) -> None:
        changed = await records.set_paused(services_of(interaction).store, str(interaction.guild_id), False,
                                           by=str(interaction.user.id))
        await _done(interaction, "Resumed: members can make clips again." if changed else "Not paused.")

    @app_commands.command(name="ban", description="Stop a member from making clips on this server")
    @app_commands.describe(member="Who", reason="Why (kept in the audit log)")
    async def ban(self, interaction: discord.Interaction, member: discord.User,
                  reason: app_commands.Range[str, 0, 500] | None = None) -> None:
        changed = await bans.ban_here(services_of(interaction).store.session, str(interaction.guild_id),
                                      str(member.id), by=str(interaction.user.id), reason=reason)
        await _done(interaction, f"{member.mention} can no longer make clips on this server." if changed
                    else f"{member.mention} was already banned here.")

    @app_commands.command(name="unban", description="Let a member banned here make clips again")
    @app_commands.describe(member="Who")
    async def unban(self, interaction: discord.Interaction, member: discord.User) -> None:
        changed = await bans.unban_here(services_of(interaction).store.session, str(interaction.guild_id),
                                        str(member.id), by=str(interaction.user.id))
        await _done(interaction, f"{member.mention} can make clips on this server again." if changed
                    else f"{member.mention} wasn't banned here.")

    @app_commands.command(name="mod-channel", description="Where members' reports of clips go")
    @app_commands.describe(channel="The moderators' channel (leave it out to stop sending reports)")
    async def mod_channel(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        changed = await records.set_mod_channel(services_of(interaction).store, str(interaction.guild_id),
                                                str(channel.id) if channel else None)
        if channel is None:
            text = ("Reports are no longer sent to a channel (they still count, and show in `/admin audit`)."
                    if changed else "No moderators' channel was set.")
        else:
            text = (f"Reports of clips (Apps → Report clip) go to {channel.mention}, one message per clip with "
                    "Delete and Dismiss buttons." if changed else f"{channel.mention} already gets the reports.")
        await _done(interaction, text)

    @app_commands.command(name="audit", description="Recent moderation decisions on this server")
    @app_commands.describe(member="Only decisions about this member")
    async def audit_log(self, interaction: discord.Interaction, member: discord.User | None = None) -> None:
        async with services_of(interaction).store.session() as s:
            entries = await audit.latest(s, guild_id=str(interaction.guild_id),
                                         member_id=str(member.id) if member else None, limit=AUDIT_SHOWN)
        await _done(interaction, audit_text(entries, member.mention if member else None))

    @app_commands.command(name="gallery-channel", description="Where clips with enough upvotes are showcased")
    @app_commands.describe(channel="The showcase channel (leave it out to stop showcasing)")
    async def gallery_channel(self, interaction: discord.Interaction,
                              channel: discord.TextChannel | None = None) -> None:
        services = services_of(interaction)
        changed = await showcase.set_channel(services.store, str(interaction.guild_id),
                                             str(channel.id) if channel else None)
        votes = services.settings.showcase_votes
        if channel is None:
            text = "Showcase off: no channel gets clips for their upvotes." if changed else "No showcase channel was set."
        else:
            text = (f"Clips that reach {votes} upvote{'s' if votes != 1 else ''} are posted in {channel.mention}, "
                    "once each, credited to their authors." if changed else f"{channel.mention} already is the showcase.")
        await _done(interaction, text)

    # /admin theme: the Theme cog (bot/commands/theme/) does the work.
    @theme.command(name="start", description="Start a theme: members enter clips with -theme, 👍 votes decide")
    @app_commands.describe(words="The theme, e.g. foxes in the snow", duration="How long it runs: 1d, 6h, 30m, 1m …",
                           channel="Entries only from this channel (leave it out: any channel)",
                           max_entries=f"Entries per member ({themes.DEFAULT_MAX_ENTRIES} if left out)",
                           winners=f"How many top entries the result names ({themes.DEFAULT_WINNERS} if left out)")
    async def theme_start(self, interaction: discord.Interaction,
                          words: app_commands.Range[str, 1, themes.MAX_WORDS_CHARS],
                          duration: app_commands.Range[str, 1, 40], channel: discord.TextChannel | None = None,
                          max_entries: app_commands.Range[int, 1, themes.MAX_ENTRIES] = themes.DEFAULT_MAX_ENTRIES,
                          winners: app_commands.Range[int, 1, themes.MAX_WINNERS] = themes.DEFAULT_WINNERS) -> None:
        await self.bot.get_cog("Theme").start(interaction, words, duration, channel, max_entries, winners)

    @theme_start.autocomplete("duration")
    async def theme_durations(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice]:
        return self.bot.get_cog("Theme").duration_choices(current)

    @theme.command(name="end", description="End the running theme now and post its results")
    async def theme_end(self, interaction: discord.Interaction) -> None:
        await self.bot.get_cog("Theme").end(interaction)

    @app_commands.command(name="tier", description="What a role gives its members: limits, fast time, priority")
    @app_commands.describe(role="The role (@everyone: this server's defaults)", in_flight="Clips queued or "
                           "rendering at once", per_day="Clips a day", fast_minutes="Fast GPU minutes a day "
                           "(then clips go to the relax lane)", priority="high: a bounded head start in the queue")
    @app_commands.choices(priority=[app_commands.Choice(name=p, value=p) for p in PRIORITIES])
    async def tier(self, interaction: discord.Interaction, role: discord.Role,
                   in_flight: app_commands.Range[int, 1, 50] | None = None,
                   per_day: app_commands.Range[int, 1, 10000] | None = None,
                   fast_minutes: app_commands.Range[int, 0, 1440] | None = None, priority: str | None = None) -> None:
        if priority is not None and priority not in PRIORITIES:
            COMMANDS.labels("admin tier", "refused").inc()
            return await reply_private(interaction, "`priority` is `normal` or `high`.")
        await _done(interaction, await tiers.set_role_tier(interaction, role, in_flight, per_day, fast_minutes,
                                                           priority))

    @app_commands.command(name="tiers", description="The roles' tiers on this server")
    async def tiers_list(self, interaction: discord.Interaction) -> None:
        await _done(interaction, await tiers.tiers_text(interaction))

    @app_commands.command(name="tier-remove", description="Remove a role's tier (its members get the defaults)")
    @app_commands.describe(role="The role")
    async def tier_remove(self, interaction: discord.Interaction, role: discord.Role) -> None:
        await _done(interaction, await tiers.remove_role_tier(interaction, role))

    @terms.command(name="add", description="Block prompts containing this word or phrase")
    @app_commands.describe(term="A word or phrase (matched whole-word, ignoring case and accents)")
    async def terms_add(self, interaction: discord.Interaction,
                        term: app_commands.Range[str, 1, MAX_TERM_CHARS]) -> None:
        result = await records.add_banned_term(services_of(interaction).store, str(interaction.guild_id), term,
                                               by=str(interaction.user.id))
        if result is None:
            COMMANDS.labels("admin terms add", "refused").inc()
            return await reply_private(interaction, "That term has no letters or digits to match: nothing was added.")
        changed, terms = result
        await _done(interaction, ("Added. " if changed else "Already on the list. ") + _terms_line(terms))

    @terms.command(name="remove", description="Stop blocking a word or phrase")
    async def terms_remove(self, interaction: discord.Interaction,
                           term: app_commands.Range[str, 1, MAX_TERM_CHARS]) -> None:
        changed, terms = await records.remove_banned_term(services_of(interaction).store, str(interaction.guild_id),
                                                          term, by=str(interaction.user.id))
        await _done(interaction, ("Removed. " if changed else "That term wasn't on the list. ") + _terms_line(terms))

    @terms.command(name="list", description="The words and phrases that block a prompt here")
    async def terms_list(self, interaction: discord.Interaction) -> None:
        guild = await records.guild(services_of(interaction).store, str(interaction.guild_id))
        extra = services_of(interaction).settings.banned_terms
        line = _terms_line(guild.banned_terms if guild else [])
        if extra:
            line += f"\nThe bot's operator also blocks {len(extra)} term{'s' if len(extra) != 1 else ''}."
        await _done(interaction, line)

    @channels.command(name="add", description="Let Reelbot make clips in this channel")
    async def channels_add(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        changed, ids = await records.edit_list(services_of(interaction).store, str(interaction.guild_id),
                                               "allowed_channel_ids", add=str(channel.id))
        await _done(interaction, ("Added. " if changed else "Already allowed. ") + _channels_line(ids))

    @channels.command(name="remove", description="Stop making clips in this channel")
    async def channels_remove(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        changed, ids = await records.edit_list(services_of(interaction).store, str(interaction.guild_id),
                                               "allowed_channel_ids", remove=str(channel.id))
        await _done(interaction, ("Removed. " if changed else "That channel wasn't on the list. ") + _channels_line(ids))

    @channels.command(name="clear", description="Make clips in every channel again")
    async def channels_clear(self, interaction: discord.Interaction) -> None:
        _changed, ids = await records.edit_list(services_of(interaction).store, str(interaction.guild_id),
                                                "allowed_channel_ids", clear=True)
        await _done(interaction, _channels_line(ids))

    @channels.command(name="list", description="Where Reelbot makes clips on this server")
    async def channels_list(self, interaction: discord.Interaction) -> None:
        guild = await records.guild(services_of(interaction).store, str(interaction.guild_id))
        await _done(interaction, _channels_line(guild.allowed_channel_ids if guild else []))


ACTORS = {audit.OPERATOR: "Reelbot's operator", audit.SAFETY_CHECK: "the safety check"}


def _who(actor: str | None) -> str:
    if actor is None:
        return "Reelbot"
    return f"<@{actor}>" if actor.isdigit() else ACTORS.get(actor, actor)


def audit_line(entry: audit.Entry) -> str:
    """One decision, newest first: when (Discord shows it in the reader's time), what, whom, who, why."""
    line = f"<t:{int(entry.at.timestamp())}:R> **{entry.action}**"
    if entry.member_id:
        line += f" <@{entry.member_id}>"
    if entry.actor and entry.actor != entry.member_id:
        line += f" by {_who(entry.actor)}"
    if entry.clip_id:
        line += f" · clip {code(entry.clip_id)}"
    if entry.reason:
        line += f" · {discord.utils.escape_markdown(truncate(' '.join(entry.reason.split()), 120))}"
    if entry.prompt:
        line += f" · prompt: {code(truncate(' '.join(entry.prompt.split()), 80))}"
    return line


def audit_text(entries: list[audit.Entry], member: str | None) -> str:
    about = f" about {member}" if member else ""
    if not entries:
        return f"No moderation decisions{about} on this server yet."
    head = f"The latest {len(entries)} moderation decision{'s' if len(entries) != 1 else ''}{about} (newest first):"
    lines, size = [head], len(head)
    for entry in entries:
        line = audit_line(entry)
        if size + 1 + len(line) > CONTENT_MAX - 60:
            lines.append("… more with `reelbot audit` (for the operator).")
            break
        lines.append(line)
        size += 1 + len(line)
    return "\n".join(lines)


def _terms_line(terms: list[str]) -> str:
    if not terms:
        return "No terms are blocked on this server."
    shown = ", ".join(code(t) for t in terms[:100])
    return f"Blocked terms ({len(terms)}): {shown}"


def _channels_line(ids: list[str]) -> str:
    if not ids:
        return "Reelbot makes clips in every channel."
    return "Reelbot makes clips only in " + ", ".join(f"<#{cid}>" for cid in ids[:50]) + "."
