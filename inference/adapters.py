"""Effect and camera LoRAs (`core.catalog.Adapter`): loaded once beside the model, switched per clip.

The catalog names each model's adapters as data (hub source, weight file, trigger words,
strength, tasks). This module is the only one that knows they are LoRAs: the renderer asks
`Adapters.select(effect, camera)` before each clip and `Adapters.prompt` for its words; the
family modules (ltx.py, wan.py, ...) never see them.

Where the weights come from (`locate`): REELBOT_ADAPTER_SOURCES for an operator's folder, file
or pinned `owner/name@commit`, else the catalog's hub source, fetched into the hub cache
(`reelbot fetch-models`, or the worker's start; with HF_HUB_OFFLINE the cached file); a tiny
model's stand-ins are built in REELBOT_MODELS_DIR (inference/tiny.py). Every one is then
loaded from a folder with diffusers' `load_lora_weights` (PEFT).

Two ways to switch, both without reloading the model (the `lora_swap` knob; by default
hotswap when the model is compiled, named otherwise):

| mode | when | a switch | a clip without adapters |
|---|---|---|---|
| named | eager models (the default) | `set_adapters([name], [strength])` over every adapter loaded at start, each its own PEFT adapter | `disable_lora()`: every LoRA layer runs its base layer alone, so the frames are bit-identical to the model without LoRAs |
| hotswap | compiled models (`compile` knob) | diffusers' hotswap: the new weights (strength folded into them) copied into one adapter slot padded to the largest rank (`enable_lora_hotswap`), so compiled graphs stay valid | the slot's up-projections zeroed in place: the LoRA adds exactly 0 |

Switching named adapters on a compiled model changes what its graphs guard on (which adapter
is active, its scale) and recompiles, per combination, up to torch's limit: diffusers' guidance
for compiled models is hotswap, which changes only tensor contents (`bench/adapters.py`
measures both). A compiled model serves one LoRA per clip: its adapters of both kinds share
the slot, so a model declaring effects and camera LoRAs is refused at start with compile on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.catalog import Adapter, AdapterKind, ModelSpec, split_source

SLOT = "reelbot"  # the one adapter name hotswap mode loads into


class UnsupportedAdapter(ValueError):
    """An effect or camera LoRA this model lacks (or not for this task); names the models that
    have it. The renderer raises it as an UnsupportedTask (see render.py), refused to the member."""


@dataclass(frozen=True)
class Located:
    """An adapter's weights on this machine: a folder and the file in it."""

    folder: Path
    weight_name: str


def adapter_key(adapter: Adapter) -> str:
    """Its PEFT adapter name: kind and name, one word ("effect-squish", "camera-dolly-in")."""
    return f"{adapter.kind}-{adapter.name.replace(' ', '-')}"


def wanted(spec: ModelSpec, task: str, effect: str | None, camera: str | None) -> list[Adapter]:
    """The adapters a clip switches on: its effect, and the camera LoRA for its move where the
    model has one (else the move stays words). UnsupportedAdapter for an effect the model lacks
    or that is not for `task`, and for a LoRA-only move it lacks."""
    from core.flags import LORA_MOVES

    chosen = []
    if effect:
        adapter = spec.adapter(AdapterKind.EFFECT, effect, task)
        if adapter is None:
            raise UnsupportedAdapter(refusal(spec, AdapterKind.EFFECT, effect, task))
        chosen.append(adapter)
    camera_lora = spec.adapter(AdapterKind.CAMERA, camera, task) if camera else None
    if camera_lora is not None:
        chosen.append(camera_lora)
    elif camera in LORA_MOVES:
        raise UnsupportedAdapter(refusal(spec, AdapterKind.CAMERA, camera, task))
    return chosen


def refusal(spec: ModelSpec, kind: AdapterKind, name: str, task: str) -> str:
    """Why `spec` cannot apply adapter `name` to a clip of `task`, with the models that can."""
    from core.catalog import MODELS

    able = [other.name for other in MODELS.values() if other.adapter(kind, name, task) is not None]
    what = f"{name} effect" if kind == AdapterKind.EFFECT else f"camera LoRA for {name}"
    return f"{spec.name} has no {what} for {task} clips; models that have it: {', '.join(able) or 'none'}"


def locate(spec: ModelSpec, adapter: Adapter, models_dir: Path, source: str | None = None) -> Located:
    """Where `adapter`'s weights are (fetched or built first when needed). `source`: the
    operator's override (a folder, a .safetensors file or a hub source)."""
    source = source or adapter.source
    if source is None:
        folder = Path(models_dir) / f"{spec.name}-adapters" / adapter_key(adapter)
        if not (folder / adapter.weight_name).is_file():
            from .tiny import build_tiny_adapter

            build_tiny_adapter(spec, adapter, folder)
        return Located(folder, adapter.weight_name)
    path = Path(source).expanduser()
    if path.suffix == ".safetensors" and path.is_file():
        return Located(path.parent, path.name)
    if path.is_dir():
        return Located(path, adapter.weight_name)
    if split_source(source) is None:
        raise ValueError(f"{spec.name} adapter {adapter.name}: {source!r} is neither a folder, a file nor a hub id")
    from .weights import fetch_adapter

    file = fetch_adapter(source, adapter.weight_name, bars=False)
    return Located(file.parent, file.name)


