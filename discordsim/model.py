"""What the sim holds: guilds, channels, threads, members and messages, as plain objects.

Tests read these directly (`sim.messages(channel)` returns `Message` objects); `payloads.py`
turns them into the JSON Discord would send.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADD_REACTIONS = 1 << 6
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

EVERYONE_PERMISSIONS = (
    ADD_REACTIONS | VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS | USE_APPLICATION_COMMANDS | CREATE_PUBLIC_THREADS | SEND_MESSAGES_IN_THREADS
)
BOT_PERMISSIONS = EVERYONE_PERMISSIONS | MANAGE_MESSAGES | MANAGE_THREADS | CREATE_PRIVATE_THREADS

# Channel types.
GUILD_TEXT = 0
DM = 1
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12

# Message flags.
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7


@dataclasses.dataclass(eq=False)
class Violation:
    """A protocol rule the bot broke: `rule` is a short stable name, `detail` says what happened."""

    rule: str
    detail: str
    method: str = ""
    path: str = ""

    def __repr__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method else ""
        return f"Violation({self.rule}: {self.detail}{where})"


@dataclasses.dataclass(eq=False)
class User:
    id: int
    name: str
    bot: bool = False
    dms_open: bool = True  # False: the bot gets 403 50007 when it DMs this user


@dataclasses.dataclass(eq=False)
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False


@dataclasses.dataclass(eq=False)
class Guild:
    id: int
    name: str
    attachment_size_limit: int
    owner_id: int
    joined_at: str
    roles: dict[int, Role] = dataclasses.field(default_factory=dict)
    channels: dict[int, "Channel"] = dataclasses.field(default_factory=dict)
    members: dict[int, "Member"] = dataclasses.field(default_factory=dict)
    locale: str = "en-US"

    def __repr__(self) -> str:
        return f"Guild(id={self.id}, name={self.name!r})"


@dataclasses.dataclass(eq=False)
class Member:
    """A user in one guild. `id` is the user's id, so a Member stands for the user in sim calls."""

    user: User
    guild: Guild | None
    role_ids: list[int]
    joined_at: str

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def permissions(self) -> int:
        if self.guild is None:
            return 0
        if self.guild.owner_id == self.id:
            return ALL_PERMISSIONS
        value = self.guild.roles[self.guild.id].permissions
        for role_id in self.role_ids:
            value |= self.guild.roles[role_id].permissions
        return ALL_PERMISSIONS if value & ADMINISTRATOR else value

    @property
    def manage_messages(self) -> bool:
        return bool(self.permissions & MANAGE_MESSAGES)

    @property
    def manage_guild(self) -> bool:
        return bool(self.permissions & MANAGE_GUILD)

    def __repr__(self) -> str:
        return f"Member(id={self.id}, name={self.name!r})"


@dataclasses.dataclass(eq=False)
class Channel:
    """A guild text channel, a thread (type 11/12) or a DM (type 1)."""

    id: int
    type: int
    name: str
    guild: Guild | None = None
    position: int = 0
    parent_id: int | None = None
    bot_deny: int = 0  # permission bits denied to the bot here (an overwrite)
    nsfw: bool = False  # age-restricted (text channels; a thread is its parent's, and says nothing itself)
    # threads
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    created_at: str = ""
    thread_members: set[int] = dataclasses.field(default_factory=set)
    starter_message_id: int | None = None
    # DMs
    recipient: User | None = None
    last_message_id: int | None = None
    message_count: int = 0

    @property
    def guild_id(self) -> int | None:
        return self.guild.id if self.guild else None

    @property
    def is_thread(self) -> bool:
        return self.type in (PUBLIC_THREAD, PRIVATE_THREAD)

    @property
    def is_dm(self) -> bool:
        return self.type == DM

    def __repr__(self) -> str:
        return f"Channel(id={self.id}, type={self.type}, name={self.name!r})"


Thread = Channel  # a thread is a channel of type 11/12; the alias reads better in tests


@dataclasses.dataclass(eq=False)
class Attachment:
    id: int
    filename: str
    data: bytes
    content_type: str | None
    url: str
    description: str | None = None
    ephemeral: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def bytes(self) -> bytes:  # noqa: A003 - the name the agreed API uses
        return self.data

    def __repr__(self) -> str:
        return f"Attachment({self.filename!r}, {self.size} bytes)"


@dataclasses.dataclass(eq=False)
class Message:
    """A message as members see it. Edits replace the fields; `edits` keeps earlier versions."""

    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str
    timestamp: str
    embeds: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    components: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    attachments: list[Attachment] = dataclasses.field(default_factory=list)
    flags: int = 0
    type: int = 0
    edited_timestamp: str | None = None
    nonce: str | int | None = None
    webhook_id: int | None = None
    interaction_id: int | None = None  # the interaction this message answers, if any
    visible_to: int | None = None  # ephemeral: the only user who sees it
    reference: dict[str, Any] | None = None
    thread: Channel | None = None
    deleted: bool = False
    edits: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    interaction_meta: dict[str, Any] | None = None

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        """A deferred response still showing "<bot> is thinking…"."""
        return bool(self.flags & FLAG_LOADING)

    def walk_components(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                found.append(item)
                walk(item.get("components", []))
                if isinstance(item.get("component"), dict):
                    walk([item["component"]])
                if isinstance(item.get("accessory"), dict):
                    walk([item["accessory"]])

        walk(self.components)
        return found

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [c for c in self.walk_components() if c.get("type") == 2]

    @property
    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in self.walk_components() if "custom_id" in c]

    @property
    def labels(self) -> list[str]:
        return [c["label"] for c in self.walk_components() if c.get("label")]

    def button(self, label_or_custom_id: str) -> dict[str, Any] | None:
        """The first button whose label contains, or whose custom_id equals, the text."""
        for item in self.buttons:
            if item.get("custom_id") == label_or_custom_id or label_or_custom_id in (item.get("label") or ""):
                return item
        return None

    def fingerprint(self) -> str:
        """What a member would see (and which interaction it answers), hashed: equal means a repeat."""
        seen = {
            "interaction": self.interaction_id,
            "content": self.content,
            "embeds": self.embeds,
            "components": self.components,
            "attachments": [(a.filename, hashlib.sha256(a.data).hexdigest()) for a in self.attachments],
            "author": self.author_id,
            "channel": self.channel_id,
        }
        return hashlib.sha256(json.dumps(seen, sort_keys=True, default=str).encode()).hexdigest()

    def __repr__(self) -> str:
        flags = " ephemeral" if self.ephemeral else ""
        flags += " loading" if self.loading else ""
        files = f" files={[a.filename for a in self.attachments]}" if self.attachments else ""
        return f"Message(id={self.id}, channel={self.channel_id}{flags}, content={self.content[:60]!r}{files})"
