"""`python -m discordsim`: an offline Discord for the sandbox, seeded with a guild, a channel and members.

Prints the environment to point `reelbot bot` at it, then serves until interrupted. Act as a
member in the browser (the sandbox page at the printed address) or through the /_sim/
control API (see discordsim/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from .sandbox import DEFAULT_MEMBERS, SandboxPage, SeededMember, seed, seed_like
from .sim import MiB, DiscordSim


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m discordsim", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default="sim-token")
    parser.add_argument("--application-id", type=int, default=None)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--guild", action="append", default=None,
                        help="server names (repeatable; the same channels and members in each); default: Test Server")
    parser.add_argument("--channel", action="append", default=None, help="channel names (repeatable); default: general")
    parser.add_argument("--member", action="append", default=None,
                        help="member names (repeatable); default: alice, plus mod and admin")
    parser.add_argument("--upload-limit-mib", type=float, default=10)
    parser.add_argument("--lenient", action="store_true", help="strict=False: skip Discord's payload limits")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    sim = DiscordSim(token=args.token, application_id=args.application_id, strict=not args.lenient,
                     host=args.host, port=args.port, shard_count=args.shards)
    members = tuple(SeededMember(name) for name in args.member) if args.member else DEFAULT_MEMBERS
    names = args.guild or ["Test Server"]
    guild = seed(sim, names[0], tuple(args.channel or ["general"]), members,
                 upload_limit=int(args.upload_limit_mib * MiB))
    more = tuple(seed_like(sim, guild, name) for name in names[1:])
    page = SandboxPage(sim, guild, more=more)
    await sim.start()
    channel = next(iter(guild.channels.values()))
    print(f"discordsim page={page.url}", flush=True)
    print(f"discordsim api_base={sim.api_base}", flush=True)
    print(f"discordsim gateway_url={sim.gateway_url}", flush=True)
    print(f"REELBOT_DISCORD_API_BASE={sim.api_base}", flush=True)
    print(f"REELBOT_DISCORD_GATEWAY_URL={sim.gateway_url}", flush=True)
    print(f"REELBOT_DISCORD_TOKEN={sim.token}", flush=True)
    print(f"discordsim guild={guild.id} channel={channel.id} members="
          + ",".join(f"{m.name}:{m.id}" for m in guild.members.values() if not m.user.bot), flush=True)
    for other in more:
        print(f"discordsim guild={other.id} channel={next(iter(other.channels.values())).id} name={other.name}",
              flush=True)
    print(f"discordsim control={sim.base_url}/_sim/state", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
