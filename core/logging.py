"""structlog set-up: JSON lines off a terminal, readable lines on one, secrets scrubbed."""

from __future__ import annotations

import logging
import re
import sys

import structlog

_SECRET_KEYS = re.compile(r"token|password|passwd|secret|authorization|signature|credential", re.I)
_SECRET_PATTERNS = [
    # user:password@ in database and redis URLs
    (re.compile(r"(://[^:/@\s]*:)[^@\s]+@"), r"\1***@"),
    # ...and passwords in their query strings (redis+sentinel://...?sentinel_password=)
    (re.compile(r"(password=)[^&\s\"']+", re.I), r"\1***"),
    # presigned URL signatures (SigV4 and SigV2) and security tokens
    (re.compile(r"((?:X-Amz-Signature|Signature|X-Amz-Security-Token|X-Amz-Credential)=)[^&\s\"']+", re.I), r"\1***"),
    # Discord bot tokens and Authorization headers
    (re.compile(r"\b[\w-]{23,28}\.[\w-]{6,7}\.[\w-]{27,40}\b"), "***"),
    (re.compile(r"(Bot\s+)[\w.-]{20,}"), r"\1***"),
    # Hugging Face access tokens (HF_TOKEN, for gated weights)
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}\b"), "hf_***"),
]


def scrub(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact(_logger, _method, event_dict):
    for key, value in list(event_dict.items()):
        if _SECRET_KEYS.search(key) and key != "event":
            event_dict[key] = "***"
        elif isinstance(value, str):
            event_dict[key] = scrub(value)
        elif not isinstance(value, (int, float, bool, type(None))):
            event_dict[key] = scrub(repr(value)) if not isinstance(value, (list, dict)) else value
    return event_dict


def configure(level: str = "INFO", fmt: str = "auto", stream=None) -> None:
    """Call once per process. `fmt` is auto|json|console."""
    stream = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    stamp = [structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True)]
    render = [
        structlog.processors.format_exc_info,
        _redact,
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer(),
    ]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *stamp, *render],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # Libraries (arq, discord.py, aiohttp, sqlalchemy, botocore) log through stdlib: their records
    # become the same lines, JSON or readable, with the logger's name, through the same scrubber.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.contextvars.merge_contextvars, structlog.stdlib.add_logger_name, *stamp],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if level.upper() != "DEBUG" else logging.DEBUG)
    logging.getLogger("arq").setLevel(logging.WARNING)


def get_logger(name: str | None = None, **bound):
    return structlog.get_logger(name).bind(**bound)


bind_job = structlog.contextvars.bound_contextvars
