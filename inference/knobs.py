"""Speed knobs: how a loaded pipeline is made fast on the card it runs on.

Every knob is off/on per model in configuration (REELBOT_KNOBS, a JSON object of model
name → knobs, with "*" for every model), over defaults chosen here from the card's
memory and the model's size:

    {"ltx-video": {"dtype": "bf16", "compile": true, "cache": "first-block"},
     "*": {"vae_tiling": true}}

| knob | values | what it does |
|---|---|---|
| dtype | auto, fp32, bf16, fp16 | weights and compute precision (auto: bf16 on GPU, fp32 on CPU); `fp32_components` of the model stay fp32 |
| attention | a diffusers backend name (native, flash, _native_cudnn, sage, ...) | `set_attention_backend` on the transformer(s) |
| compile | false, true, or torch.compile options | regional compile: `compile_repeated_blocks` (one compiled block, reused) |
| cache | none, first-block, pab | a diffusers step cache via `enable_cache`: First-Block Cache or Pyramid Attention Broadcast |
| cache_threshold | float | first-block: relative change under which a step reuses the cached residual |
| vae_tiling | false, true, or tile sizes | `vae.enable_tiling(...)`: decode in overlapping tiles, less peak memory |
| offload | none, model, group | `enable_model_cpu_offload` or block-level `enable_group_offload` (with CUDA streams) |
| fp8 | none, layerwise, torchao | FP8 transformer weights: diffusers layerwise casting (storage only), or torchao quantization |
| lora_swap | none (auto), named, hotswap | how effect and camera LoRAs switch between clips (inference/adapters.py): each loaded as a named adapter, or one slot hotswapped (auto: hotswap when compiled, so graphs stay valid) |

`apply` puts them on a pipeline in the order diffusers documents: precision and FP8
first, then attention, caches and tiling, then placement (device or offload), compile last
(with a cache, the block bodies are compiled before the cache's hooks wrap them).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable

from core.catalog import ModelSpec

DTYPES = ("auto", "fp32", "bf16", "fp16")
CACHES = ("first-block", "pab")
OFFLOADS = ("model", "group")
FP8 = ("layerwise", "torchao")
LORA_SWAPS = ("named", "hotswap")
# Transformers a pipeline may carry (Wan 2.2 A14B has a second, low-noise expert).
TRANSFORMERS = ("transformer", "transformer_2")

# Share of a card's memory the weights may take; the rest is activations, the VAE
# decode and the allocator's slack.
WEIGHTS_SHARE = 0.7
# Below this much memory, VAE decoding of a 5 s clip at full size needs tiles.
TILING_BELOW_GIB = 48
# Few-step (distilled) schedules have no similar consecutive steps for a cache to reuse.
CACHE_MIN_STEPS = 12
# Families whose transformer blocks diffusers' step caches do not know (LTX-2's blocks carry
# a video and an audio stream; diffusers 0.42's cache registry has no entry for them).
UNCACHED_FAMILIES = ("ltx2",)


class KnobError(ValueError):
    """A knob setting that is not understood; the message names it and what is accepted."""


@dataclass
class Knobs:
    dtype: str = "auto"
    attention: str | None = None
    compile: bool | dict = False
    cache: str | None = None
    cache_threshold: float = 0.05
    vae_tiling: bool | dict = False
    offload: str | None = None
    fp8: str | None = None
    lora_swap: str | None = None  # None: hotswap when compiled, else named adapters

    @classmethod
    def from_dict(cls, values: dict[str, Any], base: "Knobs | None" = None, where: str = "knobs") -> "Knobs":
        """`base` (default: all off) with `values` on top, each checked."""
        if not isinstance(values, dict):
            raise KnobError(f"{where}: expected an object of knob: value, got {values!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise KnobError(f"{where}: unknown knob {unknown[0]!r}; knobs are {', '.join(sorted(names))}")
        knobs = dataclasses.replace(base or cls(), **values)
        if values.get("offload") and "compile" not in values:
            knobs.compile = False  # asked for offloading over defaults that compile: offloading wins
        knobs.check(where)
        return knobs

    def check(self, where: str = "knobs") -> None:
        _one_of(where, "dtype", self.dtype, DTYPES)
        _one_of(where, "cache", self.cache, CACHES, optional=True)
        _one_of(where, "offload", self.offload, OFFLOADS, optional=True)
        _one_of(where, "fp8", self.fp8, FP8, optional=True)
        _one_of(where, "lora_swap", self.lora_swap, LORA_SWAPS, optional=True)
        for name in ("compile", "vae_tiling"):
            if not isinstance(getattr(self, name), (bool, dict)):
                raise KnobError(f"{where}: {name} must be true, false or an object of options")
        if self.attention is not None and not isinstance(self.attention, str):
            raise KnobError(f"{where}: attention must be a backend name")
        if not isinstance(self.cache_threshold, (int, float)) or not 0 < self.cache_threshold:
            raise KnobError(f"{where}: cache_threshold must be a positive number")
        if self.offload and self.compile:
            # Offload hooks move weights in and out under the compiled graph: diffusers
            # does not promise the pair works, so refuse it rather than fail mid-render.
            raise KnobError(f"{where}: compile cannot be combined with offload")

    @property
    def hotswap(self) -> bool:
        """Whether LoRAs switch by hotswapping one slot (see inference/adapters.py)."""
        return self.lora_swap == "hotswap" or (self.lora_swap is None and bool(self.compile))

    def torch_dtype(self, device: str):
        import torch

        name = self.dtype if self.dtype != "auto" else ("bf16" if _is_cuda(device) else "fp32")
        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]

    def summary(self) -> dict:
        """The knobs that are on, for logs and the benchmark table."""
        on = {name: value for name, value in dataclasses.asdict(self).items() if value not in (None, False)}
        if self.cache != "first-block":
            on.pop("cache_threshold")
        return on


def _one_of(where: str, name: str, value, allowed: tuple, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value not in allowed:
        choices = ", ".join(allowed) + (", or null" if optional else "")
        raise KnobError(f"{where}: {name} must be one of {choices}; got {value!r}")


def _is_cuda(device: str) -> bool:
    return str(device).startswith("cuda")


def gpu_memory_gib(device: str) -> float | None:
    """Total memory of the card behind `device`, or None on a CPU."""
    if not _is_cuda(device):
        return None
    import torch

    return torch.cuda.get_device_properties(torch.device(device)).total_memory / 2**30


def torchao_installed() -> bool:
    return importlib.util.find_spec("torchao") is not None


def default_knobs(spec: ModelSpec, device: str, memory_gib: float | None, share: float = 1.0) -> Knobs:
    """What to turn on for `spec` on this device when the operator says nothing.

    CPU: plain fp32. GPU: bf16 and regional compile; a step cache for many-step models;
    VAE tiling on cards under 48 GiB; FP8 weights when bf16 weights would take more than
    its `share` of 70 % of the card; group offload when even FP8 would not fit.
    """
    if memory_gib is None:
        return Knobs(dtype="fp32")
    budget = memory_gib * WEIGHTS_SHARE * share
    fp8 = offload = None
    if spec.weights_gib > budget:
        fp8 = "torchao" if torchao_installed() else "layerwise"
        # The transformer is most of a big model; FP8 halves it (text encoder stays bf16).
        if spec.weights_gib * 0.65 > budget:
            offload = "group"
    many_steps = not spec.distilled and spec.default_steps > CACHE_MIN_STEPS and spec.family not in UNCACHED_FAMILIES
    return Knobs(
        dtype="bf16",
        compile=offload is None,
        cache="first-block" if many_steps else None,
        vae_tiling=memory_gib < TILING_BELOW_GIB,
        offload=offload,
        fp8=fp8,
    )


def memory_share(spec: ModelSpec, alongside: tuple[ModelSpec, ...] = ()) -> float:
    """The share of a card's weight budget `spec` gets when the models `alongside` are
    loaded on the same card (one worker serving several): in proportion to bf16 weights,
    so that models which fit together keep their defaults and models which do not all
    give way alike, instead of each assuming the whole card."""
    models = [spec, *(other for other in alongside if other.name != spec.name)]
    total = sum(model.weights_gib for model in models)
    return spec.weights_gib / total if total > 0 else 1.0 / len(models)


def resolve(spec: ModelSpec, device: str, configured: dict[str, dict] | None,
            alongside: tuple[ModelSpec, ...] = ()) -> Knobs:
    """The defaults for `spec` on `device` (sharing the card with the models `alongside`),
    then "*" from configuration, then its own entry."""
    knobs = default_knobs(spec, device, gpu_memory_gib(device), memory_share(spec, alongside))
    for key in ("*", spec.name):
        if configured and key in configured:
            knobs = Knobs.from_dict(configured[key], base=knobs, where=f"knobs[{key!r}]")
    return knobs


def check_configuration(configured: dict[str, dict] | None, model_names) -> None:
    """Refuse entries for models the registry does not know (typos) and bad values,
    before anything loads. Entries for models this worker does not serve are fine: one
    configuration is shared by workers serving different models."""
    for key, values in (configured or {}).items():
        if key != "*" and key not in model_names:
            raise KnobError(f"{key!r} is not a model (models: {', '.join(model_names)})")
        Knobs.from_dict(values, where=f"knobs[{key!r}]")


def use_compile_cache(folder, job_id: str) -> None:
    """Keep torch.compile's artefacts in `folder` (on the models volume), so a restarted
    worker loads compiled graphs instead of compiling again: inductor's FX graph and
    AOTAutograd caches, Triton's kernels, and (keyed by `job_id`) dynamo's record of which
    sizes turned out dynamic, so a restart compiles the dynamic graph at once instead of
    a static one first. Call before anything compiles."""
    import os
    from pathlib import Path

    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    os.environ["TRITON_CACHE_DIR"] = str(folder / "triton")
    torch.compiler.config.job_id = job_id


# --- putting them on a pipeline -------------------------------------------------------------


def component_dtypes(spec: ModelSpec, knobs: Knobs, device: str) -> dict:
    """`dtype` per component for from_pretrained: the knob's, but fp32 where the model needs it."""
    import torch

    return {"default": knobs.torch_dtype(device), **{name: torch.float32 for name in spec.fp32_components}}


