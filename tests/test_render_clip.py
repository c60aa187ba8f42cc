"""The job function's guards, run in-process against real Redis and SQLite."""

import numpy as np
import pytest
from redis.asyncio import Redis

from core.clips import ClipStore
from core.contract import OUTCOMES_STREAM, Outcome, RenderJob, Status
from core.migrate import upgrade_async
from core.settings import load_settings
from core.storage import FileStorage
from worker.render_clip import render_clip
from worker.runtime import Runtime


class NoModel:
    """A renderer that must not be reached: the guards decide before any render."""

    spec = None
    calls = 0

    def render(self, *_):
        NoModel.calls += 1
        raise AssertionError("rendered although the job should have been settled")


@pytest.fixture(autouse=True)
def _no_render():
    NoModel.calls = 0
    yield
    assert NoModel.calls == 0


@pytest.fixture
async def rt(redis_server, tmp_path):
    url = f"sqlite:///{tmp_path / 'clips.db'}"
    await upgrade_async(url)
    redis = Redis.from_url(redis_server.url)
    await redis.flushdb()
    store = ClipStore.from_url(url)
    yield Runtime(settings=load_settings(max_tries=3, models_dir=tmp_path / "models"), redis=redis, store=store,
                  storage=FileStorage(tmp_path / "media"), worker_id="test:1", renderers={"ltx-tiny": NoModel()})
    await redis.aclose()
    await store.close()


def _job(clip_id="c1"):
    return RenderJob(clip_id=clip_id, model="ltx-tiny", prompt="a fox", seed=1).model_dump(mode="json")


async def _outcomes(redis):
    return [Outcome.model_validate_json(f[b"outcome"]) for _, f in await redis.xrange(OUTCOMES_STREAM)]


async def test_a_job_whose_every_try_died_is_reported_failed_not_dropped(rt):
    await rt.store.add(id="c1", task="text-to-video", prompt="a fox", seed=1, model="ltx-tiny", status="running")
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 4}, _job()) == "failed"
    [outcome] = await _outcomes(rt.redis)
    assert outcome.status is Status.FAILED and "stopped several times" in outcome.error
    assert (await rt.store.get("c1")).status == "failed"


async def test_a_finished_clip_is_not_rendered_again(rt):
    await rt.store.add(id="c1", task="text-to-video", prompt="a fox", seed=1, model="ltx-tiny", status="done")
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, _job()) == "done"
    assert await _outcomes(rt.redis) == []


async def test_a_published_outcome_completes_the_record_after_a_crash(rt):
    from core.events import publish_outcome

    await rt.store.add(id="c1", task="text-to-video", prompt="a fox", seed=1, model="ltx-tiny", status="running")
    # The previous try published its outcome and died before writing the record.
    await publish_outcome(rt.redis, Outcome(clip_id="c1", status=Status.DONE, video_key="clips/c1/clip.mp4",
                                            fps=24, num_frames=25))
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 2}, _job()) == "done"
    clip = await rt.store.get("c1")
    assert clip.status == "done" and clip.video_key == "clips/c1/clip.mp4"
    assert len(await _outcomes(rt.redis)) == 1


async def test_a_cancelled_queued_job_that_slipped_through_does_not_render(rt):
    await rt.store.add(id="c1", task="text-to-video", prompt="a fox", seed=1, model="ltx-tiny", status="queued")
    await rt.redis.set("reelbot:cancel:c1", 1)
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, _job()) == "cancelled"
    assert [o.status for o in await _outcomes(rt.redis)] == [Status.CANCELLED]


# --- failures, cancels after the last step, short clips: a stand-in model -----------------------


class FakeModel:
    """Renders `frames` of noise at once, calling on_step like a pipeline; `during` runs in the
    render thread after the last step (the VAE decode) and `error` is raised instead of rendering."""

    def __init__(self, frames=9, fps=24, during=None, error=None):
        self.frames, self.fps, self.during, self.error = frames, fps, during, error
        self.calls = 0

    def render(self, inp, on_step=None):
        from inference.render import RenderOutput

        self.calls += 1
        if self.error is not None:
            raise self.error
        for step in range(1, 5):
            on_step(step, 4)
        if self.during:
            self.during()
        pixels = np.random.default_rng(inp.seed).integers(0, 256, (self.frames, 32, 48, 3), dtype=np.uint8)
        return RenderOutput(frames=pixels, fps=self.fps, width=48, height=32, num_frames=self.frames, seed=inp.seed,
                            model_seconds=0.01)


@pytest.fixture
def queued(rt):
    async def add(clip_id="c1", **job):
        await rt.store.add(id=clip_id, task="text-to-video", prompt="a fox", seed=1, model="ltx-tiny", status="queued")
        return {**_job(clip_id), **job}
    return add


def _set_cancel_flag(url: str, clip_id: str = "c1"):
    """From the render thread, as a member pressing Cancel would, through another connection."""
    import redis

    def press():
        with redis.Redis.from_url(url) as r:
            r.set(f"reelbot:cancel:{clip_id}", 1)
    return press


