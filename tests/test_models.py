"""Every family and task on the tiny random-weight models, on the CPU, offline.

The pipelines' call arguments are checked by wrapping each pipeline's __call__: what
matters for extend and keyframes is which frames reach the model, and where.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from core.catalog import MODELS, REAL_MODELS, TINY_MODELS, Task, clip_frames, get_model, nearest_bucket  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PAIRS = [(name, task) for name, spec in TINY_MODELS.items() for task in Task if task in spec.tasks]


def colour(i: int) -> tuple[int, int, int]:
    """A distinct solid colour per frame index, so frames can be told apart after resizing."""
    return (7 * i % 256, 255 - 5 * i % 256, 60 + 3 * i % 196)


def solid(i: int, size=(200, 120)) -> Image.Image:
    return Image.new("RGB", size, colour(i))


def clip(count: int, size=(200, 120)) -> list:
    return [solid(i, size) for i in range(count)]


def ids(frames) -> list[int]:
    """Which solid() frame each picture is (by its top-left pixel)."""
    by_colour = {colour(i): i for i in range(256)}
    return [by_colour[frame.convert("RGB").getpixel((0, 0))] for frame in frames]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def renderers(models_dir):
    from inference.render import Renderer

    built = {}

    def get(name):
        if name not in built:
            built[name] = Renderer(get_model(name), models_dir=models_dir)
        return built[name]

    return get


class Spy:
    """Wraps one pipeline's __call__ and keeps the keyword arguments of each call."""

    def __init__(self, pipeline, monkeypatch):
        self.calls = []
        original = type(pipeline).__call__

        def call(this, *args, **kwargs):
            self.calls.append(kwargs)
            return original(this, *args, **kwargs)

        monkeypatch.setattr(type(pipeline), "__call__", call)

    @property
    def last(self) -> dict:
        return self.calls[-1]


VOICE_SECONDS = 1.5


def voice(seconds: float = VOICE_SECONDS, rate: int = 22050, pitch: float = 220.0):
    """A lip-sync's track: a tone whose loudness comes and goes, like speech."""
    from inference.audio import Track

    t = np.arange(round(seconds * rate)) / rate
    return Track((0.4 * np.sin(2 * np.pi * pitch * t) * (0.55 + 0.45 * np.sin(6 * np.pi * t)))[None].astype(np.float32),
                 rate)


def request(task, **overrides):
    from inference.render import RenderInput

    media = dict(image=solid(1), last_image=solid(2), video=clip(30), video_fps=24.0, parent_video=clip(40),
                 parent_fps=24.0, audio=voice(), ingredients=(solid(3), solid(4)))
    return RenderInput(task=task, prompt="a fox running through snow", **{**media, **overrides})


# --- the registry's promises --------------------------------------------------------------


def test_every_real_architecture_has_a_tiny_stand_in():
    covered = {(spec.family, task, cls) for spec in TINY_MODELS.values() for task, cls in spec.pipelines}
    for spec in REAL_MODELS.values():
        for task, cls in spec.pipelines:
            assert (spec.family, task, cls) in covered, f"{spec.name}: {task} through {cls} has no tiny model"
    for spec in TINY_MODELS.values():
        real = REAL_MODELS[spec.mirrors]
        assert (spec.family, spec.pipelines, spec.frames_multiple, spec.size_multiple, spec.fps_conditioned) == (
            real.family, real.pipelines, real.frames_multiple, real.size_multiple, real.fps_conditioned)


def test_wan_frame_rule_and_native_rate():
    wan = get_model("wan-t2v-1.3b")
    assert (wan.native_fps, wan.frames_multiple, wan.size_multiple) == (16, 4, 16)
    assert clip_frames(wan, 16, 81 / 16) == (81, 81)  # the trained length, untouched
    # 24 fps: still 81 frames of motion at 16 fps, shown as 122 frames at 24 fps.
    assert clip_frames(wan, 24, 81 / 16) == (81, 122)
    assert clip_frames(get_model("ltx-video"), 24, 5) == (121, 121)


def test_models_command_lists_families_tasks_and_sources(tmp_path):
    env = {**os.environ, "REELBOT_MODELS_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "reelbot", "models"], cwd=REPO, env=env, capture_output=True,
                         text=True, check=True).stdout
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(lines) == set(MODELS)
    for spec in MODELS.values():
        line = lines[spec.name]
        assert f" {spec.family} " in line and ",".join(task for task in Task if task in spec.tasks) in line
        assert (" sound " in line) == spec.sound  # and lip-sync among the tasks of the models that do it
        assert (str(tmp_path / spec.name) if spec.tiny else spec.hub_id) in line
        assert ("noise, not pictures" in line) == spec.tiny


