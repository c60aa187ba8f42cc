"""`reelbot ban`, `reelbot unban` and `reelbot audit`: the operator's moderation, on the
database every bot process shares.

An operator's ban holds in every server and takes the member's clips out of the web
gallery; a server's own `/admin ban` does neither (core/bans.py). The audit log prints one
decision a line, oldest first, so it reads and greps like a log file.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from datetime import datetime, timedelta, timezone

from sqlalchemy.exc import DBAPIError

from core import audit, bans
from core.db import make_engine, make_sessionmaker
from core.settings import SettingsError

SNOWFLAKE = re.compile(r"^[0-9]{1,20}$")  # Discord's user and server ids
SPAN = re.compile(r"^(?P<n>[0-9]+)(?P<unit>[mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_AUDIT_LINES = 10_000


# --- argument types (argparse prints the message and exits 2) --------------------------

def snowflake(value: str) -> str:
    if not SNOWFLAKE.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a Discord id: digits only "
                                         "(Discord's Developer Mode → Copy ID)")
    return value


def since(value: str, now: datetime | None = None) -> datetime:
    """`30m`, `12h`, `7d`, `2w`, or a date/time in ISO form (UTC unless it says otherwise)."""
    span = SPAN.match(value.strip())
    if span:
        return (now or datetime.now(timezone.utc)) - timedelta(**{UNITS[span["unit"]]: int(span["n"])})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither a span (30m, 12h, 7d, 2w) nor a date "
                                         "(2026-11-20, 2026-11-20T08:00)") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def line_count(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_AUDIT_LINES:
        raise argparse.ArgumentTypeError(f"{value!r}: a whole number from 1 to {MAX_AUDIT_LINES}")
    return int(value)


# --- commands ----------------------------------------------------------------------------


def ban(settings, member: str, reason: str | None) -> int:
    async def run(sessions) -> str:
        changed = await bans.ban_everywhere(sessions, member, reason=reason)
        return (f"banned {member} in every server; their clips are out of the web gallery" if changed
                else f"{member} was already banned in every server")

    print(asyncio.run(with_sessions(settings, run)))
    return 0


def unban(settings, member: str, reason: str | None) -> int:
    async def run(sessions) -> str:
        changed = await bans.unban_everywhere(sessions, member, reason=reason)
        _everywhere, servers = await bans.bans_of(sessions, member)
        line = f"unbanned {member}" if changed else f"{member} was not banned by the operator"
        if servers:
            line += f"; servers' own bans stay (lifted there with /admin unban): {', '.join(servers)}"
        return line

    print(asyncio.run(with_sessions(settings, run)))
    return 0


def print_audit(settings, guild: str | None, member: str | None, moment: datetime | None, limit: int) -> int:
    async def run(sessions) -> list[audit.Entry]:
        async with sessions() as s:
            return await audit.latest(s, guild_id=guild, member_id=member, since=moment, limit=limit)

    entries = asyncio.run(with_sessions(settings, run))
    for entry in reversed(entries):
        print(audit.line(entry))
    if not entries:
        print("no moderation decisions" + (f" since {moment:%Y-%m-%d %H:%M} UTC" if moment else ""))
    return 0


async def with_sessions(settings, work):
    engine = make_engine(settings.database_url)
    try:
        return await work(make_sessionmaker(engine))
    except DBAPIError as exc:
        raise SettingsError(f"the database refused: {type(exc.orig).__name__}: {str(exc.orig).splitlines()[0]} "
                            "(is REELBOT_DATABASE_URL right, and migrated with `reelbot migrate`?)") from None
    finally:
        await engine.dispose()
