"""Message bodies the bot sends: parsed from JSON or multipart, checked against Discord's limits.

Used by every route that creates or edits a message (channel messages, interaction callbacks,
webhook followups), so the limits are enforced the same way everywhere.
"""

from __future__ import annotations

import dataclasses
import mimetypes
from typing import Any

from . import errors
from .errors import ApiError, form_error

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_FILES = 10
MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80
EMBED_TOTAL = 6000
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15
CREATE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_EPHEMERAL | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2


@dataclasses.dataclass
class Upload:
    """One `files[n]` part of a multipart request."""

    index: int
    filename: str
    data: bytes
    content_type: str | None


@dataclasses.dataclass
class Body:
    """A request body: the JSON object (or `payload_json`) and any uploaded files."""

    json: dict[str, Any]
    uploads: list[Upload]


def guess_type(filename: str) -> str | None:
    return mimetypes.guess_type(filename)[0]


FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "content": (str,), "embeds": (list,), "components": (list,), "flags": (int,), "attachments": (list,),
    "message_reference": (dict,), "nonce": (str, int), "tts": (bool,), "allowed_mentions": (dict,),
    "sticker_ids": (list,), "poll": (dict,), "enforce_nonce": (bool,),
}


def _type_error(field: str, types: tuple[type, ...]) -> ApiError:
    names = " or ".join(t.__name__ for t in types)
    return form_error(field, "MODEL_TYPE_CONVERT", f"Must be {names}.", rule="invalid_form_body")


def _is(value: Any, types: tuple[type, ...]) -> bool:
    # bool is an int in Python, not in Discord's schema
    return isinstance(value, types) and (bool in types or not isinstance(value, bool))


def check_types(data: Any) -> None:
    """Discord validates field types whatever the mode: a wrong type is 400 Invalid Form Body."""
    if not isinstance(data, dict):
        raise _type_error("_root", (dict,))
    for key, types in FIELD_TYPES.items():
        value = data.get(key)
        if value is not None and not _is(value, types):
            raise _type_error(key, types)
    for i, embed in enumerate(data.get("embeds") or []):
        if not isinstance(embed, dict):
            raise _type_error(f"embeds.{i}", (dict,))
        for key in ("title", "description", "url", "color"):
            if embed.get(key) is not None and not _is(embed[key], (int,) if key == "color" else (str,)):
                raise _type_error(f"embeds.{i}.{key}", (int,) if key == "color" else (str,))
        for key in ("footer", "author", "image", "thumbnail", "video"):
            if embed.get(key) is not None and not isinstance(embed[key], dict):
                raise _type_error(f"embeds.{i}.{key}", (dict,))
        fields = embed.get("fields")
        if fields is not None and (not isinstance(fields, list) or not all(isinstance(f, dict) for f in fields)):
            raise _type_error(f"embeds.{i}.fields", (list,))
        for j, field in enumerate(fields or []):
            for key in ("name", "value"):
                if field.get(key) is not None and not isinstance(field[key], str):
                    raise _type_error(f"embeds.{i}.fields.{j}.{key}", (str,))
    for i, item in enumerate(data.get("attachments") or []):
        if not isinstance(item, dict):
            raise _type_error(f"attachments.{i}", (dict,))
        for key in ("filename", "description"):
            if item.get(key) is not None and not isinstance(item[key], str):
                raise _type_error(f"attachments.{i}.{key}", (str,))
    check_component_types(data.get("components") or [], "components")
    reference = data.get("message_reference")
    if reference is not None and reference.get("message_id") is not None:
        try:
            int(reference["message_id"])
        except (TypeError, ValueError):
            raise form_error("message_reference.message_id", "NUMBER_TYPE_COERCE", "Value is not snowflake.",
                             rule="invalid_form_body") from None


