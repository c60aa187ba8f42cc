"""The image-safety check: the classifier (inference/safety.py, its random-weight test model
built from a config and reloaded offline through the transformers pipeline) and its two
steps in the render job (worker/safety.py), run in-process with the tiny LTX model against
real Redis and SQLite. The bot, a worker process and discordsim: tests/test_bot_safety.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from redis.asyncio import Redis

from core import audit
from core.clips import ClipStore
from core.contract import OUTCOMES_STREAM, Outcome, RenderJob, Status
from core.migrate import upgrade_async
from core.safety import DEFAULT_CLASSIFIER, TEST_CLASSIFIER, classifier, describe
from core.settings import load_settings
from core.storage import FileStorage
from inference.safety import SafetyClassifier, SafetyModelError, sample_frames
from tests.test_attachments import image_bytes, video_bytes
from worker.render_clip import render_clip
from worker.runtime import Runtime, load_renderer

GREY = np.full((48, 64, 3), 128, np.uint8)
NOISE = np.random.default_rng(7).integers(0, 256, (48, 64, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def tiny_classifier(models_dir):
    return SafetyClassifier.load(TEST_CLASSIFIER, threshold=0.5, unsafe_labels=["nsfw"], models_dir=models_dir)


def at(checker: SafetyClassifier, threshold: float) -> SafetyClassifier:
    """The same loaded pipeline at another threshold."""
    return SafetyClassifier(checker.pipe, threshold=threshold, unsafe_labels=["nsfw"])


# --- the classifier ----------------------------------------------------------------------

def test_the_test_classifier_is_built_once_labelled_and_reloaded_offline(tiny_classifier, models_dir):
    folder = models_dir / TEST_CLASSIFIER
    config = json.loads((folder / "config.json").read_text())
    assert config["reelbot_test_model"] is True and set(config["id2label"].values()) == {"normal", "nsfw"}
    assert tiny_classifier.test_model and tiny_classifier.unsafe == {"nsfw"}
    weights = (folder / "model.safetensors").read_bytes()
    again = SafetyClassifier.load(TEST_CLASSIFIER, threshold=0.5, unsafe_labels=["NSFW"], models_dir=models_dir)
    assert (folder / "model.safetensors").read_bytes() == weights  # loaded, not rebuilt
    assert again.scores([GREY]) == tiny_classifier.scores([GREY])


def test_a_threshold_steers_the_verdict_both_ways(tiny_classifier):
    grey, noise = tiny_classifier.scores([GREY, Image.fromarray(NOISE)])
    assert 0 < grey < 0.5 and 0 < noise < 0.5 and grey != noise
    # The default passes both; under both scores flags both; between them, one of each.
    assert not tiny_classifier.check([GREY, NOISE]).flagged
    assert at(tiny_classifier, 0.0).check([GREY]).flagged
    middle = at(tiny_classifier, (grey + noise) / 2)
    high, low = (GREY, NOISE) if grey > noise else (NOISE, GREY)
    assert middle.check([high]).flagged and not middle.check([low]).flagged
    verdict = middle.check([low, low, high])
    assert verdict.flagged and verdict.index == 2 and verdict.pictures == 3  # one flagged picture flags the whole
    assert "picture 3 of 3" in verdict.reason(middle.threshold, "the clip")


def test_a_label_the_model_lacks_is_refused(tiny_classifier):
    with pytest.raises(SafetyModelError, match="no label porn.*normal, nsfw"):
        SafetyClassifier(tiny_classifier.pipe, threshold=0.5, unsafe_labels=["nsfw", "porn"])


@pytest.mark.parametrize("total, count, expected", [
    (100, 5, [0, 25, 50, 74, 99]), (3, 8, [0, 1, 2]), (10, 1, [5]), (2, 2, [0, 1]), (0, 4, []),
])
def test_frames_are_sampled_evenly_from_first_to_last(total, count, expected):
    assert sample_frames(list(range(total)), count) == expected


def test_which_classifier_a_process_runs_and_what_help_says():
    tiny = load_settings(model="ltx-tiny", models=["ltx-tiny"])
    assert classifier(tiny, tiny.served_models) == TEST_CLASSIFIER and "random-weight test classifier" in describe(tiny)
    real = load_settings(model="ltx-video")
    assert classifier(real, real.served_models) == DEFAULT_CLASSIFIER and "test" not in describe(real)
    # A worker serving only tiny models gets the test classifier whatever else the catalog holds.
    mixed = load_settings(model="ltx-video", models=["ltx-tiny"])
    assert classifier(mixed, mixed.served_models) == TEST_CLASSIFIER
    assert classifier(mixed, mixed.catalog_models) == DEFAULT_CLASSIFIER
    named = load_settings(model="ltx-tiny", safety_model="/models/nsfw")
    assert classifier(named, named.served_models) == "/models/nsfw"
    off = load_settings(model="ltx-video", safety_check=False)
    assert classifier(off, off.served_models) is None
    assert "turned the image-safety check off: nothing is checked" in describe(off)


# --- in the render job -------------------------------------------------------------------

class Counting:
    """The tiny LTX renderer, counting its renders and denoising steps."""

    def __init__(self, renderer):
        self.renderer, self.spec = renderer, renderer.spec
        self.renders = self.steps = 0

    def render(self, inp, on_step):
        self.renders += 1

        def step(i, total):
            self.steps += 1
            on_step(i, total)

        return self.renderer.render(inp, step)


@pytest.fixture(scope="module")
def ltx_tiny(models_dir):
    return load_renderer(load_settings(models_dir=models_dir), "ltx-tiny", "cpu", warm_up=False)


@pytest.fixture
async def rt(redis_server, tmp_path, ltx_tiny, tiny_classifier):
    url = f"sqlite:///{tmp_path / 'clips.db'}"
    await upgrade_async(url)
    redis = Redis.from_url(redis_server.url)
    await redis.flushdb()
    store = ClipStore.from_url(url)
    runtime = Runtime(settings=load_settings(safety_frames=4), redis=redis, store=store,
                      storage=FileStorage(tmp_path / "media"), worker_id="test:1",
                      renderers={"ltx-tiny": Counting(ltx_tiny)}, safety=at(tiny_classifier, 0.0))
    yield runtime
    await redis.aclose()
    await store.close()


async def run(rt, clip_id="c1", *, task="text-to-video", inputs: dict[str, bytes] | None = None, **job) -> Outcome:
    keys = {}
    for name, data in (inputs or {}).items():
        keys[name] = f"inputs/{clip_id}/{name}"
        rt.storage.put(keys[name], data)
    await rt.store.add(id=clip_id, task=task, prompt="a fox in snow", seed=1, model="ltx-tiny", status="queued",
                       author_id="42", guild_id="g1")
    payload = RenderJob(clip_id=clip_id, model="ltx-tiny", task=task, prompt="a fox in snow", seed=1, member_id="42",
                        flags={"length": 1, "fps": 8}, input_keys=keys, **job).model_dump(mode="json")
    await render_clip({"runtime": rt, "job_id": clip_id, "job_try": 1}, payload)
    [outcome] = [Outcome.model_validate_json(f[b"outcome"]) for _, f in await rt.redis.xrange(OUTCOMES_STREAM)
                 if json.loads(f[b"outcome"])["clip_id"] == clip_id]
    return outcome


async def logged(rt) -> list[audit.Entry]:
    async with rt.store.session() as s:
        return await audit.latest(s, guild_id="g1")


async def test_a_flagged_image_fails_before_any_denoising_step(rt):
    outcome = await run(rt, task="image-to-video", inputs={"image": image_bytes()})
    renderer = rt.renderers["ltx-tiny"]
    assert (renderer.renders, renderer.steps) == (0, 0)
    assert outcome.status is Status.FAILED and outcome.flagged and "flagged your image" in outcome.error
    assert rt.storage.keys("clips/") == []
    clip = await rt.store.get("c1")
    assert clip.status == "failed" and clip.flagged
    [entry] = await logged(rt)
    assert (entry.action, entry.member_id, entry.clip_id, entry.actor) == \
        ("flagged-input", "42", "c1", audit.SAFETY_CHECK)
    assert entry.prompt == "a fox in snow" and "the image: score" in entry.reason


async def test_a_flagged_video_fails_before_any_denoising_step(rt):
    outcome = await run(rt, task="video-to-video", inputs={"video": video_bytes(seconds=1, fps=8)})
    assert (rt.renderers["ltx-tiny"].renders, outcome.status, outcome.flagged) == (0, Status.FAILED, True)
    assert "flagged your video" in outcome.error and "of 4" in (await logged(rt))[0].reason  # 4 frames sampled


async def test_a_flagged_clip_for_an_ordinary_channel_is_withheld_and_not_stored(rt):
    outcome = await run(rt)
    assert rt.renderers["ltx-tiny"].steps > 0  # rendered, then judged
    assert outcome.status is Status.FAILED and outcome.flagged and "not posted" in outcome.error
    assert rt.storage.keys("clips/") == [] and (await rt.store.get("c1")).video_key is None
    [entry] = await logged(rt)
    assert entry.action == "flagged-output" and "not an age-restricted channel" in entry.reason


async def test_a_flagged_clip_for_an_age_restricted_channel_is_kept_and_marked(rt):
    outcome = await run(rt, age_restricted=True)
    assert outcome.status is Status.DONE and outcome.flagged and outcome.video_key
    assert sorted(rt.storage.keys("clips/")) == ["clips/c1/clip.mp4", "clips/c1/poster.jpg"]
    assert (await rt.store.get("c1")).flagged
    [entry] = await logged(rt)
    assert entry.action == "flagged-output" and "kept out of the galleries" in entry.reason


async def test_a_clean_clip_and_an_extends_parent_are_not_flagged(rt, tiny_classifier):
    rt.safety = tiny_classifier  # the default threshold: the tiny model scores about 0.1
    outcome = await run(rt)
    assert outcome.status is Status.DONE and not outcome.flagged
    # An extend's parent is Reelbot's own clip, checked when it was made: not an attachment.
    rt.safety = at(tiny_classifier, 0.0)
    parent = rt.storage.get(outcome.video_key)
    extended = await run(rt, "c2", task="extend", inputs={"parent": parent}, age_restricted=True)
    assert extended.status is Status.DONE and extended.flagged  # only its own frames were judged
    assert [e.action for e in await logged(rt)] == ["flagged-output"]


async def test_with_the_check_off_nothing_is_judged(rt):
    rt.safety = None
    outcome = await run(rt, task="image-to-video", inputs={"image": image_bytes()})
    assert outcome.status is Status.DONE and not outcome.flagged
    assert await logged(rt) == []


def test_a_classifier_that_cannot_be_loaded_stops_the_worker_in_one_line(models_dir, tmp_path):
    from core.settings import SettingsError
    from worker.safety import load

    (tmp_path / "empty").mkdir()
    for source, words in (("nobody/no-such-classifier", "could not be loaded"),  # offline: not in the cache
                          (str(tmp_path / "empty"), "not a transformers model folder")):
        settings = load_settings(model="ltx-video", safety_model=source, models_dir=models_dir)
        with pytest.raises(SettingsError, match="REELBOT_SAFETY_MODEL") as raised:
            load(settings, "cpu")
        assert words in raised.value.line and "\n" not in raised.value.line
    labels = load_settings(model="ltx-tiny", safety_labels=["porn"], models_dir=models_dir)
    with pytest.raises(SettingsError, match="REELBOT_SAFETY_LABELS.*no label porn"):
        load(labels, "cpu")
    assert load(load_settings(model="ltx-tiny", safety_check=False), "cpu") is None
