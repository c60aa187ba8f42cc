"""Interactions: the payloads Discord dispatches, and the rules for answering them.

A `SimInteraction` is what a test holds after `sim.slash/click/submit_modal`. It records every
callback the bot made (accepted or refused), the original response message, the followups,
and it enforces: first response within 3 s, one acknowledgement, modal only as the first
response, the 15-minute token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING, Any

from . import errors, model, payloads
from .errors import ApiError, form_error
from .messages import Body, check_message, check_modal
from .store import normalize_components

if TYPE_CHECKING:
    from .sim import DiscordSim

APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 1, 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9
RESPONSE_DEADLINE_S = 3.0
TOKEN_LIFETIME_S = 15 * 60

# Which callback types Discord accepts first for each interaction type.
ALLOWED_CALLBACKS = {
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL},
    MODAL_SUBMIT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE},
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
}
CALLBACK_NAMES = {1: "PONG", 4: "CHANNEL_MESSAGE_WITH_SOURCE", 5: "DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE",
                  6: "DEFERRED_UPDATE_MESSAGE", 7: "UPDATE_MESSAGE", 8: "AUTOCOMPLETE_RESULT", 9: "MODAL"}


@dataclasses.dataclass(eq=False)
class Response:
    """One interaction callback the bot sent, as recorded (refused ones too: `accepted` False)."""

    type: int
    data: dict[str, Any] | None
    latency: float  # seconds from dispatch to the sim receiving the callback
    accepted: bool
    status: int
    attachments: list[model.Attachment] = dataclasses.field(default_factory=list)

    @property
    def content(self) -> str | None:
        return (self.data or {}).get("content")

    @property
    def flags(self) -> int:
        return int((self.data or {}).get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & model.FLAG_EPHEMERAL)

    @property
    def modal(self) -> dict[str, Any] | None:
        return self.data if self.type == MODAL else None

    @property
    def choices(self) -> list[dict[str, Any]]:
        """Autocomplete suggestions ({"name", "value"}), for an AUTOCOMPLETE_RESULT."""
        return list((self.data or {}).get("choices") or []) if self.type == AUTOCOMPLETE_RESULT else []

    def __repr__(self) -> str:
        ok = "" if self.accepted else " REFUSED"
        return f"Response({CALLBACK_NAMES.get(self.type, self.type)}{ok}, {self.latency * 1000:.0f} ms, {self.data!r:.120})"


class SimInteraction:
    """An interaction a member started, and everything the bot did with it."""

    def __init__(self, sim: "DiscordSim", *, type: int, member: model.Member, channel: model.Channel,
                 data: dict[str, Any], source_message: model.Message | None = None,
                 parent: "SimInteraction | None" = None, command_name: str | None = None) -> None:
        self.sim = sim
        self.id = sim.ids.next()
        self.token = f"sim-ix-{self.id}-{sim.secret_suffix()}"
        self.type = type
        self.member = member
        self.user = member.user
        self.channel = channel
        self.guild = channel.guild
        self.data = data
        self.source_message = source_message
        self.parent = parent
        self.command_name = command_name
        self.created_at = sim.clock.now()
        self._started = time.monotonic()
        self.responses: list[Response] = []
        self.response: Response | None = None
        self.message: model.Message | None = None
        self.followups: list[model.Message] = []
        self.modal: dict[str, Any] | None = None
        self.payload: dict[str, Any] = {}
        self._changed = asyncio.Event()
        self._deadline_handle: asyncio.TimerHandle | None = None
        self._deadline_reported = False
        self.modal_submitted = False  # a modal closes once submitted

    # ---- what the member saw --------------------------------------------------------------

    @property
    def ephemeral(self) -> list[model.Message]:
        """The ephemeral messages this interaction showed its member (original and followups)."""
        seen: list[model.Message] = []
        for msg in [self.message, *self.followups]:
            if msg is not None and msg.ephemeral and not msg.deleted and msg not in seen:
                seen.append(msg)
        return seen

    @property
    def attachment_size_limit(self) -> int:
        return self.guild.attachment_size_limit if self.guild else self.sim.dm_attachment_size_limit

    @property
    def expired(self) -> bool:
        return self.sim.clock.now() - self.created_at > TOKEN_LIFETIME_S

    async def wait_response(self, timeout: float = 5) -> Response:
        """The first accepted response (type 4/5/6/7/9), waiting up to `timeout` seconds for it."""
        await self._wait(lambda: self.response is not None, timeout, "an interaction response")
        assert self.response is not None
        return self.response

    async def wait_followups(self, count: int = 1, timeout: float = 10) -> list[model.Message]:
        await self._wait(lambda: len(self.followups) >= count, timeout, f"{count} followup(s)")
        return self.followups

    async def wait_message(self, timeout: float = 10) -> model.Message:
        """The original response message once it is no longer "thinking"."""
        await self._wait(lambda: self.message is not None and not self.message.loading, timeout,
                         "a resolved original response")
        assert self.message is not None
        return self.message

    async def _wait(self, ready: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {what} to interaction {self.id} within {timeout} s; "
                                   f"responses so far: {self.responses}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    def _notify(self) -> None:
        self._changed.set()

    # ---- the 3-second rule ----------------------------------------------------------------

    def start_deadline(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline_handle = loop.call_later(RESPONSE_DEADLINE_S, self._deadline_passed)

    def _deadline_passed(self) -> None:
        if self.response is None and not self._deadline_reported:
            self._deadline_reported = True
            self.sim.violate("response_within_3s",
                             f"interaction {self.id} ({self.describe()}) got no response within 3 s")

    def describe(self) -> str:
        if self.type == APPLICATION_COMMAND:
            return f"/{self.command_name}"
        if self.type == AUTOCOMPLETE:
            return f"autocomplete of /{self.command_name}"
        if self.type == MESSAGE_COMPONENT:
            return f"click {self.data.get('custom_id')!r}"
        return f"modal submit {self.data.get('custom_id')!r}"

    # ---- callbacks (POST /interactions/{id}/{token}/callback) -------------------------------

    def callback(self, cb_type: int, data: dict[str, Any] | None, body: Body) -> dict[str, Any]:
        elapsed = time.monotonic() - self._started
        record = Response(cb_type, data, elapsed, False, 400)
        self.responses.append(record)
        try:
            return self._callback(record, cb_type, data, body, elapsed)
        except ApiError as exc:
            record.status = exc.status
            raise

    def _callback(self, record: Response, cb_type: int, data: dict[str, Any] | None, body: Body,
                  elapsed: float) -> dict[str, Any]:
        if self.response is not None:
            first = CALLBACK_NAMES.get(self.response.type, self.response.type)
            if cb_type == MODAL:
                raise ApiError(400, errors.ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged.",
                               rule="modal_not_first",
                               detail=f"a modal sent to {self.describe()} after it was answered with {first}")
            raise ApiError(400, errors.ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged.",
                           rule="second_ack",
                           detail=f"second response {CALLBACK_NAMES.get(cb_type, cb_type)} to {self.describe()} "
                                  f"after {first}")
        if elapsed > RESPONSE_DEADLINE_S:
            rule = None if self._deadline_reported else "response_within_3s"
            self._deadline_reported = True
            raise ApiError(404, errors.UNKNOWN_INTERACTION, "Unknown interaction", rule=rule,
                           detail=f"first response to {self.describe()} after {elapsed:.2f} s")
        if cb_type not in ALLOWED_CALLBACKS[self.type]:
            raise ApiError(400, 50035, "Invalid Form Body", rule="invalid_callback_type",
                           detail=f"{CALLBACK_NAMES.get(cb_type, cb_type)} is not a valid response to "
                                  f"{self.describe()}",
                           errors={"type": {"_errors": [{"code": "INTERACTION_CALLBACK_TYPE_INVALID",
                                                         "message": "Interaction callback type is not valid"}]}})
        if cb_type in (DEFERRED_UPDATE, UPDATE_MESSAGE) and self.source_message is None:
            raise ApiError(400, 50035, "Invalid Form Body", rule="invalid_callback_type",
                           detail=f"{CALLBACK_NAMES[cb_type]} to {self.describe()}, which has no message to update")
        resource = self._apply(cb_type, {} if data is None else data, body)
        record.accepted, record.status = True, 200
        record.attachments = list(self.message.attachments) if self.message and cb_type in (4, 7) else []
        self.response = record
        if self._deadline_handle is not None:
            self._deadline_handle.cancel()
        self._notify()
        return {
            "interaction": {
                "id": str(self.id),
                "type": self.type,
                "response_message_id": str(self.message.id) if self.message else None,
                "response_message_loading": cb_type == DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": bool(self.message and self.message.ephemeral),
            },
            "resource": resource,
        }

    def _apply(self, cb_type: int, data: dict[str, Any], body: Body) -> dict[str, Any]:
        sim = self.sim
        if not isinstance(data, dict):
            raise form_error("data", "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType",
                             rule="invalid_form_body")
        flags = data.get("flags")
        if flags is not None and (not isinstance(flags, int) or isinstance(flags, bool)):
            raise form_error("data.flags", "NUMBER_TYPE_COERCE", "Value is not int.", rule="invalid_form_body")
        ephemeral = bool(int(data.get("flags") or 0) & model.FLAG_EPHEMERAL)
        if cb_type == CHANNEL_MESSAGE:
            message_body = Body(data, body.uploads)
            check_message(message_body, strict=sim.strict, creating=True)
            self.message = sim.store.create(
                self.channel, author_id=sim.bot_user.id, body=message_body, interaction=self,
                ephemeral_to=self.user.id if ephemeral else None, size_limit=self.attachment_size_limit,
                type=20 if self.type == APPLICATION_COMMAND else 0)
            return {"type": cb_type, "message": payloads.message(sim, self.message)}
        if cb_type == DEFERRED_CHANNEL_MESSAGE:
            self.message = sim.store.create(
                self.channel, author_id=sim.bot_user.id, body=Body({"content": ""}, []), interaction=self,
                ephemeral_to=self.user.id if ephemeral else None, loading=True,
                type=20 if self.type == APPLICATION_COMMAND else 0)
            return {"type": cb_type, "message": payloads.message(sim, self.message)}
        if cb_type == DEFERRED_UPDATE:
            self.message = self.source_message
            return {"type": cb_type}
        if cb_type == UPDATE_MESSAGE:
            assert self.source_message is not None
            message_body = Body(data, body.uploads)
            check_message(message_body, strict=sim.strict, creating=False)
            self.message = sim.store.edit(self.source_message, message_body, size_limit=self.attachment_size_limit)
            return {"type": cb_type, "message": payloads.message(sim, self.message)}
        if cb_type == AUTOCOMPLETE_RESULT:
            choices = data.get("choices")
            if not isinstance(choices, list) or not all(isinstance(c, dict) and "name" in c and "value" in c
                                                        for c in choices):
                raise form_error("data.choices", "MODEL_TYPE_CONVERT", "Choices are {name, value} objects.",
                                 rule="invalid_form_body")
            if len(choices) > 25:
                raise form_error("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.",
                                 rule="autocomplete_limits")
            return {"type": cb_type}
        # MODAL
        check_modal(data, strict=sim.strict)
        self.modal = {**data, "components": normalize_components(data.get("components"))}
        return {"type": cb_type}

    # ---- the webhook token (followups, @original) ------------------------------------------

    def check_token(self, action: str) -> None:
        if self.expired:
            raise ApiError(401, errors.INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token", rule="token_expired",
                           detail=f"{action} for {self.describe()} more than 15 minutes after the interaction")
        if self.response is None:
            raise ApiError(404, errors.UNKNOWN_WEBHOOK, "Unknown Webhook", rule="followup_before_response",
                           detail=f"{action} for {self.describe()} before any interaction response")
        if self.response.type == MODAL:
            raise ApiError(404, errors.UNKNOWN_WEBHOOK, "Unknown Webhook", rule="followup_after_modal",
                           detail=f"{action} for {self.describe()}, which was answered with a modal")

    def followup(self, body: Body) -> model.Message:
        sim = self.sim
        self.check_token("followup")
        check_message(body, strict=sim.strict, creating=True)
        original = self.message
        if original is not None and original.loading and self.response and \
                self.response.type == DEFERRED_CHANNEL_MESSAGE:
            # Discord: the first followup after a "thinking" defer becomes the deferred message;
            # its ephemerality was fixed by the defer, the followup's flag is ignored.
            msg = sim.store.edit(original, body, size_limit=self.attachment_size_limit, resolve_loading=True)
        else:
            ephemeral = bool(int(body.json.get("flags") or 0) & model.FLAG_EPHEMERAL)
            msg = sim.store.create(self.channel, author_id=sim.bot_user.id, body=body, interaction=self,
                                   ephemeral_to=self.user.id if ephemeral else None,
                                   size_limit=self.attachment_size_limit)
        self.followups.append(msg)
        self._notify()
        return msg

    def find_message(self, message_id: str) -> model.Message:
        """@original or one of this interaction's followups."""
        if message_id == "@original":
            if self.message is None or self.message.deleted:
                raise errors.unknown("Message", errors.UNKNOWN_MESSAGE)
            return self.message
        for msg in self.followups:
            if str(msg.id) == message_id and not msg.deleted:
                return msg
        raise errors.unknown("Message", errors.UNKNOWN_MESSAGE)

    def metadata(self) -> dict[str, Any]:
        """`interaction_metadata` and the deprecated `interaction` of messages this interaction made."""
        meta: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "user": payloads.user(self.user),
            "authorizing_integration_owners": owners(self.guild),
        }
        if self.type == APPLICATION_COMMAND:
            meta.update(name=self.command_name, command_type=self.data.get("type", 1))
        elif self.type == MESSAGE_COMPONENT and self.source_message is not None:
            meta["interacted_message_id"] = str(self.source_message.id)
        elif self.type == MODAL_SUBMIT and self.parent is not None:
            meta["triggering_interaction_metadata"] = self.parent.metadata()["metadata"]
        legacy: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "name": self.command_name or str(self.data.get("custom_id", "")),
            "user": payloads.user(self.user),
        }
        if self.guild is not None:
            legacy["member"] = payloads.member(self.member, with_user=False)
        return {"metadata": meta, "interaction": legacy}

    def __repr__(self) -> str:
        return f"SimInteraction({self.id}, {self.describe()}, response={self.response!r})"


