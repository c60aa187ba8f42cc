"""Queue metrics (core/metrics) against a real Redis, the queue exporter's HTTP side, and the
worker's step clock and GPU memory series."""

import time

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from core.contract import queue_name
from core.metrics import QueueCollector, exporter_app, queue_stats, queued_models
from core.queue import IN_PROGRESS_PREFIX, connect, enqueue
from core.jobs import new_job
from core.flags import parse_prompt
from tests.servers import free_port


def samples(text: str) -> dict[tuple, float]:
    """{(name, (label pairs…)): value} from a Prometheus text page."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_an_empty_or_missing_queue_reads_zero(redis):
    stats = await queue_stats(redis, "nobody-serves-this")
    assert (stats.depth, stats.running, stats.waiting, stats.oldest_age_s) == (0, 0, 0, 0.0)


async def test_depth_running_waiting_and_oldest_wait(redis):
    now = time.time()
    key = queue_name("m")
    # arq scores a job by its enqueue time in ms; the head one is running (it holds an in-progress key).
    await redis.zadd(key, {"running": (now - 60) * 1000, "old": (now - 30) * 1000, "new": (now - 5) * 1000,
                           "deferred-retry": (now + 20) * 1000})
    await redis.set(IN_PROGRESS_PREFIX + "running", b"1")
    stats = await queue_stats(redis, "m", now=now)
    assert (stats.depth, stats.running, stats.waiting) == (4, 1, 3)
    assert stats.oldest_age_s == pytest.approx(30, abs=0.01)  # not the running job's 60 s

    await redis.delete(IN_PROGRESS_PREFIX + "running")  # handed back: it waits again
    assert (await queue_stats(redis, "m", now=now)).oldest_age_s == pytest.approx(60, abs=0.01)
    await redis.zrem(key, "running", "old", "new")
    assert (await queue_stats(redis, "m", now=now)).oldest_age_s == 0.0  # only a future retry left


async def test_jobs_enqueued_through_core_queue_are_counted(redis_server, redis):
    arq = await connect(redis_server.url)
    try:
        for i in range(3):
            assert await enqueue(arq, new_job(parse_prompt(f"fox {i}"), model="ltx-tiny"))
        stats = await queue_stats(redis, "ltx-tiny")
        assert (stats.depth, stats.waiting, stats.running) == (3, 3, 0)
        assert 0 <= stats.oldest_age_s < 60
    finally:
        await arq.aclose()


async def test_collector_finds_queues_skips_arq_health_keys_and_keeps_drained_ones_at_zero(redis):
    await redis.zadd(queue_name("a"), {"j1": time.time() * 1000})
    await redis.set(queue_name("a") + ":health-check", b"arq's own string key")
    assert await queued_models(redis) == {"a"}

    registry = CollectorRegistry()
    collector = QueueCollector(["configured"], min_interval_s=0)
    registry.register(collector)
    await collector.refresh(redis)
    from prometheus_client import generate_latest

    got = samples(generate_latest(registry).decode())
    assert got[("reelbot_queue_depth", (("model", "a"),))] == 1
    assert got[("reelbot_queue_depth", (("model", "configured"),))] == 0
    assert not any("health-check" in str(k) for k in got)

    await redis.delete(queue_name("a"))  # drained: arq removes the empty set
    await collector.refresh(redis)
    got = samples(generate_latest(registry).decode())
    assert got[("reelbot_queue_depth", (("model", "a"),))] == 0


async def test_exporter_serves_keda_json_metrics_and_probes(redis):
    await redis.zadd(queue_name("ltx-video"), {"j1": (time.time() - 12) * 1000, "j2": time.time() * 1000})
    registry = CollectorRegistry()
    collector = QueueCollector(["ltx-video"], min_interval_s=0)
    registry.register(collector)
    async with TestClient(TestServer(exporter_app(redis, collector, registry))) as client:
        resp = await client.get("/queue/ltx-video")
        assert resp.status == 200
        body = await resp.json()
        assert body["depth"] == 2 and body["waiting"] == 2 and body["oldest_age_s"] >= 12
        assert (await (await client.get("/queue/unknown-model")).json())["depth"] == 0

        text = await (await client.get("/metrics")).text()
        got = samples(text)
        assert got[("reelbot_queue_depth", (("model", "ltx-video"),))] == 2
        assert got[("reelbot_queue_oldest_age_seconds", (("model", "ltx-video"),))] >= 12
        assert (await client.get("/livez")).status == 200
        assert (await client.get("/readyz")).status == 200


async def test_exporter_is_not_ready_without_redis_but_stays_live():
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    registry = CollectorRegistry()
    collector = QueueCollector(["m"], min_interval_s=0)
    registry.register(collector)
    async with TestClient(TestServer(exporter_app(dead, collector, registry))) as client:
        ready = await client.get("/readyz")
        assert ready.status == 503 and "redis unreachable" in await ready.text()
        assert (await client.get("/livez")).status == 200
        assert (await client.get("/metrics")).status == 200  # a failed refresh still answers
    await dead.aclose()


def test_step_clock_splits_denoise_from_decode_and_rates_steps(monkeypatch):
    from worker import metrics

    times = iter([100.0, 101.0, 101.5, 102.0, 102.5, 104.0])
    monkeypatch.setattr(metrics.time, "perf_counter", lambda: next(times))
    clock = metrics.StepClock(started=0.0)
    clock.start()  # 100: the pipeline call begins (prompt encoding, then steps)
    for step in (1, 2, 3, 4):  # 101 … 102.5
        clock.tick(step)
    clock.end()  # 104: VAE decode done
    assert clock.denoise_s == pytest.approx(2.5)
    assert clock.decode_s == pytest.approx(1.5)
    assert clock.steps_per_second == pytest.approx(2.0)  # 3 steps in the 1.5 s between first and last

    one = metrics.StepClock(started=0.0, first_step=0.5, last_step=0.5, steps=1, first_index=1, ended=0.7)
    assert one.steps_per_second == pytest.approx(2.0)  # a single step: steps over denoise time


def test_gpu_memory_reads_zero_without_cuda():
    from worker.metrics import GpuMemory

    got = {(s.labels["device"], s.labels["kind"]): s.value for f in GpuMemory().collect() for s in f.samples}
    assert got == {("cpu", "allocated"): 0.0, ("cpu", "reserved"): 0.0, ("cpu", "peak"): 0.0}


async def test_reelbot_exporter_serves_until_sigterm(redis_server, tmp_path):
    import asyncio
    import os
    import signal
    import subprocess
    import sys

    import aiohttp

    from tests.stack import ROOT

    port = free_port()
    env = {**os.environ, "REELBOT_REDIS_URL": redis_server.url, "REELBOT_METRICS_PORT": str(port),
           "REELBOT_MODELS": "ltx-tiny", "REELBOT_LOG_FORMAT": "json",
           "REELBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'exporter.db'}"}
    proc = subprocess.Popen([sys.executable, "-m", "reelbot", "exporter"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert proc.poll() is None, proc.stdout.read().decode()
                await asyncio.sleep(0.05)
            async with http.get(f"http://127.0.0.1:{port}/queue/ltx-tiny") as resp:
                assert (await resp.json())["depth"] == 0
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    env.pop("REELBOT_REDIS_URL")
    refused = subprocess.run([sys.executable, "-m", "reelbot", "exporter"], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "REELBOT_REDIS_URL" in refused.stderr
