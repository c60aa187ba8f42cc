"""`reelbot usage` and `reelbot server-plan`: where the GPU hours go, and the operator's
plan for a server (its weight in the fair queue, its fast GPU hours a day)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from core import limits
from core.usage import Row, usage
from reelbot.moderation import _with_sessions

TITLES = {"server": "server", "member": "member", "model": "model"}


def _table(by: str, rows: list[Row]) -> list[str]:
    head = (TITLES[by], "clips", "GPU h", "fast h", "relax h", "fast clips", "relax clips")
    cells = [head]
    for row in rows:
        key = row.key or ("(DMs)" if by == "server" else "—")
        if by == "member" and row.name:
            key = f"{key} ({row.name})"
        cells.append((key, str(row.clips), f"{row.gpu_hours:.3f}", f"{row.fast_seconds / 3600:.3f}",
                      f"{row.relax_seconds / 3600:.3f}", str(row.fast_clips), str(row.relax_clips)))
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
            for r in cells]


def print_usage(settings, moment: datetime | None, guild: str | None, limit: int = 50) -> int:
    async def run(sessions):
        return {by: await usage(sessions, by, moment, guild, limit) for by in ("server", "member", "model")}

    tables = asyncio.run(_with_sessions(settings, run))
    scope = (f"since {moment:%Y-%m-%d %H:%M} UTC" if moment else "all time") + (f", server {guild}" if guild else "")
    print(f"GPU time {scope} (GPU seconds measured by the workers; fast and relax lanes)")
    for by, rows in tables.items():
        print()
        if not rows:
            print(f"per {by}: no clips")
            continue
        print(f"per {by}:" + (f" (the top {limit})" if len(rows) == limit else ""))
        for line in _table(by, rows):
            print("  " + line)
    return 0


def server_plan(settings, guild: str, weight: float | None, hours: float | None, no_cap: bool) -> int:
    async def run(sessions):
        if weight is None and hours is None and not no_cap:
            return await limits.server_plan(sessions, guild), False
        return await limits.set_server_plan(sessions, guild, weight=weight, fast_gpu_hours_per_day=hours,
                                            no_fast_cap=no_cap), True

    plan, changed = asyncio.run(_with_sessions(settings, run))
    fast = "no cap" if plan.fast_gpu_hours_per_day is None else f"{plan.fast_gpu_hours_per_day:g} GPU hours a day"
    print(f"server {guild}{' now' if changed else ''}: weight {plan.weight:g} in the fair queue, fast lane: {fast}"
          + (" (logged in the audit log)" if changed else ""))
    return 0
