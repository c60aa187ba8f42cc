"""The guild as one member sees it in the sandbox page, as the page's JSON: which channels
and messages they may see (ephemeral messages and DMs only their own), and the page's state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import model

if TYPE_CHECKING:
    from .sim import DiscordSim


class MemberView:
    def __init__(self, sim: "DiscordSim", guild: model.Guild) -> None:
        self.sim = sim
        self.guild = guild

    def member(self, ref: Any) -> model.Member:
        """A seeded member by id or name; none named: the first one (the page's default)."""
        for member in self.guild.members.values():
            if not member.user.bot and (ref in (None, "") or str(member.id) == str(ref) or member.name == ref):
                return member
        raise ValueError(f"no member {ref!r} in {self.guild.name}")

    def channel(self, ref: Any, member: model.Member) -> model.Channel:
        try:
            channel = self.sim.channels.get(int(ref))
        except (TypeError, ValueError):
            channel = None
        if channel is None or not self.can_see_channel(channel, member.id):
            raise ValueError(f"no channel {ref!r}")
        return channel

    def can_see_channel(self, channel: model.Channel, member_id: int) -> bool:
        if channel.is_dm:
            return channel.recipient is not None and channel.recipient.id == member_id
        return channel.guild is self.guild

    def can_see(self, msg: model.Message, member_id: int) -> bool:
        channel = self.sim.channels.get(msg.channel_id)
        if channel is None or not self.can_see_channel(channel, member_id):
            return False
        return not msg.ephemeral or msg.visible_to == member_id

    def bot_online(self) -> bool:
        return bool(self.sim.gateway.live_sessions_for(self.guild.id))

    def _relative(self, url: str) -> str:
        # The page may be opened as localhost or 127.0.0.1: same-origin either way.
        return url[len(self.sim.base_url):] if url.startswith(self.sim.base_url) else url

    def message_json(self, msg: model.Message) -> dict[str, Any]:
        author = self.sim.users.get(msg.author_id)
        interaction = None
        if msg.interaction_meta is not None:
            meta = msg.interaction_meta["metadata"]
            interaction = {"user": meta["user"]["username"], "command": meta.get("name"), "type": meta["type"],
                           "command_type": meta.get("command_type")}
        return {
            "id": str(msg.id),
            "channel_id": str(msg.channel_id),
            "author": {"id": str(msg.author_id), "name": author.name if author else "unknown",
                       "bot": bool(author and author.bot)},
            "content": msg.content,
            "embeds": msg.embeds,
            "components": msg.components,
            "attachments": [{"id": str(a.id), "filename": a.filename, "url": self._relative(a.url),
                             "content_type": a.content_type or "", "size": a.size} for a in msg.attachments],
            "ephemeral": msg.ephemeral,
            "loading": msg.loading,
            "edited": msg.edited_timestamp is not None,
            "timestamp": msg.timestamp,
            "thread": {"id": str(msg.thread.id), "name": msg.thread.name} if msg.thread else None,
            "interaction": interaction,
            "reference": (msg.reference or {}).get("message_id"),
        }

    def channel_json(self, channel: model.Channel) -> dict[str, Any]:
        return {"id": str(channel.id), "name": channel.name, "type": channel.type,
                "parent_id": str(channel.parent_id) if channel.parent_id else None, "position": channel.position,
                "archived": channel.archived}

    def member_json(self, member: model.Member) -> dict[str, Any]:
        roles = [self.guild.roles[r].name for r in member.role_ids if r in self.guild.roles]
        return {"id": str(member.id), "name": member.name, "roles": roles, "permissions": str(member.permissions),
                "manage_messages": member.manage_messages, "manage_guild": member.manage_guild}

    @staticmethod
    def violation_json(v: model.Violation) -> dict[str, Any]:
        return {"rule": v.rule, "detail": v.detail, "method": v.method, "path": v.path}

    def state(self, member: model.Member) -> dict[str, Any]:
        """What the page draws for this member (the page adds its own title, notice and links)."""
        channels = list(self.guild.channels.values())
        dm = self.sim.existing_dm(member)
        return {
            "guild": {"id": str(self.guild.id), "name": self.guild.name,
                      "upload_limit": self.guild.attachment_size_limit},
            "bot": {"id": str(self.sim.bot_user.id), "name": self.sim.bot_user.name, "online": self.bot_online()},
            "me": str(member.id),
            "members": [self.member_json(m) for m in self.guild.members.values() if not m.user.bot],
            "roles": [{"id": str(r.id), "name": r.name} for r in self.guild.roles.values() if not r.managed],
            "channels": [self.channel_json(c) for c in sorted(channels, key=lambda c: (c.is_thread, c.position, c.id))],
            "dm": self.channel_json(dm) if dm else None,
            # Global commands, then this guild's, exactly as the bot declared them.
            "commands": self.sim.commands() + self.sim.commands(self.guild),
            "violations": [self.violation_json(v) for v in self.sim.violations],
        }