async def test_a_cancel_during_the_decode_posts_nothing_and_leaves_no_media(rt, queued, redis_server):
    rt.renderers["ltx-tiny"] = FakeModel(during=_set_cancel_flag(redis_server.url))
    payload = await queued()
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, payload) == "cancelled"
    assert [o.status for o in await _outcomes(rt.redis)] == [Status.CANCELLED]
    assert (await rt.store.get("c1")).status == "cancelled"
    assert rt.storage.keys("clips/") == []


async def test_a_cancel_during_the_upload_still_cancels(rt, queued, redis_server, monkeypatch):
    from worker import upload as upload_module

    upload = upload_module.upload

    def upload_then_cancel(*args, **kwargs):
        seconds = upload(*args, **kwargs)
        _set_cancel_flag(redis_server.url)()  # the member presses Cancel as the upload ends
        return seconds

    monkeypatch.setattr(upload_module, "upload", upload_then_cancel)
    rt.renderers["ltx-tiny"] = FakeModel()
    payload = await queued()
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, payload) == "cancelled"
    assert [o.status for o in await _outcomes(rt.redis)] == [Status.CANCELLED]
    assert rt.storage.keys("clips/") == []  # the uploaded clip and poster were removed


async def test_a_cancel_after_the_outcome_is_out_is_too_late(rt, queued):
    from core.queue import cancel

    rt.renderers["ltx-tiny"] = FakeModel()
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, await queued()) == "done"
    await rt.store.update("c1", status="running")  # as if the record lagged behind the outcome
    assert await cancel(rt.redis, rt.store, "c1", "ltx-tiny") == "done"
    assert not await rt.redis.exists("reelbot:cancel:c1")


async def test_out_of_gpu_memory_fails_at_once_with_what_to_try(rt, queued, monkeypatch):
    import torch

    from worker import render_clip as job_module

    freed = []
    monkeypatch.setattr(job_module, "_free_gpu_memory", lambda: freed.append(1))
    model = FakeModel(error=torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"))
    rt.renderers["ltx-tiny"] = model
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, await queued()) == "failed"
    [outcome] = await _outcomes(rt.redis)
    assert "ran out of memory" in outcome.error and "-len" in outcome.error and "-ar" in outcome.error
    assert model.calls == 1 and freed == [1]  # no second try, and the cache was given back


async def test_a_broken_video_fails_at_once_and_says_the_file_is_broken(rt, queued):
    from core.contract import input_key
    from inference.encode import encode_mp4

    good = encode_mp4(np.random.default_rng(0).integers(0, 256, (24, 96, 160, 3), dtype=np.uint8), 24)
    rt.renderers["ltx-tiny"] = model = FakeModel()
    for n, data in enumerate([good[:4000], b"not a video at all" * 50]):
        clip_id = f"b{n}"
        rt.storage.put(input_key(clip_id, "video.mp4"), data, "video/mp4")
        payload = await queued(clip_id, task="video-to-video", input_keys={"video": input_key(clip_id, "video.mp4")})
        assert await render_clip({"runtime": rt, "job_id": clip_id, "job_try": 1}, payload) == "failed"
        clip = await rt.store.get(clip_id)
        assert clip.error.startswith("Your video could not be decoded past its first frame")
    assert model.calls == 0


async def test_a_transient_fault_is_tried_again(rt, queued):
    from arq import Retry

    rt.renderers["ltx-tiny"] = FakeModel(error=ConnectionResetError("storage hiccup"))
    with pytest.raises(Retry):
        await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, await queued())
    assert await _outcomes(rt.redis) == []


async def test_a_clip_cut_short_by_the_models_frame_cap_says_what_was_asked(rt, queued):
    rt.renderers["ltx-tiny"] = FakeModel(frames=257, fps=30)  # LTX's most frames, at 30 fps: 8.6 s
    payload = await queued(flags={"length": 10, "fps": 30})
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, payload) == "done"
    [outcome] = await _outcomes(rt.redis)
    assert outcome.asked_seconds == 10 and outcome.num_frames == 257
    rt.renderers["ltx-tiny"] = FakeModel(frames=121, fps=24)  # 5 s asked, 5.04 s made: as asked
    assert await render_clip({"runtime": rt, "job_id": "c2", "job_try": 1},
                             await queued("c2", flags={"length": 5, "fps": 24})) == "done"
    assert (await _outcomes(rt.redis))[1].asked_seconds is None


async def test_a_hardware_encoder_failing_on_a_clip_falls_back_to_libx264(rt, queued, monkeypatch):
    from inference import encode
    from inference.encode import probe_mp4

    real = encode._encode

    def nvenc_fails(frames, fps, bitrate, codec, **sound):
        if codec == "h264_nvenc":
            raise OSError("OpenEncodeSessionEx failed: out of memory")
        return real(frames, fps, bitrate, codec, **sound)

    monkeypatch.setattr(encode, "_encode", nvenc_fails)
    rt.encoder = "h264_nvenc"
    rt.renderers["ltx-tiny"] = FakeModel()
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, await queued()) == "done"
    assert probe_mp4(rt.storage.get("clips/c1/clip.mp4"))["codec"] == "h264"