def transformers_of(pipeline) -> list:
    return [module for name in TRANSFORMERS if (module := getattr(pipeline, name, None)) is not None]


def apply(pipeline, spec: ModelSpec, knobs: Knobs, device: str, current_timestep: Callable[[], Any]) -> None:
    """Put `knobs` on a loaded pipeline (weights on the CPU in their final dtype) and
    place it on `device`. `current_timestep` tells the PAB cache where the render is."""
    compile_options = knobs.compile if isinstance(knobs.compile, dict) else {}
    for transformer in transformers_of(pipeline):
        if knobs.fp8:
            _fp8(transformer, knobs, device)
        if knobs.attention:
            _attention(transformer, knobs.attention)
        if knobs.cache:
            if spec.family in UNCACHED_FAMILIES:
                raise KnobError(f"cache: {spec.name}'s transformer blocks take no step cache (none of "
                                f"{', '.join(CACHES)}); set \"cache\": null for it")
            if knobs.compile:
                _compile_block_bodies(transformer, compile_options)
            transformer.enable_cache(_cache_config(knobs, current_timestep))
    if knobs.vae_tiling:
        options = knobs.vae_tiling if isinstance(knobs.vae_tiling, dict) else {}
        try:
            pipeline.vae.enable_tiling(**options)
        except TypeError as exc:
            raise KnobError(f"vae_tiling: {exc}") from None
    _place(pipeline, knobs, device)
    if knobs.compile and not knobs.cache:
        for transformer in transformers_of(pipeline):
            transformer.compile_repeated_blocks(**compile_options)


