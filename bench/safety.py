"""What the image-safety check costs per clip: frames sampled × time per frame.

Loads each classifier through the worker's own path (`SafetyClassifier.load`, the
transformers image-classification pipeline) and times `check` on frames the size of a
768×512 clip, as the worker calls it after a render (`worker/safety.screen_clip`).
Classifiers: the random-weight test classifier (safety-tiny) and the default checkpoint's
architecture (Falconsai/nsfw_image_detection: ViT-base/16 at 224 px, 86 M weights), built
with random weights from its config since nothing is downloaded here: the cost of a ViT
does not depend on its weights. Or a real folder with --model.

    python bench/safety.py [--device cpu|cuda] [--runs 5] [--frames 1,8,16,32] [--model /models/nsfw]

Prints medians of --runs timed calls after one uncounted call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.safety import DEFAULT_CLASSIFIER, TEST_CLASSIFIER  # noqa: E402
from inference.safety import SafetyClassifier, sample_frames  # noqa: E402

WIDTH, HEIGHT, CLIP_FRAMES = 768, 512, 121  # an LTX-Video clip: 5 s at 24 fps


def vit_base_folder(folder: Path) -> str:
    """The default checkpoint's architecture with random weights, saved like a checkpoint."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(id2label={0: "normal", 1: "nsfw"}, label2id={"normal": 0, "nsfw": 1})  # ViT-base/16, 224 px
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(folder)
    return str(folder)


def time_checks(checker: SafetyClassifier, frames, count: int, runs: int) -> float:
    pictures = sample_frames(frames, count)
    checker.check(pictures)  # warm-up: first-call allocations, lazy imports
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        checker.check(pictures)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--frames", default="1,8,16", help="frame counts to sample per clip (8 is the default)")
    parser.add_argument("--model", help="a real classifier folder to time as well")
    args = parser.parse_args()
    import numpy as np
    import torch

    counts = [int(n) for n in args.frames.split(",")]
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (CLIP_FRAMES, HEIGHT, WIDTH, 3), dtype=np.uint8)
    tmp = Path(tempfile.mkdtemp(prefix="reelbot-bench-safety-"))
    sources = [(TEST_CLASSIFIER, TEST_CLASSIFIER),
               (f"{DEFAULT_CLASSIFIER}'s architecture (ViT-base/16, random weights)", vit_base_folder(tmp / "vit"))]
    if args.model:
        sources.append((args.model, args.model))
    where = args.device
    if where == "cpu":
        where += f", {torch.get_num_threads()} threads, {os.cpu_count()} cores"
    print(f"image-safety check per clip ({WIDTH}×{HEIGHT} frames sampled from a {CLIP_FRAMES}-frame clip) "
          f"on {where}; medians of {args.runs}")
    print(f"{'classifier':<72} {'frames':>6} {'ms/frame':>9} {'ms/clip':>9}")
    for name, source in sources:
        checker = SafetyClassifier.load(source, threshold=0.5, unsafe_labels=["nsfw"], models_dir=tmp,
                                        device=args.device)
        for count in counts:
            per_clip = time_checks(checker, frames, count, args.runs)
            print(f"{name:<72} {count:>6} {1000 * per_clip / count:>9.1f} {1000 * per_clip:>9.1f}")


if __name__ == "__main__":
    main()