# --- every family, every task --------------------------------------------------------------


@pytest.mark.parametrize("name,task", PAIRS, ids=[f"{n}:{t}" for n, t in PAIRS])
def test_every_task_renders_the_size_frames_and_fps_asked(renderers, name, task):
    from inference.encode import encode_mp4, probe_mp4

    spec = get_model(name)
    renderer = renderers(name)
    out = renderer.render(request(task, aspect=(9, 16), fps=12, seconds=1.5, seed=5))
    width, height = nearest_bucket(spec, 9, 16)
    # A lip-sync lasts as long as its track (the first frame that covers it), whatever -len says.
    frames = math.ceil(VOICE_SECONDS * 12) if task == Task.LIP_SYNC else clip_frames(spec, 12, 1.5)[1]
    assert (out.width, out.height, out.num_frames, out.fps) == (width, height, frames, 12)
    assert out.frames.shape == (frames, height, width, 3) and out.frames.dtype == np.uint8
    sound = {} if out.audio is None else {"audio": out.audio.samples, "audio_rate": out.audio.rate}
    info = probe_mp4(encode_mp4(out.frames, out.fps, **sound))
    assert (info["width"], info["height"], info["frames"], info["fps"]) == (width, height, frames, 12)
    assert (out.audio is not None) == spec.sound
    if spec.sound:  # AAC at the vocoder's rate (the member's own for lip-sync), as long as the video
        rate = 22050 if task == Task.LIP_SYNC else renderer.pipeline.vocoder.config.output_sampling_rate
        assert (info["audio_codec"], info["audio_rate"]) == ("aac", rate) and out.audio.rate == rate
        assert out.audio.samples.shape[1] == round(frames / 12 * rate)
        assert abs(info["audio_seconds"] - frames / 12) < 0.01


@pytest.mark.parametrize("name", list(TINY_MODELS))
def test_same_seed_same_frames(renderers, name):
    renderer = renderers(name)
    task = sorted(renderer.spec.tasks)[0]
    first = renderer.render(request(task, fps=8, seconds=1, seed=77))
    second = renderer.render(request(task, fps=8, seconds=1, seed=77))
    other = renderer.render(request(task, fps=8, seconds=1, seed=78))
    assert np.array_equal(first.frames, second.frames)
    assert not np.array_equal(first.frames, other.frames)
    if renderer.spec.sound:
        assert np.array_equal(first.audio.samples, second.audio.samples)
        assert not np.array_equal(first.audio.samples, other.audio.samples)


def test_missing_input_is_refused_in_words(renderers):
    from inference.render import MissingInput, UnsupportedTask

    ltx = renderers("ltx-tiny")
    for task, missing, words in [(Task.IMAGE_TO_VIDEO, "image", "an image"),
                                 (Task.KEYFRAMES, "last_image", "a last image"),
                                 (Task.VIDEO_TO_VIDEO, "video", "a video"),
                                 (Task.EXTEND, "parent_video", "the clip to extend")]:
        with pytest.raises(MissingInput) as caught:
            ltx.render(request(task, **{missing: None}))
        assert isinstance(caught.value, UnsupportedTask)  # refused to the member, not retried
        assert str(caught.value) == f"{task.value} needs {words}; none was given"


# --- extend: the parent's last frames reach the model ----------------------------------------


def test_ltx_extend_conditions_on_the_parents_last_frames(renderers, monkeypatch):
    renderer = renderers("ltx-tiny")
    spy = Spy(renderer.pipelines["LTXConditionPipeline"], monkeypatch)
    out = renderer.render(request(Task.EXTEND, parent_video=clip(40), parent_fps=24.0, fps=24, seconds=1))

    (condition,) = spy.last["conditions"]
    k = renderer.spec.extend_frames
    assert condition.frame_index == 0 and condition.strength == 1.0 and condition.image is None
    assert ids(condition.video) == list(range(40 - k, 40))  # the last k frames, in order
    assert {frame.size for frame in condition.video} == {(out.width, out.height)}
    # The parent's aspect (5:3) picks the bucket when -ar is not given.
    assert (out.width, out.height) == nearest_bucket(renderer.spec, 200, 120)
    # The lead-in (the parent's frames rendered again) is not part of the new clip.
    frames = clip_frames(renderer.spec, 24, 1)[1]
    assert spy.last["num_frames"] == frames + k - 1 and out.num_frames == frames


