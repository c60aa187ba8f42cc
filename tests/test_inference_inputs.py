"""The worker's side of the models: decoding a job's inputs (the parent clip of an
extend, keyframes' images) into RenderInput, and loading models with their knobs."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import io  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from core.contract import input_key, video_key  # noqa: E402
from core.catalog import Task
from core.flags import parse_prompt  # noqa: E402
from core.jobs import new_job  # noqa: E402
from core.settings import SettingsError, load_settings  # noqa: E402
from core.storage import open_storage  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def numbered_clip(count: int, fps: int) -> bytes:
    """An MP4 whose frame i is a solid grey of level 8*i (distinct after H.264)."""
    from inference.encode import encode_mp4

    frames = np.stack([np.full((32, 48, 3), 8 * i, dtype=np.uint8) for i in range(count)])
    return encode_mp4(frames, fps)


def level(frame) -> int:
    pixels = np.asarray(frame)
    return round(pixels[pixels.shape[0] // 2, pixels.shape[1] // 2, 0] / 8)


def png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_clip_is_probed_then_decoded_to_the_size_and_rate_asked():
    from worker.inputs import open_clip

    clip = open_clip(numbered_clip(30, fps=12))
    assert (clip.size, clip.fps, len(clip), clip.has_audio) == ((48, 32), 12, 30, False)
    end = clip.frames_at(10, 12, 48, 32, from_end=True)
    assert [level(f) for f in end] == list(range(20, 30)) and end[0].size == (48, 32)
    half = clip.frames_at(10, 6, 96, 96)  # every other frame, scaled to cover and cropped
    assert [level(f) for f in half] == list(range(0, 20, 2)) and {f.size for f in half} == {(96, 96)}
    long = clip.frames_at(40, 12, 24, 16)  # more than there are: the last one repeats
    assert [level(f) for f in long] == list(range(30)) + [29] * 10


def test_decoding_stops_at_the_last_frame_needed(monkeypatch):
    import inference.media as media
    from worker.inputs import open_clip

    converted = []
    real = media._to_bucket
    monkeypatch.setattr(media, "_to_bucket", lambda frame, w, h: converted.append(frame.pts) or real(frame, w, h))
    clip = open_clip(numbered_clip(30, fps=24))
    frames = clip.frames_at(5, 12, 48, 32)  # 0, 2, 4, 6, 8 of 30
    assert [level(f) for f in frames] == [0, 2, 4, 6, 8] and len(converted) == 5


def test_a_rotated_phone_clip_is_decoded_upright():
    """A portrait phone clip is stored landscape with a display rotation: it is edited portrait."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(-90)  # stored 64x32, shown 32x64 (rotated clockwise)
        for i in range(4):
            pixels = np.zeros((32, 64, 3), dtype=np.uint8)
            pixels[:, :32] = 250  # the left half of the stored frame: the top once shown
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    from worker.inputs import open_clip

    clip = open_clip(buffer.getvalue())
    assert clip.size == (32, 64)
    (shown,) = clip.frames_at(1, 8, 32, 64)
    pixels = np.asarray(shown)
    assert shown.size == (32, 64) and pixels[8, 16].mean() > 200 and pixels[56, 16].mean() < 50


def test_a_file_that_is_no_video_is_refused():
    import av

    from worker.inputs import open_clip

    with pytest.raises(av.FFmpegError):
        open_clip(np.random.default_rng(0).bytes(5000))


def test_extend_and_keyframes_inputs_reach_render_input(tmp_path):
    from worker.inputs import load_inputs, render_input

    storage = open_storage(f"file://{tmp_path}")
    storage.put(video_key("parent1"), numbered_clip(30, fps=24), "video/mp4")
    storage.put(input_key("kf", "first.png"), png((255, 0, 0)), "image/png")
    storage.put(input_key("kf", "last.png"), png((0, 0, 255)), "image/png")

    extend = new_job(parse_prompt("the fox keeps running -seed 5"), model="ltx-tiny", task=Task.EXTEND,
                     member_id="1", parent_clip_id="parent1", input_keys={"parent": video_key("parent1")})
    inp = render_input(extend, load_inputs(storage, extend))
    assert inp.task == "extend" and inp.parent_fps == 24 and inp.seed == 5
    assert len(inp.parent_video) == 30 and inp.parent_video.size == (48, 32)  # probed, decoded when planned

    keyframes = new_job(parse_prompt("a fox -ar 1:1"), model="ltx-tiny", task=Task.KEYFRAMES, member_id="1",
                        input_keys={"image": input_key("kf", "first.png"),
                                    "last_image": input_key("kf", "last.png")})
    inp = render_input(keyframes, load_inputs(storage, keyframes))
    assert inp.image.getpixel((0, 0)) == (255, 0, 0) and inp.last_image.getpixel((0, 0)) == (0, 0, 255)
    assert inp.aspect == (1, 1)