class Adapters:
    """One model's LoRAs, loaded at start; `select` switches them per clip."""

    def __init__(self, pipeline, spec: ModelSpec, *, models_dir: Path | None = None,
                 sources: dict[str, str] | None = None, hotswap: bool = False):
        """Load every adapter of `spec` onto `pipeline` (before any speed knob: FP8 casting and
        compile must see the LoRA layers). `sources`: adapter name → where its weights are,
        over the catalog's. `hotswap`: one slot switched by hotswapping (compiled models)."""
        self.pipeline, self.spec, self.hotswap = pipeline, spec, hotswap and bool(spec.adapters)
        sources = sources or {}
        unknown = set(sources) - {adapter.name for adapter in spec.adapters}
        if unknown:
            raise ValueError(f"{spec.name} has no adapter {sorted(unknown)[0]!r}")
        self.files = {adapter_key(a): locate(spec, a, Path(models_dir or "."), sources.get(a.name))
                      for a in spec.adapters}
        self.active: tuple[str, ...] = ()
        if self.hotswap:
            self._load_slot()
        else:
            for adapter in spec.adapters:
                where = self.files[adapter_key(adapter)]
                pipeline.load_lora_weights(str(where.folder), weight_name=where.weight_name,
                                           adapter_name=adapter_key(adapter))
            if spec.adapters:
                pipeline.disable_lora()

    # --- per clip ----------------------------------------------------------------------

    def select(self, task: str, effect: str | None, camera: str | None) -> tuple[Adapter, ...]:
        """Switch on the clip's adapters (see `wanted`), everything else off; returns them."""
        chosen = tuple(wanted(self.spec, task, effect, camera))
        keys = tuple(adapter_key(a) for a in chosen)
        if keys != self.active:
            if self.hotswap:
                self._swap(chosen)
            elif not chosen:
                self.pipeline.disable_lora()
            else:
                self.pipeline.enable_lora()
                self.pipeline.set_adapters(list(keys), [a.strength for a in chosen])
            self.active = keys
        return chosen

    @staticmethod
    def prompt(words: str, chosen: tuple[Adapter, ...]) -> str:
        """The member's words inside the effect's trigger template (camera LoRAs add none)."""
        for adapter in chosen:
            words = adapter.prompt(words)
        return words

    # --- hotswap mode --------------------------------------------------------------------

    def _load_slot(self) -> None:
        """The slot: padded to the largest rank, every adapter swapped in once (so one that does
        not fit fails here, at start, not in a member's clip), then zeroed."""
        kinds = {adapter.kind for adapter in self.spec.adapters}
        if len(kinds) > 1:
            raise ValueError(f"{self.spec.name}: a compiled model switches one LoRA per clip; it declares "
                             f"effects and camera LoRAs (turn compile off to serve both)")
        states = {key: self._state(key) for key in self.files}
        rank = max(_rank(state) for state in states.values())
        self.pipeline.enable_lora_hotswap(target_rank=rank)
        first, *others = states.values()
        self.pipeline.load_lora_weights(first, adapter_name=SLOT)
        for state in others:
            self.pipeline.load_lora_weights(state, adapter_name=SLOT, hotswap=True)
        self._zero_slot()

    def _swap(self, chosen: tuple[Adapter, ...]) -> None:
        if not chosen:
            self._zero_slot()
            return
        (adapter,) = chosen
        state = self._state(adapter_key(adapter), adapter.strength)
        self.pipeline.load_lora_weights(state, adapter_name=SLOT, hotswap=True)

    def _state(self, key: str, strength: float = 1.0) -> dict:
        """An adapter's state dict in diffusers' layout, its strength folded into the up-projections."""
        where = self.files[key]
        state = type(self.pipeline).lora_state_dict(str(where.folder), weight_name=where.weight_name)
        state = state[0] if isinstance(state, tuple) else state
        return {name: tensor * strength if _is_up(name) else tensor for name, tensor in state.items()}

    def _zero_slot(self) -> None:
        from peft.tuners.lora import LoraLayer

        for component in self._lora_components():
            for module in component.modules():
                if isinstance(module, LoraLayer) and SLOT in module.lora_B:
                    module.lora_B[SLOT].weight.data.zero_()

    def _lora_components(self):
        return [getattr(self.pipeline, name) for name in self.pipeline._lora_loadable_modules
                if getattr(self.pipeline, name, None) is not None]


def _is_up(name: str) -> bool:
    return ".lora_B." in name or ".lora_up." in name


def _rank(state: dict) -> int:
    return max(tensor.shape[0] for name, tensor in state.items() if ".lora_A." in name or ".lora_down." in name)


def used_by(chosen: tuple[Adapter, ...]) -> dict[str, str]:
    """What a clip's adapters were, for the worker's log: kind → name."""
    return {str(adapter.kind): adapter.name for adapter in chosen}