def test_ltx_extend_of_a_short_parent_uses_what_there_is(renderers, monkeypatch):
    renderer = renderers("ltx-tiny")
    spy = Spy(renderer.pipelines["LTXConditionPipeline"], monkeypatch)
    out = renderer.render(request(Task.EXTEND, parent_video=clip(12), fps=24, seconds=1))
    (condition,) = spy.last["conditions"]
    assert ids(condition.video) == list(range(3, 12))  # 9 frames: the largest 8k+1 that fits
    assert out.num_frames == clip_frames(renderer.spec, 24, 1)[1]


def test_wan_extend_keeps_the_parents_last_frames_at_16_fps(renderers, monkeypatch):
    renderer = renderers("wan-vace-tiny")
    spy = Spy(renderer.pipelines["WanVACEPipeline"], monkeypatch)
    out = renderer.render(request(Task.EXTEND, parent_video=clip(40), parent_fps=24.0, seconds=1))

    k = renderer.spec.extend_frames
    video, masks = spy.last["video"], spy.last["mask"]
    # Wan works at 16 fps: from a 24 fps parent, every 1.5th frame, ending on the last one.
    assert ids(video[:k]) == [39 - int(np.floor((k - 1 - i) * 1.5 + 0.5)) for i in range(k)]
    assert ids(video[:k])[-1] == 39
    assert all(frame.getpixel((0, 0)) == (128, 128, 128) for frame in video[k:])  # to generate
    assert [m.getpixel((0, 0)) for m in masks] == [0] * k + [255] * (len(masks) - k)
    assert len(video) == spy.last["num_frames"] == clip_frames(renderer.spec, 16, 1)[0] + k - 1
    # The parent's 24 fps carries over, and the clip is retimed to it.
    assert out.fps == 24 and out.num_frames == clip_frames(renderer.spec, 24, 1)[1]


# --- keyframes, image, video -----------------------------------------------------------------


def test_ltx_keyframes_put_the_images_at_the_first_and_last_frame(renderers, monkeypatch):
    renderer = renderers("ltx-tiny")
    spy = Spy(renderer.pipelines["LTXConditionPipeline"], monkeypatch)
    renderer.render(request(Task.KEYFRAMES, fps=24, seconds=1))
    first, last = spy.last["conditions"]
    assert (ids([first.image]), first.frame_index) == ([1], 0)
    assert (ids([last.image]), last.frame_index) == ([2], spy.last["num_frames"] - 1)


def test_wan_keyframes(renderers, monkeypatch):
    flf = renderers("wan-flf2v-tiny")
    spy = Spy(flf.pipelines["WanImageToVideoPipeline"], monkeypatch)
    flf.render(request(Task.KEYFRAMES, seconds=1))
    assert ids([spy.last["image"], spy.last["last_image"]]) == [1, 2]

    vace = renderers("wan-vace-tiny")
    spy = Spy(vace.pipelines["WanVACEPipeline"], monkeypatch)
    vace.render(request(Task.KEYFRAMES, seconds=1))
    video, masks = spy.last["video"], spy.last["mask"]
    assert ids([video[0], video[-1]]) == [1, 2]
    assert [m.getpixel((0, 0)) for m in masks] == [0] + [255] * (len(masks) - 2) + [0]


def test_image_sets_the_aspect_and_is_cropped_not_stretched(renderers, monkeypatch):
    renderer = renderers("wan-i2v-tiny")
    spy = Spy(renderer.pipelines["WanImageToVideoPipeline"], monkeypatch)
    portrait = Image.new("RGB", (90, 160), (10, 20, 30))
    portrait.paste((250, 0, 0), (0, 0, 90, 20))  # a red band at the top, cropped away by a centre crop
    out = renderer.render(request(Task.IMAGE_TO_VIDEO, image=portrait, seconds=1))
    assert (out.width, out.height) == nearest_bucket(renderer.spec, 9, 16)
    sent = spy.last["image"]
    assert sent.size == (out.width, out.height)
    assert "last_image" not in spy.last


def test_restyle_takes_the_source_at_the_model_rate(renderers, monkeypatch):
    wan = renderers("wan-tiny")
    spy = Spy(wan.pipelines["WanVideoToVideoPipeline"], monkeypatch)
    out = wan.render(request(Task.VIDEO_TO_VIDEO, video=clip(36), video_fps=24.0, fps=24))
    # No -len: the whole 1.5 s source; Wan reads it at 16 fps (every 1.5th frame).
    model_frames, frames = clip_frames(wan.spec, 24, 1.5)
    assert "num_frames" not in spy.last and spy.last["strength"] == 0.7
    assert ids(spy.last["video"]) == [min(int(np.floor(i * 1.5 + 0.5)), 35) for i in range(model_frames)]
    assert out.num_frames == frames and out.fps == 24

    ltx = renderers("ltx-tiny")
    spy = Spy(ltx.pipelines["LTXConditionPipeline"], monkeypatch)
    ltx.render(request(Task.VIDEO_TO_VIDEO, video=clip(36), video_fps=24.0, fps=24, seconds=1))
    (condition,) = spy.last["conditions"]
    assert condition.frame_index == 0 and 0 < condition.strength < 1
    assert ids(condition.video) == list(range(spy.last["num_frames"]))


