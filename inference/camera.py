"""Camera LoRAs: the hook for -camera moves that a LoRA renders better than words.

An operator names, per model, a LoRA for some moves (REELBOT_CAMERA_LORAS, e.g.
{"ltx-video": {"zoom in": "/loras/ltx-zoom-in"}}). Each is loaded once at start as its
own adapter and left switched off; a render whose -camera matches switches that one on
(at `weight`) and every other render runs with all of them off. The prompt still gets
the camera words, which is what such LoRAs are usually trained with.
"""

from __future__ import annotations

from pathlib import Path

from .phrasing import normalize_camera

LORA_WEIGHT = 1.0


class CameraLoras:
    def __init__(self, pipeline, loras: dict[str, str] | None):
        self.pipeline = pipeline
        self.adapters: dict[str, str] = {}
        for move, source in (loras or {}).items():
            move = normalize_camera(move)  # ValueError for a move the flags cannot ask for
            name = "camera_" + move.replace(" ", "_")
            location, options = _lora_location(source)
            pipeline.load_lora_weights(location, adapter_name=name, **options)
            self.adapters[move] = name
        if self.adapters:
            pipeline.disable_lora()
        self.active: str | None = None

    def select(self, camera: str | None) -> str | None:
        """Switch on the adapter for `camera` (or none); returns the adapter's name."""
        if not self.adapters:
            return None
        name = self.adapters.get(normalize_camera(camera)) if camera else None
        if name != self.active:
            if name is None:
                self.pipeline.disable_lora()
            else:
                self.pipeline.enable_lora()
                self.pipeline.set_adapters([name], [LORA_WEIGHT])
            self.active = name
        return name


def _lora_location(source: str) -> tuple[str, dict]:
    """A folder or hub id for load_lora_weights, with weight_name when `source` is one file."""
    path = Path(source).expanduser()
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise FileNotFoundError(f"camera LoRA {source} does not exist")
        return str(path.parent), {"weight_name": path.name}
    return (str(path) if path.exists() else source), {}
