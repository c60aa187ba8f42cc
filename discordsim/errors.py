"""Discord's error answers: status, JSON code and message exactly as Discord sends them."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer. `rule` names the protocol rule the bot broke (recorded as a Violation)."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        rule: str | None = None,
        detail: str | None = None,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.rule = rule
        self.detail = detail or message
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def form_error(field: str, code: str, message: str, *, rule: str = "invalid_form_body") -> ApiError:
    """400 Invalid Form Body (50035) with Discord's nested `errors` object for one field path."""
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field.split(".")):
        errors = {part: errors}
    return ApiError(400, 50035, "Invalid Form Body", rule=rule, detail=f"{field}: {message}", errors=errors)


def unknown(kind: str, code: int) -> ApiError:
    return ApiError(404, code, f"Unknown {kind}")


UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_USER = 10013
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
UNKNOWN_COMMAND = 10063
CANNOT_EDIT_OTHERS = 50005
EMPTY_MESSAGE = 50006
CANNOT_DM = 50007
INVALID_CHANNEL_TYPE = 50024
MISSING_PERMISSIONS = 50013
INVALID_WEBHOOK_TOKEN = 50027
INVALID_RECIPIENT = 50033
INVALID_JSON = 50109
ALREADY_ACKNOWLEDGED = 40060
ENTITY_TOO_LARGE = 40005
THREAD_ALREADY_CREATED = 160004