def _compile_block_bodies(transformer, options: dict) -> None:
    """Regional compile that leaves room for a step cache's hooks.

    A cache wraps each block's forward in Python hooks that keep state between calls
    (which step, cond or uncond). compile_repeated_blocks compiles through them, guards
    on that state and recompiles until torch gives up (seen on Wan: the recompile limit
    of 8 is hit in the first render). Compiling each repeated block's own forward
    before the hooks go on keeps the hooks eager around compiled block bodies.
    """
    import torch

    kinds = set(getattr(transformer, "_repeated_blocks", None) or ())
    if not kinds:
        raise KnobError(f"compile: {type(transformer).__name__} names no repeated blocks to compile")
    for module in transformer.modules():
        if type(module).__name__ in kinds:
            module.forward = torch.compile(module.forward, **options)


def _fp8(transformer, knobs: Knobs, device: str) -> None:
    import torch

    if knobs.fp8 == "layerwise":
        # Weights stored as float8_e4m3fn, cast up layer by layer to the compute dtype:
        # half the memory of bf16, no extra package, works on any device.
        transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=transformer.dtype)
        return
    if not torchao_installed():
        raise KnobError("fp8 'torchao' needs the torchao package (pip install 'reelbot[fp8]'); "
                        "or use fp8 'layerwise', which needs nothing extra")
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, Float8WeightOnlyConfig, quantize_

    # FP8 matmuls need Ada/Hopper (compute capability 8.9+); older cards keep FP8 weights only.
    fast = _is_cuda(device) and torch.cuda.get_device_capability(torch.device(device)) >= (8, 9)
    quantize_(transformer, Float8DynamicActivationFloat8WeightConfig() if fast else Float8WeightOnlyConfig())


