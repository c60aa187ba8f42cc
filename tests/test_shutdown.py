"""SIGTERM to a worker in the middle of a render: the job in hand is finished, or handed
back and finished by another worker; never lost, never delivered twice."""

import asyncio
import time

import pytest

from core.contract import queue_name
from core.events import read_progress
from inference.encode import probe_mp4
from tests.servers import free_port
from tests.stack import MODEL
from tests.test_metrics_run import get, wait_http_ready

pytestmark = pytest.mark.slow
SLOW = {"REELBOT_MODEL_STEPS": '{"ltx-tiny": 300}'}
LONG = "a slow pan over a city -len 10 -fps 24 -ar 16:9"


@pytest.fixture
def stack(stack):
    stack.env.update(SLOW)
    return stack


async def wait_exit(worker, timeout=120) -> int:
    deadline = time.monotonic() + timeout
    while worker.proc.poll() is None:
        assert time.monotonic() < deadline, "worker did not exit after SIGTERM"
        await asyncio.sleep(0.05)
    return worker.proc.returncode


async def assert_delivered_once(stack, clip_id, worker_id):
    clip = await stack.store.get(clip_id)
    assert (clip.status, clip.worker) == ("done", worker_id)
    assert [o.status for o in await stack.outcomes(clip_id)] == ["done"]
    assert stack.storage.keys(f"clips/{clip_id}/") == [f"clips/{clip_id}/clip.mp4", f"clips/{clip_id}/poster.jpg"]
    assert probe_mp4(stack.storage.get(f"clips/{clip_id}/clip.mp4"))["codec"] == "h264"
    return clip


async def test_sigterm_finishes_the_job_in_hand_and_takes_no_other(stack):
    port = free_port()
    stack.env["REELBOT_METRICS_PORT"] = str(port)
    worker = stack.start_worker()
    await stack.wait_ready(worker)
    await wait_http_ready(port, worker)
    job = await stack.submit(LONG)
    at_stop = await stack.wait_running(job.clip_id, min_step=2)
    assert at_stop.step < at_stop.total  # SIGTERM lands mid-render
    behind = await stack.submit("queued behind it -len 1")

    worker.proc.terminate()
    # Draining: not ready (take it out of rotation), still live (do not kill it).
    status, reason = await get(port, "/readyz")
    deadline = time.monotonic() + 10
    while status != 503 and time.monotonic() < deadline:
        status, reason = await get(port, "/readyz")
    assert (status, reason) == (503, "stopping\n")
    assert (await get(port, "/livez"))[0] == 200
    assert (await read_progress(stack.redis, job.clip_id)).status == "running"  # stopping, mid-render

    assert await wait_exit(worker) == 0, worker.log_path.read_text()[-3000:]
    # Finished by the worker that was told to stop, on its first and only try.
    clip = await assert_delivered_once(stack, job.clip_id, worker.worker_id)
    assert clip.attempts == 1
    # The job queued behind it was never started by the stopping worker: still waiting, untouched.
    assert (await stack.store.get(behind.clip_id)).status == "queued"
    assert await stack.redis.zscore(queue_name(MODEL), behind.clip_id) is not None
    assert await read_progress(stack.redis, behind.clip_id) is None

    stack.env["REELBOT_METRICS_PORT"] = str(free_port())
    successor = stack.start_worker()
    assert await stack.wait_final(behind.clip_id) == "done"
    await assert_delivered_once(stack, behind.clip_id, successor.worker_id)
    assert successor.stop() == 0  # an idle worker stops at once and cleanly


async def test_sigterm_past_the_grace_period_hands_the_job_back_to_another_worker(stack):
    # Grace of 1 s: the render cannot finish in time, so the worker stops it and hands it back.
    # A lease of 120 s proves the hand-back is explicit: waiting out the lease would take longer
    # than this test allows.
    stack.env.update(REELBOT_STOP_GRACE_SECONDS="1", REELBOT_LEASE_SECONDS="120")
    workers = [stack.start_worker(), stack.start_worker()]
    await stack.wait_ready(*workers)
    job = await stack.submit(LONG)
    await stack.wait_running(job.clip_id, min_step=2)
    holder_id = (await stack.store.get(job.clip_id)).worker
    holder = next(w for w in workers if w.worker_id == holder_id)
    other = next(w for w in workers if w is not holder)

    holder.proc.terminate()
    assert await wait_exit(holder, timeout=60) == 0, holder.log_path.read_text()[-3000:]
    assert await stack.wait_final(job.clip_id, timeout=90) == "done", stack.logs()
    clip = await assert_delivered_once(stack, job.clip_id, other.worker_id)
    assert clip.attempts == 2