def owners(guild: model.Guild | None) -> dict[str, str]:
    return {"0": str(guild.id)} if guild else {"0": "0"}


def base_payload(sim: "DiscordSim", ix: SimInteraction) -> dict[str, Any]:
    """The fields every interaction carries (discord.py's `Interaction._from_data` reads them)."""
    channel = ix.channel
    guild = ix.guild
    payload: dict[str, Any] = {
        "id": str(ix.id),
        "application_id": str(sim.application_id),
        "type": ix.type,
        "token": ix.token,
        "version": 1,
        "channel_id": str(channel.id),
        "app_permissions": str(sim.bot_permissions_in(channel)),
        "locale": "en-US",
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": owners(guild),
        "context": 0 if guild else 1,
        "attachment_size_limit": ix.attachment_size_limit,
        "data": ix.data,
    }
    channel_payload = payloads.channel(sim, channel)
    if guild is not None:
        permissions = sim.member_permissions_in(ix.member, channel)
        channel_payload["permissions"] = str(permissions)
        payload.update(
            guild_id=str(guild.id),
            guild={"id": str(guild.id), "locale": guild.locale, "features": []},
            guild_locale=guild.locale,
            member=payloads.member(ix.member, permissions=permissions),
        )
    else:
        channel_payload["permissions"] = str(model.ALL_PERMISSIONS & ~model.ADMINISTRATOR)
        payload["user"] = payloads.user(ix.user)
    payload["channel"] = channel_payload
    if ix.source_message is not None:
        payload["message"] = payloads.message(sim, ix.source_message)
    return payload
