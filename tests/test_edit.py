"""Edits on the tiny random-weight models, on the CPU, offline: every (model, edit kind)
keeps the source's length, fps and aspect; the source frames, the reference image and the
mask reach the pipeline as asked; the same seed gives the same frames; the source's sound
comes along."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import io  # noqa: E402

import av  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from core.catalog import MODELS, REAL_MODELS, TINY_LABEL, Task, clip_frames, get_model, nearest_bucket  # noqa: E402
from tests.test_models import Spy  # noqa: E402

# (model, what the member gives besides the instruction, whether a segmenter is configured)
KINDS = [
    ("lucy-edit-tiny", "instruction", False),
    ("wan-vace-tiny", "instruction", False),
    ("wan-vace-tiny", "instruction", True),
    ("wan-vace-tiny", "reference", False),
    ("wan-vace-tiny", "reference", True),
]
SOURCE_FPS, SOURCE_FRAMES, SOURCE_SIZE = 12, 18, (72, 96)  # 1.5 s of 3:4 portrait


def colour(i: int) -> tuple[int, int, int]:
    return (40 + 11 * i % 200, 200 - 7 * i % 160, 30 + 5 * i % 200)


def source_mp4(frames: int = SOURCE_FRAMES, fps: int = SOURCE_FPS, size=SOURCE_SIZE, sound: str | None = None) -> bytes:
    """A clip whose frame i is solid colour(i); with `sound` ("aac" in MP4, "opus" in WebM), a 440 Hz tone."""
    width, height = size
    buffer = io.BytesIO()
    fmt = "webm" if sound == "opus" else "mp4"
    with av.open(buffer, "w", format=fmt) as container:
        video = container.add_stream("libvpx-vp9" if fmt == "webm" else "libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("libopus" if sound == "opus" else "aac", rate=48000, layout="stereo") \
            if sound else None
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), colour(i), np.uint8), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if audio is not None:
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(round(frames / fps * 48000)) / 48000)).astype(np.float32)
            for start in range(0, len(tone), 960):
                chunk = np.ascontiguousarray(np.tile(tone[start:start + 960], (2, 1)))
                piece = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                piece.sample_rate, piece.pts = 48000, start
                container.mux(audio.encode(piece))
            container.mux(audio.encode())
    return buffer.getvalue()


def nearest_colour(picture) -> int:
    """Which colour(i) a fitted frame shows (at its centre)."""
    pixel = np.asarray(picture.convert("RGB"), dtype=int)[picture.height // 2, picture.width // 2]
    return min(range(SOURCE_FRAMES), key=lambda i: np.abs(pixel - colour(i)).sum())


def reference_image() -> Image.Image:
    image = Image.new("RGB", (40, 120), (250, 10, 10))  # a tall red thing: kept whole, not cropped
    image.paste((10, 10, 250), (0, 100, 40, 120))
    return image


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def segmenter(models_dir):
    from inference.masks import TINY_SEGMENTER, load_segmenter

    return load_segmenter(TINY_SEGMENTER, models_dir)


@pytest.fixture(scope="module")
def renderers(models_dir, segmenter):
    from inference.render import Renderer

    built = {}

    def get(name, segmented=False):
        if (name, segmented) not in built:
            built[name, segmented] = Renderer(get_model(name), models_dir=models_dir,
                                              segmenter=segmenter if segmented else None)
        return built[name, segmented]

    return get


def edit(kind: str, prompt: str = "replace the red car with this one", **overrides):
    from inference.render import RenderInput
    from worker.inputs import open_clip

    clip = open_clip(source_mp4())
    reference = reference_image() if kind == "reference" else None
    return RenderInput(task=Task.EDIT, prompt=prompt, video=clip, video_fps=clip.fps, reference=reference,
                       **overrides)


# --- the catalog ------------------------------------------------------------------------------


def test_edit_models_in_the_catalog():
    lucy = get_model("lucy-edit-dev")
    assert (lucy.hub_id, lucy.pipeline_for(Task.EDIT), lucy.edit_references) == (
        "decart-ai/Lucy-Edit-Dev", "LucyEditPipeline", False)
    vace = get_model("wan-vace-1.3b")
    assert vace.pipeline_for(Task.EDIT) == "WanVACEPipeline" and vace.edit_references
    tiny = get_model("lucy-edit-tiny")
    assert tiny.tiny and tiny.mirrors == "lucy-edit-dev" and TINY_LABEL in tiny.label
    assert [s.name for s in MODELS.values() if Task.EDIT in s.tasks] == [
        "wan-vace-1.3b", "lucy-edit-dev", "wan-vace-tiny", "lucy-edit-tiny"]
    assert all(s.max_frames >= s.native_fps * 10 for s in REAL_MODELS.values() if Task.EDIT in s.tasks)  # 10 s


# --- every (model, edit kind) ------------------------------------------------------------------


@pytest.mark.parametrize("name,kind,segmented", KINDS, ids=[f"{n}:{k}{':mask' * s}" for n, k, s in KINDS])
def test_every_edit_keeps_the_sources_length_fps_and_aspect(renderers, monkeypatch, name, kind, segmented):
    from inference.encode import encode_mp4, probe_mp4
    from core.contract import WHOLE_FRAME

    renderer = renderers(name, segmented)
    spec = renderer.spec
    spy = Spy(renderer.pipelines[spec.pipeline_for(Task.EDIT)], monkeypatch)
    out = renderer.render(edit(kind, seed=3))

    width, height = nearest_bucket(spec, *SOURCE_SIZE)
    model_frames, frames = clip_frames(spec, SOURCE_FPS, SOURCE_FRAMES / SOURCE_FPS)
    assert (out.width, out.height, out.fps) == (width, height, SOURCE_FPS) and width < height
    assert out.num_frames == frames and abs(frames - SOURCE_FRAMES) <= 1
    info = probe_mp4(encode_mp4(out.frames, out.fps))
    assert (info["width"], info["height"], info["frames"], info["fps"]) == (width, height, frames, SOURCE_FPS)

    # The source, at the model's rate and the bucket's size: frame i of the call is the
    # source's frame nearest to i / native fps.
    sent = spy.last["video"]
    assert len(sent) == spy.last["num_frames"] == model_frames and {f.size for f in sent} == {(width, height)}
    step = SOURCE_FPS / spec.native_fps
    assert [nearest_colour(f) for f in sent] == [min(int(np.floor(i * step + 0.5)), SOURCE_FRAMES - 1)
                                                 for i in range(model_frames)]
    assert spy.last["prompt"] == "replace the red car with this one"  # as written: no motion words
    if kind == "reference":
        (reference,) = spy.last["reference_images"]
        assert reference.height == height and reference.width == round(height / 3)  # whole, scaled to fit
        assert reference.getpixel((reference.width // 2, 5)) == pytest.approx((250, 10, 10), abs=12)
    else:
        assert "reference_images" not in spy.last
    if name.startswith("lucy"):
        assert "mask" not in spy.last and out.edit_region == WHOLE_FRAME
    elif segmented:
        expected = renderer.segmenter.masks(sent, "the red car")
        assert expected is not None and out.edit_region == "the red car"
        assert [np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(spy.last["mask"], expected)] == \
            [True] * model_frames
    else:
        masks = spy.last["mask"]
        assert len(masks) == model_frames and out.edit_region == WHOLE_FRAME
        assert all(np.asarray(m).min() == 255 for m in masks)  # everything may change


@pytest.mark.parametrize("name", ["lucy-edit-tiny", "wan-vace-tiny"])
def test_same_seed_same_edit(renderers, name):
    renderer = renderers(name)
    kind = "reference" if renderer.spec.edit_references else "instruction"
    first, second = renderer.render(edit(kind, seed=11)), renderer.render(edit(kind, seed=11))
    other = renderer.render(edit(kind, seed=12))
    assert np.array_equal(first.frames, second.frames) and not np.array_equal(first.frames, other.frames)


def test_flags_still_shape_an_edit(renderers):
    renderer = renderers("lucy-edit-tiny")
    out = renderer.render(edit("instruction", fps=8, seconds=1, aspect=(16, 9)))
    assert (out.width, out.height) == nearest_bucket(renderer.spec, 16, 9)
    assert (out.fps, out.num_frames) == (8, clip_frames(renderer.spec, 8, 1)[1])


def test_a_reference_on_a_model_that_edits_from_words_alone_is_refused(renderers):
    from inference.render import UnsupportedReference, UnsupportedTask

    with pytest.raises(UnsupportedReference) as caught:
        renderers("lucy-edit-tiny").render(edit("reference"))
    assert isinstance(caught.value, UnsupportedTask)  # a member's error, not retried
    assert "wan-vace-1.3b" in str(caught.value) and caught.value.capable == ["wan-vace-1.3b", "wan-vace-tiny"]


def test_edit_needs_a_source(renderers):
    from inference.render import MissingInput, RenderInput

    with pytest.raises(MissingInput) as caught:
        renderers("lucy-edit-tiny").render(RenderInput(task=Task.EDIT, prompt="make it snow"))
    assert str(caught.value) == "edit needs a video; none was given"


# --- masks ------------------------------------------------------------------------------------


class FoundHalf:
    """A segmenter that finds the thing in the left half of every frame, and says what it was asked."""

    def __init__(self):
        self.asked = []

    def masks(self, frames, phrase):
        self.asked.append(phrase)
        width, height = frames[0].size
        mask = Image.new("L", (width, height), 0)
        mask.paste(255, (0, 0, width // 2, height))
        return [mask] * len(frames)


class FoundNothing:
    def masks(self, frames, phrase):
        return None


def test_the_mask_comes_from_the_instructions_words(models_dir, monkeypatch):
    from inference.render import Renderer

    renderer = Renderer(get_model("wan-vace-tiny"), models_dir=models_dir, segmenter=FoundHalf())
    spy = Spy(renderer.pipelines["WanVACEPipeline"], monkeypatch)
    out = renderer.render(edit("instruction", prompt="Make the jacket red"))
    assert renderer.segmenter.asked == ["the jacket"] and out.edit_region == "the jacket"
    mask = np.asarray(spy.last["mask"][0])
    assert mask[:, : mask.shape[1] // 2].min() == 255 and mask[:, mask.shape[1] // 2:].max() == 0

    # Found nowhere, or an instruction about the whole picture: the whole frame may change.
    for segmenter, prompt in [(FoundNothing(), "make the jacket red"), (FoundHalf(), "make it snow")]:
        renderer.segmenter = segmenter
        out = renderer.render(edit("instruction", prompt=prompt))
        assert out.edit_region == "whole frame" and np.asarray(spy.last["mask"][0]).min() == 255
    assert renderer.segmenter.asked == []  # "make it snow" names nothing to look for


@pytest.mark.parametrize("instruction,phrase", [
    ("make the jacket red", "the jacket"),
    ("Replace the car with this one.", "the car"),
    ("put this hat on him", "the person"),
    ("turn the dog into a cat", "the dog"),
    ("make the woman wear a hat", "the woman"),
    ("the sky is purple", "the sky"),
    ("remove the logo", "the logo"),
    ("make it snow", None),
    ("it is night", None),
])
def test_target_phrase(instruction, phrase):
    from inference.masks import target_phrase

    assert target_phrase(instruction) == phrase


def test_the_tiny_segmenter_is_built_from_code_and_reloaded(segmenter, models_dir):
    folder = models_dir / "clipseg-tiny"
    assert segmenter.tiny and segmenter.source == str(folder) and TINY_LABEL in segmenter.label
    assert (folder / "config.json").exists() and (folder / "processor_config.json").exists()
    frames = [Image.new("RGB", (64, 48), colour(i)) for i in range(3)]
    first, second = segmenter.masks(frames, "the car"), segmenter.masks(frames, "the car")
    assert first is not None and [m.size for m in first] == [(64, 48)] * 3 and {m.mode for m in first} == {"L"}
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(first, second))


def test_a_bad_segmenter_setting_stops_the_worker_in_one_line(models_dir, tmp_path):
    from core.settings import SettingsError, load_settings
    from worker.runtime import load_segmenter

    settings = load_settings(models=["wan-vace-tiny"], models_dir=models_dir, segmenter=str(tmp_path))
    with pytest.raises(SettingsError) as caught:
        load_segmenter(settings, "cpu", settings.served_models)
    assert caught.value.line.startswith("bad setting REELBOT_SEGMENTER")
    # Only models that mask their edits load one.
    assert load_segmenter(settings, "cpu", ["lucy-edit-tiny", "ltx-tiny"]) is None


# --- sound ------------------------------------------------------------------------------------


def sound_seconds(mp4: bytes) -> tuple[str, float]:
    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return stream.codec_context.name, samples / stream.codec_context.sample_rate


@pytest.mark.parametrize("codec", ["aac", "opus"])
def test_an_edit_keeps_the_sources_sound(tmp_path, codec):
    from core.contract import video_key
    from core.flags import parse_prompt
    from core.jobs import new_job
    from core.storage import open_storage
    from inference.encode import probe_mp4
    from worker.inputs import open_clip, sound_source
    from worker.upload import encode_clip, upload

    source = source_mp4(frames=24, sound=codec)
    job = new_job(parse_prompt("make it snow"), model="lucy-edit-tiny", task=Task.EDIT,
                  input_keys={"video": "inputs/x/video.mp4"})
    inputs = {"video": open_clip(source)}
    assert inputs["video"].has_audio and sound_source(job, inputs) == source
    frames = np.zeros((25, 96, 64, 3), np.uint8)  # 25 frames at 12 fps: 2.08 s
    storage = open_storage(f"file://{tmp_path}")
    upload(storage, "c1", encode_clip(frames, 12, None, sound_source(job, inputs)))
    mp4 = storage.get(video_key("c1"))
    assert probe_mp4(mp4)["frames"] == 25 and probe_mp4(mp4)["faststart"]
    name, seconds = sound_seconds(mp4)
    assert name == "aac" and seconds == pytest.approx(2.0, abs=0.05)  # the source's 2 s, in MP4's codec

    muted = new_job(parse_prompt("make it snow"), model="lucy-edit-tiny", task=Task.EDIT)
    muted.flags["mute"] = True
    assert sound_source(muted, inputs) is None
    silent = {"video": open_clip(source_mp4(frames=24))}
    assert sound_source(job, silent) is None
