"""The `data` of slash-command and modal-submit interactions, built like Discord's client does.

Options are typed from the command the bot registered; attachment options become resolved
attachments the sim serves over HTTP. With `check=True` the sim refuses what Discord's client
would not let a member send (missing required options, values outside choices or limits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import model, payloads
from .messages import modal_inputs_of

if TYPE_CHECKING:
    from .sim import DiscordSim

STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11


def build_command_data(sim: "DiscordSim", command: dict[str, Any], member: model.Member, channel: model.Channel,
                       options: dict[str, Any], attachments: dict[str, tuple[str, bytes, str | None]],
                       subcommand: str | None, *, check: bool, focused: str | None = None) -> dict[str, Any]:
    if check:
        check_visible(command, member, channel)
    definitions = command.get("options") or []
    path = subcommand.split() if subcommand else []
    chain: list[dict[str, Any]] = []
    for name in path:
        found = next((o for o in definitions if o.get("name") == name and o.get("type") in (1, 2)), None)
        if found is None:
            raise ValueError(f"/{command['name']} has no subcommand {name!r}")
        chain.append(found)
        definitions = found.get("options") or []
    if check and any(o.get("type") in (1, 2) for o in definitions):
        raise ValueError(f"/{command['name']} needs a subcommand: "
                         f"{[o['name'] for o in definitions if o.get('type') in (1, 2)]}")
    resolved: dict[str, dict[str, Any]] = {}
    values = [_option(sim, definitions, name, value, channel, resolved, check=check)
              for name, value in {**options, **attachments}.items()]
    if focused is not None:
        # Discord sends what the member has typed so far, unchecked, with the focused flag.
        if not any(o.get("name") == focused and o.get("autocomplete") for o in definitions):
            raise ValueError(f"option {focused!r} of /{command['name']} does not autocomplete")
        typed = next((v for v in values if v["name"] == focused), None)
        if typed is None:
            kind = next(o["type"] for o in definitions if o.get("name") == focused)
            typed = {"name": focused, "type": kind, "value": ""}
            values.append(typed)
        typed["focused"] = True
        typed["value"] = str(typed["value"])
    if check:
        missing = [o["name"] for o in definitions if o.get("required") and o["name"] not in options
                   and o["name"] not in attachments]
        if missing:
            raise ValueError(f"/{command['name']} needs the required option(s) {missing}")
    for group in reversed(chain):
        values = [{"type": group["type"], "name": group["name"], "options": values}]
    data: dict[str, Any] = {"id": command["id"], "name": command["name"], "type": 1, "options": values}
    if resolved:
        data["resolved"] = resolved
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    return data


def check_visible(command: dict[str, Any], member: model.Member, channel: model.Channel) -> None:
    if channel.is_dm:
        contexts = command.get("contexts")
        if command.get("guild_id") or command.get("dm_permission") is False or (contexts is not None and 1 not in contexts):
            raise ValueError(f"/{command['name']} is not available in DMs")
        return
    contexts = command.get("contexts")
    if contexts is not None and 0 not in contexts:
        raise ValueError(f"/{command['name']} is not available in servers")
    needed = command.get("default_member_permissions")
    if needed is not None and int(needed) & member.permissions != int(needed):
        raise ValueError(f"{member!r} cannot see /{command['name']} (needs permissions {needed}); "
                         "pass check=False to send it anyway")


def _guess_type(value: Any) -> int:
    if isinstance(value, tuple):
        return ATTACHMENT
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, model.Member):
        return USER
    if isinstance(value, model.Channel):
        return CHANNEL
    if isinstance(value, model.Role):
        return ROLE
    return STRING


def _option(sim: "DiscordSim", definitions: list[dict[str, Any]], name: str, value: Any, channel: model.Channel,
            resolved: dict[str, dict[str, Any]], *, check: bool) -> dict[str, Any]:
    definition = next((o for o in definitions if o.get("name") == name), None)
    if definition is None and check:
        raise ValueError(f"unknown option {name!r}; the command has {[o.get('name') for o in definitions]}")
    kind = definition["type"] if definition else _guess_type(value)
    if kind == ATTACHMENT:
        if not isinstance(value, tuple) or len(value) not in (2, 3):
            raise ValueError(f"option {name!r} takes an attachment: (filename, bytes[, content_type])")
        filename, data = value[0], value[1]
        content_type = value[2] if len(value) == 3 else None
        att = sim.store.new_attachment(channel.id, filename, bytes(data), content_type, ephemeral=True)
        resolved.setdefault("attachments", {})[str(att.id)] = payloads.attachment(att)
        return {"name": name, "type": kind, "value": str(att.id)}
    if kind == USER or (kind == MENTIONABLE and isinstance(value, model.Member)):
        target = value if isinstance(value, model.Member) else None
        if target is None:
            raise ValueError(f"option {name!r} takes a Member")
        resolved.setdefault("users", {})[str(target.id)] = payloads.user(target.user)
        if target.guild is not None:
            resolved.setdefault("members", {})[str(target.id)] = payloads.member(
                target, with_user=False, permissions=target.permissions)
        return {"name": name, "type": kind, "value": str(target.id)}
    if kind == CHANNEL:
        if not isinstance(value, model.Channel):
            raise ValueError(f"option {name!r} takes a Channel")
        partial = payloads.channel(sim, value) | {"permissions": str(model.EVERYONE_PERMISSIONS)}
        resolved.setdefault("channels", {})[str(value.id)] = partial
        return {"name": name, "type": kind, "value": str(value.id)}
    if kind in (ROLE, MENTIONABLE):
        if not isinstance(value, model.Role):
            raise ValueError(f"option {name!r} takes a Role")
        resolved.setdefault("roles", {})[str(value.id)] = payloads.role(value)
        return {"name": name, "type": kind, "value": str(value.id)}
    converted = _scalar(name, kind, value)
    if check and definition is not None:
        _check_value(definition, converted)
    return {"name": name, "type": kind, "value": converted}


def _scalar(name: str, kind: int, value: Any) -> Any:
    try:
        if kind == STRING:
            return str(value)
        if kind == INTEGER:
            return int(value)
        if kind == NUMBER:
            return float(value)
        if kind == BOOLEAN:
            return bool(value)
    except (TypeError, ValueError):
        raise ValueError(f"option {name!r}: {value!r} is not a valid value of type {kind}") from None
    raise ValueError(f"option {name!r} has type {kind}, which the sim does not fill from {value!r}")


def _check_value(definition: dict[str, Any], value: Any) -> None:
    name = definition["name"]
    choices = definition.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise ValueError(f"option {name!r}: {value!r} is not one of {[c['value'] for c in choices]}")
    if isinstance(value, str):
        if len(value) < (definition.get("min_length") or 0):
            raise ValueError(f"option {name!r} is shorter than {definition['min_length']}")
        if definition.get("max_length") is not None and len(value) > definition["max_length"]:
            raise ValueError(f"option {name!r} is longer than {definition['max_length']} (Discord's client "
                             "would stop the member); pass check=False to send it anyway")
        if len(value) > 6000:
            raise ValueError(f"option {name!r} is longer than Discord's 6000-character limit")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if definition.get("min_value") is not None and value < definition["min_value"]:
            raise ValueError(f"option {name!r}: {value} < {definition['min_value']}")
        if definition.get("max_value") is not None and value > definition["max_value"]:
            raise ValueError(f"option {name!r}: {value} > {definition['max_value']}")


def build_modal_data(modal: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The `data` of a modal submit: the modal's structure with each input's submitted value."""
    inputs = {field.get("custom_id"): field for item in modal.get("components", []) for field in modal_inputs_of(item)}
    unknown = set(values) - set(inputs)
    if unknown:
        raise ValueError(f"the modal has no input(s) {sorted(unknown)}; it has {sorted(map(str, inputs))}")
    components = []
    for item in modal.get("components", []):
        if item.get("type") == 1:
            components.append({"type": 1, "id": item.get("id"),
                               "components": [_submitted(field, values) for field in item.get("components") or []]})
        elif item.get("type") == 18 and isinstance(item.get("component"), dict):
            components.append({"type": 18, "id": item.get("id"), "component": _submitted(item["component"], values)})
        elif item.get("type") == 10:
            components.append({"type": 10, "id": item.get("id"), "content": item.get("content", "")})
    return {"custom_id": modal["custom_id"], "components": components}


def _submitted(field: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    custom_id = field.get("custom_id")
    if field.get("type") != 4:
        chosen = values.get(custom_id)
        return {"type": field.get("type"), "id": field.get("id"), "custom_id": custom_id,
                "values": list(chosen) if isinstance(chosen, (list, tuple)) else ([] if chosen is None else [chosen])}
    value = values.get(custom_id, field.get("value") or "")
    if field.get("required", True) and not value:
        raise ValueError(f"modal input {custom_id!r} is required")
    if value and len(value) < (field.get("min_length") or 0):
        raise ValueError(f"modal input {custom_id!r} is shorter than {field['min_length']}")
    if field.get("max_length") is not None and len(value) > field["max_length"]:
        raise ValueError(f"modal input {custom_id!r} is longer than {field['max_length']}")
    return {"type": 4, "id": field.get("id"), "custom_id": custom_id, "value": value}
