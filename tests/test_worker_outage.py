"""Workers ride out a Redis outage: a real redis-server (append-only) killed mid-render and
restarted on the same port and data. The job in flight is delivered exactly once, the
workers live on, say so in their logs and /readyz, and render the next job."""

import asyncio
import json
import signal
import time

import aiohttp
import pytest
import redis

from core.catalog import get_model
from inference.loading import resolve_source
from reelbot.local import start_redis
from tests.servers import free_port
from tests.stack import MODEL, Stack
from tests.test_metrics_run import get, wait_http_ready

pytestmark = pytest.mark.slow
LONG = "a slow pan over a city -len 10 -fps 24 -ar 16:9"
# Longer than the lease (so the job's in-progress key is gone when Redis comes back) and
# than several backoff steps; a minute-long outage takes the same paths, only more of them.
OUTAGE_S = 10


class KillableRedis:
    """redis-server on a fixed port with its data in a folder that outlives the process."""

    def __init__(self, folder):
        self.folder, self.port = folder, free_port()
        self.start()

    def start(self):
        self.proc, self.url = start_redis(self.folder, port=self.port, appendonly=True)
        with redis.Redis(port=self.port) as r:
            r.config_set("appendfsync", "always")  # a SIGKILL loses nothing written before it

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
async def outage_stack(postgres_server, s3_server, models_dir, tmp_path):
    resolve_source(get_model(MODEL), None, models_dir)
    server = KillableRedis(tmp_path / "redis")
    stack = Stack(server.url, postgres_server.new_database("outage"), s3_server, s3_server.new_bucket("outage"),
                  models_dir, tmp_path, REELBOT_MODEL_STEPS='{"ltx-tiny": 300}', REELBOT_LEASE_SECONDS="3",
                  REELBOT_HEARTBEAT_SECONDS="1")
    await stack.start()
    yield stack, server
    await stack.close()
    server.proc.terminate()


async def status_of(port):
    try:
        return await get(port, "/readyz")
    except aiohttp.ClientError as exc:
        return 0, str(exc)


async def test_a_redis_outage_mid_render_delivers_the_clip_once_and_the_workers_live_on(outage_stack):
    stack, server = outage_stack
    ports = [free_port(), free_port()]
    workers = []
    for port in ports:
        stack.env["REELBOT_METRICS_PORT"] = str(port)
        workers.append(stack.start_worker())
    await stack.wait_ready(*workers)
    for port, worker in zip(ports, workers):
        await wait_http_ready(port, worker)
    job = await stack.submit(LONG)
    await stack.wait_running(job.clip_id, min_step=2)

    server.kill()
    down_at = time.monotonic()
    seen = {}
    while time.monotonic() - down_at < OUTAGE_S:
        for port in ports:
            status, reason = await status_of(port)
            if status == 503:
                seen[port] = reason
        await asyncio.sleep(0.5)
    assert all(w.proc.poll() is None for w in workers), stack.logs()
    assert set(seen) == set(ports), seen
    assert all(reason.startswith("redis unreachable") for reason in seen.values()), seen
    server.start()

    assert await stack.wait_final(job.clip_id, timeout=120) == "done", stack.logs()
    assert [o.status for o in await stack.outcomes(job.clip_id)] == ["done"]
    assert stack.storage.keys(f"clips/{job.clip_id}/") == [f"clips/{job.clip_id}/clip.mp4",
                                                           f"clips/{job.clip_id}/poster.jpg"]
    for port, worker in zip(ports, workers):
        await wait_http_ready(port, worker, timeout=30)
        events = [json.loads(line).get("event") for line in worker.log_path.read_text().splitlines()
                  if line.startswith("{")]
        assert "redis unreachable; reconnecting with backoff" in events and "redis reachable again" in events

    # Serving goes on: a job queued after the outage is rendered, once.
    after = await stack.submit("after the outage -len 1")
    assert await stack.wait_final(after.clip_id, timeout=60) == "done", stack.logs()
    assert len(await stack.outcomes()) == 2
    assert all(w.proc.poll() is None for w in workers)
