"""A world for the bot's end-to-end tests (this module has no tests of its own): the local
Discord server (discordsim), the real `reelbot bot` process pointed at it, real
`reelbot worker` processes serving the tiny model, a Redis of its own and a
PostgreSQL database. Tests act as members and read what members see."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import time
from pathlib import Path

import pytest

from core.clips import ClipStore
from core.contract import WORKERS_KEY
from core.migrate import upgrade_async
from core.queue import connect
from discordsim import DiscordSim
from tests.servers import RedisServer
from tests.stack import MODEL, ReelbotProcess, WorkerProcess

TOKEN = "sim-token-reelbot"
_names = itertools.count(1)


class BotProcess(ReelbotProcess):
    command = "bot"


class BotWorld:
    def __init__(self, tmp: Path, database_url: str, models_dir: Path, shards: int = 1, **env: str):
        self.tmp = tmp
        self.shards = shards
        self.database_url = database_url
        self.models_dir = models_dir
        self.extra_env = env
        self.workers: list[WorkerProcess] = []
        self.bots: list[BotProcess] = []
        self.bot: BotProcess | None = None

    # --- lifecycle -------------------------------------------------------------------

    async def start(self, bot: bool = True, workers: int = 1, redis_appendonly: bool = False,
                    redis_url: str | None = None) -> "BotWorld":
        """`redis_url`: a Redis of the test's own (a Sentinel cluster's URL, say) instead of a fresh one."""
        # Append-only: it can be killed and restarted.
        self.redis_server = None if redis_url else RedisServer(appendonly=redis_appendonly)
        self.redis_url = redis_url or self.redis_server.url
        self.sim = await DiscordSim(token=TOKEN, shard_count=self.shards).start()
        self.guild = self.sim.add_guild("Test Server")
        self.channel = self.sim.add_channel(self.guild, "general")
        await upgrade_async(self.database_url)
        self.media = self.tmp / "media"
        self.env = {
            **os.environ,
            "REELBOT_DISCORD_TOKEN": TOKEN,
            "REELBOT_DISCORD_API_BASE": self.sim.api_base,
            "REELBOT_DISCORD_GATEWAY_URL": self.sim.gateway_url,
            "REELBOT_REDIS_URL": self.redis_url,
            "REELBOT_DATABASE_URL": self.database_url,
            "REELBOT_STORAGE_URL": f"file://{self.media}",
            "REELBOT_MODEL": MODEL,
            "REELBOT_MODELS": MODEL,
            "REELBOT_MODELS_DIR": str(self.models_dir),
            "REELBOT_DEVICE": "cpu",
            "REELBOT_LOG_FORMAT": "json",
            "REELBOT_LOG_LEVEL": "INFO",
            "REELBOT_COOLDOWN_SECONDS": "0",
            "REELBOT_JOBS_IN_FLIGHT": "3",
            "REELBOT_PROGRESS_EDIT_SECONDS": "0.5",
            "REELBOT_LEASE_SECONDS": "3",
            "REELBOT_HEARTBEAT_SECONDS": "1",
            "REELBOT_BOT_DRAIN_SECONDS": "10",
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
            **self.extra_env,
        }
        self.redis = await connect(self.redis_url)
        self.store = ClipStore.from_url(self.database_url)
        for _ in range(workers):
            await self.start_worker()
        if bot:
            await self.start_bot(sync=True)
        return self

    async def close(self) -> None:
        for bot in self.bots:
            if bot.alive():
                bot.stop()
        for worker in self.workers:
            worker.stop()
        await self.sim.stop()
        await self.redis.close(close_connection_pool=True)
        await self.store.close()
        if self.redis_server is not None:
            self.redis_server.stop()

    async def start_worker(self, **env: str) -> WorkerProcess:
        worker = WorkerProcess({**self.env, **env}, self.tmp / f"worker-{len(self.workers)}.log")
        self.workers.append(worker)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            seen = {json.loads(v)["id"] for v in (await self.redis.hgetall(WORKERS_KEY)).values()}
            if worker.worker_id in seen:
                return worker
            if worker.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {worker.log_path.read_text()[-3000:]}")
            await asyncio.sleep(0.1)
        raise TimeoutError(f"worker did not come up: {worker.log_path.read_text()[-3000:]}")

    async def start_bot(self, sync: bool = False, wait_all_shards: bool = True, **env: str) -> BotProcess:
        args = ("--sync",) if sync else ()  # global: the commands are needed in DMs too
        identified = self.sim.gateway.identify_count
        bot = BotProcess({**self.env, **env}, self.tmp / f"bot-{len(self.bots)}.log", *args)
        self.bots.append(bot)
        self.bot = bot
        try:
            await self.sim.wait_for(lambda: self.sim.gateway.identify_count > identified or not bot.alive(), 60)
            if wait_all_shards:
                await self.sim.wait_connected(timeout=30)
        except TimeoutError:
            raise RuntimeError(f"bot did not connect: {self.bot_logs()}") from None
        if not bot.alive():
            raise RuntimeError(f"bot exited: {self.bot_logs()}")
        if sync:
            await self.sim.wait_for(lambda: self.sim.commands(), 30)
        return bot

    def bot_logs(self, chars: int = 6000) -> str:
        return "\n".join(b.log_path.read_text(errors="replace")[-chars:] for b in self.bots)

    def logs(self) -> str:
        workers = "\n".join(w.log_path.read_text(errors="replace")[-3000:] for w in self.workers)
        return f"--- bot ---\n{self.bot_logs()}\n--- workers ---\n{workers}"

    # --- acting as members -----------------------------------------------------------

    def member(self, prefix: str = "member", **perms):
        return self.sim.add_member(self.guild, f"{prefix}{next(_names)}", **perms)

    async def slash(self, member, command: str, options: dict | None = None, *, channel=None, attachments=None,
                    subcommand: str | None = None, check: bool = True):
        ix = await self.sim.slash(member, channel or self.channel, command, options or {},
                                  attachments=attachments, subcommand=subcommand, check=check)
        await ix.wait_response(timeout=5)
        return ix

    async def private_text(self, ix, timeout: float = 15) -> str:
        """The text of the private answer an interaction got (the response, or its resolved defer)."""
        await self.sim.wait_for(lambda: any(not m.loading for m in ix.ephemeral), timeout)
        return "\n".join(m.content for m in ix.ephemeral if not m.loading)

    async def create(self, member, prompt: str, **kw):
        """/create and the status message it produced (waits for the clip id to be known)."""
        ix = await self.slash(member, "create", {"prompt": prompt}, **kw)
        status = await self.status_message(ix)
        return ix, status

    async def status_message(self, ix, timeout: float = 15):
        """The clip's status message: the response itself, or (after a private defer for
        attachments) the channel message its "queued" note links to."""
        def found():
            message = ix.message
            if message is None or message.loading:
                return None
            if clip_id_of(message):
                return message
            link = re.search(r"/channels/[^/]+/\d+/(\d+)", message.content or "")
            return self.sim.message(int(link.group(1))) if link else None

        return await self.sim.wait_for(found, timeout)

    async def answer(self, ix, timeout: float = 15) -> tuple[str, str]:
        """("queued", clip id) when the interaction queued a clip, else ("refused", the private text)."""
        def settled():
            message = ix.message
            return message if message is not None and not message.loading else None

        message = await self.sim.wait_for(settled, timeout)
        if clip_id_of(message):
            return "queued", clip_id_of(message)
        link = re.search(r"/channels/[^/]+/\d+/(\d+)", message.content or "")
        if link:
            return "queued", clip_id_of(self.sim.message(int(link.group(1))))
        assert message.ephemeral, f"a refusal must be private: {message.content!r}"
        return "refused", message.content

    async def wait_post(self, clip_id: str, timeout: float = 60):
        """The clip's final post, wherever it went (thread, channel or DM)."""
        try:
            return await self.sim.wait_for(lambda: self.posts_of(clip_id), timeout)
        except TimeoutError:
            raise TimeoutError(f"clip {clip_id} was not posted:\n{self.logs()}") from None

    def posts_of(self, clip_id: str) -> list:
        found = []
        for message in self.sim.store.messages.values():
            if message.deleted or message.author_id != self.sim.bot_user.id:
                continue
            if any((e.get("footer") or {}).get("text", "").split(" · ")[0] == f"clip {clip_id}"
                   for e in message.embeds):
                found.append(message)
        return found


@pytest.fixture(autouse=True)
def no_violations(world):
    """Imported by the bot test modules: no test may leave a Discord protocol violation."""
    before = len(world.sim.violations)
    yield
    assert world.sim.violations[before:] == [], world.logs()


def clip_id_of(message) -> str | None:
    """The clip a status message stands for, from its Cancel button (remembered on the
    message object, since the button goes once the clip is done)."""
    remembered = getattr(message, "reelbot_clip_id", None)
    if remembered:
        return remembered
    for custom_id in getattr(message, "custom_ids", []):
        parts = custom_id.split(":")
        if len(parts) == 3 and parts[0] == "reelbot":
            message.reelbot_clip_id = parts[2]
            return parts[2]
    return None


def help_text(ix) -> str:
    """What /help showed: its embed's description and fields."""
    embeds = (ix.response.data or {}).get("embeds") or []
    return "\n".join([e.get("description", "") for e in embeds] +
                     [f"{f['name']}: {f['value']}" for e in embeds for f in e.get("fields", [])])


def footer_of(message) -> str:
    return " ".join((e.get("footer") or {}).get("text", "") for e in message.embeds)
