"""S3 down when a clip is ready to upload (moto's server stopped, then started again on the
same port and buckets): the worker keeps the encoded clip in its spool on the models volume,
tries again with backoff and says so (the member's status, /readyz), and the clip is posted
once when storage is back, rendered once, even when the worker waiting for storage dies."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from tests.servers import free_port
from tests.test_bot_faults import SHORT, posted_once, wait_running
from tests.test_bot_world import BotWorld, clip_id_of
from tests.test_redis_outage import _status_is, until

pytestmark = pytest.mark.slow
DOWN_S = 6


@pytest.fixture
async def world(postgres_server, s3_server, models_dir, tmp_path):
    from core.catalog import get_model
    from inference.loading import resolve_source

    resolve_source(get_model("ltx-tiny"), None, models_dir)
    bucket = s3_server.new_bucket(f"outage-{free_port()}")
    w = BotWorld(tmp_path, postgres_server.new_database(f"storage_outage_{free_port()}"), models_dir,
                 REELBOT_MODEL_STEPS='{"ltx-tiny": 1000}', REELBOT_STORAGE_URL=f"s3://{bucket}",
                 REELBOT_S3_ENDPOINT_URL=s3_server.endpoint)
    await w.start(workers=0)
    w.worker_port = free_port()
    await w.start_worker(REELBOT_METRICS_PORT=str(w.worker_port))
    yield w
    if not s3_server.serving:  # a failed test must not leave the suite's S3 down
        s3_server.serve_again()
    await w.close()


def events(worker, clip_id: str) -> list[str]:
    lines = [json.loads(line) for line in worker.log_path.read_text().splitlines() if line.startswith("{")]
    return [e["event"] for e in lines if e.get("clip_id") in (clip_id, None)]


async def rendered_and_uploading(world, clip_id: str, status) -> None:
    await wait_running(world, clip_id)
    await world.sim.wait_for(lambda: "uploading" in world.sim.message(status.id).content, 60)


async def test_a_clip_waits_for_storage_in_the_spool_and_is_posted_once_when_it_is_back(world, s3_server):
    _ix, status = await world.create(world.member("patient"), f"stored after the outage {SHORT}")
    clip_id = clip_id_of(status)
    s3_server.stop_serving()
    await rendered_and_uploading(world, clip_id, status)
    async with aiohttp.ClientSession() as http:
        _code, text = await until(lambda: _status_is(http, world.worker_port, "/readyz", 503), timeout=20)
        assert "storage unreachable" in text and "1 clip(s) wait in the spool" in text
        await asyncio.sleep(DOWN_S)
        s3_server.serve_again()
        back = time.monotonic()
        await posted_once(world, clip_id, settle=2, record_within=30)
        delivered = time.monotonic() - back
        await until(lambda: _status_is(http, world.worker_port, "/readyz", 200), timeout=20)
    seen = events(world.workers[0], clip_id)
    assert seen.count("render started") == 1 and seen.count("storage unreachable; reconnecting with backoff") == 1
    assert world.workers[0].proc.poll() is None
    assert world.sim.duplicate_posts() == [] and world.sim.violations == [], world.logs()
    print(f"\nFAULT storage outage ({DOWN_S} s): clips 1, lost 0, duplicated 0, deaths 0, renders 1, "
          f"posted {delivered:.1f} s after storage was back")


async def test_a_worker_that_dies_waiting_for_storage_leaves_the_clip_to_the_next_without_a_second_render(
        world, s3_server):
    _ix, status = await world.create(world.member("orphan"), f"spooled across a crash {SHORT}")
    clip_id = clip_id_of(status)
    s3_server.stop_serving()
    await rendered_and_uploading(world, clip_id, status)
    first = world.workers[0]
    first.kill()
    second = await world.start_worker()  # the same models volume: it finds the spooled clip
    await world.sim.wait_for(lambda: "clip found in the spool: storing it, not rendering it again"
                             in events(second, clip_id), 30)
    s3_server.serve_again()
    back = time.monotonic()
    await posted_once(world, clip_id, settle=2, record_within=30)
    assert "render started" not in events(second, clip_id)
    assert world.sim.duplicate_posts() == [] and world.sim.violations == [], world.logs()
    print(f"\nFAULT storage outage + worker killed: clips 1, lost 0, duplicated 0, renders 1, "
          f"posted {time.monotonic() - back:.1f} s after storage was back")