# --- flags → arguments ------------------------------------------------------------------------


def test_flags_reach_the_pipeline(renderers):
    from inference.render import RenderInput

    ltx = renderers("ltx-tiny")
    args = ltx.pipeline_arguments(RenderInput(prompt="a fox", guidance=7.5, negative_prompt="blur", seed=9,
                                              camera="pan up left", motion=3, fps=30, seconds=2, aspect=(1, 1)))
    assert args["guidance_scale"] == 7.5 and args["negative_prompt"] == "blur"
    assert args["prompt"] == "a fox. The camera pans up and left, lively, energetic motion."
    assert args["frame_rate"] == 30 and args["num_frames"] == 57  # 60 frames → nearest 8k+1
    assert (args["width"], args["height"]) == (96, 96)
    assert args["generator"].device.type == "cpu" and args["generator"].initial_seed() == 9


def test_motion_moves_each_family_its_own_way(renderers):
    from inference import ltx, wan
    from inference.render import RenderInput

    renderer = renderers("ltx-tiny")
    noise = [renderer.pipeline_arguments(request(Task.IMAGE_TO_VIDEO, motion=m))["image_cond_noise_scale"]
             for m in range(5)]
    assert noise == [ltx.MOTION_CONDITION_NOISE[m] for m in range(5)] and noise == sorted(noise)

    vace = renderers("wan-vace-tiny")
    still = vace.pipeline_arguments(RenderInput(prompt="a fox", motion=0))
    moving = vace.pipeline_arguments(RenderInput(prompt="a fox", motion=2))
    assert "static" not in still["negative_prompt"] and "still picture" not in still["negative_prompt"]
    assert moving["negative_prompt"] == vace.spec.default_negative_prompt
    assert still["prompt"].endswith("Static shot, minimal movement.")
    assert wan.STILL_WORDS  # the words dropped are Wan's own


# --- the benchmark's real-size architectures ----------------------------------------------------


def test_real_size_architectures_have_the_published_sizes():
    import torch

    from inference.fullsize import build_fullsize, parameter_count

    billions = {}
    for name in ("ltx-video", "wan-t2v-1.3b"):
        with torch.device("meta"):  # shapes only: no memory, no time
            pipeline = build_fullsize(name, vae_dtype=torch.float32 if name.startswith("wan") else None)
        billions[name] = {part: parameter_count(getattr(pipeline, part)) / 1e9
                          for part in ("transformer", "text_encoder", "vae")}
        assert pipeline.transformer.dtype == torch.bfloat16
        assert pipeline.scheduler.sigmas.dtype == torch.float32
    assert 1.8 < billions["ltx-video"]["transformer"] < 2.1  # "2B"
    assert 4.6 < billions["ltx-video"]["text_encoder"] < 4.9  # T5-XXL encoder
    assert 1.3 < billions["wan-t2v-1.3b"]["transformer"] < 1.5  # "1.3B"
    assert 5.5 < billions["wan-t2v-1.3b"]["text_encoder"] < 5.9  # UMT5-XXL encoder


def test_gpu_benchmark_runs_on_the_cpu_with_a_tiny_model(tmp_path):
    out = tmp_path / "rows.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "bench/gpu.py", "--tiny", "--runs", "1", "--only", "ltx-tiny", "--json", str(out)],
                   cwd=REPO, env=env, check=True, capture_output=True, timeout=300)
    import json

    results = json.loads(out.read_text())
    assert [(r["case"], r["config"]) for r in results["model"]] == [("ltx-tiny", "plain diffusers"),
                                                                    ("ltx-tiny", "reelbot, no knobs")]
    assert all(r["model_s"] > 0 for r in results["model"])
    [job] = results["job"]
    assert job["s_per_clip"] >= job["model_s"] > 0 and 0 <= job["outside"] < 1
    assert [r["pipelining"] for r in results["queue"]] == ["off", "on"]
    assert all(r["clips_per_hour"] > 0 and 0 <= r["gpu_idle"] < 1 for r in results["queue"])
    assert results["skipped"] == [] and results["encoder"] in ("libx264", "h264_nvenc")
