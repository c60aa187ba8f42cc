"""Messages and files: create, edit, delete, with the gateway events Discord sends for each.

Every message any route makes goes through here, so nonce de-duplication, attachment size
limits and MESSAGE_CREATE/UPDATE/DELETE dispatch behave the same for channel posts,
interaction responses and followups.
"""

from __future__ import annotations

import collections
import copy
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import errors, gateway, model, payloads
from .errors import ApiError, form_error
from .messages import CREATE_FLAGS, FLAG_SUPPRESS_EMBEDS, Body, guess_type

if TYPE_CHECKING:
    from .interactions import SimInteraction
    from .sim import DiscordSim

NONCE_WINDOW_S = 300  # Discord de-duplicates enforce_nonce posts "in the past few minutes"


class Store:
    def __init__(self, sim: "DiscordSim") -> None:
        self.sim = sim
        self.messages: dict[int, model.Message] = {}
        self.by_channel: dict[int, list[model.Message]] = collections.defaultdict(list)
        self.files: dict[int, model.Attachment] = {}
        self._nonces: dict[tuple[int, int, str], tuple[model.Message, float]] = {}

    # ---- files ---------------------------------------------------------------------------

    def new_attachment(self, channel_id: int, filename: str, data: bytes, content_type: str | None, *,
                       description: str | None = None, ephemeral: bool = False) -> model.Attachment:
        # Discord stores names with spaces as underscores; the URL is served by the sim itself.
        name = filename.replace(" ", "_") or "unknown"
        att_id = self.sim.ids.next()
        url = f"{self.sim.base_url}/attachments/{channel_id}/{att_id}/{quote(name)}"
        att = model.Attachment(att_id, name, data, content_type or guess_type(name), url, description, ephemeral)
        self.files[att_id] = att
        return att

    def _attachments(self, channel: model.Channel, body: Body, existing: list[model.Attachment],
                     size_limit: int | None) -> list[model.Attachment]:
        limit = size_limit if size_limit is not None else self.sim.upload_limit_for(channel)
        for upload in body.uploads:
            if len(upload.data) > limit:
                raise ApiError(413, errors.ENTITY_TOO_LARGE, "Request entity too large", rule="attachment_too_large",
                               detail=f"{upload.filename!r} is {len(upload.data)} bytes; the limit here is {limit}")
        described = {str(d.get("id")): d for d in body.json.get("attachments") or [] if isinstance(d, dict)}
        if "attachments" in body.json:
            kept = [a for a in existing if str(a.id) in described]
        else:
            kept = list(existing)
        added = []
        for upload in body.uploads:
            info = described.get(str(upload.index), {})
            declared = upload.content_type if upload.content_type not in (None, "application/octet-stream") else None
            added.append(self.new_attachment(channel.id, info.get("filename") or upload.filename, upload.data,
                                             declared, description=info.get("description")))
        return kept + added

    # ---- messages ------------------------------------------------------------------------

    def create(self, channel: model.Channel, *, author_id: int, body: Body,
               interaction: "SimInteraction | None" = None, ephemeral_to: int | None = None,
               loading: bool = False, size_limit: int | None = None, type: int = 0,
               webhook: bool = False) -> model.Message:
        data = body.json
        nonce = data.get("nonce")
        key = (channel.id, author_id, str(nonce))
        if nonce is not None and data.get("enforce_nonce"):
            found = self._nonces.get(key)
            if found and self.sim.clock.now() - found[1] < NONCE_WINDOW_S and not found[0].deleted:
                return found[0]
        flags = int(data.get("flags") or 0) & CREATE_FLAGS & ~model.FLAG_EPHEMERAL
        if ephemeral_to is not None:
            flags |= model.FLAG_EPHEMERAL
        if loading:
            flags |= model.FLAG_LOADING
        msg = model.Message(
            id=self.sim.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author_id=author_id,
            content=data.get("content") or "",
            timestamp=self.sim.clock.iso(),
            embeds=_embeds(data),
            components=normalize_components(data.get("components")),
            flags=flags,
            type=type,
            nonce=nonce,
            visible_to=ephemeral_to,
            reference=self._reference(channel, data.get("message_reference")),
        )
        msg.attachments = self._attachments(channel, body, [], size_limit)
        for att in msg.attachments:
            att.ephemeral = ephemeral_to is not None
        if interaction is not None or webhook:
            msg.webhook_id = self.sim.application_id
        if interaction is not None:
            msg.interaction_id = interaction.id
            msg.interaction_meta = interaction.metadata()
        self.messages[msg.id] = msg
        self.by_channel[channel.id].append(msg)
        if nonce is not None:
            self._nonces[key] = (msg, self.sim.clock.now())
        if not msg.ephemeral:
            channel.last_message_id = msg.id
            channel.message_count += 1
            self._dispatch("MESSAGE_CREATE", msg)
        self.sim.changed("message", msg)
        return msg

    def _reference(self, channel: model.Channel, ref: Any) -> dict[str, Any] | None:
        if not isinstance(ref, dict) or not ref.get("message_id"):
            return None
        target = self.messages.get(int(ref["message_id"]))
        if target is None or target.deleted or target.ephemeral:
            if ref.get("fail_if_not_exists", True):
                raise form_error("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message",
                                 rule="unknown_reference")
            return None
        out = {"type": 0, "message_id": str(target.id), "channel_id": str(target.channel_id)}
        if target.guild_id:
            out["guild_id"] = str(target.guild_id)
        return out

    def edit(self, msg: model.Message, body: Body, *, size_limit: int | None = None,
             resolve_loading: bool = False) -> model.Message:
        data = body.json
        channel = self.sim.channels[msg.channel_id]
        content = (data.get("content") or "") if "content" in data else msg.content
        embeds = _embeds(data) if ("embeds" in data or "embed" in data) else msg.embeds
        components = normalize_components(data.get("components")) if "components" in data else msg.components
        attachments = self._attachments(channel, body, msg.attachments, size_limit)
        if not (content or embeds or components or attachments):
            raise ApiError(400, errors.EMPTY_MESSAGE, "Cannot send an empty message", rule="empty_message",
                           detail=f"an edit would leave message {msg.id} empty")
        msg.edits.append({
            "content": msg.content, "embeds": copy.deepcopy(msg.embeds), "components": copy.deepcopy(msg.components),
            "attachments": [a.filename for a in msg.attachments], "flags": msg.flags,
            "edited_timestamp": msg.edited_timestamp,
        })
        msg.content, msg.embeds, msg.components, msg.attachments = content, embeds, components, attachments
        if msg.ephemeral:
            for att in attachments:
                att.ephemeral = True
        if "flags" in data and data["flags"] is not None:
            wanted = int(data["flags"]) & FLAG_SUPPRESS_EMBEDS
            msg.flags = (msg.flags & ~FLAG_SUPPRESS_EMBEDS) | wanted
        was_loading = msg.loading
        if resolve_loading or msg.loading:
            msg.flags &= ~model.FLAG_LOADING
        if not was_loading:
            msg.edited_timestamp = self.sim.clock.iso()
        if not msg.ephemeral:
            self._dispatch("MESSAGE_UPDATE", msg)
        self.sim.changed("message", msg)
        return msg

    def delete(self, msg: model.Message) -> None:
        msg.deleted = True
        self.by_channel[msg.channel_id].remove(msg)
        self.sim.changed("delete", msg)
        if msg.ephemeral:
            return
        data: dict[str, Any] = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
        if msg.guild_id is not None:
            data["guild_id"] = str(msg.guild_id)
        channel = self.sim.channels[msg.channel_id]
        intent = gateway.DIRECT_MESSAGES if channel.is_dm else gateway.GUILD_MESSAGES
        self.sim.gateway.dispatch("MESSAGE_DELETE", data, guild_id=msg.guild_id, intent=intent)

    def get(self, channel_id: int, message_id: int) -> model.Message:
        """A message the bot can read through channel routes (ephemeral ones are invisible there)."""
        msg = self.messages.get(message_id)
        if msg is None or msg.deleted or msg.channel_id != channel_id or msg.ephemeral:
            raise errors.unknown("Message", errors.UNKNOWN_MESSAGE)
        return msg

    def _dispatch(self, event: str, msg: model.Message) -> None:
        channel = self.sim.channels[msg.channel_id]
        intent = gateway.DIRECT_MESSAGES if channel.is_dm else gateway.GUILD_MESSAGES
        full = payloads.message(self.sim, msg)
        hide = channel.guild is not None and msg.author_id != self.sim.bot_user.id

        def build(session: gateway.Session) -> dict[str, Any]:
            if hide and not session.intents & gateway.MESSAGE_CONTENT:
                # Without the MESSAGE_CONTENT intent Discord blanks other users' guild messages.
                return full | {"content": "", "embeds": [], "attachments": [], "components": []}
            return full

        self.sim.gateway.dispatch(event, full, guild_id=msg.guild_id, intent=intent, build=build)