def test_a_clip_is_fitted_to_the_upload_limit_or_kept_whole_when_no_bitrate_fits(tmp_path, _no_render):
    import numpy as np

    from worker.upload import encode_clip, upload

    frames = np.random.default_rng(3).integers(0, 255, (24, 96, 160, 3), dtype=np.uint8)
    whole = encode_clip(frames, 24, None)
    fitted = encode_clip(frames, 24, len(whole.mp4) // 2)
    assert len(fitted.mp4) <= len(whole.mp4) // 2
    # 2 KiB fits no bitrate worth watching: the clip is kept whole (and linked, not attached).
    kept = encode_clip(frames, 24, 2048)
    assert kept.mp4 == whole.mp4
    storage = FileStorage(tmp_path)
    upload(storage, "fitted", fitted)
    assert storage.get("clips/fitted/clip.mp4") == fitted.mp4 and storage.exists("clips/fitted/poster.jpg")


async def test_the_gpu_seconds_a_clip_held_are_stored_with_it(rt, queued):
    import time

    rt.renderers["ltx-tiny"] = FakeModel(during=lambda: time.sleep(0.3))  # 0.3 s on the "GPU"
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, await queued()) == "done"
    [outcome] = await _outcomes(rt.redis)
    assert 0.3 <= outcome.timings.gpu < 5
    assert (await rt.store.get("c1")).gpu_seconds == pytest.approx(outcome.timings.gpu)


class AwayStorage:
    """Storage that is down (connection refused, as a stopped S3 answers) for its first `away` puts."""

    def __init__(self, inner, away: int):
        self.inner, self.away, self.refused = inner, away, 0

    def put(self, key, data, content_type=None):
        if self.refused < self.away:
            self.refused += 1
            raise ConnectionRefusedError("storage is down")
        self.inner.put(key, data, content_type)

    def __getattr__(self, name):
        return getattr(self.inner, name)


async def test_a_clip_rendered_while_storage_is_down_waits_spooled_and_is_rendered_once(rt, queued, monkeypatch):
    from core.events import read_progress
    from worker import upload as upload_module

    rt.renderers["ltx-tiny"] = model = FakeModel()
    rt.storage = AwayStorage(rt.storage, away=3)
    seen = []
    store_clip = upload_module.store_clip

    async def watching(rt_, outcome, encoded, cancelled):
        async def also_look():
            seen.append((rt.spool.clips(), await read_progress(rt.redis, "c1")))
            return await cancelled()
        return await store_clip(rt_, outcome, encoded, also_look)

    monkeypatch.setattr("worker.render_clip.store_clip", watching)
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, await queued()) == "done"
    assert model.calls == 1 and rt.storage.refused == 3
    spooled, progress = seen[0]
    assert spooled == ["c1"] and progress.stage == "uploading"  # kept safe, and the status says so
    assert rt.spool.clips() == [] and rt.storage_watch.down_since is None
    assert sorted(rt.storage.keys("clips/c1/")) == ["clips/c1/clip.mp4", "clips/c1/poster.jpg"]
    [outcome] = await _outcomes(rt.redis)
    assert outcome.status is Status.DONE and outcome.timings.upload > 0


async def test_a_clip_a_dead_worker_left_in_the_spool_is_stored_not_rendered_again(rt, queued):
    from worker.spool import Encoded

    payload = await queued()  # the model is NoModel: a render would fail the test
    left = Outcome(clip_id="c1", status=Status.DONE, model="ltx-tiny", seed=1, video_key="clips/c1/clip.mp4",
                   poster_key="clips/c1/poster.jpg", video_bytes=4, width=48, height=32, fps=24, num_frames=9)
    assert rt.spool.put("c1", Encoded(b"mp4!", b"jpg!"), left)
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 2}, payload) == "done"
    assert rt.storage.get("clips/c1/clip.mp4") == b"mp4!" and rt.spool.clips() == []
    [outcome] = await _outcomes(rt.redis)
    assert (outcome.status, outcome.num_frames, outcome.video_bytes) == (Status.DONE, 9, 4)
    assert (await rt.store.get("c1")).status == "done"


def test_the_spool_is_bounded(tmp_path):
    from worker.spool import Encoded, Spool

    spool = Spool(tmp_path / "spool", max_bytes=100)
    outcome = Outcome(clip_id="a", status=Status.DONE)
    assert spool.put("a", Encoded(b"x" * 60, b"y" * 10), outcome)
    assert not spool.put("b", Encoded(b"x" * 60, b"y" * 10), outcome)  # would pass the bound: memory only
    assert spool.clips() == ["a"] and spool.get("b") is None
    spool.remove("a")
    assert spool.put("b", Encoded(b"x" * 60, b"y" * 10), outcome) and spool.clips() == ["b"]
