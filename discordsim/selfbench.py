"""How much latency the sim itself adds: a trivial discord.py bot answers /ping from many members
at a steady rate; prints acknowledgement latency p50/p99 (dispatch → callback received) and the
achieved commands per second. The floor under any bot benchmark run through the sim.

    python -m discordsim.selfbench --rate 100 --seconds 10 --members 200
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import time

import discord
import yarl
from discord.ext import commands

from .sim import DiscordSim


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(rate: float, seconds: float, members: int) -> dict[str, float]:
    sim = await DiscordSim().start()
    guild = sim.add_guild("bench")
    channel = sim.add_channel(guild, "general")
    people = [sim.add_member(guild, f"member{i}") for i in range(members)]
    discord.http.Route.BASE = sim.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sim.gateway_url)
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)

    @bot.tree.command(description="pong")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong", ephemeral=True)

    runner = asyncio.create_task(bot.start(sim.token))
    await sim.wait_for(lambda: bot.is_ready(), timeout=20)
    await bot.tree.sync()
    sent = []
    started = time.monotonic()
    total = int(rate * seconds)
    for i in range(total):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(await sim.slash(people[i % members], channel, "ping"))
    await asyncio.gather(*(ix.wait_response(timeout=30) for ix in sent))
    elapsed = time.monotonic() - started
    latencies = [ix.response.latency * 1000 for ix in sent]
    await bot.close()
    await asyncio.wait([runner], timeout=10)
    await sim.stop()
    return {
        "commands": total, "commands_per_s": total / elapsed, "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99), "max_ms": max(latencies), "violations": len(sim.violations),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m discordsim.selfbench", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--members", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    result = asyncio.run(run(args.rate, args.seconds, args.members))
    print(f"machine: {os.cpu_count()} CPUs; rate asked {args.rate}/s for {args.seconds} s, {args.members} members")
    print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
