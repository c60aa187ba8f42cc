"""Effects and camera LoRAs, -loop, keyframes through five pictures and /scene's ingredients,
on the tiny random-weight models, on the CPU, offline.

The tiny LoRAs are random-weight files in diffusers' LoRA format (PEFT keys, safetensors),
built in code like the tiny models (inference/tiny.py) and loaded through the same
`load_lora_weights` path as a hub LoRA. The tiny VAE is random too: a seam measured here is
the measure working, not a picture that loops.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from core.catalog import AdapterKind, Task, get_model  # noqa: E402
from tests.test_models import Spy, ids, solid  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def renderers(models_dir):
    from inference.knobs import Knobs
    from inference.render import Renderer

    built = {}

    def get(name, bare=False, swap=None):
        """A renderer of `name`: `bare`, as if the model had no adapters (none ever loaded);
        `swap`, the lora_swap knob."""
        key = (name, bare, swap)
        if key not in built:
            spec = get_model(name)
            built[key] = Renderer(replace(spec, adapters=()) if bare else spec, models_dir=models_dir,
                                  knobs=Knobs(lora_swap=swap) if swap else None)
        return built[key]

    return get


def animate(**overrides):
    from inference.render import RenderInput

    values = dict(task=Task.IMAGE_TO_VIDEO.value, prompt="a rubber duck", image=solid(5), fps=8, seconds=1, seed=11)
    return RenderInput(**{**values, **overrides})


# --- adapters --------------------------------------------------------------------------------


@pytest.mark.parametrize("swap", ["named", "hotswap"])
def test_an_effect_changes_the_clip_and_off_it_is_bit_identical_to_no_adapter_at_all(renderers, swap):
    bare = renderers("ltx-tiny", bare=True)  # no LoRA was ever loaded into this one
    before = bare.render(animate()).frames
    renderer = renderers("ltx-tiny", swap=swap)
    squish = renderer.render(animate(effect="squish"))
    assert squish.adapters == {"effect": "squish"}
    assert not np.array_equal(squish.frames, before)
    assert squish.prompt.startswith("SQUISH two hands squeezing a squeezable object that is shaped like a rubber duck")
    cakeify = renderer.render(animate(effect="cakeify"))  # switched, not reloaded
    assert not np.array_equal(cakeify.frames, squish.frames)
    after = renderer.render(animate())
    assert after.adapters == {} and np.array_equal(after.frames, before)
    assert np.array_equal(renderer.render(animate(effect="squish")).frames, squish.frames)  # a switch is exact


def test_switching_never_reloads_the_model(renderers, monkeypatch):
    from diffusers import DiffusionPipeline

    renderer = renderers("ltx-tiny")
    transformer = renderer.pipeline.transformer
    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", lambda *a, **k: pytest.fail("reloaded the model"))
    for effect in ("squish", None, "cakeify", "squish", None):
        renderer.render(animate(effect=effect, seconds=1, fps=8))
    assert renderer.pipeline.transformer is transformer


def test_the_tiny_loras_are_diffusers_lora_files(renderers, models_dir):
    from safetensors.torch import load_file

    spec = get_model("ltx-tiny")
    renderers("ltx-tiny")
    for adapter in spec.adapters:
        file = Path(models_dir) / "ltx-tiny-adapters" / f"effect-{adapter.name}" / adapter.weight_name
        weights = load_file(file)
        assert weights and all(key.startswith("transformer.") for key in weights)
        assert any(".lora_A." in key for key in weights) and any(".lora_B." in key for key in weights)


def test_a_hub_lora_loads_from_the_cache_offline(renderers, tmp_path, monkeypatch):
    """The path a real effect takes: `owner/name@commit` → the hub cache (HF_HUB_OFFLINE) → load_lora_weights."""
    from huggingface_hub import constants

    from inference.render import Renderer

    spec = get_model("ltx-tiny")
    adapter = spec.adapter(AdapterKind.EFFECT, "squish")
    built = Path(renderers("ltx-tiny").adapters.files["effect-squish"].folder) / adapter.weight_name
    commit = "0123456789abcdef0123456789abcdef01234567"
    cache = tmp_path / "hub"
    snapshot = cache / "models--Lightricks--LTX-Video-Squish-LoRA" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / adapter.weight_name).write_bytes(built.read_bytes())
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    hub = Renderer(spec, models_dir=renderers("ltx-tiny").adapters.files["effect-squish"].folder.parents[1],
                   adapter_sources={"squish": f"Lightricks/LTX-Video-Squish-LoRA@{commit}"})
    assert hub.adapters.files["effect-squish"].folder == snapshot
    assert np.array_equal(hub.render(animate(effect="squish")).frames,
                          renderers("ltx-tiny").render(animate(effect="squish")).frames)
    with pytest.raises(Exception, match="not in the cache"):
        Renderer(spec, models_dir=tmp_path, adapter_sources={"cakeify": f"Lightricks/Nothing-Here@{commit}"})


def test_an_effect_or_lora_move_the_model_lacks_is_refused_with_the_models_that_have_it(renderers):
    from inference.render import UnsupportedTask

    ltx = renderers("ltx-tiny")
    with pytest.raises(UnsupportedTask, match="ltx-tiny has no inflate effect for image-to-video clips; models that "
                                              "have it: wan-i2v-14b, wan-i2v-tiny"):
        ltx.render(animate(effect="inflate"))
    with pytest.raises(UnsupportedTask, match="no camera LoRA for dolly in.*ltx2-tiny"):
        ltx.render(animate(camera="dolly in"))


def test_a_camera_move_goes_through_the_lora_where_the_model_has_one_else_through_words(renderers):
    from inference.render import RenderInput

    def clip(**kw):
        return RenderInput(**{**dict(task=Task.TEXT_TO_VIDEO.value, prompt="a lighthouse", fps=8, seconds=1, seed=4),
                              **kw})

    ltx2, bare = renderers("ltx2-tiny"), renderers("ltx2-tiny", bare=True)
    dolly = ltx2.render(clip(camera="dolly in"))
    assert dolly.adapters == {"camera": "dolly in"} and "the camera dollies in" in dolly.prompt.lower()
    words_only = bare.render(clip(prompt=dolly.prompt))  # the same words, without the LoRA
    assert words_only.prompt == dolly.prompt and not np.array_equal(dolly.frames, words_only.frames)
    zoom = ltx2.render(clip(camera="zoom in"))  # no LoRA for it: words, and every LoRA off
    assert zoom.adapters == {} and np.array_equal(zoom.frames, bare.render(clip(camera="zoom in")).frames)


# --- loops -----------------------------------------------------------------------------------


def cycle(count: int, jump: float = 0.0) -> np.ndarray:
    """A smooth colour cycle of `count` frames; `jump` moves the last ones away from the start."""
    t = np.arange(count) / count
    level = 128 + 60 * np.sin(2 * np.pi * t) + jump * (t > 0.8)
    return np.broadcast_to(level[:, None, None, None], (count, 8, 8, 3)).round().astype(np.uint8).copy()


def test_the_seam_is_measured_against_the_median_step_and_closed_when_the_model_left_a_jump():
    from inference.loop import SEAM_LIMIT, close, seam

    smooth = seam(cycle(24))
    assert smooth.seamless and smooth.ratio < 1.7  # the wrap at the cycle's fastest point
    jumped = cycle(24, jump=60.0)
    assert seam(jumped).ratio > 1.5 * SEAM_LIMIT
    closed, measured = close(jumped)
    assert measured.seamless and measured.faded >= 2 and seam(closed).ratio <= SEAM_LIMIT
    assert np.array_equal(closed[: 24 - measured.faded], jumped[: 24 - measured.faded])  # only the tail changed
    untouched, kept = close(cycle(24))
    assert kept.faded == 0 and np.array_equal(untouched, cycle(24))


@pytest.mark.parametrize("name, task", [("ltx-tiny", Task.IMAGE_TO_VIDEO), ("ltx-tiny", Task.TEXT_TO_VIDEO),
                                        ("wan-vace-tiny", Task.IMAGE_TO_VIDEO)])
def test_a_loop_pins_the_last_frame_to_the_first_and_its_seam_passes(renderers, monkeypatch, name, task):
    from core.catalog import clip_frames

    renderer = renderers(name)
    spec = renderer.spec
    spy = Spy(renderer.pipelines[spec.pipeline_for(Task.KEYFRAMES)], monkeypatch)
    image = {"image": solid(9)} if task == Task.IMAGE_TO_VIDEO else {"image": None}
    out = renderer.render(animate(task=task.value, loop=True, **image))
    args = spy.last
    frames = args["num_frames"]
    if spec.family == "ltx":
        first, last = args["conditions"]
        assert (first.frame_index, last.frame_index) == (0, frames - 1) and first.image is last.image
    else:
        assert args["video"][0] is args["video"][-1] and out.conditioning["kept_frames"] == [0, frames - 1]
    if task == Task.IMAGE_TO_VIDEO:
        assert ids([args["conditions"][0].image if spec.family == "ltx" else args["video"][0]]) == [9]
    # The closing frame (the first again) is dropped: on repeat the last frame steps into the first.
    model_frames = clip_frames(spec, spec.native_fps, 1)[0] if not spec.fps_conditioned else frames
    assert out.num_frames == (frames - 1 if spec.fps_conditioned else
                              max(1, int(np.floor((model_frames - 1) * 8 / spec.native_fps + 0.5))))
    assert out.seam is not None and out.seam.seamless, out.seam


def test_a_loop_is_refused_where_the_model_cannot_pin_a_last_frame(renderers):
    from inference.render import UnsupportedTask

    with pytest.raises(UnsupportedTask, match="wan-tiny cannot make text-to-video clips that loop; models that can: "
                                              "ltx-video"):
        renderers("wan-tiny").render(animate(task=Task.TEXT_TO_VIDEO.value, image=None, loop=True))


# --- keyframes ---------------------------------------------------------------------------------


def test_five_keyframes_sit_evenly_spaced_on_latent_frames(renderers, monkeypatch):
    from inference.render import RenderInput

    renderer = renderers("ltx-tiny")
    spy = Spy(renderer.pipelines["LTXConditionPipeline"], monkeypatch)
    out = renderer.render(RenderInput(task=Task.KEYFRAMES.value, prompt="a sunrise", image=solid(1), last_image=solid(5),
                                      between=(solid(2), solid(3), solid(4)), fps=16, seconds=2, seed=1))
    conditions = spy.last["conditions"]
    assert spy.last["num_frames"] == 33 and out.num_frames == 33
    assert [c.frame_index for c in conditions] == [0, 8, 16, 24, 32]
    assert ids([c.image for c in conditions]) == [1, 2, 3, 4, 5]
    assert out.conditioning == {"condition_frames": [0, 8, 16, 24, 32]}

    # Too short for five pictures a latent frame apart: the clip gets the frames it needs.
    short = renderer.render(RenderInput(task=Task.KEYFRAMES.value, prompt="a sunrise", image=solid(1),
                                        last_image=solid(5), between=(solid(2), solid(3), solid(4)), fps=8, seconds=1))
    assert [c.frame_index for c in spy.last["conditions"]] == [0, 8, 16, 24, 32] and short.num_frames == 33


def test_vace_keeps_four_keyframes_at_their_frames(renderers, monkeypatch):
    from inference.render import RenderInput

    renderer = renderers("wan-vace-tiny")
    spy = Spy(renderer.pipelines["WanVACEPipeline"], monkeypatch)
    renderer.render(RenderInput(task=Task.KEYFRAMES.value, prompt="a sunrise", image=solid(1), last_image=solid(4),
                                between=(solid(2), solid(3)), seconds=2, seed=1))
    video, frames = spy.last["video"], spy.last["num_frames"]
    places = [0, 12, 20, 32] if frames == 33 else None
    assert frames == 33 and ids([video[i] for i in places]) == [1, 2, 3, 4]
    assert [i for i, m in enumerate(spy.last["mask"]) if m.getextrema() in ((0, 0), 0)] == places


def test_first_and_last_only_models_refuse_more_pictures_with_those_that_take_them(renderers):
    from inference.render import RenderInput, UnsupportedTask

    with pytest.raises(UnsupportedTask) as caught:
        renderers("wan-flf2v-tiny").render(RenderInput(task=Task.KEYFRAMES.value, prompt="x", image=solid(1),
                                                       last_image=solid(2), between=(solid(3),), seconds=1))
    assert "takes a first and a last picture only, not 3" in str(caught.value)
    assert {"ltx-tiny", "wan-vace-tiny", "ltx2-tiny"} <= set(caught.value.capable)
    assert "wan-flf2v-tiny" not in caught.value.capable


# --- scene -------------------------------------------------------------------------------------


def test_a_scene_hands_vace_every_ingredient_whole(renderers, monkeypatch):
    from inference.render import RenderInput, UnsupportedTask

    renderer = renderers("wan-vace-tiny")
    spy = Spy(renderer.pipelines["WanVACEPipeline"], monkeypatch)
    pictures = (solid(1, (40, 90)), solid(2, (90, 40)), solid(3))
    out = renderer.render(RenderInput(task=Task.SCENE.value, prompt="they share a picnic", ingredients=pictures,
                                      seconds=1, seed=2))
    references = spy.last["reference_images"]
    assert len(references) == 3
    # Kept whole (scaled to fit the bucket, not cropped; VACE pads them itself), in the order given.
    for picture, reference in zip(pictures, references):
        assert reference.width <= out.width and reference.height <= out.height
        assert out.width in reference.size or out.height in reference.size
        assert abs(reference.width / reference.height - picture.width / picture.height) < 0.1
    assert ids(references) == [1, 2, 3]
    assert "video" not in spy.last and out.conditioning == {"reference_images": 3}
    with pytest.raises(UnsupportedTask, match="ltx-tiny cannot do scene; models that can: wan-vace-1.3b"):
        renderers("ltx-tiny").render(RenderInput(task=Task.SCENE.value, prompt="x", ingredients=pictures))
