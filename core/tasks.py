"""Stopping a background task for sure.

On Python 3.11 a task's cancel can be lost inside a library call, and the task then runs on:
`asyncio.wait_for` returns the inner result when the cancel lands just as that finishes
(redis-py wraps every send in one when a socket timeout is set), and redis-py's hiredis
readiness check turns a cancel that lands in its zero timeout into "no data" (redis-py #4063).
Whoever awaits such a task waits forever: a render's progress reporter or lease renewal kept
its job leased and unfinished (bench runs: about one render in a thousand).
"""

from __future__ import annotations

import asyncio

# How long a cancelled task has for its own cleanup before it is asked again: a lost cancel
# costs this much, and no task stopped here cleans up for longer (a lock release at most).
PATIENCE_S = 0.2


async def stop_task(task: asyncio.Task) -> None:
    """Cancel `task` and return once it has ended, cancelling again while a cancel was lost.
    Its own error, if it ended with one, is taken and dropped: it is being stopped."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=PATIENCE_S)
    if not task.cancelled():
        task.exception()
