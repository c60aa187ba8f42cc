"""Does throughput scale with worker processes? A burst of jobs against one Redis.

For 1, 2 and 4 `reelbot worker` processes on the tiny model (CPU, one thread each), against
one redis-server, PostgreSQL and a local media folder: queue a burst of jobs at once and
measure throughput (jobs per minute, first enqueue → last outcome) and the queue wait p95
(enqueue → a worker starts it), plus how many CPU cores the workers kept busy. Each setup
runs --repeat times; the table shows medians.

    python bench/scaling.py [--jobs 100] [--workers 1,2,4] [--repeat 3] [--prompt "..."]

On a machine with C cores, expect near-linear gains up to C workers and a flat line after:
the tiny model is CPU-bound, so more processes than cores only share the same cores.
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
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.clips import ClipStore  # noqa: E402
from core.contract import OUTCOMES_STREAM, WORKERS_KEY, Outcome  # noqa: E402
from core.flags import parse_prompt  # noqa: E402
from core.jobs import new_job  # noqa: E402
from core.migrate import upgrade_async  # noqa: E402
from core.queue import connect, enqueue  # noqa: E402
from tests.servers import PostgresServer, RedisServer  # noqa: E402

MODEL = "ltx-tiny"
TICKS = os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


async def one_run(n_workers: int, args, pg: PostgresServer, redis_url: str, tmp: Path, run_id: str) -> dict:
    database_url = pg.new_database(f"scaling_{run_id}")
    await upgrade_async(database_url)
    env = {**os.environ, "REELBOT_REDIS_URL": redis_url, "REELBOT_DATABASE_URL": database_url,
           "REELBOT_STORAGE_URL": f"file://{tmp}/media-{run_id}", "REELBOT_MODELS": MODEL,
           "REELBOT_MODELS_DIR": str(tmp / "models"), "REELBOT_DEVICE": "cpu", "REELBOT_LOG_LEVEL": "WARNING",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    redis = await connect(redis_url)
    await redis.flushdb()
    store = ClipStore.from_url(database_url)
    workers = [subprocess.Popen([sys.executable, "-m", "reelbot", "worker"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n_workers)]
    try:
        while await redis.hlen(WORKERS_KEY) < n_workers:
            assert all(w.poll() is None for w in workers), "a worker exited while starting"
            await asyncio.sleep(0.1)

        # Record every clip first (what the bot does on /create), then queue them all at once.
        jobs = [new_job(parse_prompt(f"{args.prompt} -seed {i}"), model=MODEL) for i in range(args.jobs)]
        for job in jobs:
            await store.add(id=job.clip_id, task=job.task.value, prompt=job.prompt, flags=job.flags,
                            seed=job.seed, model=MODEL, status="queued")
        cpu_before = sum(cpu_seconds(w.pid) for w in workers)
        busy_before, total_before = machine_busy()
        burst_at = time.time()
        for job in jobs:
            job.enqueued_at = time.time()
            assert await enqueue(redis, job)

        outcomes: dict[str, Outcome] = {}
        last_id = "0"
        deadline = time.monotonic() + args.timeout
        while len(outcomes) < len(jobs):
            assert time.monotonic() < deadline, f"only {len(outcomes)}/{len(jobs)} finished"
            for _stream, entries in await redis.xread({OUTCOMES_STREAM: last_id}, block=1000, count=100) or []:
                for mid, fields in entries:
                    last_id = mid
                    outcome = Outcome.model_validate_json(fields[b"outcome"])
                    outcomes[outcome.clip_id] = outcome
        cpu_after = sum(cpu_seconds(w.pid) for w in workers)
        busy_after, total_after = machine_busy()
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(60)
        await redis.aclose()
        await store.close()

    assert {o.status for o in outcomes.values()} == {"done"}, {o.status for o in outcomes.values()}
    span = max(o.at for o in outcomes.values()) - burst_at
    waits = [o.timings.queue_wait for o in outcomes.values()]
    return {
        "jobs_per_min": len(jobs) / span * 60,
        "span_s": span,
        "wait_p50": pct(waits, 50),
        "wait_p95": pct(waits, 95),
        "render_s": statistics.median(o.timings.render for o in outcomes.values()),
        "job_s": statistics.median(o.timings.total - o.timings.queue_wait for o in outcomes.values()),
        "worker_cores": (cpu_after - cpu_before) / span,
        "machine_busy": (busy_after - busy_before) / (total_after - total_before),
        "workers_used": len({o.worker for o in outcomes.values()}),
    }


async def main(args) -> None:
    from inference.loading import resolve_source
    from core.catalog import get_model

    tmp = Path(tempfile.mkdtemp(prefix="reelbot-scaling-"))
    resolve_source(get_model(MODEL), None, tmp / "models")  # built once, before workers race to build it
    redis_server, pg = RedisServer(), PostgresServer()
    counts = [int(n) for n in args.workers.split(",")]
    results: dict[int, list[dict]] = {n: [] for n in counts}
    try:
        for r in range(args.repeat):
            for n in counts:
                result = await one_run(n, args, pg, redis_server.url, tmp, f"{n}_{r}")
                results[n].append(result)
                print(f"  run {r + 1}/{args.repeat}, {n} worker(s): {result['jobs_per_min']:.0f} jobs/min, "
                      f"wait p95 {result['wait_p95']:.1f} s", file=sys.stderr)
    finally:
        redis_server.stop()
        pg.stop()

    def med(n, key):
        return statistics.median(r[key] for r in results[n])

    base = med(counts[0], "jobs_per_min")
    print(f"\n{args.jobs}-job burst, model {MODEL} (CPU, 1 thread per worker), {os.cpu_count()} CPUs, "
          f"prompt {args.prompt!r}, medians of {args.repeat}")
    header = ("workers", "jobs/min", "speed-up", "wait p50 s", "wait p95 s", "job s", "render s",
              "worker cores", "machine busy")
    print("".join(f"{h:>13}" for h in header))
    for n in counts:
        print(f"{n:>13}{med(n, 'jobs_per_min'):>13.1f}{med(n, 'jobs_per_min') / base:>13.2f}"
              f"{med(n, 'wait_p50'):>13.1f}{med(n, 'wait_p95'):>13.1f}{med(n, 'job_s'):>13.3f}"
              f"{med(n, 'render_s'):>13.3f}{med(n, 'worker_cores'):>13.2f}{med(n, 'machine_busy'):>12.0%}")
    print("\njob s: a worker's time per job (start → outcome); worker cores: CPU seconds the workers "
          "used per wall second; machine busy: all processes, including Redis, PostgreSQL and anything "
          "else running.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--prompt", default="a fox running through snow -ar 16:9 -fps 24 -len 2")
    parser.add_argument("--timeout", type=float, default=900)
    asyncio.run(main(parser.parse_args()))
