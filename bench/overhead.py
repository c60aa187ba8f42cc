"""What a job costs besides the model: queue pick-up, inputs, encode, upload, record, event.

Runs a real redis-server, SQLite, file storage and one `reelbot worker` process with the tiny
model, submits jobs one at a time, and for each measures the time from enqueue to the outcome
arriving at a bot-side consumer, minus the model call the worker timed. Prints p50/p95.

    python bench/overhead.py [--jobs 50] [--storage s3]   (s3: moto in server mode)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.clips import ClipStore  # noqa: E402
from core.contract import WORKERS_KEY  # noqa: E402
from core.events import OutcomeReader  # noqa: E402
from core.flags import parse_prompt  # noqa: E402
from core.jobs import new_job  # noqa: E402
from core.migrate import upgrade_async  # noqa: E402
from core.queue import connect, enqueue  # noqa: E402
from reelbot.local import start_redis  # noqa: E402

MODEL = "ltx-tiny"
PROMPT = "a fox running through snow -ar 16:9 -fps 24 -len 1"


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def main(args) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="reelbot-bench-"))
    redis_proc, redis_url = start_redis(tmp / "redis", appendonly=False)
    env = {**os.environ, "REELBOT_REDIS_URL": redis_url, "REELBOT_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
           "REELBOT_MODELS": MODEL, "REELBOT_MODELS_DIR": str(tmp / "models"), "REELBOT_DEVICE": "cpu",
           "REELBOT_LOG_LEVEL": "WARNING", "HF_HUB_OFFLINE": "1", "REELBOT_STORAGE_URL": f"file://{tmp}/media"}
    s3 = None
    if args.storage == "s3":
        sys.path.insert(0, str(ROOT / "tests"))
        from tests.servers import S3Server

        s3 = S3Server("bench")  # sets moto's fake AWS credentials in os.environ
        env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_")},
                   REELBOT_STORAGE_URL="s3://bench/media", REELBOT_S3_ENDPOINT_URL=s3.endpoint)
    await upgrade_async(env["REELBOT_DATABASE_URL"])
    worker = subprocess.Popen([sys.executable, "-m", "reelbot", "worker"], env=env, cwd=ROOT)
    redis = await connect(redis_url)
    store = ClipStore.from_url(env["REELBOT_DATABASE_URL"])
    reader = OutcomeReader(redis, "bench")
    await reader.ensure_group()
    try:
        while not await redis.hlen(WORKERS_KEY):
            await asyncio.sleep(0.1)
        rows = []
        for i in range(args.warmup + args.jobs):
            job = new_job(parse_prompt(f"{PROMPT} -seed {i}"), model=MODEL)
            await store.add(id=job.clip_id, task=job.task.value, prompt=job.prompt, flags=job.flags,
                            seed=job.seed, model=MODEL)
            t0 = time.perf_counter()
            await enqueue(redis, job)
            got = []
            while not got:
                got = await reader.read(count=1, block_ms=5000)
            elapsed = time.perf_counter() - t0
            mid, outcome = got[0]
            await reader.ack(mid)
            assert outcome.clip_id == job.clip_id and outcome.status == "done", outcome
            if i >= args.warmup:
                rows.append((elapsed, outcome.timings))
    finally:
        worker.terminate()
        worker.wait(30)
        await redis.close(close_connection_pool=True)
        await store.close()
        redis_proc.terminate()
        if s3:
            s3.stop()

    overhead = [(e - t.render) * 1000 for e, t in rows]
    print(f"\n{len(rows)} jobs, model {MODEL}, storage {args.storage}, {os.cpu_count()} CPUs")
    print(f"{'':24}{'p50 ms':>10}{'p95 ms':>10}")
    stages = {
        "end to end": [e * 1000 for e, _ in rows],
        "model call": [t.render * 1000 for _, t in rows],
        "overhead (e2e - model)": overhead,
        "  queue pick-up": [t.queue_wait * 1000 for _, t in rows],
        "  encode": [t.encode * 1000 for _, t in rows],
        "  upload": [t.upload * 1000 for _, t in rows],
        "  record + event + rest": [o - (t.queue_wait + t.encode + t.upload + t.inputs) * 1000
                                    for o, (_, t) in zip(overhead, rows)],
    }
    for name, values in stages.items():
        print(f"{name:<24}{pct(values, 50):>10.1f}{pct(values, 95):>10.1f}")
    print(f"\ntarget: overhead p50 <= 150 ms -> {'met' if pct(overhead, 50) <= 150 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--storage", choices=["file", "s3"], default="file")
    asyncio.run(main(parser.parse_args()))
