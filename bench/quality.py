"""What measuring a clip's quality signals costs, against the render (worker/quality.py calls
inference/quality.measure between the render and the encoder).

1. Tiny models: `Renderer.render` of ltx-tiny and ltx2-tiny (with sound), then `measure` of
   the frames it returned, without and with adherence (clip-tiny); the share of the render.
2. A clip of real size: 768x512, 121 frames (LTX-Video's 5 s at 24 fps), a panning picture
   encoded to H.264 and decoded back with PyAV (what a model's frames look like to the
   worker is raw frames; decoding an MP4 gives the same shape with real texture), with a
   5 s 48 kHz stereo track; `measure` without adherence, with clip-tiny, and with a CLIP
   ViT-B/32 of random weights built from its config (the default CLIP architecture:
   nothing is downloaded; its cost does not depend on its weights).

    python bench/quality.py [--runs 5] [--device cpu|cuda] [--render-s SECONDS]

Prints medians of --runs timed calls after one uncounted call. Without a GPU there is no
GPU-size render to compare with: `--render-s` names one measured elsewhere (bench/gpu.py),
and the share is printed against it; otherwise the signals' seconds are printed alone.
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

import numpy as np  # noqa: E402

from inference.quality import TINY_ADHERENCE, AdherenceScorer, frame_signals, measure, sound_signals  # noqa: E402

WIDTH, HEIGHT, FRAMES, FPS = 768, 512, 121, 24


def timed(call, runs: int) -> float:
    call()  # warm-up, not counted
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def real_size_clip() -> tuple[np.ndarray, object]:
    """768x512x121 frames decoded from an H.264 MP4 of a panning picture, and a 5 s stereo track."""
    import io

    import av
    import cv2

    from inference.audio import Track
    from inference.encode import encode_mp4

    rng = np.random.default_rng(0)
    picture = cv2.GaussianBlur(rng.integers(0, 256, (HEIGHT, WIDTH * 2, 3), dtype=np.uint8), (0, 0), 2)
    frames = np.stack([picture[:, i * 4:i * 4 + WIDTH] for i in range(FRAMES)])
    with av.open(io.BytesIO(encode_mp4(frames, FPS))) as container:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    t = np.arange(48000 * FRAMES // FPS) / 48000
    track = Track(np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)]).astype(np.float32),
                  48000)
    return decoded, track


def vit_b32_folder(folder: Path) -> str:
    """CLIP ViT-B/32's architecture (CLIPConfig's defaults) with random weights and a small tokenizer."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    from inference.tiny import _tiny_clip_tokenizer

    tokenizer = _tiny_clip_tokenizer()
    model = CLIPModel(CLIPConfig(text_config=dict(vocab_size=len(tokenizer), bos_token_id=0, eos_token_id=1,
                                                  pad_token_id=1)))
    model.save_pretrained(folder)
    CLIPProcessor(image_processor=CLIPImageProcessorPil(), tokenizer=tokenizer).save_pretrained(folder)
    return str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--render-s", type=float, help="a GPU render of a 768x512x121 clip, measured elsewhere")
    args = parser.parse_args()
    import torch

    from core.catalog import get_model
    from inference.render import Renderer, RenderInput

    with tempfile.TemporaryDirectory() as models:
        models = Path(models)
        tiny_clip = AdherenceScorer.load(TINY_ADHERENCE, models, device=args.device)
        base = AdherenceScorer.load(vit_b32_folder(models / "clip-vit-b32"), models, device=args.device)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
              f"medians of {args.runs} runs\n")

        print("1. Tiny models: render vs signals")
        print(f"{'model':<10} {'clip':<16} {'render s':>9} {'signals s':>10} {'share':>7} "
              f"{'+adherence s':>13} {'share':>7}")
        for name, prompt in (("ltx-tiny", "a red fox -len 2"), ("ltx2-tiny", "a man says hello -len 2")):
            renderer = Renderer(get_model(name), models_dir=models, device=args.device)
            inp = RenderInput(prompt=prompt, seconds=2, steps=4, seed=1)
            out = renderer.render(inp)
            render_s = timed(lambda: renderer.render(inp), args.runs)
            plain = timed(lambda: measure(out.frames, out.fps, track=out.audio), args.runs)
            scored = timed(lambda: measure(out.frames, out.fps, track=out.audio, prompt=prompt, scorer=tiny_clip),
                           args.runs)
            size = f"{out.width}x{out.height}x{out.num_frames}" + (" +sound" if out.audio is not None else "")
            print(f"{name:<10} {size:<16} {render_s:>9.3f} {plain:>10.3f} {plain / render_s:>7.1%} "
                  f"{scored:>13.3f} {scored / render_s:>7.1%}")

        print(f"\n2. A clip of real size: {WIDTH}x{HEIGHT}x{FRAMES} decoded from H.264, 5 s stereo 48 kHz")
        frames, track = real_size_clip()
        parts = {
            "pictures (flow, flicker, frozen, black, sharpness)": lambda: frame_signals(frames, FPS),
            "sound (loudness, silence, clipping)": lambda: sound_signals(track.samples, track.rate),
            "adherence, clip-tiny (4 frames)": lambda: tiny_clip.score(frames, "a panning picture"),
            "adherence, CLIP ViT-B/32 (4 frames)": lambda: base.score(frames, "a panning picture"),
            "all, no adherence": lambda: measure(frames, FPS, track=track),
            "all, with CLIP ViT-B/32": lambda: measure(frames, FPS, track=track, prompt="a panning picture",
                                                       scorer=base),
        }
        for label, call in parts.items():
            seconds = timed(call, args.runs)
            share = f"  {seconds / args.render_s:.1%} of a {args.render_s:g} s render" if args.render_s else ""
            print(f"{label:<55} {seconds:>7.3f} s{share}")


if __name__ == "__main__":
    main()
