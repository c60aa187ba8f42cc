"""The inference package on CPU with the tiny random-weight model: nothing is downloaded."""

import os

# Before anything imports huggingface_hub, which reads this once: a test that tries to
# reach the hub fails instead of hanging.
os.environ["HF_HUB_OFFLINE"] = "1"

import io  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from core.catalog import (  # noqa: E402
    MODELS,
    Task,
    UnknownModel,
    frame_count,
    get_model,
    models_for_task,
    nearest_bucket,
)

REPO = Path(__file__).resolve().parent.parent
TINY = get_model("ltx-tiny")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- registry -------------------------------------------------------------------------


def test_registry_imports_no_torch():
    code = "import core.catalog, inference, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_get_model_unknown_lists_names():
    with pytest.raises(UnknownModel) as caught:
        get_model("ltx-vidoe")
    assert isinstance(caught.value, KeyError)
    message = str(caught.value)
    assert "ltx-vidoe" in message and all(name in message for name in MODELS)


def test_models_for_task():
    keyframes = [spec.name for spec in models_for_task(Task.KEYFRAMES)]
    assert keyframes == ["ltx-video", "ltx-video-distilled", "wan-vace-1.3b", "wan-flf2v-14b", "ltx-2",
                         "ltx-2.3-distilled", "ltx-2.5", "ltx-tiny", "wan-vace-tiny", "wan-flf2v-tiny", "ltx2-tiny"]
    assert [spec.name for spec in models_for_task(Task.LIP_SYNC)] == ["ltx-2.3-distilled", "ltx-2.5", "ltx2-tiny"]
    assert [spec.name for spec in models_for_task("video-to-video")] == [
        "ltx-video", "ltx-video-distilled", "wan-t2v-1.3b", "ltx-tiny", "wan-tiny"]
    for task in Task:
        assert [spec.name for spec in models_for_task(task)] == [s.name for s in MODELS.values() if task in s.tasks]
    with pytest.raises(ValueError):
        models_for_task("text-to-sound")


def test_tiny_is_labelled():
    tiny = [spec for spec in MODELS.values() if spec.tiny]
    assert {spec.name for spec in tiny} == {"ltx-tiny", "wan-tiny", "wan-vace-tiny", "wan-i2v-tiny", "wan-flf2v-tiny",
                                            "lucy-edit-tiny", "ltx2-tiny"}
    for spec in tiny:
        assert spec.hub_id is None and "noise" in spec.label and "noise" in spec.description
    assert all(spec.hub_id for spec in MODELS.values() if not spec.tiny)


@pytest.mark.parametrize("spec", MODELS.values(), ids=list(MODELS))
def test_buckets_cover_one_to_three(spec):
    ratios = [w / h for w, h in spec.buckets]
    assert min(ratios) <= 1 / 3 + 1e-9 and max(ratios) >= 3 - 1e-9
    assert all(w % spec.size_multiple == 0 and h % spec.size_multiple == 0 for w, h in spec.buckets)


@pytest.mark.parametrize("spec", MODELS.values(), ids=list(MODELS))
def test_nearest_bucket_is_closest_in_log_ratio(spec):
    for aspect in [(16, 9), (9, 16), (1, 1), (4, 3), (3, 4), (21, 9), (3, 1), (1, 3), (5, 4), (7, 3)]:
        chosen = nearest_bucket(spec, *aspect)
        assert chosen in spec.buckets
        distance = lambda b: abs(math.log(b[0] / b[1]) - math.log(aspect[0] / aspect[1]))  # noqa: E731
        assert distance(chosen) == min(distance(b) for b in spec.buckets)
        # Orientation is kept: landscape asks get landscape (or square) buckets.
        if aspect[0] > aspect[1]:
            assert chosen[0] >= chosen[1]
        # Mirrored asks get mirrored buckets.
        assert nearest_bucket(spec, aspect[1], aspect[0]) == chosen[::-1]


