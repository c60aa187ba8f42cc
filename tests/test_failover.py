"""No single point of failure: Redis behind Sentinel fails over mid-render. A real primary, a
replica and three sentinels on loopback; the real bot (against discordsim), a real worker and
the exporter (with its reconciler) all follow the promotion, and every clip is posted exactly
once, with no process dying on the way."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.servers import SentinelCluster, free_port
from tests.stack import ExporterProcess
from tests.test_bot_faults import LONG, SHORT, posted_once, wait_running
from tests.test_bot_world import BotWorld, clip_id_of
from tests.test_redis_outage import _status_is, until

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster():
    c = SentinelCluster()
    yield c
    c.stop()


@pytest.fixture
async def world(cluster, postgres_server, models_dir, tmp_path):
    from core.catalog import get_model
    from inference.loading import resolve_source

    resolve_source(get_model("ltx-tiny"), None, models_dir)
    w = BotWorld(tmp_path, postgres_server.new_database(f"failover_{free_port()}"), models_dir,
                 REELBOT_MODEL_STEPS='{"ltx-tiny": 250}', REELBOT_RECONCILE_SECONDS="1")
    await w.start(bot=False, redis_url=cluster.url)
    w.bot_port = free_port()
    await w.start_bot(sync=True, REELBOT_METRICS_PORT=str(w.bot_port))
    w.exporter = ExporterProcess(w.env, tmp_path / "exporter.log")
    yield w
    w.exporter.stop()
    await w.close()


def deaths(world) -> list[str]:
    procs = {"bot": world.bot.proc, "exporter": world.exporter.proc,
             **{f"worker {i}": w.proc for i, w in enumerate(world.workers)}}
    return [name for name, proc in procs.items() if proc.poll() is not None]


async def test_a_sentinel_failover_mid_render_delivers_every_clip_once(world, cluster):
    running_member, waiting_member = world.member("through"), world.member("behind")
    _ix, status = await world.create(running_member, f"rendering through a failover {LONG}")
    running = clip_id_of(status)
    await wait_running(world, running)
    _ix, status = await world.create(waiting_member, f"queued behind it {SHORT}")
    waiting = clip_id_of(status)

    old = cluster.kill_primary()
    killed = time.monotonic()
    new = await asyncio.to_thread(cluster.wait_failover, old)
    promoted_s = time.monotonic() - killed

    worst = 0.0
    for clip_id in (running, waiting):
        await posted_once(world, clip_id, settle=0, record_within=30)
        worst = max(worst, time.monotonic() - killed)
    _ix, status = await world.create(world.member("after"), f"after the failover {SHORT}")
    after = clip_id_of(status)
    await posted_once(world, after, settle=3)
    for clip_id in (running, waiting):
        assert len(world.posts_of(clip_id)) == 1

    async with aiohttp.ClientSession() as http:
        await until(lambda: _status_is(http, world.exporter.port, "/readyz", 200), timeout=30)
        await until(lambda: _status_is(http, world.bot_port, "/readyz", 200), timeout=30)
    assert deaths(world) == [], world.logs()
    assert world.sim.duplicate_posts() == [] and world.sim.violations == []
    print(f"\nFAULT sentinel-failover: primary {old} -> {new} in {promoted_s:.1f} s; clips 3, lost 0, "
          f"duplicated 0, deaths 0, worst delivery {worst:.1f} s after the kill")
