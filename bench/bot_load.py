"""The bot under load: simulated members send /create through the local Discord server at a
steady rate, against the real `reelbot bot` process and real `reelbot worker` processes
(tiny model), Redis and SQLite or PostgreSQL.

Prints the acknowledgement latency (from the sim dispatching the interaction to receiving
the bot's first response) p50/p99, the command rate achieved, the time until every clip was
posted, protocol violations and duplicate posts. A benchmark, not a test: figures are noisy
on a shared machine; run it a few times and compare medians.

    python bench/bot_load.py [--members 200] [--rate 100] [--rounds 1] [--workers 2] [--database sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.test_bot_world import BotWorld, clip_id_of  # noqa: E402

PROMPT = "a fox running through snow, take {i} -len 1 -fps 8 -ar 16:9"


class _Sent:
    """What a response's components looked like when the bot sent them."""

    def __init__(self, data: dict | None):
        self.custom_ids = [c["custom_id"] for row in (data or {}).get("components", [])
                           for c in row.get("components", []) if "custom_id" in c]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def run(args) -> dict:
    from inference.loading import resolve_source
    from core.catalog import get_model

    tmp = Path(tempfile.mkdtemp(prefix="reelbot-botload-"))
    models_dir = tmp / "models"
    resolve_source(get_model("ltx-tiny"), None, models_dir)
    postgres = None
    if args.database == "postgres":
        from tests.servers import PostgresServer

        postgres = PostgresServer()
        database_url = postgres.url
    else:
        database_url = f"sqlite:///{tmp}/bench.db"
    world = BotWorld(tmp, database_url, models_dir, REELBOT_MODEL_STEPS='{"ltx-tiny": 4}',
                     REELBOT_COOLDOWN_SECONDS="0", REELBOT_JOBS_IN_FLIGHT="10", REELBOT_JOBS_PER_DAY="1000",
                     REELBOT_PROGRESS_EDIT_SECONDS="3", REELBOT_LOG_LEVEL=args.log_level)
    await world.start()
    try:
        for _ in range(args.workers - 1):
            await world.start_worker()
        return await _load(world, args)
    finally:
        await world.close()
        if postgres is not None:
            postgres.stop()


async def _load(world: BotWorld, args) -> dict:
    sim = world.sim
    members = [world.member("load") for _ in range(args.members)]
    total = args.members * args.rounds
    interval = 1.0 / args.rate
    interactions = []
    print(f"sending {total} /create from {args.members} members at {args.rate}/s …", flush=True)
    if args.freeze_workers:
        # The workers render on the same CPUs as the bot here (on a real deployment they have GPU
        # hosts of their own): hold them still while the commands arrive, so the acknowledgement
        # figures are the bot's; they render everything afterwards.
        for worker in world.workers:
            worker.proc.send_signal(signal.SIGSTOP)
    bot_cpu, sim_cpu = _cpu_seconds(world.bot.proc.pid), time.process_time()
    started = time.perf_counter()
    for i in range(total):
        due = started + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        member = members[i % len(members)]
        interactions.append(await sim.slash(member, world.channel, "create", {"prompt": PROMPT.format(i=i)}))
    sent = time.perf_counter() - started
    await asyncio.gather(*(ix.wait_response(timeout=30) for ix in interactions), return_exceptions=True)
    bot_cpu, sim_cpu = _cpu_seconds(world.bot.proc.pid) - bot_cpu, time.process_time() - sim_cpu
    if args.freeze_workers:
        for worker in world.workers:
            worker.proc.send_signal(signal.SIGCONT)
    latencies = sorted(ix.response.latency for ix in interactions if ix.response is not None)
    if args.show_slowest:
        slow = sorted(((ix.response.latency, i) for i, ix in enumerate(interactions) if ix.response), reverse=True)
        print("slowest (ms, command #):", [(round(t * 1000), i) for t, i in slow[:args.show_slowest]])
    unanswered = sum(ix.response is None for ix in interactions)
    refused = [ix for ix in interactions if ix.response is not None and ix.response.ephemeral]

    # The clip id is on the Cancel button of the status message, as first sent.
    clip_ids = [clip_id_of(_Sent(ix.response.data)) for ix in interactions
                if ix.response is not None and not ix.response.ephemeral]
    pending = set(clip_ids)
    deadline = time.monotonic() + args.deliver_timeout
    while pending and time.monotonic() < deadline:
        posted = {cid for cid in pending if world.posts_of(cid)}
        pending -= posted
        await asyncio.sleep(0.2)
    delivered_at = time.perf_counter() - started
    duplicates = [cid for cid in clip_ids if len(world.posts_of(cid)) > 1]
    await asyncio.sleep(2)  # late duplicates would show up here
    duplicates = sorted(set(duplicates) | {cid for cid in clip_ids if len(world.posts_of(cid)) > 1})
    return {
        "commands": total,
        "rate_target": args.rate,
        "rate_achieved": total / sent if sent else float("inf"),
        "ack_p50_ms": pct(latencies, 50) * 1000,
        "ack_p99_ms": pct(latencies, 99) * 1000,
        "ack_max_ms": (latencies[-1] if latencies else float("nan")) * 1000,
        "unanswered": unanswered,
        "refused": len(refused),
        "queued": len(clip_ids),
        "undelivered": len(pending),
        "deliver_all_s": delivered_at,
        "violations": list(sim.violations),
        "duplicate_posts": duplicates + [f"sim:{len(g)}" for g in sim.duplicate_posts()],
        "workers": args.workers,
        "database": args.database,
        "frozen": args.freeze_workers,
        "bot_cpu_ms_per_command": bot_cpu / total * 1000,
        "sim_cpu_ms_per_command": sim_cpu / total * 1000,
    }


def report(result: dict) -> None:
    frozen = "held still while commands arrive" if result["frozen"] else "rendering while commands arrive"
    print(f"machine: {os.cpu_count()} CPUs, {result['workers']} worker process(es) ({frozen}), {result['database']}")
    print(f"commands           {result['commands']}  (target {result['rate_target']}/s, "
          f"achieved {result['rate_achieved']:.1f}/s)")
    print(f"ack latency        p50 {result['ack_p50_ms']:.1f} ms   p99 {result['ack_p99_ms']:.1f} ms   "
          f"max {result['ack_max_ms']:.1f} ms")
    print(f"CPU per command    bot {result['bot_cpu_ms_per_command']:.1f} ms, "
          f"local Discord server + load {result['sim_cpu_ms_per_command']:.1f} ms")
    print(f"answers            {result['queued']} queued, {result['refused']} refused, "
          f"{result['unanswered']} unanswered")
    print(f"delivery           all clips posted {result['deliver_all_s']:.1f} s after the first command "
          f"({result['undelivered']} not posted)")
    print(f"violations         {len(result['violations'])} {result['violations'][:5]}")
    print(f"duplicate posts    {len(result['duplicate_posts'])} {result['duplicate_posts'][:5]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0, help="commands per second")
    parser.add_argument("--rounds", type=int, default=1, help="commands per member")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--deliver-timeout", type=float, default=600.0)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--show-slowest", type=int, default=0, help="print the N slowest acknowledgements")
    parser.add_argument("--no-freeze-workers", dest="freeze_workers", action="store_false",
                        help="let the workers render on these CPUs while the commands arrive")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    report(result)
    ok = not result["violations"] and not result["duplicate_posts"] and not result["undelivered"] \
        and not result["unanswered"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