def test_nearest_bucket_known_answers():
    ltx = get_model("ltx-video")
    assert nearest_bucket(ltx, 16, 9) == (832, 480)
    assert nearest_bucket(ltx, 1, 1) == (640, 640)
    wan = get_model("wan-t2v-1.3b")
    assert nearest_bucket(wan, 16, 9) == (832, 480) and nearest_bucket(wan, 9, 16) == (480, 832)
    assert nearest_bucket(wan, 1, 1) == (624, 624)
    assert nearest_bucket(get_model("wan-flf2v-14b"), 16, 9) == (1280, 720)
    assert nearest_bucket(TINY, 9, 16) == (96, 160)
    assert nearest_bucket(TINY, 16, 9) == (160, 96)
    with pytest.raises(ValueError):
        nearest_bucket(ltx, 0, 1)


@pytest.mark.parametrize("spec", MODELS.values(), ids=list(MODELS))
def test_frame_count_properties(spec):
    for fps in range(8, 31):
        for seconds in (0.1, 1, 2, 2.5, 5, 7.3, 10):
            n = frame_count(spec, fps, seconds)
            assert (n - 1) % spec.frames_multiple == 0
            assert spec.min_frames <= n <= spec.max_frames
            if spec.min_frames <= fps * seconds <= spec.max_frames:
                # Snapped to the nearest valid count: never more than half a block off.
                assert abs(n - fps * seconds) <= spec.frames_multiple / 2 + 1


def test_frame_count_examples():
    ltx = get_model("ltx-video")
    assert frame_count(ltx, 24, 5) == 121
    assert frame_count(ltx, 12, 2) == 25
    assert frame_count(ltx, 30, 10) == ltx.max_frames  # clamped
    assert frame_count(ltx, 8, 0.1) == ltx.min_frames
    with pytest.raises(ValueError):
        frame_count(ltx, 0, 5)


# --- tiny model and loading ------------------------------------------------------------


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def renderer(models_dir):
    from inference.render import Renderer

    return Renderer(TINY, models_dir=models_dir)


def test_tiny_is_built_once_and_reloads(renderer, models_dir):
    from inference.loading import load_pipeline, resolve_source

    folder = models_dir / "ltx-tiny"
    assert renderer.source == str(folder)
    assert (folder / "model_index.json").exists()
    stamp = (folder / "model_index.json").stat().st_mtime_ns
    assert resolve_source(TINY, None, models_dir) == str(folder)
    assert (folder / "model_index.json").stat().st_mtime_ns == stamp  # not rebuilt

    # An explicit folder goes through the same loader as a hub id would.
    pipeline = load_pipeline(TINY, resolve_source(TINY, str(folder), models_dir))
    assert type(pipeline).__name__ == "LTXConditionPipeline"
    assert pipeline.vae_spatial_compression_ratio == TINY.size_multiple
    assert pipeline.vae_temporal_compression_ratio == TINY.frames_multiple


def test_tiny_build_is_deterministic(tmp_path):
    from inference.tiny import build_tiny

    first, second = build_tiny(TINY, tmp_path / "a"), build_tiny(TINY, tmp_path / "b")
    weights = sorted(p.relative_to(first) for p in first.rglob("*.safetensors"))
    assert weights
    for relative in weights:
        assert (first / relative).read_bytes() == (second / relative).read_bytes()


def test_resolve_source_kinds(tmp_path):
    from inference.loading import ModelSourceError, resolve_source

    ltx = get_model("ltx-video")
    # The catalog's source is pinned to a commit: an upstream re-push cannot change a -seed's clip.
    assert resolve_source(ltx, None, tmp_path) == "Lightricks/LTX-Video-0.9.5@e58e28c39631af4d1468ee57a853764e11c1d37e"
    assert resolve_source(ltx, "someone/ltx-finetune", tmp_path) == "someone/ltx-finetune"
    assert resolve_source(ltx, "someone/ltx-finetune@v2", tmp_path) == "someone/ltx-finetune@v2"
    with pytest.raises(ModelSourceError):
        resolve_source(ltx, str(tmp_path), tmp_path)  # a folder, but not a pipeline
    with pytest.raises(ModelSourceError):
        resolve_source(ltx, "/no/such/folder", tmp_path)