def check_component_types(items: Any, path: str) -> None:
    """Every component is an object with an int `type`; nested lists are lists."""
    if not isinstance(items, list):
        raise _type_error(path, (list,))
    for i, item in enumerate(items):
        here = f"{path}.{i}"
        if not isinstance(item, dict) or not _is(item.get("type"), (int,)):
            raise _type_error(here, (dict,))
        for key in ("custom_id", "label", "url", "placeholder", "value", "content"):
            if item.get(key) is not None and not isinstance(item[key], str):
                raise _type_error(f"{here}.{key}", (str,))
        for key in ("style", "min_length", "max_length", "min_values", "max_values"):
            if item.get(key) is not None and not _is(item[key], (int,)):
                raise _type_error(f"{here}.{key}", (int,))
        if "components" in item and item["components"] is not None:
            check_component_types(item["components"], f"{here}.components")
        for key in ("accessory", "component"):
            if item.get(key) is not None:
                check_component_types([item[key]], f"{here}.{key}")


def check_message(body: Body, *, strict: bool, creating: bool) -> None:
    """Raise ApiError for what Discord would refuse in a message create/edit body."""
    data = body.json
    check_types(data)
    content = data.get("content")
    embeds = data.get("embeds") or []
    components = data.get("components") or []
    if creating and not (content or embeds or components or body.uploads or data.get("sticker_ids")
                         or data.get("poll") or data.get("attachments")):
        raise ApiError(400, errors.EMPTY_MESSAGE, "Cannot send an empty message", rule="empty_message",
                       detail="a message with no content, embeds, components or files")
    if len(body.uploads) > MAX_FILES:
        raise form_error("files", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_FILES} or fewer in length.",
                         rule="message_limits")
    if not strict:
        return
    if content is not None and not isinstance(content, str):
        raise form_error("content", "STRING_TYPE_CONVERT", "Could not interpret value as string.",
                         rule="message_limits")
    if content and len(content) > MAX_CONTENT:
        raise form_error("content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length.",
                         rule="message_limits")
    _check_embeds(embeds)
    v2 = bool((data.get("flags") or 0) & FLAG_COMPONENTS_V2)
    if v2 and (content or embeds):
        raise form_error("content" if content else "embeds", "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                         "The 'content' and 'embeds' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2",
                         rule="message_limits")
    check_components(components, v2=v2)


def _check_embeds(embeds: list[Any]) -> None:
    if len(embeds) > MAX_EMBEDS:
        raise form_error("embeds", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length.",
                         rule="message_limits")
    total = 0
    limits = {"title": 256, "description": 4096}
    for i, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            raise form_error(f"embeds.{i}", "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType",
                             rule="message_limits")
        for key, limit in limits.items():
            text = embed.get(key) or ""
            total += len(text)
            if len(text) > limit:
                raise form_error(f"embeds.{i}.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.",
                                 rule="message_limits")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise form_error(f"embeds.{i}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.",
                             rule="message_limits")
        for j, field in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                text = field.get(key) or ""
                total += len(text)
                if not text:
                    raise form_error(f"embeds.{i}.fields.{j}.{key}", "BASE_TYPE_REQUIRED", "This field is required",
                                     rule="message_limits")
                if len(text) > limit:
                    raise form_error(f"embeds.{i}.fields.{j}.{key}", "BASE_TYPE_MAX_LENGTH",
                                     f"Must be {limit} or fewer in length.", rule="message_limits")
        total += len((embed.get("footer") or {}).get("text") or "") + len((embed.get("author") or {}).get("name") or "")
    if total > EMBED_TOTAL:
        raise form_error("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000",
                         rule="message_limits")


