"""The job function's guards, run in-process against real Redis and SQLite."""

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
    yield Runtime(settings=load_settings(max_tries=3), redis=redis, store=store,
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


def test_a_clip_is_fitted_to_the_upload_limit_or_kept_whole_when_no_bitrate_fits(tmp_path, _no_render):
    import numpy as np

    from worker.upload import encode_and_upload

    frames = np.random.default_rng(3).integers(0, 255, (24, 96, 160, 3), dtype=np.uint8)
    storage = FileStorage(tmp_path)
    whole = encode_and_upload(storage, "whole", frames, 24, None)
    fitted = encode_and_upload(storage, "fitted", frames, 24, whole.video_bytes // 2)
    assert fitted.video_bytes <= whole.video_bytes // 2 and storage.exists(fitted.video_key)
    # 2 KiB fits no bitrate worth watching: the clip is kept whole (and linked, not attached).
    kept = encode_and_upload(storage, "kept", frames, 24, 2048)
    assert storage.get(kept.video_key) == storage.get(whole.video_key)