# --- rendering ------------------------------------------------------------------------


def test_render_size_and_frames(renderer):
    from inference.render import RenderInput

    out = renderer.render(RenderInput(prompt="a fox running through snow", aspect=(9, 16), fps=12, seconds=2))
    assert (out.width, out.height) == nearest_bucket(TINY, 9, 16) == (96, 160)
    assert out.num_frames == frame_count(TINY, 12, 2) == 25
    assert out.frames.shape == (25, 160, 96, 3) and out.frames.dtype == np.uint8
    assert out.fps == 12 and out.seed == 0 and out.model_seconds > 0


def test_render_defaults(renderer):
    from inference.render import RenderInput

    out = renderer.render(RenderInput(prompt="a fox"))
    assert (out.width, out.height) == nearest_bucket(TINY, *TINY.default_aspect)
    assert out.fps == TINY.native_fps
    assert out.num_frames == frame_count(TINY, TINY.native_fps, TINY.default_seconds)


def test_same_seed_same_frames(renderer):
    from inference.render import RenderInput

    inp = RenderInput(prompt="a fox", fps=8, seconds=1, seed=1234)
    first, second = renderer.render(inp), renderer.render(inp)
    other = renderer.render(RenderInput(prompt="a fox", fps=8, seconds=1, seed=1235))
    assert np.array_equal(first.frames, second.frames)
    assert not np.array_equal(first.frames, other.frames)


