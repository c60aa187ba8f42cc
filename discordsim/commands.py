"""Application commands the bot registered (bulk overwrite, upsert, edit, delete), per scope.

A scope is None (global) or a guild id. Ids stay stable for a (name, type) across overwrites,
as on Discord. In strict mode definitions are checked the way Discord checks them.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from . import errors
from .errors import form_error

if TYPE_CHECKING:
    from .sim import DiscordSim

NAME = re.compile(r"^[-_\w]{1,32}$", re.UNICODE)
OPTION_TYPES = set(range(1, 12))
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2


class Registry:
    def __init__(self, sim: "DiscordSim") -> None:
        self.sim = sim
        self.scopes: dict[int | None, dict[int, dict[str, Any]]] = {}
        self._ids: dict[tuple[int | None, str, int], int] = {}
        self.overwrites = 0  # how many bulk overwrites happened (command sync should be explicit)

    def list(self, scope: int | None) -> list[dict[str, Any]]:
        return [copy.deepcopy(c) for c in self.scopes.get(scope, {}).values()]

    def find(self, guild_id: int | None, name: str, kind: int = 1) -> dict[str, Any] | None:
        """The command a member in this guild (or DM, None) would invoke by name: chat input
        (kind 1, a slash command), user (2) or message (3, a message's Apps menu)."""
        for scope in ([guild_id, None] if guild_id is not None else [None]):
            for command in self.scopes.get(scope, {}).values():
                if command["name"] == name and command.get("type", 1) == kind:
                    return command
        return None

    def overwrite(self, scope: int | None, body: Any, *, strict: bool) -> list[dict[str, Any]]:
        if not isinstance(body, list):
            raise form_error("_root", "ARRAY_TYPE_CONVERT", "Only iterables may be used in a ListType",
                             rule="invalid_command")
        seen: set[tuple[str, int]] = set()
        built = {}
        for i, definition in enumerate(body):
            command = self._build(scope, definition, strict=strict, where=str(i))
            key = (command["name"], command["type"])
            if key in seen:
                raise form_error(f"{i}.name", "APPLICATION_COMMANDS_DUPLICATE_NAME",
                                 f"Application command names must be unique ({command['name']})",
                                 rule="invalid_command")
            seen.add(key)
            built[int(command["id"])] = command
        self.scopes[scope] = built
        self.overwrites += 1
        self.sim.changed("commands", scope)
        return self.list(scope)

    def upsert(self, scope: int | None, body: Any, *, strict: bool) -> tuple[bool, dict[str, Any]]:
        command = self._build(scope, body, strict=strict, where="")
        commands = self.scopes.setdefault(scope, {})
        created = int(command["id"]) not in commands
        commands[int(command["id"])] = command
        self.sim.changed("commands", scope)
        return created, copy.deepcopy(command)

    def get(self, scope: int | None, command_id: int) -> dict[str, Any]:
        command = self.scopes.get(scope, {}).get(command_id)
        if command is None:
            raise errors.unknown("application command", errors.UNKNOWN_COMMAND)
        return copy.deepcopy(command)

    def edit(self, scope: int | None, command_id: int, body: Any, *, strict: bool) -> dict[str, Any]:
        current = self.get(scope, command_id)
        merged = {**current, **(body if isinstance(body, dict) else {})}
        command = self._build(scope, merged, strict=strict, where="")
        self.scopes[scope].pop(command_id, None)
        self.scopes[scope][int(command["id"])] = command
        self.sim.changed("commands", scope)
        return copy.deepcopy(command)

    def delete(self, scope: int | None, command_id: int) -> None:
        if self.scopes.get(scope, {}).pop(command_id, None) is None:
            raise errors.unknown("application command", errors.UNKNOWN_COMMAND)
        self.sim.changed("commands", scope)

    def _build(self, scope: int | None, definition: Any, *, strict: bool, where: str) -> dict[str, Any]:
        prefix = f"{where}." if where else ""
        if not isinstance(definition, dict) or not isinstance(definition.get("name"), str):
            raise form_error(f"{prefix}name", "BASE_TYPE_REQUIRED", "This field is required", rule="invalid_command")
        kind = int(definition.get("type") or 1)
        if strict:
            _check_command(definition, kind, prefix)
        key = (scope, definition["name"], kind)
        if key not in self._ids:
            self._ids[key] = self.sim.ids.next()
        command = {
            "id": str(self._ids[key]),
            "application_id": str(self.sim.application_id),
            "version": str(self.sim.ids.next()),
            "type": kind,
            "name": definition["name"],
            "name_localizations": definition.get("name_localizations"),
            "description": definition.get("description", ""),
            "description_localizations": definition.get("description_localizations"),
            "default_member_permissions": definition.get("default_member_permissions"),
            "nsfw": bool(definition.get("nsfw", False)),
            "contexts": definition.get("contexts"),
            "integration_types": definition.get("integration_types") or [0],
            "options": copy.deepcopy(definition.get("options") or []),
        }
        if scope is None:
            command["dm_permission"] = definition.get("dm_permission", True)
        else:
            command["guild_id"] = str(scope)
        return command


def _check_command(definition: dict[str, Any], kind: int, prefix: str) -> None:
    name = definition["name"]
    if kind == 1:
        if not NAME.match(name) or name != name.lower():
            raise form_error(f"{prefix}name", "APPLICATION_COMMAND_INVALID_NAME",
                             f"Command name is invalid ({name!r})", rule="invalid_command")
        description = definition.get("description") or ""
        if not 1 <= len(description) <= 100:
            raise form_error(f"{prefix}description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.",
                             rule="invalid_command")
    elif not 1 <= len(name) <= 32:
        raise form_error(f"{prefix}name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.",
                         rule="invalid_command")
    _check_options(definition.get("options") or [], f"{prefix}options", depth=0)


def _check_options(options: list[Any], path: str, *, depth: int) -> None:
    if len(options) > 25:
        raise form_error(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.", rule="invalid_command")
    optional_seen = False
    names: set[str] = set()
    for i, option in enumerate(options):
        here = f"{path}.{i}"
        kind = option.get("type")
        if kind not in OPTION_TYPES:
            raise form_error(f"{here}.type", "BASE_TYPE_CHOICES", "Value must be one of 1..11.", rule="invalid_command")
        name = option.get("name") or ""
        if not NAME.match(name) or name != name.lower():
            raise form_error(f"{here}.name", "APPLICATION_COMMAND_INVALID_NAME", f"Option name is invalid ({name!r})",
                             rule="invalid_command")
        if name in names:
            raise form_error(f"{here}.name", "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                             "Option names must be unique", rule="invalid_command")
        names.add(name)
        if not 1 <= len(option.get("description") or "") <= 100:
            raise form_error(f"{here}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.",
                             rule="invalid_command")
        if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
            if depth >= (1 if kind == SUB_COMMAND_GROUP else 2):
                raise form_error(f"{here}.type", "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                                 "Sub-command groups nest one level only", rule="invalid_command")
            _check_options(option.get("options") or [], f"{here}.options", depth=depth + 1)
            continue
        if option.get("required"):
            if optional_seen:
                raise form_error(f"{here}.required", "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                                 "Required options must be placed before non-required options",
                                 rule="invalid_command")
        else:
            optional_seen = True
        if len(option.get("choices") or []) > 25:
            raise form_error(f"{here}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.",
                             rule="invalid_command")