def _attention(transformer, backend: str) -> None:
    from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry

    known = [b.value for b in AttentionBackendName]
    if backend not in known:
        raise KnobError(f"attention: unknown backend {backend!r}; diffusers has {', '.join(known)}")
    # set_attention_backend also makes the backend diffusers' process-wide default; put
    # that back, so that another model served by this worker keeps its own.
    process_default, _ = _AttentionBackendRegistry.get_active_backend()
    try:
        transformer.set_attention_backend(backend)
    except (RuntimeError, ImportError) as exc:  # e.g. flash-attn not installed
        raise KnobError(f"attention: backend {backend!r} is not usable here: {exc}") from None
    finally:
        _AttentionBackendRegistry.set_active_backend(process_default)


def _cache_config(knobs: Knobs, current_timestep: Callable[[], Any]):
    from diffusers.hooks import FirstBlockCacheConfig, PyramidAttentionBroadcastConfig

    if knobs.cache == "first-block":
        # When the first block's output barely changed since the last step, reuse the
        # other blocks' cached residual instead of running them.
        return FirstBlockCacheConfig(threshold=knobs.cache_threshold)
    # Pyramid Attention Broadcast: reuse self-attention every other block call in the
    # middle of the schedule, where consecutive steps barely differ.
    return PyramidAttentionBroadcastConfig(
        spatial_attention_block_skip_range=2,
        spatial_attention_timestep_skip_range=(100, 800),
        current_timestep_callback=current_timestep,
    )


def _place(pipeline, knobs: Knobs, device: str) -> None:
    import torch

    if knobs.offload == "group":
        onload = torch.device(device)
        stream = _is_cuda(device)  # overlap the next block's copy with this one's compute
        for name, module in pipeline.components.items():
            if not isinstance(module, torch.nn.Module):
                continue
            if hasattr(module, "enable_group_offload"):
                module.enable_group_offload(onload_device=onload, offload_type="block_level",
                                            num_blocks_per_group=1, use_stream=stream)
            else:  # transformers models (text and image encoders)
                from diffusers.hooks import apply_group_offloading

                apply_group_offloading(module, onload_device=onload, offload_type="block_level",
                                       num_blocks_per_group=1, use_stream=stream)
    elif knobs.offload == "model":
        pass  # per pipeline, right before its call: see Renderer (pipelines share modules)
    elif torch.device(device).type != "cpu":  # loaded on the CPU: nothing to move there
        pipeline.to(device)