def test_on_step_called_every_step(renderer):
    from inference.render import RenderInput

    calls = []
    renderer.render(RenderInput(prompt="a fox", fps=8, seconds=1, steps=3), on_step=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_on_step_exception_stops_render(renderer):
    from inference.render import RenderInput

    class Cancelled(Exception):
        pass

    calls = []

    def cancel_at_two(step, total):
        calls.append(step)
        if step == 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        renderer.render(RenderInput(prompt="a fox", fps=8, seconds=1, steps=5), on_step=cancel_at_two)
    assert calls == [1, 2]


def test_unsupported_task_names_capable_models(models_dir):
    from inference.render import Renderer, RenderInput, UnsupportedTask

    wan = Renderer(get_model("wan-tiny"), models_dir=models_dir)
    with pytest.raises(UnsupportedTask) as caught:
        wan.render(RenderInput(task=Task.KEYFRAMES, prompt="a fox"))
    assert caught.value.task == "keyframes"
    assert caught.value.capable == [spec.name for spec in models_for_task(Task.KEYFRAMES)]
    assert str(caught.value).startswith("wan-tiny cannot do keyframes; models that can: ltx-video, ")


def test_prompt_phrasing():
    from inference.render import MOTION_PHRASES, camera_phrase, compose_prompt

    assert compose_prompt("a fox", None, 1) == "a fox"  # the default adds nothing
    assert compose_prompt("a fox.", "zoom in", 0) == "a fox. The camera slowly zooms in, static shot, minimal movement."
    assert camera_phrase("Pan  up LEFT") == "the camera pans up and left"
    assert set(MOTION_PHRASES) == {0, 1, 2, 3, 4}
    for bad in ("pan left right", "pan up up", "pan sideways", "dolly sideways"):
        with pytest.raises(ValueError):
            camera_phrase(bad)
    from core.flags import LORA_MOVES

    for move in LORA_MOVES:  # a LoRA move keeps its words too: the LoRAs' cards ask for them
        assert camera_phrase(move).startswith("the camera ")
    with pytest.raises(ValueError):
        compose_prompt("a fox", None, 5)


# --- encoding -------------------------------------------------------------------------


def noise_frames(count, height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def test_encode_mp4_is_playable_h264():
    from inference.encode import encode_mp4, probe_mp4

    frames = noise_frames(25, 64, 128)
    data = encode_mp4(frames, fps=12)
    info = probe_mp4(data)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == (128, 64)
    assert info["fps"] == 12 and info["frames"] == 25
    assert info["duration"] == pytest.approx(25 / 12, abs=1e-3)
    assert info["faststart"] and 0 <= data.find(b"moov") < data.find(b"mdat")
    assert encode_mp4(frames, fps=12) == data  # deterministic


ENCODE_ONCE = """
import hashlib, sys
import numpy as np
from inference.encode import encode_mp4
# Moving blocks, not noise: the lookahead's motion search is what read the stray memory.
base = np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
frames = np.stack([np.roll(base, (i, 2 * i), axis=(0, 1)) for i in range(25)])
print(hashlib.sha256(encode_mp4(frames, fps=12)).hexdigest())
"""


def test_encode_mp4_gives_the_same_bytes_whatever_the_memory_holds():
    # glibc fills fresh allocations with MALLOC_PERTURB_'s byte: an encoder that reads memory
    # it never wrote gives other bytes for each value (x264's threaded lookahead did).
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    digests = set()
    for perturb in ("0", "85", "170"):
        env = {**os.environ, "MALLOC_PERTURB_": perturb, "PYTHONPATH": str(root)}
        run = subprocess.run([sys.executable, "-c", ENCODE_ONCE], cwd=root, env=env, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stderr
        digests.add(run.stdout.strip())
    assert len(digests) == 1


def test_encode_mp4_odd_dimensions():
    from inference.encode import encode_mp4, probe_mp4

    info = probe_mp4(encode_mp4(noise_frames(5, 33, 17), fps=24))
    assert (info["width"], info["height"]) == (18, 34) and info["frames"] == 5 and info["fps"] == 24


def test_encode_mp4_byte_budget():
    from inference.encode import EncodeError, encode_mp4, probe_mp4

    frames = noise_frames(24, 128, 192)
    unlimited = encode_mp4(frames, fps=24)
    budget = len(unlimited) // 8
    fitted = encode_mp4(frames, fps=24, max_bytes=budget)
    assert len(fitted) <= budget
    assert probe_mp4(fitted)["frames"] == 24
    assert encode_mp4(frames, fps=24, max_bytes=len(unlimited)) == unlimited  # fits already
    with pytest.raises(EncodeError):
        encode_mp4(frames, fps=24, max_bytes=1000)


def test_encode_rejects_bad_frames():
    from inference.encode import EncodeError, encode_mp4

    with pytest.raises(EncodeError):
        encode_mp4(np.zeros((4, 8, 8, 3), dtype=np.float32), fps=8)
    with pytest.raises(EncodeError):
        encode_mp4(np.zeros((0, 8, 8, 3), dtype=np.uint8), fps=8)


def test_poster_jpeg_is_the_middle_frame():
    from inference.encode import poster_jpeg

    frames = np.zeros((5, 32, 48, 3), dtype=np.uint8)
    frames[2] = 200
    image = Image.open(io.BytesIO(poster_jpeg(frames)))
    assert image.format == "JPEG" and image.size == (48, 32)
    assert abs(np.asarray(image).mean() - 200) < 3


def test_render_then_encode(renderer):
    from inference.encode import encode_mp4, probe_mp4
    from inference.render import RenderInput

    out = renderer.render(RenderInput(prompt="a fox", aspect=(16, 9), fps=24, seconds=1))
    info = probe_mp4(encode_mp4(out.frames, out.fps))
    assert (info["width"], info["height"], info["frames"], info["fps"]) == (out.width, out.height, out.num_frames, 24)