def _embeds(data: dict[str, Any]) -> list[dict[str, Any]]:
    embeds = data.get("embeds")
    if embeds is None and data.get("embed") is not None:
        embeds = [data["embed"]]
    out = []
    for embed in embeds or []:
        if isinstance(embed, dict):
            out.append({"type": "rich", **embed})
    return out


def normalize_components(items: Any) -> list[dict[str, Any]]:
    """The bot's components, with the numeric `id`s Discord assigns to any that lack one."""
    components = copy.deepcopy(items) if isinstance(items, list) else []
    counter = [0]
    taken: set[int] = set()

    def collect(nodes: list[Any]) -> None:
        for node in nodes:
            if isinstance(node, dict):
                if isinstance(node.get("id"), int):
                    taken.add(node["id"])
                collect(node.get("components") or [])
                for key in ("accessory", "component"):
                    if isinstance(node.get(key), dict):
                        collect([node[key]])

    def assign(nodes: list[Any]) -> None:
        for node in nodes:
            if not isinstance(node, dict):
                continue
            if not isinstance(node.get("id"), int):
                counter[0] += 1
                while counter[0] in taken:
                    counter[0] += 1
                node["id"] = counter[0]
            assign(node.get("components") or [])
            for key in ("accessory", "component"):
                if isinstance(node.get(key), dict):
                    assign([node[key]])

    collect(components)
    assign(components)
    return components
