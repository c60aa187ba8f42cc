"""Speed knobs: parsing, defaults per card, and each knob turned on for a CPU render.

A knob test checks that the knob is really in place (a hook, a compiled block, FP8
weights, fewer block computations) and that the render still has the right shape; the
CPU cannot show the speed, bench/gpu.py measures that where a GPU exists.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from inference.knobs import KnobError, Knobs, check_configuration, default_knobs, resolve  # noqa: E402
from core.catalog import MODELS, get_model  # noqa: E402

NO_GPU = "no CUDA device on this machine: bf16/FP8 speed on a GPU is measured by bench/gpu.py where one exists"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def render(name, models_dir, knobs: dict, steps=6, **inp):
    """A renderer with `knobs` and one render of a one-second clip."""
    from inference.render import Renderer, RenderInput

    renderer = Renderer(get_model(name), models_dir=models_dir, knobs=Knobs.from_dict(knobs))
    out = renderer.render(RenderInput(prompt="a fox", fps=24, seconds=1, seed=11, steps=steps, **inp))
    return renderer, out


@pytest.fixture(scope="module")
def plain(models_dir):
    """The knob-free renders to compare with, per model."""
    return {name: render(name, models_dir, {})[1] for name in ("ltx-tiny", "wan-tiny")}


def counting(module, name: str, calls: list):
    """Count the calls of `module.name` (a submodule the caches skip)."""
    getattr(module, name).register_forward_pre_hook(lambda *args: calls.append(1))


# --- configuration ---------------------------------------------------------------------------


def test_knobs_parse_and_refuse_in_words():
    knobs = Knobs.from_dict({"dtype": "bf16", "compile": True, "cache": "first-block", "vae_tiling": True})
    assert knobs.summary() == {"dtype": "bf16", "compile": True, "cache": "first-block", "cache_threshold": 0.05,
                               "vae_tiling": True}
    for bad, words in [({"dtyp": "bf16"}, "unknown knob 'dtyp'"),
                       ({"dtype": "int4"}, "dtype must be one of auto, fp32, bf16, fp16"),
                       ({"cache": "teacache"}, "cache must be one of first-block, pab, or null"),
                       ({"offload": "disk"}, "offload must be one of model, group"),
                       ({"fp8": True}, "fp8 must be one of layerwise, torchao"),
                       ({"compile": "yes"}, "compile must be true, false or an object"),
                       ({"cache_threshold": -1}, "cache_threshold must be a positive number"),
                       ({"compile": True, "offload": "group"}, "compile cannot be combined with offload")]:
        with pytest.raises(KnobError) as caught:
            Knobs.from_dict(bad)
        assert words in str(caught.value)
    with pytest.raises(KnobError, match="'ltx-vidoe' is not a model"):
        check_configuration({"ltx-vidoe": {"compile": True}}, list(MODELS))
    check_configuration({"*": {"vae_tiling": True}, "wan-t2v-1.3b": {"cache": "pab"}}, list(MODELS))


def test_defaults_per_card():
    ltx, ltx13b, wan14b = get_model("ltx-video"), get_model("ltx-video-distilled"), get_model("wan-i2v-14b")
    assert default_knobs(ltx, "cpu", None) == Knobs(dtype="fp32")
    # An 80 GB card: everything fits; compile and a step cache, no tiling.
    h100 = default_knobs(ltx, "cuda", 79.6)
    assert (h100.dtype, h100.compile, h100.cache, h100.vae_tiling, h100.fp8, h100.offload) == (
        "bf16", True, "first-block", False, None, None)
    # A distilled 8-step schedule has nothing for a step cache to reuse.
    assert default_knobs(ltx13b, "cuda", 79.6).cache is None
    # 24 GB: the 2B LTX fits, with tiled decoding; a 14B Wan needs FP8 and offloading.
    assert default_knobs(ltx, "cuda", 24).vae_tiling and default_knobs(ltx, "cuda", 24).fp8 is None
    small = default_knobs(wan14b, "cuda", 24)
    assert small.fp8 in ("layerwise", "torchao") and small.offload == "group" and not small.compile
    # 48 GB: FP8 is enough for the 14B.
    mid = default_knobs(wan14b, "cuda", 48)
    assert mid.fp8 and mid.offload is None and mid.compile
    for spec in MODELS.values():
        for memory in (8, 16, 24, 40, 48, 80, 141):
            default_knobs(spec, "cuda", memory).check()  # never an invalid combination


def test_configuration_goes_over_the_defaults():
    spec = get_model("ltx-tiny")
    configured = {"*": {"vae_tiling": True, "cache": "pab"}, "ltx-tiny": {"cache": "first-block"},
                  "wan-tiny": {"fp8": "layerwise"}}
    knobs = resolve(spec, "cpu", configured)
    assert (knobs.dtype, knobs.vae_tiling, knobs.cache, knobs.fp8) == ("fp32", True, "first-block", None)
    # Offloading asked over GPU defaults that compile: the defaults' compile gives way.
    gpu_defaults = default_knobs(get_model("ltx-video"), "cuda", 24)
    assert gpu_defaults.compile
    assert Knobs.from_dict({"offload": "group"}, base=gpu_defaults).compile is False


# --- each knob on a CPU render -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["ltx-tiny", "wan-tiny"])
def test_dtype_bf16(models_dir, plain, name):
    renderer, out = render(name, models_dir, {"dtype": "bf16"})
    assert renderer.pipeline.transformer.dtype == torch.bfloat16
    if name == "wan-tiny":
        assert renderer.pipeline.vae.dtype == torch.float32  # Wan's VAE stays fp32
    assert out.frames.shape == plain[name].frames.shape
    # Same noise, coarser arithmetic: close to the fp32 frames, not equal.
    assert np.abs(out.frames.astype(int) - plain[name].frames).mean() < 8


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
def test_dtype_bf16_on_gpu(models_dir):
    from inference.render import Renderer, RenderInput

    renderer = Renderer(get_model("ltx-tiny"), models_dir=models_dir, device="cuda")
    assert renderer.knobs.dtype == "bf16" and renderer.pipeline.transformer.dtype == torch.bfloat16
    assert renderer.render(RenderInput(prompt="a fox", seconds=1)).frames.shape[0] == 25


def test_attention_backend(models_dir, plain, monkeypatch):
    from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry

    calls = []
    math_attention = _AttentionBackendRegistry._backends[AttentionBackendName._NATIVE_MATH]

    def counted(*args, **kwargs):
        calls.append(1)
        return math_attention(*args, **kwargs)

    monkeypatch.setitem(_AttentionBackendRegistry._backends, AttentionBackendName._NATIVE_MATH, counted)
    for name in ("ltx-tiny", "wan-tiny"):
        calls.clear()
        _, out = render(name, models_dir, {"attention": "_native_math"})
        assert calls, f"{name} did not use the math backend"
        assert np.abs(out.frames.astype(int) - plain[name].frames).max() <= 1
    with pytest.raises(KnobError, match="unknown backend 'flash-attn-9'"):
        render("ltx-tiny", models_dir, {"attention": "flash-attn-9"})
    # The backend stays with the model that asked for it: a plain model is unaffected.
    calls.clear()
    _, out = render("wan-tiny", models_dir, {})
    assert not calls and np.array_equal(out.frames, plain["wan-tiny"].frames)


@pytest.mark.parametrize("name,knobs", [("ltx-tiny", {"compile": True}),
                                         ("wan-tiny", {"compile": True, "cache": "first-block"})],
                         ids=["compile", "compile+first-block"])
def test_regional_compile_with_warm_up(models_dir, name, knobs):
    """torch.compile (inductor) of the repeated blocks; slow to build on a CPU (~20 s).

    With a step cache the blocks' own forwards are compiled and the cache hooks stay
    eager: compiled through, the hooks' state made Wan recompile past torch's limit.
    """
    from torch._dynamo.utils import counters

    from inference.render import Renderer, RenderInput

    renderer = Renderer(get_model(name), models_dir=models_dir, knobs=Knobs.from_dict(knobs))
    transformer = renderer.pipeline.transformer
    blocks = [m for m in transformer.modules() if type(m).__name__ in transformer._repeated_blocks]
    if "cache" in knobs:
        assert all(hasattr(block.forward, "_torchdynamo_orig_callable") for block in blocks)
    else:
        assert all(getattr(block, "_compiled_call_impl", None) is not None for block in blocks)
    assert renderer.warm_up() > 0
    inp = RenderInput(prompt="a fox", fps=24, seconds=1, seed=11, steps=6)
    first = renderer.render(inp)
    graphs = counters["stats"]["unique_graphs"]
    second = renderer.render(inp)
    assert counters["stats"]["unique_graphs"] == graphs  # same shapes: no recompiling
    assert np.array_equal(first.frames, second.frames)
    eager = Renderer(get_model(name), models_dir=models_dir, knobs=Knobs.from_dict({**knobs, "compile": False}))
    assert np.abs(first.frames.astype(int) - eager.render(inp).frames).max() <= 2


@pytest.mark.parametrize("name,blocks", [("ltx-tiny", "transformer_blocks"), ("wan-tiny", "blocks")])
def test_first_block_cache(models_dir, plain, name, blocks):
    from inference.render import RenderInput

    # A huge threshold: after the first step every step reuses the cached residual, so
    # the second block runs once per render instead of once per step.
    renderer, out = render(name, models_dir, {"cache": "first-block", "cache_threshold": 1e9})
    calls = []
    counting(getattr(renderer.pipeline.transformer, blocks)[1], "attn1", calls)
    again = renderer.render(RenderInput(prompt="a fox", fps=24, seconds=1, seed=11, steps=6))
    per_render = len(calls)
    assert per_render < 6  # fewer block computations than steps
    assert np.array_equal(out.frames, again.frames)  # and the cache starts fresh every render
    _, normal = render(name, models_dir, {"cache": "first-block"})
    assert normal.frames.shape == plain[name].frames.shape


def test_pyramid_attention_broadcast(models_dir, plain):
    from inference.render import RenderInput

    computed = {}
    for knobs in ({}, {"cache": "pab"}):
        renderer, _ = render("wan-tiny", models_dir, knobs)
        calls = []
        counting(renderer.pipeline.transformer.blocks[0].attn1, "to_q", calls)
        out = renderer.render(RenderInput(prompt="a fox", fps=24, seconds=1, seed=11, steps=12))
        computed[bool(knobs)] = len(calls)
    assert computed[True] < computed[False]  # self-attention reused in the middle steps
    assert out.frames.shape[1:] == plain["wan-tiny"].frames.shape[1:]


@pytest.mark.parametrize("name,tile", [("ltx-tiny", 64), ("wan-tiny", 32)])
def test_vae_tiling(models_dir, plain, name, tile, monkeypatch):
    # Tiles smaller than the tiny frames (a tile is at least two latent pixels).
    tiles = {"tile_sample_min_height": tile, "tile_sample_min_width": tile,
             "tile_sample_stride_height": tile // 2, "tile_sample_stride_width": tile // 2}
    from inference.render import Renderer, RenderInput

    renderer = Renderer(get_model(name), models_dir=models_dir, knobs=Knobs.from_dict({"vae_tiling": tiles}))
    assert renderer.pipeline.vae.use_tiling
    calls = []
    tiled = type(renderer.pipeline.vae).tiled_decode
    monkeypatch.setattr(type(renderer.pipeline.vae), "tiled_decode",
                        lambda self, *a, **k: calls.append(1) or tiled(self, *a, **k))
    out = renderer.render(RenderInput(prompt="a fox", fps=24, seconds=1, seed=11, steps=6))
    assert calls and out.frames.shape == plain[name].frames.shape


@pytest.mark.parametrize("name", ["ltx-tiny", "wan-tiny"])
def test_group_offload(models_dir, plain, name):
    from diffusers.hooks.group_offloading import _is_group_offload_enabled

    renderer, out = render(name, models_dir, {"offload": "group"})
    assert _is_group_offload_enabled(renderer.pipeline.transformer)
    assert _is_group_offload_enabled(renderer.pipeline.text_encoder)
    # On the CPU the "GPU" is the CPU: same arithmetic, same frames.
    assert np.array_equal(out.frames, plain[name].frames)


def test_model_offload(models_dir, plain):
    renderer, out = render("wan-tiny", models_dir, {"offload": "model"})
    assert renderer._offloaded_for is renderer.pipelines["WanPipeline"]
    assert np.array_equal(out.frames, plain["wan-tiny"].frames)
    # Another task's pipeline takes the hooks over (they share the modules).
    from inference.render import RenderInput
    from PIL import Image

    clip = [Image.new("RGB", (80, 48), (i * 9, 40, 90)) for i in range(20)]
    renderer.render(RenderInput(task="video-to-video", prompt="a fox", video=clip, steps=2))
    assert renderer._offloaded_for is renderer.pipelines["WanVideoToVideoPipeline"]


@pytest.mark.parametrize("name", ["ltx-tiny", "wan-tiny"])
def test_fp8_layerwise(models_dir, plain, name):
    renderer, out = render(name, models_dir, {"fp8": "layerwise"})
    stored = {p.dtype for p in renderer.pipeline.transformer.parameters()}
    assert torch.float8_e4m3fn in stored  # weights kept in FP8 between layer calls
    assert out.frames.shape == plain[name].frames.shape


def test_fp8_torchao(models_dir):
    from inference.knobs import torchao_installed

    if torchao_installed():
        renderer, out = render("ltx-tiny", models_dir, {"fp8": "torchao"})
        assert out.frames.shape[0] == 25
        return
    with pytest.raises(KnobError, match="needs the torchao package"):
        render("ltx-tiny", models_dir, {"fp8": "torchao"})
    pytest.skip("torchao is not installed here (pip install 'reelbot[fp8]'); checked the refusal only")
