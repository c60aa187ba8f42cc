"""Peak memory of reading a member's 4K 10 s video for a render, before and after decoding
straight to the model's size and rate.

Before: the worker decoded every frame (up to 600) to a full-resolution RGB picture, then
picked the frames at the model's rate and scaled them to the bucket. After: the clip is
probed, and only the frames the model's rate picks are converted, by swscale straight
from the decoder's YUV to the bucket's size (inference/media.py `SourceClip`), stopping at
the last frame needed.

The 4K input is built here with PyAV (H.264, a moving pattern). Each measurement runs in a
fresh process, the two paths alternating; medians are printed side by side. Peak RSS is
the kernel's high-water mark (VmHWM), reset after the imports (/proc/self/clear_refs), so
what a path adds is its peak less the resident size it started from. Linux only.

    python bench/decode_memory.py [--runs 3] [--fps 30] [--seconds 10] [--model lucy-edit-dev]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT = 3840, 2160
MAX_FRAMES = 600  # what the worker used to keep of a source clip


def build_input(path: Path, fps: int, seconds: float) -> None:
    """A 4K H.264 clip of a pattern that moves every frame (so every frame really decodes)."""
    import av
    import numpy as np

    tile = np.random.default_rng(0).integers(0, 256, (HEIGHT // 40, WIDTH // 40, 3), dtype=np.uint8)
    base = tile.repeat(40, 0).repeat(40, 1)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "28"}
        for i in range(round(fps * seconds)):
            frame = av.VideoFrame.from_ndarray(np.roll(base, (3 * i, 5 * i), axis=(0, 1)), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def plan_numbers(model: str, fps: float, frames: int) -> tuple[int, int, int, float]:
    """(width, height, model frames, model fps) a render of the whole clip would use."""
    from core.catalog import clip_frames, get_model, nearest_bucket

    spec = get_model(model)
    width, height = nearest_bucket(spec, WIDTH, HEIGHT)
    model_fps = fps if spec.fps_conditioned else spec.native_fps
    return width, height, clip_frames(spec, fps, frames / fps)[0], model_fps


def before(data: bytes, model: str) -> int:
    """The former worker path: every frame to a full-size RGB picture, then rate and fit."""
    import io

    import av

    from inference import media

    frames = []
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        for frame in container.decode(stream):
            frames.append(frame.to_image().convert("RGB"))
            if len(frames) >= MAX_FRAMES:
                break
    width, height, count, model_fps = plan_numbers(model, fps, len(frames))
    picked = [media.fit(f, width, height) for f in media.at_rate(frames, count, fps, model_fps)]
    return len(picked)


def after(data: bytes, model: str) -> int:
    from inference.media import SourceClip

    clip = SourceClip.open(data)
    width, height, count, model_fps = plan_numbers(model, clip.fps, len(clip))
    return len(clip.frames_at(count, model_fps, width, height))


def child(path: str, which: str, model: str) -> None:
    import av  # noqa: F401 — imported before the baseline, as both paths need it
    import PIL.Image  # noqa: F401

    import inference.media  # noqa: F401

    Path("/proc/self/clear_refs").write_text("5")  # the high-water mark starts again from here
    baseline = memory()["VmRSS"]
    data = Path(path).read_bytes()
    started = time.perf_counter()
    frames = {"before": before, "after": after}[which](data, model)
    seconds = time.perf_counter() - started
    print(json.dumps({"path": which, "peak_mib": memory()["VmHWM"], "baseline_mib": baseline,
                      "seconds": seconds, "frames": frames}))


def memory() -> dict[str, float]:
    """VmRSS and VmHWM of this process, MiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}


def measure(path: Path, which: str, model: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, __file__, "--child", which, "--input", str(path), "--model", model],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--model", default="lucy-edit-dev", help="whose bucket and rate the frames are read for")
    parser.add_argument("--child", choices=["before", "after"], help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.input, args.child, args.model)
        return

    with tempfile.TemporaryDirectory(prefix="reelbot-bench-") as folder:
        path = Path(folder) / "4k.mp4"
        t0 = time.perf_counter()
        build_input(path, args.fps, args.seconds)
        print(f"input: {WIDTH}x{HEIGHT}, {args.fps} fps, {args.seconds:g} s, {path.stat().st_size / 2**20:.1f} MiB "
              f"(built in {time.perf_counter() - t0:.0f} s); frames read for {args.model}")
        rows = {"before": [], "after": []}
        for _ in range(args.runs):
            for which in rows:  # side by side: the two paths alternate
                rows[which].append(measure(path, which, args.model))
    print("\n| path | peak RSS MiB | over imports MiB | seconds | frames out | runs |")
    print("|---|---|---|---|---|---|")
    medians = {}
    for which, runs in rows.items():
        peak = statistics.median(r["peak_mib"] for r in runs)
        over = statistics.median(r["peak_mib"] - r["baseline_mib"] for r in runs)
        seconds = statistics.median(r["seconds"] for r in runs)
        medians[which] = over
        print(f"| {which} | {peak:.0f} | {over:.0f} | {seconds:.1f} | {runs[0]['frames']} | {len(runs)} |")
    print(f"\nafter / before (memory over imports): {medians['after'] / medians['before']:.3f}")


if __name__ == "__main__":
    main()
