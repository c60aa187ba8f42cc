"""Switching an effect LoRA between clips, against reloading the model, like against like.

For one model (default the tiny LTX on the CPU; `--model` any tiny model) it measures, each
as the median of --runs:

- reload: what a worker would pay without adapter switching: the model read back from its
  folder and made ready (a Renderer built without adapters);
- switch, named: `Adapters.select` from one effect to another and to none, every adapter
  loaded at start as its own PEFT adapter (`set_adapters` / `disable_lora`);
- switch, hotswap: the same through one hotswapped slot (strength folded into the weights);
- with --compile: the model compiled (regional, as the `compile` knob does), one clip after
  each switch, with torch.compile's count of frames compiled before and after: named
  adapters recompile per combination, hotswap does not (diffusers' guidance for compiled
  models). On a CPU this needs a C++ compiler and takes minutes.

Tiny models' weights are random and tiny, so their load is quick and their LoRAs small: the
ratio says what switching saves over reloading, not what a 14B model's reload costs.

    python bench/adapters.py --runs 5
    python bench/adapters.py --model wan-i2v-tiny --runs 5
    python bench/adapters.py --runs 2 --compile
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from core.catalog import AdapterKind, Task, get_model  # noqa: E402
from inference.knobs import Knobs  # noqa: E402
from inference.render import Renderer, RenderInput  # noqa: E402


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def switches(renderer: Renderer, effects: list[str], runs: int) -> list[float]:
    """Seconds per switch, cycling through the effects and none."""
    task = next(t for t in (Task.IMAGE_TO_VIDEO, Task.TEXT_TO_VIDEO) if t in renderer.spec.tasks)
    cycle = [*effects, None]
    return [timed(lambda e=cycle[i % len(cycle)]: renderer.adapters.select(task.value, e, None))
            for i in range(runs * len(cycle))]


def compiled_recompiles(spec, models_dir: Path, swap: str, effects: list[str]) -> tuple[int, float]:
    """Frames torch.compile compiled while rendering one clip after each switch (after a first,
    uncounted clip), and the seconds it took."""
    from torch._dynamo.utils import counters

    from PIL import Image

    renderer = Renderer(spec, models_dir=models_dir, knobs=Knobs(compile=True, lora_swap=swap))
    task = next(t for t in (Task.IMAGE_TO_VIDEO, Task.TEXT_TO_VIDEO) if t in spec.tasks)
    clip = RenderInput(task=task.value, prompt="a duck", image=Image.new("RGB", (64, 64)), fps=8, seconds=1, steps=2)
    renderer.render(clip)
    before = sum(counters["frames"].values())
    seconds = timed(lambda: [renderer.render(replace(clip, effect=e)) for e in [*effects, None, *effects]])
    return sum(counters["frames"].values()) - before, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ltx-tiny")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="also count recompiles of a compiled model")
    parser.add_argument("--models-dir", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = get_model(args.model)
    effects = [a.name for a in spec.adapters if a.kind == AdapterKind.EFFECT][:2]
    if len(effects) < 2:
        raise SystemExit(f"{spec.name} has fewer than two effects to switch between")
    models_dir = args.models_dir or Path(tempfile.mkdtemp(prefix="reelbot-bench-"))
    bare = replace(spec, adapters=())
    Renderer(spec, models_dir=models_dir)  # builds the model and its LoRAs once, uncounted
    reload = statistics.median(timed(lambda: Renderer(bare, models_dir=models_dir)) for _ in range(args.runs))
    rows = [("reload (no adapters)", reload, None)]
    for swap in ("named", "hotswap"):
        renderer = Renderer(spec, models_dir=models_dir, knobs=Knobs(lora_swap=swap))
        seconds = statistics.median(switches(renderer, effects, args.runs))
        rows.append((f"switch, {swap}", seconds, reload / seconds))
    print(f"{spec.name} on {'cuda' if torch.cuda.is_available() else 'cpu'}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), median of {args.runs} (switches cycle {', '.join(effects)}, none)")
    print("| what | seconds | reload / this |\n|---|---|---|")
    for label, seconds, ratio in rows:
        print(f"| {label} | {seconds:.4f} | {'' if ratio is None else f'{ratio:.0f}x'} |")
    if args.compile:
        print("\n| compiled, lora_swap | frames compiled over 5 switched clips | seconds |\n|---|---|---|")
        for swap in ("named", "hotswap"):
            frames, seconds = compiled_recompiles(spec, models_dir, swap, effects)
            print(f"| {swap} | {frames} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
