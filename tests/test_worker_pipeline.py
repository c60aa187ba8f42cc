"""The worker's throughput parts on their own: the admission gate (one job per process,
one more only when the GPU will be free soon), the step reporter (the denoising loop
never waits on Redis), the encoder probe, the memory share of models on one card, and
which GPU each local worker gets."""

import asyncio
import threading
import time

import numpy as np
import pytest
from redis.asyncio import Redis

from core.catalog import get_model
from core.contract import PROGRESS_CHANNEL, Progress, queue_name
from core.events import read_progress
from core.queue import RenderWorker, connect
from inference.knobs import default_knobs, memory_share, resolve
from worker.admission import Admission
from worker.gpus import pin_workers
from worker.outage import redis_outage
from worker.progress import Cancelled, StepReporter


# --- admission -------------------------------------------------------------------------------


def test_without_pipelining_a_process_holds_one_job_across_all_its_queues():
    gate = Admission(pipelining=False)
    assert gate.reserve("a")
    assert not gate.reserve("b")  # whichever queue it comes from
    gate.off_gpu("a")
    assert not gate.reserve("b")  # encoding still counts: the job is held until it ends
    gate.release("a")
    assert gate.reserve("b")


def test_pipelining_leases_one_more_only_when_the_gpu_will_be_free_soon():
    gate = Admission(pipelining=True, ahead_s=1.0)
    assert gate.reserve("a")
    assert not gate.reserve("b")  # "a" is loading its inputs: it needs the GPU next
    remaining = [30.0]
    gate.on_gpu("a", lambda: remaining[0])
    assert not gate.reserve("b")  # 30 s of denoising left: the next job would only wait
    remaining[0] = 0.5
    assert gate.reserve("b")  # due within ahead_s: lease the next one now
    assert not gate.reserve("c")  # never more than one extra
    gate.release("b")
    gate.off_gpu("a")  # decoding, encoding, uploading: the GPU is free
    assert gate.reserve("b")
    gate.on_gpu("b", lambda: 0.0)
    assert not gate.reserve("c")  # "a" still uploads and "b" is on the GPU: two held
    gate.release("a")
    assert gate.reserve("c")
    assert not gate.reserve("c")  # a job already held is never leased twice


async def test_one_gate_across_two_arq_queues_runs_one_job_at_a_time(redis_server):
    """Two model queues in one process, a job waiting on each: never both at once."""
    redis = await connect(redis_server.url)
    await redis.flushdb()
    running, most, order = set(), [0], []

    async def job(ctx, name):
        running.add(name)
        most[0] = max(most[0], len(running))
        await asyncio.sleep(0.3)
        running.discard(name)
        order.append(name)

    from arq.worker import func

    gate = Admission(pipelining=False)
    workers = [RenderWorker(functions=[func(job, name="job")], queue_name=queue_name(model), redis_pool=redis,
                            max_jobs=2, poll_delay=0.02, handle_signals=False, admission=gate, lease_s=5)
               for model in ("m1", "m2")]
    for i, model in enumerate(("m1", "m2", "m1", "m2")):
        await redis.enqueue_job("job", f"{model}-{i}", _queue_name=queue_name(model))
    runs = [asyncio.create_task(w.async_run()) for w in workers]
    deadline = time.monotonic() + 20
    while len(order) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for w in workers:
        w.handle_sig(2)
    await asyncio.gather(*runs, return_exceptions=True)
    await redis.close(close_connection_pool=True)
    assert sorted(order) == ["m1-0", "m1-2", "m2-1", "m2-3"]
    assert most[0] == 1
    assert gate.held == {}


