"""Background tasks stop when asked, even where a library loses the cancel (core/tasks.py).

Python 3.11's `asyncio.wait_for` returns the inner result when a cancel lands just as the
inner call ends, and redis-py wraps every send in one when a socket timeout is set (the
worker's pool sets one); redis-py's hiredis readiness check also drops a cancel that lands in
its zero timeout. A render's progress reporter or lease renewal that ran on after such a
cancel kept its job leased and unfinished for good (seen in bench runs, about one render in a
thousand). Here the Redis call loses the cancel every time."""

import asyncio

import pytest

from core.tasks import stop_task
from tests.test_render_clip import FakeModel, queued, rt  # noqa: F401 (fixtures)
from worker.render_clip import render_clip


async def _swallows_one_cancel() -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        pass
    await asyncio.sleep(3600)


async def test_a_task_that_lost_a_cancel_is_cancelled_again_until_it_ends():
    task = asyncio.create_task(_swallows_one_cancel())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_task(task), 5)
    assert task.cancelled()


async def test_a_task_that_fails_as_it_stops_is_stopped_quietly():
    async def fails() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            raise RuntimeError("cleanup failed")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    await stop_task(task)
    assert task.done() and isinstance(task.exception(), RuntimeError)


def _loses_the_cancel(returns):
    """A Redis call still in flight when its task is cancelled, that returns as if it had
    finished (what wait_for does when the cancel and the reply cross): once, then as usual."""
    lost = []

    async def call(*_args, **_kwargs):
        if lost:
            return returns
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            lost.append(1)
        return returns
    call.lost = lost
    return call


@pytest.mark.parametrize("where,returns", [("worker.progress.report_progress", False),
                                           ("worker.render_clip.renew_lease", True)])
async def test_a_render_ends_though_its_reporter_or_lease_lost_a_cancel(rt, queued, monkeypatch, where, returns):
    lost = _loses_the_cancel(returns)
    monkeypatch.setattr(where, lost)
    rt.renderers["ltx-tiny"] = FakeModel()
    rendering = asyncio.create_task(render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, await queued()))
    done, _ = await asyncio.wait([rendering], timeout=20)
    if not done:
        await stop_task(rendering)
    assert done, "the job never finished: a background task ran on after its cancel was lost"
    assert rendering.result() == "done" and lost.lost
