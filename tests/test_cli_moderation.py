"""`reelbot ban`, `unban` and `audit` as operators run them (subprocesses), on SQLite and
PostgreSQL: an operator's ban holds everywhere and hides the gallery, a server's own ban
is left alone, and every decision prints from the audit log."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from core import audit, bans, listings
from core.db import make_engine, make_sessionmaker
from core.migrate import upgrade_async
from core.tables import Clip, Member
from tests.servers import database_url
from tests.test_cli import ROOT


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request, tmp_path):
    url = database_url(request, tmp_path, "cli_moderation")
    await upgrade_async(url)
    engine = make_engine(url)
    yield url, make_sessionmaker(engine)
    await engine.dispose()


def reelbot(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "REELBOT_DATABASE_URL": url, "REELBOT_LOG_FORMAT": "json"}
    return subprocess.run([sys.executable, "-m", "reelbot", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


async def test_an_operators_ban_and_unban_from_the_command_line(db):
    url, sessions = db
    async with sessions.begin() as s:
        s.add(Member(id="111", name="eve", defaults={}))
        s.add(Clip(id="c1", task="text-to-video", prompt="a fox", flags={}, seed=1, model="ltx-tiny", status="done",
                   video_key="clips/c1/clip.mp4", author_id="111", guild_id="900"))
    assert await bans.ban_here(sessions, "900", "111", by="222", reason="flooding #general")

    banned = reelbot(url, "ban", "111", "--reason", "abuse across servers")
    assert banned.returncode == 0, banned.stderr
    assert "banned 111 in every server" in banned.stdout
    async with sessions() as s:
        assert await listings.public_clip(s, "c1") is None  # out of the web gallery
    assert "already banned" in reelbot(url, "ban", "111").stdout

    lifted = reelbot(url, "unban", "111")
    assert lifted.returncode == 0 and "unbanned 111" in lifted.stdout
    assert "servers' own bans stay" in lifted.stdout and "900" in lifted.stdout
    async with sessions() as s:
        assert await listings.public_clip(s, "c1") is not None
        assert await s.scalar(select(bans.banned_here("111", "900")))  # the server's ban is the server's

    printed = reelbot(url, "audit", "--since", "1h")
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert [line.split()[2] for line in lines] == ["ban", "ban", "unban"]  # oldest first
    assert "server=900" in lines[0] and "by=222" in lines[0] and "'flooding #general'" in lines[0]
    assert "server=-" in lines[1] and f"by={audit.OPERATOR}" in lines[1] and "'abuse across servers'" in lines[1]
    only_server = reelbot(url, "audit", "--guild", "900").stdout.splitlines()
    assert len(only_server) == 1 and "server=900" in only_server[0]
    assert "no moderation decisions" in reelbot(url, "audit", "--member", "333").stdout


@pytest.mark.parametrize("args, needle", [
    (("ban", "eve"), "not a Discord id"),
    (("unban", "12; DROP TABLE members"), "not a Discord id"),
    (("audit", "--since", "yesterday"), "neither a span"),
    (("audit", "--limit", "0"), "from 1 to"),
])
def test_bad_arguments_are_one_line_and_change_nothing(tmp_path, args, needle):
    result = reelbot(f"sqlite:///{tmp_path / 'none.db'}", *args)
    assert result.returncode == 2 and needle in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_an_unmigrated_database_is_one_line(tmp_path):
    result = reelbot(f"sqlite:///{tmp_path / 'empty.db'}", "audit")
    assert result.returncode == 2 and "reelbot migrate" in result.stderr and "Traceback" not in result.stderr
