"""A deployment whose workers are not up yet (just deployed, restarting, or scaled to zero by
KEDA): members' clips are queued all the same and delivered once a worker comes."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import aiohttp
import pytest

from reelbot.local import free_port
from tests.stack import ROOT
from tests.test_bot_world import BotWorld, clip_id_of, no_violations  # noqa: F401 (autouse)

pytestmark = pytest.mark.slow
WORKER_LATE_S = 20


@pytest.fixture
async def world(postgres_server, models_dir, tmp_path):
    from core.catalog import get_model
    from inference.loading import resolve_source

    resolve_source(get_model("ltx-tiny"), None, models_dir)
    w = BotWorld(tmp_path, postgres_server.new_database("scale_from_zero"), models_dir)
    await w.start(workers=0)
    yield w
    await w.close()


async def exporter_queue(world, port: int, model: str) -> tuple[dict, str]:
    """What KEDA's metrics-api scaler reads (/queue/<model>), and the Prometheus page."""
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"http://127.0.0.1:{port}/queue/{model}") as resp:
                    queue = await resp.json()
                async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    return queue, await resp.text()
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise TimeoutError("the exporter did not answer")


async def test_a_clip_asked_for_before_any_worker_is_up_is_delivered_once(world):
    port = free_port()
    exporter = subprocess.Popen([sys.executable, "-m", "reelbot", "exporter"], cwd=ROOT,
                                env={**world.env, "REELBOT_METRICS_PORT": str(port)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        alice = world.member("early")
        ix, status = await world.create(alice, "a fox at dawn -len 1 -fps 8")
        clip_id = clip_id_of(status)
        assert not ix.response.ephemeral and "waiting for a worker" in status.content

        # KEDA on paper: with no worker at all, the exporter still reports the job, so the
        # scaler's activation (depth > 0) can start the first worker.
        queue, metrics = await exporter_queue(world, port, "ltx-tiny")
        assert queue["depth"] == 1 and queue["waiting"] == 1
        assert 'reelbot_queue_workers{model="ltx-tiny"} 0.0' in metrics

        await asyncio.sleep(WORKER_LATE_S)
        assert (await world.store.get(clip_id)).status == "queued" and world.posts_of(clip_id) == []
        await world.start_worker()
        [post] = await world.wait_post(clip_id, timeout=90)
        assert post.attachments
        await asyncio.sleep(2)  # a second delivery would have happened by now
        assert len(world.posts_of(clip_id)) == 1
        await world.sim.wait_for(lambda: (world.sim.message(status.id).content or "").startswith("Done"), 15)
        assert (await world.store.get(clip_id)).status == "done"
    finally:
        exporter.send_signal(signal.SIGTERM)
        exporter.wait(30)
