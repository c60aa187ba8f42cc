"""What a job costs besides the model, and what pipelining wins back.

Runs a real redis-server, SQLite, file (or S3) storage and `reelbot worker` processes with
the tiny model. Two measurements, in one run:

1. One job at a time (--jobs): the time from enqueue to the outcome at a bot-side consumer,
   minus the model call the worker timed; p50/p95 per stage.
2. Back to back (--batch, default 20): the batch queued at once, once with pipelining off
   (REELBOT_PIPELINING=0) and once on, alternating over --rounds so both see the same
   machine; jobs per minute (first enqueue to last outcome) and the share of that wall time
   outside the model call (1 - sum of model calls / wall). Medians over the rounds.

    python bench/overhead.py [--jobs 50] [--batch 20] [--rounds 3] [--storage s3]
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


class Bench:
    def __init__(self, env: dict, redis, store: ClipStore, reader: OutcomeReader):
        self.env, self.redis, self.store, self.reader = env, redis, store, reader
        self.seed = 0

    async def worker(self, **env) -> subprocess.Popen:
        """A `reelbot worker` process, once it has announced itself."""
        proc = subprocess.Popen([sys.executable, "-m", "reelbot", "worker"], env={**self.env, **env}, cwd=ROOT)
        while not await self.redis.hlen(WORKERS_KEY):
            if proc.poll() is not None:
                raise RuntimeError("the worker exited while starting")
            await asyncio.sleep(0.1)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen) -> None:
        proc.terminate()
        proc.wait(60)

    async def submit(self, count: int) -> list:
        """Record `count` clips (as the bot does), then queue them all; returns the jobs."""
        jobs = []
        for _ in range(count):
            self.seed += 1
            job = new_job(parse_prompt(f"{PROMPT} -seed {self.seed}"), model=MODEL)
            await self.store.add(id=job.clip_id, task=job.task.value, prompt=job.prompt, flags=job.flags,
                                 seed=job.seed, model=MODEL)
            jobs.append(job)
        for job in jobs:
            await enqueue(self.redis, job)
        return jobs

    async def outcomes(self, count: int, timeout: float = 300) -> list:
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(got)} of {count} outcomes")
            for mid, outcome in await self.reader.read(count=count, block_ms=1000):
                await self.reader.ack(mid)
                assert outcome.status == "done", outcome
                got.append(outcome)
        return got


async def one_at_a_time(bench: Bench, jobs: int, warmup: int) -> list:
    rows = []
    for i in range(warmup + jobs):
        t0 = time.perf_counter()
        [job] = await bench.submit(1)
        [outcome] = await bench.outcomes(1)
        elapsed = time.perf_counter() - t0
        assert outcome.clip_id == job.clip_id
        if i >= warmup:
            rows.append((elapsed, outcome.timings))
    return rows


async def back_to_back(bench: Bench, batch: int) -> dict:
    await bench.outcomes(len(await bench.submit(2)))  # warm: allocator, first encode
    t0 = time.perf_counter()
    await bench.submit(batch)
    outcomes = await bench.outcomes(batch)
    wall = time.perf_counter() - t0
    model = sum(o.timings.render for o in outcomes)
    return {"jobs_per_min": batch / wall * 60, "outside": 1 - model / wall, "wall": wall,
            "gpu_wait": statistics.median(o.timings.gpu_wait for o in outcomes)}


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
    redis = await connect(redis_url)
    store = ClipStore.from_url(env["REELBOT_DATABASE_URL"])
    reader = OutcomeReader(redis, "bench")
    await reader.ensure_group()
    bench = Bench(env, redis, store, reader)
    runs: dict[str, list[dict]] = {"off": [], "on": []}
    try:
        rows = []
        if args.jobs:
            proc = await bench.worker()
            rows = await one_at_a_time(bench, args.jobs, args.warmup)
            bench.stop(proc)
        for round_ in range(args.rounds if args.batch else 0):
            order = ("off", "on") if round_ % 2 == 0 else ("on", "off")  # neither always goes first
            for mode in order:
                proc = await bench.worker(REELBOT_PIPELINING="1" if mode == "on" else "0")
                runs[mode].append(await back_to_back(bench, args.batch))
                bench.stop(proc)
    finally:
        await redis.close(close_connection_pool=True)
        await store.close()
        redis_proc.terminate()
        if s3:
            s3.stop()

    print(f"\nmodel {MODEL}, storage {args.storage}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, prompt {PROMPT!r}")
    if rows:
        overhead = [(e - t.render) * 1000 for e, t in rows]
        print(f"\n{len(rows)} jobs one at a time\n{'':24}{'p50 ms':>10}{'p95 ms':>10}")
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
        print(f"target: overhead p50 <= 150 ms -> {'met' if pct(overhead, 50) <= 150 else 'NOT met'}")
    if runs["on"]:
        print(f"\n{args.batch} jobs back to back, median of {args.rounds} rounds (alternating order)\n")
        print("| pipelining | jobs/min | wall s | outside the model call | median GPU wait s |")
        print("|---|---|---|---|---|")
        med = {mode: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for mode, rs in runs.items()}
        for mode in ("off", "on"):
            m = med[mode]
            print(f"| {mode} | {m['jobs_per_min']:.1f} | {m['wall']:.2f} | {m['outside']:.1%} | {m['gpu_wait']:.3f} |")
        ratios = [on["jobs_per_min"] / off["jobs_per_min"] for on, off in zip(runs["on"], runs["off"])]
        print(f"\non/off jobs per minute: {med['on']['jobs_per_min'] / med['off']['jobs_per_min']:.2f}x "
              f"(per round: {', '.join(f'{r:.2f}x' for r in ratios)})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50, help="jobs one at a time (0: skip)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=20, help="jobs back to back per run (0: skip)")
    parser.add_argument("--rounds", type=int, default=3, help="off/on pairs")
    parser.add_argument("--storage", choices=["file", "s3"], default="file")
    asyncio.run(main(parser.parse_args()))