def test_extend_job_renders_from_the_stored_parent(tmp_path, models_dir):
    """The whole worker path of an extend short of the queue: stored parent → frames."""
    from core.catalog import clip_frames, get_model
    from inference.render import Renderer
    from worker.inputs import load_inputs, render_input

    storage = open_storage(f"file://{tmp_path}")
    storage.put(video_key("p"), numbered_clip(25, fps=24), "video/mp4")
    job = new_job(parse_prompt("more -len 1"), model="wan-vace-tiny", task=Task.EXTEND, member_id="1",
                  parent_clip_id="p", input_keys={"parent": video_key("p")})
    renderer = Renderer(get_model("wan-vace-tiny"), models_dir=models_dir)
    out = renderer.render(render_input(job, load_inputs(storage, job)))
    assert out.fps == 24 and out.num_frames == clip_frames(renderer.spec, 24, 1)[1]
    assert (out.width, out.height) == (80, 48)  # the parent's 3:2 → the nearest tiny bucket


def test_bad_knobs_stop_the_worker_in_one_line(models_dir):
    from worker.runtime import load_renderers

    for env, words in [({"knobs": {"ltx-tiny": {"cache": "teacache"}}}, "bad setting REELBOT_KNOBS: knobs['ltx-tiny']"),
                       ({"knobs": {"ltx-tny": {}}}, "bad setting REELBOT_KNOBS: 'ltx-tny' is not a model"),
                       ({"adapter_sources": {"ltx-tiny": {"dolly in": "/x"}}},
                        "bad setting REELBOT_ADAPTER_SOURCES: ltx-tiny has no adapter 'dolly in'"),
                       ({"adapter_sources": {"ltx-tny": {}}}, "bad setting REELBOT_ADAPTER_SOURCES: 'ltx-tny'")]:
        settings = load_settings(models=["ltx-tiny"], models_dir=models_dir, device="cpu", **env)
        with pytest.raises(SettingsError) as caught:
            load_renderers(settings)
        assert caught.value.line.startswith(words)


def test_warm_up_only_when_compile_is_on(models_dir, monkeypatch):
    from inference.render import Renderer
    from worker.runtime import load_renderers

    warmed = []
    monkeypatch.setattr(Renderer, "warm_up", lambda self, **_: warmed.append(self.spec.name) or 0.1)
    plain = load_settings(models=["ltx-tiny", "wan-tiny"], models_dir=models_dir, device="cpu")
    assert set(load_renderers(plain)) == {"ltx-tiny", "wan-tiny"} and warmed == []
    compiled = load_settings(models=["ltx-tiny", "wan-tiny"], models_dir=models_dir, device="cpu",
                             knobs={"wan-tiny": {"compile": True}})
    renderers = load_renderers(compiled)
    assert warmed == ["wan-tiny"] and renderers["wan-tiny"].knobs.compile
    assert not renderers["ltx-tiny"].knobs.compile


def test_warm_up_renders_every_kind_of_model(models_dir):
    from core.catalog import TINY_MODELS
    from inference.render import Renderer

    for spec in TINY_MODELS.values():  # keyframes-only and extend-first models included
        assert Renderer(spec, models_dir=models_dir).warm_up(steps=1) > 0


def test_the_decode_memory_benchmark_runs_and_compares_both_paths():
    """bench/decode_memory.py on a tiny stretch of 4K (its real run needs ~10 GiB for "before")."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "bench/decode_memory.py", "--runs", "1", "--seconds", "0.25", "--fps", "8"],
                         cwd=root, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = {line.split("|")[1].strip(): line for line in run.stdout.splitlines() if line.startswith("| ")}
    assert {"before", "after"} <= set(rows) and "after / before" in run.stdout
