"""Redis killed and restarted on the same port and data while Reelbot's processes run: they
say so in their logs and health endpoints, reconnect with backoff, and carry on."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import aiohttp
import pytest

from core.clips import ClipStore
from core.flags import parse_prompt
from core.jobs import new_job
from core.migrate import upgrade_async
from core.queue import connect, live_jobs
from core.tables import utcnow
from tests.servers import RedisServer, free_port
from tests.stack import ROOT

pytestmark = pytest.mark.slow
OUTAGE_S = 8  # several backoff rounds, up to its cap


@pytest.fixture
def flaky_redis():
    server = RedisServer(appendonly=True)
    yield server
    if server.proc.poll() is None:
        server.stop()


async def probe(http: aiohttp.ClientSession, port: int, path: str) -> tuple[int, str]:
    try:
        async with http.get(f"http://127.0.0.1:{port}{path}", timeout=aiohttp.ClientTimeout(total=15)) as resp:
            return resp.status, await resp.text()
    except aiohttp.ClientError:
        return 0, ""


async def until(check, timeout: float = 60, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(every)
    raise TimeoutError


async def test_the_exporter_rides_out_a_redis_outage_and_reconciles_after_it(flaky_redis, tmp_path):
    db = f"sqlite:///{tmp_path / 'outage.db'}"
    await upgrade_async(db)
    store = ClipStore.from_url(db)
    port = free_port()
    env = {**os.environ, "REELBOT_REDIS_URL": flaky_redis.url, "REELBOT_DATABASE_URL": db,
           "REELBOT_METRICS_PORT": str(port), "REELBOT_MODELS": "ltx-tiny", "REELBOT_LOG_FORMAT": "json",
           "REELBOT_RECONCILE_SECONDS": "0.5"}
    log_path = tmp_path / "exporter.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "reelbot", "exporter"], env=env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession() as http:
            await until(lambda: _status_is(http, port, "/readyz", 200))
            flaky_redis.kill()
            status, text = await until(lambda: _status_is(http, port, "/readyz", 503))
            assert "redis unreachable" in text
            assert (await probe(http, port, "/livez"))[0] == 200
            assert (await probe(http, port, "/queue/ltx-tiny"))[0] == 503  # a failed poll, not a false 0

            # The bot dies between recording a clip and enqueueing it, during the outage.
            job = new_job(parse_prompt("lost in the outage -seed 3"), model="ltx-tiny", member_id="42")
            when = utcnow() - timedelta(minutes=2)
            await store.add(id=job.clip_id, task=job.task.value, prompt=job.prompt, flags=job.flags, seed=job.seed,
                            model=job.model, author_id="42", status="queued", created_at=when, updated_at=when)
            await asyncio.sleep(OUTAGE_S)
            assert proc.poll() is None, log_path.read_text()[-3000:]
            flaky_redis.restart()

            await until(lambda: _status_is(http, port, "/readyz", 200))
            redis = await connect(flaky_redis.url)
            try:
                await until(lambda: live_jobs(redis, [job.clip_id]))  # the reconciler is back at work
            finally:
                await redis.aclose()
            assert (await probe(http, port, "/queue/ltx-tiny"))[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        await store.close()
    events = [json.loads(line)["event"] for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert "redis unreachable; reconnecting with backoff" in events and "redis reachable again" in events
    assert events.count("redis unreachable; reconnecting with backoff") == 1  # once per outage, not per try


async def _status_is(http, port: int, path: str, want: int):
    status, text = await probe(http, port, path)
    return (status, text) if status == want else None


async def test_the_bot_rides_out_a_redis_outage_and_delivers_exactly_once_after_it(postgres_server, models_dir,
                                                                                   tmp_path):
    from inference.loading import resolve_source
    from core.catalog import get_model
    from tests.test_bot_world import BotWorld, clip_id_of

    resolve_source(get_model("ltx-tiny"), None, models_dir)
    world = BotWorld(tmp_path, postgres_server.new_database("bot_outage"), models_dir)
    await world.start(bot=False, redis_appendonly=True)
    port = free_port()
    await world.start_bot(sync=True, REELBOT_METRICS_PORT=str(port))
    short = "-len 1 -fps 8"
    try:
        async with aiohttp.ClientSession() as http:
            member = world.member("steady")
            # No worker for now (riding out the outage is the worker's own business): a clip waits.
            world.workers.pop().stop()
            _ix, status = await world.create(member, f"queued before the outage {short}")
            before = clip_id_of(status)
            await until(lambda: _status_is(http, port, "/readyz", 200))

            world.redis_server.kill()
            _status, text = await until(lambda: _status_is(http, port, "/readyz", 503))
            assert "redis unreachable" in text and (await probe(http, port, "/livez"))[0] == 200
            # A command meanwhile is answered, privately, and holds no slot: nothing is left stuck.
            ix = await world.slash(member, "create", {"prompt": f"during the outage {short}"})
            kind, answer = await world.answer(ix)
            assert kind == "refused" and "try again" in answer
            await asyncio.sleep(OUTAGE_S)
            assert world.bot.alive(), world.bot_logs()
            world.redis_server.restart()

            await until(lambda: _status_is(http, port, "/readyz", 200))
            await world.start_worker()
            [_post] = await world.wait_post(before)
            _ix, status = await world.create(member, f"after the outage {short}")
            after = clip_id_of(status)
            await world.wait_post(after)
            await asyncio.sleep(2)  # a second post of either would have come by now
            assert len(world.posts_of(before)) == 1 and len(world.posts_of(after)) == 1
            unfinished = [c for c in await _clips_of(world, member) if c.status in ("queued", "running")]
            assert unfinished == []
    finally:
        await world.close()
    events = [json.loads(line).get("event") for line in world.bot_logs(10**7).splitlines() if line.startswith("{")]
    assert events.count("redis unreachable; reconnecting with backoff") == 1 and "redis reachable again" in events


async def _clips_of(world, member):
    from sqlalchemy import select

    from core.tables import Clip

    async with world.store.session() as s:
        return list(await s.scalars(select(Clip).where(Clip.author_id == str(member.id))))