def check_components(components: list[Any], *, v2: bool) -> None:
    """Action rows, buttons and select menus as Discord validates them (custom ids unique per message)."""
    if not v2 and len(components) > 5:
        raise form_error("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.",
                         rule="message_limits")
    seen: set[str] = set()

    def walk(items: list[Any], path: str) -> None:
        for i, item in enumerate(items):
            here = f"{path}.{i}"
            if not isinstance(item, dict) or "type" not in item:
                raise form_error(here, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType",
                                 rule="message_limits")
            kind = item["type"]
            if kind == 1:
                children = item.get("components") or []
                if not children or len(children) > 5:
                    raise form_error(f"{here}.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.",
                                     rule="message_limits")
                walk(children, f"{here}.components")
                continue
            if kind == 2:
                _check_button(item, here)
            custom_id = item.get("custom_id")
            if custom_id is not None:
                if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
                    raise form_error(f"{here}.custom_id", "BASE_TYPE_BAD_LENGTH",
                                     f"Must be between 1 and {MAX_CUSTOM_ID} in length.", rule="message_limits")
                if custom_id in seen:
                    raise form_error(f"{here}.custom_id", "COMPONENT_CUSTOM_ID_DUPLICATED",
                                     "Component custom id cannot be duplicated", rule="message_limits")
                seen.add(custom_id)
            for key in ("components",):
                if isinstance(item.get(key), list):
                    walk(item[key], f"{here}.{key}")
            for key in ("accessory", "component"):
                if isinstance(item.get(key), dict):
                    walk([item[key]], f"{here}.{key}")

    walk(components, "components")


def _check_button(item: dict[str, Any], here: str) -> None:
    style = item.get("style")
    if style not in (1, 2, 3, 4, 5, 6):
        raise form_error(f"{here}.style", "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4, 5, 6}.",
                         rule="message_limits")
    if style == 5 and not item.get("url"):
        raise form_error(f"{here}.url", "BASE_TYPE_REQUIRED", "This field is required", rule="message_limits")
    if style in (1, 2, 3, 4) and not item.get("custom_id"):
        raise form_error(f"{here}.custom_id", "BASE_TYPE_REQUIRED", "This field is required", rule="message_limits")
    label = item.get("label")
    if label is not None and len(label) > MAX_BUTTON_LABEL:
        raise form_error(f"{here}.label", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_BUTTON_LABEL} or fewer in length.",
                         rule="message_limits")
    if style != 6 and not label and not item.get("emoji"):
        raise form_error(f"{here}", "BUTTON_COMPONENT_INVALID", "A button must have a label or an emoji",
                         rule="message_limits")


def check_modal(data: Any, *, strict: bool) -> None:
    """A type-9 modal: title ≤ 45, custom id ≤ 100, 1–5 rows/labels of text inputs."""
    if not isinstance(data, dict):
        raise form_error("data", "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType",
                         rule="invalid_form_body")
    for key in ("title", "custom_id"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise form_error(f"data.{key}", "BASE_TYPE_REQUIRED", "This field is required", rule="invalid_form_body")
    check_component_types(data.get("components"), "data.components")
    if not strict:
        return
    title = data.get("title") or ""
    if not 1 <= len(title) <= 45:
        raise form_error("data.title", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length.",
                         rule="modal_limits")
    custom_id = data.get("custom_id") or ""
    if not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
        raise form_error("data.custom_id", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.",
                         rule="modal_limits")
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        raise form_error("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.",
                         rule="modal_limits")
    for i, item in enumerate(components):
        for field in modal_inputs_of(item):
            _check_text_input(field, f"data.components.{i}")


def modal_inputs_of(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The input components inside one top-level modal component (action row or label)."""
    if item.get("type") == 1:
        return list(item.get("components") or [])
    if item.get("type") == 18 and isinstance(item.get("component"), dict):
        return [item["component"]]
    return []


def _check_text_input(field: dict[str, Any], here: str) -> None:
    if field.get("type") != 4:
        return
    if not 1 <= len(field.get("custom_id") or "") <= MAX_CUSTOM_ID:
        raise form_error(f"{here}.custom_id", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.",
                         rule="modal_limits")
    label = field.get("label")
    if label is not None and not 1 <= len(label) <= 45:
        raise form_error(f"{here}.label", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length.",
                         rule="modal_limits")
    value = field.get("value")
    if value is not None and len(value) > 4000:
        raise form_error(f"{here}.value", "BASE_TYPE_MAX_LENGTH", "Must be 4000 or fewer in length.",
                         rule="modal_limits")
    max_length = field.get("max_length")
    if max_length is not None and not 1 <= max_length <= 4000:
        raise form_error(f"{here}.max_length", "INT_TYPE_MAX", "int value should be between 1 and 4000",
                         rule="modal_limits")
