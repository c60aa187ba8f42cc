"""The metrics of a real run: a `reelbot worker` process on the tiny model, scraped over HTTP
while it loads, renders, holds a job and cancels one."""

import asyncio
import time

import aiohttp
import pytest

from core.events import read_progress
from core.queue import cancel
from tests.servers import free_port
from tests.stack import MODEL
from tests.test_metrics import samples

pytestmark = pytest.mark.slow
# Long enough that the held job is far from its end when scraped, even on an idle machine: with
# pipelining on, a job with under a second of denoising left lets the next one in.
SLOW = {"REELBOT_MODEL_STEPS": '{"ltx-tiny": 1500}'}
LONG = "a slow pan over a city -len 10 -fps 24 -ar 16:9"


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}{path}", timeout=aiohttp.ClientTimeout(total=10)) as resp:
            return resp.status, await resp.text()


async def scrape(port: int) -> dict:
    status, text = await get(port, "/metrics")
    assert status == 200
    return samples(text)


async def wait_http_ready(port: int, worker, timeout: float = 120) -> list[int]:
    """Poll /readyz until 200; returns the statuses seen on the way."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.proc.poll() is None, worker.log_path.read_text()[-3000:]
        try:
            status, _ = await get(port, "/readyz")
        except aiohttp.ClientError:
            status = 0  # not listening yet
        seen.append(status)
        if status == 200:
            return seen
        await asyncio.sleep(0.05)
    raise TimeoutError(f"/readyz never 200: {seen[-5:]}")


def value(m: dict, name: str, **labels) -> float:
    return m[(name, tuple(sorted(labels.items())))]


async def wait_for(predicate, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await predicate():
            return result
        await asyncio.sleep(0.05)
    raise TimeoutError


async def test_worker_metrics_of_a_real_run(stack):
    port = free_port()
    stack.env.update(SLOW, REELBOT_METRICS_PORT=str(port))
    worker = stack.start_worker()
    seen = await wait_http_ready(port, worker)
    # Served from the start (live), but not ready until the model is loaded (seconds, even tiny).
    assert 503 in seen and seen[-1] == 200, seen
    assert await get(port, "/livez") == (200, "ok\n")

    m = await scrape(port)
    assert value(m, "reelbot_worker_model_loaded", model=MODEL) == 1
    assert value(m, "reelbot_worker_render_seconds_count", model=MODEL, stage="load") == 1
    assert value(m, "reelbot_worker_render_seconds_sum", model=MODEL, stage="load") > 0
    assert value(m, "reelbot_worker_gpu_memory_bytes", device="cpu", kind="allocated") == 0  # no CUDA here

    jobs = [await stack.submit(f"clip {i} -len 1 -seed {i}") for i in range(3)]
    for job in jobs:
        assert await stack.wait_final(job.clip_id) == "done", stack.logs()
    m = await scrape(port)
    assert value(m, "reelbot_worker_jobs_total", model=MODEL, outcome="done") == 3
    stages = {}
    for stage in ("queue_wait", "inputs", "denoise", "decode", "encode", "upload", "total"):
        assert value(m, "reelbot_worker_render_seconds_count", model=MODEL, stage=stage) == 3, stage
        stages[stage] = value(m, "reelbot_worker_render_seconds_sum", model=MODEL, stage=stage)
        assert stages[stage] > 0, stage
    parts = sum(stages[s] for s in ("queue_wait", "inputs", "denoise", "decode", "encode", "upload"))
    assert parts <= stages["total"] * 1.01 + 0.01, stages  # the stages fit inside the whole
    assert stages["denoise"] > stages["decode"]  # 300 steps outweigh one VAE decode
    records = [await stack.store.get(j.clip_id) for j in jobs]
    assert stages["encode"] == pytest.approx(sum(r.timings["encode"] for r in records), rel=1e-6)
    rate_sum = value(m, "reelbot_worker_steps_per_second_sum", model=MODEL)
    assert value(m, "reelbot_worker_steps_per_second_count", model=MODEL) == 3 and rate_sum / 3 > 10
    assert value(m, "reelbot_queue_depth", model=MODEL) == 0
    assert value(m, "reelbot_queue_oldest_age_seconds", model=MODEL) == 0
    assert value(m, "reelbot_queue_workers", model=MODEL) == 1
    assert value(m, "reelbot_worker_busy", model=MODEL) == 0

    # One job in hand and one waiting behind it.
    held = await stack.submit(LONG)
    await wait_for(lambda: read_progress(stack.redis, held.clip_id))
    waiting = await stack.submit("a waiting clip -len 1")
    await asyncio.sleep(1.1)  # the exporter side caches a read for a second
    m = await scrape(port)
    assert value(m, "reelbot_worker_busy", model=MODEL) == 1
    assert value(m, "reelbot_queue_depth", model=MODEL) == 2
    assert value(m, "reelbot_queue_running", model=MODEL) == 1
    assert value(m, "reelbot_queue_waiting", model=MODEL) == 1
    assert 0 < value(m, "reelbot_queue_oldest_age_seconds", model=MODEL) < 60

    assert await cancel(stack.redis, stack.store, held.clip_id, MODEL) == "signalled"
    assert await stack.wait_final(held.clip_id) == "cancelled"
    assert await stack.wait_final(waiting.clip_id) == "done"
    m = await scrape(port)
    assert value(m, "reelbot_worker_jobs_total", model=MODEL, outcome="cancelled") == 1
    assert value(m, "reelbot_worker_jobs_total", model=MODEL, outcome="done") == 4
    assert value(m, "reelbot_worker_render_seconds_count", model=MODEL, stage="total") == 4  # not the cancelled one
