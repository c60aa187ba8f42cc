"""The quality step of a render (worker/quality.py in worker/render_clip.py): signals stored with
the clip and exported on /metrics, and broken clips rendered again once, then failed."""

import numpy as np
import pytest
from prometheus_client import REGISTRY

from core.contract import Status
from tests.test_render_clip import FakeModel, _outcomes, queued, rt  # noqa: F401 (fixtures)
from worker.render_clip import render_clip


class Scripted(FakeModel):
    """Returns the clips it is given in turn (the last one again when they run out), and
    remembers the seeds it was asked for."""

    def __init__(self, *clips, finite=(True,)):
        super().__init__()
        self.clips, self.finite, self.seeds = list(clips), list(finite), []

    def render(self, inp, on_step=None):
        out = super().render(inp, on_step)
        self.seeds.append(inp.seed)
        index = min(len(self.seeds), len(self.clips)) - 1
        out.frames = self.clips[index]
        out.finite = self.finite[min(len(self.seeds), len(self.finite)) - 1]
        out.num_frames, out.height, out.width = self.clips[index].shape[:3]
        return out


def _black():
    return np.zeros((9, 32, 48, 3), np.uint8)


def _frozen():
    return np.repeat(np.random.default_rng(1).integers(0, 256, (1, 32, 48, 3), dtype=np.uint8), 9, axis=0)


def _moving():
    return np.random.default_rng(2).integers(0, 256, (9, 32, 48, 3), dtype=np.uint8)


def _broken_count(model, reason, then):
    return REGISTRY.get_sample_value("reelbot_quality_broken_total", {"model": model, "reason": reason,
                                                                      "then": then}) or 0.0


async def test_a_good_clip_is_measured_and_its_signals_stored_and_exported(rt, queued):
    observed = REGISTRY.get_sample_value("reelbot_quality_motion_count", {"model": "ltx-tiny"}) or 0.0
    rt.renderers["ltx-tiny"] = Scripted(_moving())
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, await queued()) == "done"
    [outcome] = await _outcomes(rt.redis)
    assert outcome.quality.signals["motion"] > 0 and outcome.quality.broken is None
    assert outcome.timings.quality == pytest.approx(outcome.quality.seconds) and outcome.timings.quality > 0
    clip = await rt.store.get("c1")
    assert clip.quality["signals"]["flicker"] == pytest.approx(outcome.quality.signals["flicker"])
    assert clip.broken is None and clip.revision is None  # a stand-in renderer has no weights
    assert REGISTRY.get_sample_value("reelbot_quality_motion_count", {"model": "ltx-tiny"}) == observed + 1


@pytest.mark.parametrize("first,reason", [(_black, "black"), (_frozen, "frozen")])
async def test_a_broken_clip_is_rendered_once_more_with_a_new_seed_at_no_cost(rt, queued, first, reason):
    before = _broken_count("ltx-tiny", reason, "rendered again")
    model = rt.renderers["ltx-tiny"] = Scripted(first(), _moving())
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, await queued()) == "done"
    assert len(model.seeds) == 2 and model.seeds[0] == 1 and model.seeds[1] != 1
    [outcome] = await _outcomes(rt.redis)
    assert outcome.seed == model.seeds[1] and outcome.quality.broken == reason and outcome.quality.first_seed == 1
    assert outcome.timings.gpu_discarded > 0  # the broken render's GPU time is not what the member pays
    clip = await rt.store.get("c1")
    assert clip.status == "done" and clip.seed == model.seeds[1] and clip.broken == reason
    assert _broken_count("ltx-tiny", reason, "rendered again") == before + 1


@pytest.mark.parametrize("clip,reason,words", [(_black, "black", "blank (all black) clip twice"),
                                               (_frozen, "frozen", "still picture instead of a moving clip")])
async def test_a_clip_broken_twice_fails_with_the_reason(rt, queued, clip, reason, words):
    before = _broken_count("ltx-tiny", reason, "failed")
    model = rt.renderers["ltx-tiny"] = Scripted(clip())
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, await queued()) == "failed"
    assert len(model.seeds) == 2  # once more, not again and again
    [outcome] = await _outcomes(rt.redis)
    assert outcome.status is Status.FAILED and words in outcome.error and "Nothing was charged" in outcome.error
    assert outcome.timings.gpu == 0 and outcome.quality.broken == reason
    stored = await rt.store.get("c1")
    assert stored.status == "failed" and stored.broken == reason and stored.gpu_seconds == 0
    assert rt.storage.keys("clips/") == []  # nothing was encoded or uploaded
    assert _broken_count("ltx-tiny", reason, "failed") == before + 1


async def test_non_finite_output_is_broken_whatever_its_pixels_look_like(rt, queued):
    model = rt.renderers["ltx-tiny"] = Scripted(_moving(), finite=(False, True))
    assert await render_clip({"runtime": rt, "job_id": "c1", "job_try": 1}, await queued()) == "done"
    [outcome] = await _outcomes(rt.redis)
    assert len(model.seeds) == 2 and outcome.quality.broken == "non-finite"


async def test_a_still_clip_is_fine_where_no_motion_was_asked(rt, queued):
    for n, flags in enumerate([{"motion": 0}]):
        model = rt.renderers["ltx-tiny"] = Scripted(_frozen())
        clip_id = f"s{n}"
        assert await render_clip({"runtime": rt, "job_id": clip_id, "job_try": 1},
                                 await queued(clip_id, flags=flags)) == "done"
        assert len(model.seeds) == 1
    # An edit keeps the source's motion: a still source may come back still.
    from worker.quality import motion_asked
    from core.contract import RenderJob

    assert not motion_asked(RenderJob(clip_id="e", model="ltx-tiny", task="edit", prompt="x", seed=1))
    assert motion_asked(RenderJob(clip_id="e", model="ltx-tiny", prompt="x", seed=1, flags={"motion": 0,
                                                                                           "camera": "zoom in"}))


def test_the_real_renderer_says_when_its_output_is_not_finite():
    import torch

    from inference.render import all_finite

    assert all_finite(torch.zeros(2, 3, 4, 4)) and all_finite(np.ones((2, 4, 4, 3)))
    assert not all_finite(torch.tensor([0.0, float("nan")])) and not all_finite(np.array([np.inf]))
