"""Fair queue against first come, first served, side by side in one run, on real `reelbot
worker` processes (tiny model), Redis and SQLite.

The load, the same for both orders:
- `flood`: one server's 40 members, each keeping their cap (2) of clips in flight: as soon
  as one of theirs is done they send another (the evening burst of a big server);
- `heavy`: a server of weight 2 (`reelbot server-plan --weight 2`), 10 members at their cap;
- `small-1..3`: three small servers, each sending one clip every few seconds;
- `relax`: a member sending relax clips (`-relax`) every few seconds.
FIFO queues each clip as the old code did (arq's score = the enqueue time); fair queues it
through core/queue.py's `enqueue` with the ticket the bot gives it (server, lane, weight).

Printed per server: clips, max and p95 wait (queued → a worker took it); Jain's index over
service (GPU seconds) per weight among the servers that were backlogged the whole time
(flood, heavy); the share of the time some clip waited while a worker held none for more
than one poll (GPU idle while anything waits); and whether every relax clip was delivered. Targets: small servers'
max wait at most a third of FIFO's, Jain ≥ 0.95, idle ≈ 0, every relax clip delivered.

    python bench/fairness.py [--seconds 40] [--workers 2] [--steps 16]

A benchmark, not a test: figures are noisy on a shared machine; compare the two columns of
one run, and medians of a few runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.bot_load import pct  # noqa: E402 (the same percentile as the other benches)

MODEL = "ltx-tiny"
PROMPT = "a fox running through snow -len 2 -fps 8"
CAP = 2


@dataclass
class Server:
    name: str
    weight: float = 1.0
    lane: str = "fast"
    members: int = 0  # closed loop: members each keeping CAP clips in flight
    every_s: float = 0.0  # open loop: one clip every this many seconds


LOAD = (Server("flood", members=40), Server("heavy", weight=2.0, members=10),
        Server("small-1", every_s=3.0), Server("small-2", every_s=3.5), Server("small-3", every_s=4.0),
        Server("relax", lane="relax", every_s=3.0))
BACKLOGGED = ("flood", "heavy")


@dataclass
class Sent:
    clip_id: str
    server: str
    member: str
    queued_at: float


@dataclass
class Mode:
    name: str
    sent: dict[str, Sent] = field(default_factory=dict)
    outcomes: dict[str, object] = field(default_factory=dict)
    waiting_samples: int = 0
    idle_samples: int = 0


def jain(values: list[float]) -> float:
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values)) if any(values) else float("nan")


class Bench:
    def __init__(self, args):
        self.args = args

    async def start(self) -> None:
        from core.catalog import get_model
        from core.clips import ClipStore
        from core.migrate import upgrade_async
        from core.queue import connect
        from inference.loading import resolve_source
        from tests.servers import RedisServer
        from tests.stack import WorkerProcess

        self.tmp = Path(tempfile.mkdtemp(prefix="reelbot-fairness-"))
        models_dir = self.tmp / "models"
        resolve_source(get_model(MODEL), None, models_dir)
        self.redis_server = RedisServer()
        self.database_url = f"sqlite:///{self.tmp}/bench.db"
        await upgrade_async(self.database_url)
        env = {**os.environ, "REELBOT_REDIS_URL": self.redis_server.url, "REELBOT_DATABASE_URL": self.database_url,
               "REELBOT_STORAGE_URL": f"file://{self.tmp}/media", "REELBOT_MODELS": MODEL, "REELBOT_MODEL": MODEL,
               "REELBOT_MODELS_DIR": str(models_dir), "REELBOT_DEVICE": "cpu", "REELBOT_LOG_FORMAT": "json",
               "REELBOT_LOG_LEVEL": self.args.log_level, "REELBOT_MODEL_STEPS": f'{{"{MODEL}": {self.args.steps}}}',
               "REELBOT_SAFETY_CHECK": "false", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
               # As GPU workers do (a CPU worker's default is off: --no-pipelining): without it a
               # tiny CPU job is short enough that arq's poll between two jobs shows as idle.
               "REELBOT_PIPELINING": "1" if self.args.pipelining else "0"}
        self.redis = await connect(self.redis_server.url)
        self.store = ClipStore.from_url(self.database_url)
        self.workers = [WorkerProcess(env, self.tmp / f"worker-{i}.log") for i in range(self.args.workers)]
        await self._wait_workers()

    async def _wait_workers(self) -> None:
        import json

        from core.contract import WORKERS_KEY

        want = {w.worker_id for w in self.workers}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            seen = {json.loads(v)["id"] for v in (await self.redis.hgetall(WORKERS_KEY)).values()}
            if want <= seen:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError("workers did not come up")

    async def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        await self.redis.aclose()
        await self.store.close()
        self.redis_server.stop()

    # --- one order under the load ----------------------------------------------------------

    async def submit(self, mode: Mode, server: Server, member: str) -> None:
        from core.contract import QueueTicket
        from core.flags import parse_prompt
        from core.jobs import new_job
        from core.queue import RENDER_FUNCTION, enqueue

        request = parse_prompt(PROMPT + (" -relax" if server.lane == "relax" else ""))
        ticket = QueueTicket(guild_id=server.name, lane=server.lane, weight=server.weight, cost_s=1.0)
        job = new_job(request, model=MODEL, member_id=member, ticket=ticket)
        await self.store.add(id=job.clip_id, task=job.task.value, prompt=job.prompt, flags=job.flags, seed=job.seed,
                             model=MODEL, author_id=member, guild_id=server.name, lane=server.lane, status="queued")
        mode.sent[job.clip_id] = Sent(job.clip_id, server.name, member, time.time())
        if mode.name == "fair":
            await enqueue(self.redis, job)
        else:  # what core/queue.py did before the fair order: arq's own score, the enqueue time
            from core.contract import queue_name

            await self.redis.enqueue_job(RENDER_FUNCTION, job.model_dump(mode="json"), _job_id=job.clip_id,
                                         _queue_name=queue_name(MODEL))

    async def run(self, mode: Mode) -> Mode:
        from core.contract import OUTCOMES_STREAM, Outcome

        stop = asyncio.Event()
        done_by_member: dict[str, asyncio.Queue] = {}
        last_id = (await self.redis.xinfo_stream(OUTCOMES_STREAM))["last-generated-id"] \
            if await self.redis.exists(OUTCOMES_STREAM) else "0-0"

        async def outcomes() -> None:
            nonlocal last_id
            while True:
                reply = await self.redis.xread({OUTCOMES_STREAM: last_id}, block=200, count=100)
                for _stream, entries in reply or []:
                    for entry_id, fields in entries:
                        last_id = entry_id
                        outcome = Outcome.model_validate_json(fields[b"outcome"])
                        sent = mode.sent.get(outcome.clip_id)
                        if sent is not None:
                            mode.outcomes[outcome.clip_id] = outcome
                            if sent.member in done_by_member:
                                done_by_member[sent.member].put_nowait(outcome.clip_id)

        submitting: set[asyncio.Task] = set()

        async def submit(server: Server, member: str) -> None:
            # Never cut short by the end of the load: a clip recorded is a clip queued.
            task = asyncio.ensure_future(self.submit(mode, server, member))
            submitting.add(task)
            task.add_done_callback(submitting.discard)
            await asyncio.shield(task)

        async def member_loop(server: Server, member: str) -> None:
            done_by_member[member] = asyncio.Queue()
            for _ in range(CAP):
                await submit(server, member)
            while not stop.is_set():
                await done_by_member[member].get()
                if not stop.is_set():
                    await submit(server, member)

        async def steady(server: Server, rng: random.Random) -> None:
            await asyncio.sleep(rng.uniform(0, server.every_s))
            while not stop.is_set():
                await submit(server, f"{server.name}-m")
                await asyncio.sleep(server.every_s * rng.uniform(0.8, 1.2))

        async def sample() -> None:
            # A worker between two jobs is without one for up to a poll (REELBOT_POLL_SECONDS,
            # 50 ms) without leaving the GPU idle for long: idle counts when it lasts two samples.
            from core.queue import queue_view

            short_before = False
            while not stop.is_set():
                view = await queue_view(self.redis, MODEL)
                short = bool(view.waiting) and view.running < len(self.workers)
                if view.waiting:
                    mode.waiting_samples += 1
                    if short and short_before:
                        mode.idle_samples += 1
                short_before = short
                await asyncio.sleep(0.05)

        reader = asyncio.create_task(outcomes())
        rng = random.Random(7)  # the same arrivals for both orders
        load = [asyncio.create_task(member_loop(server, f"{server.name}-{i}"))
                for server in LOAD for i in range(server.members)]
        load += [asyncio.create_task(steady(server, rng)) for server in LOAD if server.every_s]
        sampler = asyncio.create_task(sample())
        await asyncio.sleep(self.args.seconds)
        stop.set()
        for task in load:
            task.cancel()
        await asyncio.gather(*load, sampler, return_exceptions=True)
        await asyncio.gather(*submitting, return_exceptions=True)
        deadline = time.monotonic() + self.args.drain_timeout
        while len(mode.outcomes) < len(mode.sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        reader.cancel()
        return mode


def report(modes: list[Mode], seconds: float) -> dict:
    rows = {}
    for mode in modes:
        per = {}
        window_end = min(s.queued_at for s in mode.sent.values()) + seconds
        for server in LOAD:
            waits = [o.timings.queue_wait for cid, o in mode.outcomes.items()
                     if mode.sent[cid].server == server.name and o.timings]
            sent = [s for s in mode.sent.values() if s.server == server.name]
            service = sum(o.timings.gpu for cid, o in mode.outcomes.items()
                          if mode.sent[cid].server == server.name and o.timings and o.at <= window_end)
            per[server.name] = dict(sent=len(sent), done=sum(1 for s in sent if s.clip_id in mode.outcomes),
                                    max=max(waits, default=float("nan")), p95=pct(waits, 95),
                                    per_weight=service / server.weight)
        renders = [o.timings.render for o in mode.outcomes.values() if o.timings and o.timings.render]
        rows[mode.name] = dict(servers=per, jain=jain([per[name]["per_weight"] for name in BACKLOGGED]),
                               idle=mode.idle_samples / mode.waiting_samples if mode.waiting_samples else 0.0,
                               render=statistics.median(renders) if renders else float("nan"),
                               clips=len(mode.outcomes))
    fifo, fair = rows["fifo"], rows["fair"]
    print(f"\n{'server':<15} {'weight':>6} | {'FIFO clips':>10} {'max wait':>9} {'p95 wait':>9} | "
          f"{'fair clips':>10} {'max wait':>9} {'p95 wait':>9}")
    for server in LOAD:
        a, b = fifo["servers"][server.name], fair["servers"][server.name]
        label = server.name + (" (relax)" if server.lane == "relax" else "")
        print(f"{label:<15} {server.weight:>6g} | {a['done']:>4}/{a['sent']:<5} {a['max']:>8.1f}s {a['p95']:>8.1f}s | "
              f"{b['done']:>4}/{b['sent']:<5} {b['max']:>8.1f}s {b['p95']:>8.1f}s")
    small = [s.name for s in LOAD if s.name.startswith("small")]
    ratio = max(fair["servers"][n]["max"] for n in small) / max(fifo["servers"][n]["max"] for n in small)
    print(f"\nJain's index, GPU seconds per weight of {', '.join(BACKLOGGED)}: FIFO {fifo['jain']:.3f}, "
          f"fair {fair['jain']:.3f} (target ≥ 0.95)")
    print(f"small servers' max wait, fair / FIFO: {ratio:.3f} (target ≤ 0.333)")
    print(f"GPU idle while a clip waited: FIFO {fifo['idle']:.1%}, fair {fair['idle']:.1%} (target ≈ 0)")
    print(f"clips done: FIFO {fifo['clips']}, fair {fair['clips']}; median model call: FIFO {fifo['render']:.3f} s, "
          f"fair {fair['render']:.3f} s (the machine's load, not the order: compare the two to read the counts)")
    relax = fair["servers"]["relax"]
    print(f"relax clips delivered (fair): {relax['done']} of {relax['sent']}")
    return rows


async def main_async(args) -> None:
    bench = Bench(args)
    await bench.start()
    try:
        modes = []
        for name in ("fair", "fifo") if args.fair_first else ("fifo", "fair"):
            print(f"{name}: {args.seconds:g} s of load on {args.workers} workers, then draining…", flush=True)
            modes.append(await bench.run(Mode(name)))
        report(modes, args.seconds)
    finally:
        await bench.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=40.0, help="seconds of load per order")
    parser.add_argument("--fair-first", action="store_true", help="run the fair order first (a shared machine's "
                        "load drifts: swap the order between runs)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=16, help="denoising steps of the tiny model")
    parser.add_argument("--drain-timeout", type=float, default=180.0,
                        help="after the load, wait this long for the last clips (undelivered ones show as n/m)")
    parser.add_argument("--log-level", default="WARNING", help="the workers' (their logs are in the temp folder)")
    parser.add_argument("--no-pipelining", dest="pipelining", action="store_false",
                        help="lease one job at a time (a CPU worker's default; GPU workers pipeline)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