async def test_a_redis_failure_mid_lease_does_not_stop_leasing(redis_server):
    """arq counts a job before the Redis calls that lease it and never uncounts it when they
    fail: after one outage at that moment, a one-job worker would never lease again."""
    from arq.worker import func
    from redis.exceptions import ConnectionError as RedisConnectionError

    redis = await connect(redis_server.url)
    await redis.flushdb()

    async def job(ctx):
        return None

    gate = Admission(pipelining=False)
    worker = RenderWorker(functions=[func(job, name="job")], queue_name=queue_name("m"), redis_pool=redis, max_jobs=1,
                          handle_signals=False, admission=gate, lease_s=5)
    queued = await redis.enqueue_job("job", _queue_name=queue_name("m"))
    ids = await redis.zrangebyscore(queue_name("m"), "-inf", "+inf")

    def outage(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    redis.pipeline = outage
    with pytest.raises(RedisConnectionError):
        await worker.start_jobs(ids)
    del redis.pipeline  # Redis is back
    assert (worker.job_counter, gate.held) == (0, {})
    await worker.start_jobs(ids)
    assert queued.job_id in worker.tasks
    await asyncio.gather(*worker.tasks.values())
    await redis.close(close_connection_pool=True)


# --- the step reporter -----------------------------------------------------------------------


async def test_steps_never_wait_on_redis_and_a_cancel_stops_the_next_step(redis_server):
    redis = Redis.from_url(redis_server.url)
    await redis.delete("reelbot:cancel:r1", "reelbot:progress:r1")
    feed = redis.pubsub()
    await feed.subscribe(PROGRESS_CHANNEL)
    reached = []
    async with StepReporter(redis, "r1", redis_outage()) as reporter:

        def render():
            for step in range(1, 10_001):
                try:
                    reporter.step(step, 10_000)
                except Cancelled as stop:
                    reached.append(stop.step)
                    return
                time.sleep(0.001)  # a step
            reached.append(None)

        thread = threading.Thread(target=render)
        thread.start()
        while (await read_progress(redis, "r1")) is None:
            await asyncio.sleep(0.01)
        await redis.set("reelbot:cancel:r1", 1)
        flagged = await read_progress(redis, "r1")
        await asyncio.to_thread(thread.join, 30)
    assert reached and reached[0] is not None, "the render ran to the end although cancelled"
    assert reached[0] < 10_000
    steps = []
    while (msg := await feed.get_message(timeout=0.5)) is not None:
        if msg["type"] == "message":
            steps.append(Progress.model_validate_json(msg["data"]).step)
    assert steps and max(steps) <= flagged.step  # nothing reported after the cancel
    await feed.aclose()
    await redis.aclose()


async def test_progress_lost_to_a_redis_outage_does_not_stop_the_render():
    from tests.servers import free_port

    watch = redis_outage()
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    async with StepReporter(redis, "r2", watch) as reporter:
        for step in range(1, 6):
            reporter.step(step, 5)  # never raises, never blocks
            await asyncio.sleep(0.3)
    assert watch.outage_s is not None and "Connection" in watch.error
    await redis.aclose()


# --- the encoder -----------------------------------------------------------------------------


def test_the_encoder_probe_falls_back_to_libx264_with_the_reason(monkeypatch):
    from inference import encode

    monkeypatch.setattr(encode, "HARDWARE", ("h264_nosuch", "h264_nvenc"))
    chosen = encode.pick_encoder()
    if chosen.hardware:
        pytest.skip(f"this host has a working {chosen.codec}; the fallback needs one without")
    assert chosen.codec == "libx264" and "h264_nosuch" in chosen.reason and "h264_nvenc" in chosen.reason
    with pytest.raises(encode.EncodeError, match="h264_nosuch does not work here"):
        encode.pick_encoder("h264_nosuch")
    assert encode.pick_encoder("libx264").codec == "libx264"


def test_nvenc_encodes_a_clip_every_client_plays():
    from inference.encode import encode_mp4, pick_encoder, probe_mp4

    chosen = pick_encoder("auto")
    if not chosen.hardware:
        pytest.skip(f"GPU-only: no working NVENC on this host ({chosen.reason})")
    frames = np.random.default_rng(1).integers(0, 256, (25, 96, 160, 3), dtype=np.uint8)
    info = probe_mp4(encode_mp4(frames, 24, codec=chosen.codec))
    assert (info["codec"], info["pix_fmt"], info["frames"], info["fps"]) == ("h264", "yuv420p", 25, 24.0)
    assert info["faststart"]


# --- memory share, GPUs ----------------------------------------------------------------------


def test_models_on_one_card_share_its_memory_budget():
    ltx, i2v, flf2v = get_model("ltx-video"), get_model("wan-i2v-14b"), get_model("wan-flf2v-14b")
    assert memory_share(ltx) == 1.0 and memory_share(ltx, (ltx,)) == 1.0
    # Alone on an 80 GB card a 14B Wan keeps bf16 weights (41 GiB within 70 % of the card) ...
    assert default_knobs(i2v, "cuda", 80).fp8 is None
    # ... and beside the 2B LTX too: 55.5 GiB together still fit, so neither changes ...
    together = (ltx, i2v)
    assert default_knobs(i2v, "cuda", 80, memory_share(i2v, together)).fp8 is None
    assert default_knobs(ltx, "cuda", 80, memory_share(ltx, together)).fp8 is None
    # ... but two 14B Wans on one card do not fit side by side: each gets half, and FP8.
    assert memory_share(i2v, (i2v, flf2v)) == pytest.approx(0.5)
    assert default_knobs(i2v, "cuda", 80, memory_share(i2v, (i2v, flf2v))).fp8 is not None
    # On a CPU there is no budget to share.
    assert resolve(ltx, "cpu", None, together).dtype == "fp32"


def test_reelbot_up_pins_worker_i_to_gpu_i():
    pinned = pin_workers(3, {"CUDA_VISIBLE_DEVICES": "0,1,2", "PATH": "/bin"})
    assert [e["CUDA_VISIBLE_DEVICES"] for e, _ in pinned] == ["0", "1", "2"] and pinned[0][0]["PATH"] == "/bin"
    assert [where for _, where in pinned] == ["GPU 0", "GPU 1", "GPU 2"]
    pinned = pin_workers(3, {"CUDA_VISIBLE_DEVICES": "GPU-aa,GPU-bb"})
    assert [e["CUDA_VISIBLE_DEVICES"] for e, _ in pinned] == ["GPU-aa", "GPU-bb", "GPU-aa"]
    assert [where for _, where in pinned][:2] == ["GPU GPU-aa, shared by 2 workers", "GPU GPU-bb"]
    pinned = pin_workers(2, {"REELBOT_DEVICE": "cpu", "CUDA_VISIBLE_DEVICES": "0,1"})
    assert all(e["CUDA_VISIBLE_DEVICES"] == "0,1" and where == "CPU" for e, where in pinned)


async def test_presence_scrubs_dead_workers_and_outlives_redis_errors(redis_server):
    import json

    from core.contract import WORKERS_KEY
    from core.queue import workers_online
    from tests.servers import free_port
    from worker import presence

    redis = Redis.from_url(redis_server.url)
    await redis.delete(WORKERS_KEY)
    dead = {"id": "gone:1", "models": {"ltx-tiny": ["text-to-video"]}, "busy": None, "seen": time.time() - 600}
    await redis.hset(WORKERS_KEY, mapping={"gone:1": json.dumps(dead), "junk:2": "not json"})
    await presence.announce(redis, "here:3", {"ltx-tiny": ["text-to-video"]})
    assert set(await redis.hkeys(WORKERS_KEY)) == {b"here:3"}  # the dead and the malformed are gone
    assert 0 < await redis.ttl(WORKERS_KEY) <= presence.STALE_S  # and the hash goes when every worker has
    [online] = await workers_online(redis)
    assert online["id"] == "here:3" and online["models"] == {"ltx-tiny": ["text-to-video"]}
    await redis.aclose()

    watch = redis_outage()
    away = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    loop = asyncio.create_task(presence.keep_announcing(away, "here:3", {}, watch, every_s=0.05))
    await asyncio.sleep(1.0)
    assert not loop.done() and watch.outage_s is not None  # still announcing, and it said so
    loop.cancel()
    await presence.withdraw(away, "here:3")  # on the way out with Redis away: no exception
    await away.aclose()


def test_a_shortened_clip_says_so():
    from bot.messages import shortened_note

    assert shortened_note(None, 5.0, "ltx-video") is None
    assert shortened_note(5.0, 5.04, "ltx-video") is None
    note = shortened_note(10.0, 257 / 30, "ltx-video")
    assert note.startswith("Shorter than asked: 8.6 s of the 10 s you asked for") and "ltx-video" in note
