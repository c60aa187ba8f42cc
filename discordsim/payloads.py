"""JSON payloads shaped like Discord's (modelled on discord.py's `discord/types`).

Every field discord.py reads with `data[...]` is present: a missing one raises inside the
client's event parser and kills it, so these builders err on the side of Discord's full shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import model

if TYPE_CHECKING:
    from .sim import DiscordSim


def user(u: model.User) -> dict[str, Any]:
    return {
        "id": str(u.id),
        "username": u.name,
        "discriminator": "0",
        "global_name": u.name,
        "avatar": None,
        "avatar_decoration_data": None,
        "banner": None,
        "accent_color": None,
        "bot": u.bot,
        "system": False,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": None,
        "collectibles": None,
    }


def role(r: model.Role) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "name": r.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": r.position,
        "permissions": str(r.permissions),
        "managed": r.managed,
        "mentionable": False,
        "flags": 0,
    }


def member(m: model.Member, *, with_user: bool = True, permissions: int | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "nick": None,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in m.role_ids],
        "joined_at": m.joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
        "avatar_decoration_data": None,
    }
    if with_user:
        payload["user"] = user(m.user)
    if permissions is not None:
        payload["permissions"] = str(permissions)
    return payload


def channel(sim: "DiscordSim", c: model.Channel) -> dict[str, Any]:
    if c.is_dm:
        assert c.recipient is not None
        return {
            "id": str(c.id),
            "type": model.DM,
            "last_message_id": _opt_id(c.last_message_id),
            "flags": 0,
            "recipients": [user(c.recipient)],
        }
    base: dict[str, Any] = {
        "id": str(c.id),
        "type": c.type,
        "guild_id": str(c.guild_id),
        "name": c.name,
        "last_message_id": _opt_id(c.last_message_id),
        "rate_limit_per_user": 0,
        "flags": 0,
    }
    if c.is_thread:
        assert c.parent_id is not None and c.owner_id is not None
        base.update(
            parent_id=str(c.parent_id),
            owner_id=str(c.owner_id),
            member_count=min(len(c.thread_members), 50),
            message_count=c.message_count,
            total_message_sent=c.message_count,
            thread_metadata={
                "archived": c.archived,
                "auto_archive_duration": 1440,
                "archive_timestamp": c.created_at,
                "locked": c.locked,
                "create_timestamp": c.created_at,
                "invitable": c.type == model.PUBLIC_THREAD,
            },
        )
        return base
    overwrites = []
    if c.bot_deny:
        overwrites.append({"id": str(sim.bot_user.id), "type": 1, "allow": "0", "deny": str(c.bot_deny)})
    base.update(
        position=c.position,
        permission_overwrites=overwrites,
        nsfw=c.nsfw,
        parent_id=None,
        topic=None,
        default_auto_archive_duration=1440,
        default_thread_rate_limit_per_user=0,
        last_pin_timestamp=None,
    )
    return base


def thread_create(sim: "DiscordSim", t: model.Channel, *, newly_created: bool) -> dict[str, Any]:
    payload = channel(sim, t)
    payload["newly_created"] = newly_created
    if sim.bot_user.id in t.thread_members:
        payload["member"] = thread_member(sim, t, sim.bot_user.id)
    return payload


def thread_member(sim: "DiscordSim", t: model.Channel, user_id: int) -> dict[str, Any]:
    return {"id": str(t.id), "user_id": str(user_id), "join_timestamp": t.created_at, "flags": 1}


def guild(sim: "DiscordSim", g: model.Guild) -> dict[str, Any]:
    """The guild object of REST (`GET /guilds/{id}`): no channels or members."""
    return {
        "id": str(g.id),
        "name": g.name,
        "icon": None,
        "icon_hash": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(g.owner_id),
        "region": "deprecated",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [role(r) for r in g.roles.values()],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "max_presences": None,
        "max_members": 500000,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": g.locale,
        "nsfw_level": 0,
        "nsfw": False,
        "incidents_data": None,
        "approximate_member_count": len(g.members),
        "approximate_presence_count": 0,
    }


def guild_create(sim: "DiscordSim", g: model.Guild) -> dict[str, Any]:
    """GUILD_CREATE: the full guild with channels, active threads and (small guild) all members."""
    payload = guild(sim, g)
    channels = [c for c in g.channels.values() if not c.is_thread]
    threads = [c for c in g.channels.values() if c.is_thread and not c.archived]
    payload.update(
        joined_at=g.joined_at,
        large=False,
        unavailable=False,
        member_count=len(g.members),
        lazy=True,
        voice_states=[],
        members=[member(m) for m in g.members.values()],
        channels=[channel(sim, c) for c in channels],
        threads=[channel(sim, t) for t in threads],
        presences=[],
        stage_instances=[],
        guild_scheduled_events=[],
        soundboard_sounds=[],
        embedded_activities=[],
        application_command_counts={},
    )
    return payload


def attachment(a: model.Attachment) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(a.id),
        "filename": a.filename,
        "size": a.size,
        "url": a.url,
        "proxy_url": a.url,
        "flags": 0,
    }
    if a.content_type:
        payload["content_type"] = a.content_type
    if a.description:
        payload["description"] = a.description
    if a.ephemeral:
        payload["ephemeral"] = True
    return payload


def message(sim: "DiscordSim", m: model.Message) -> dict[str, Any]:
    author = sim.users[m.author_id]
    payload: dict[str, Any] = {
        "id": str(m.id),
        "channel_id": str(m.channel_id),
        "type": m.type,
        "content": m.content,
        "author": user(author),
        "timestamp": m.timestamp,
        "edited_timestamp": m.edited_timestamp,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [attachment(a) for a in m.attachments],
        "embeds": m.embeds,
        "components": m.components,
        "pinned": False,
        "flags": m.flags,
        "position": 0,
    }
    if m.guild_id is not None:
        payload["guild_id"] = str(m.guild_id)
        g = sim.guilds.get(m.guild_id)
        if g is not None and m.author_id in g.members and m.webhook_id is None:
            payload["member"] = member(g.members[m.author_id], with_user=False)
    if m.nonce is not None:
        payload["nonce"] = m.nonce
    if m.webhook_id is not None:
        payload["webhook_id"] = str(m.webhook_id)
        payload["application_id"] = str(sim.application_id)
    if m.interaction_meta is not None:
        payload["interaction_metadata"] = m.interaction_meta["metadata"]
        payload["interaction"] = m.interaction_meta["interaction"]
    if m.reference is not None:
        payload["message_reference"] = m.reference
    if m.thread is not None:
        payload["thread"] = channel(sim, m.thread)
    return payload


def _opt_id(value: int | None) -> str | None:
    return None if value is None else str(value)
