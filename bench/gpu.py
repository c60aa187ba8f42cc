"""Plain diffusers against a Reelbot worker job, per model, at real size on a GPU.

For LTX-Video (768×512, 121 frames) and Wan 2.1 1.3B (832×480, 81 frames) it times
  (a) a plain diffusers pipeline call with the model card's defaults (bf16, no knobs),
  (b) a Reelbot job with the speed knobs this card gets, through the real path: arq
      queue in a local redis-server, the worker's job function, MP4 encode, upload to
      file storage, the clip record in SQLite and the outcome stream,
and prints seconds per clip (median), the speedup (a)/(b), peak GPU memory, and the
share of (b) spent outside the model call. For LTX it also times (b) with the
distilled settings (8 timesteps, no guidance) on the same architecture. For LTX-2 (video
with its sound, on the tiny model only: no real-size LTX-2 architecture is built here yet)
it times text-to-video with sound and a lip-sync to a 5 s track, whose (b) includes decoding
the member's WAV, encoding it with the audio VAE and muxing it as AAC.

Weights: a local diffusers folder when given (--weights ltx-video=/models/ltx), else the
same architecture built from its configuration with random weights (inference/fullsize.py):
the arithmetic is the same. With --tiny, or on a machine without CUDA, it runs the tiny
random-weight models at their own sizes instead, so the whole path can be checked on a CPU.

    python bench/gpu.py [--tiny] [--runs 3] [--steps N] [--only ltx-video] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from core.catalog import Task  # noqa: E402
from core.clips import ClipStore  # noqa: E402
from core.contract import input_key, new_clip_id  # noqa: E402
from core.events import OutcomeReader  # noqa: E402
from core.flags import parse_prompt  # noqa: E402
from core.jobs import new_job  # noqa: E402
from core.logging import configure  # noqa: E402
from core.migrate import upgrade_async  # noqa: E402
from core.queue import connect, enqueue  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.storage import storage_from_settings  # noqa: E402
from inference import knobs as speed  # noqa: E402
from core.catalog import get_model  # noqa: E402
from inference.render import Renderer  # noqa: E402
from reelbot.local import start_redis  # noqa: E402
from worker.main import build_workers  # noqa: E402
from worker.runtime import Runtime  # noqa: E402

PROMPT = "a red fox running through fresh snow in a pine forest, morning light"


@dataclasses.dataclass
class Case:
    """One model at one size: the registry entry whose settings (b) uses, and the
    architecture that runs."""

    label: str
    model: str  # registry name used for the job
    architecture: str  # fullsize.build_fullsize name, or the tiny model's name
    width: int
    height: int
    frames: int
    fps: int
    flags: str  # what the member would type to get this size and length
    task: str = "text-to-video"
    plain: bool = True  # also time a plain diffusers call (lip-sync has no plain-diffusers twin)


REAL = [
    Case("LTX-Video 2B", "ltx-video", "ltx-video", 768, 512, 121, 24, "-ar 3:2 -fps 24 -len 5"),
    Case("LTX-Video 2B, distilled settings", "ltx-video-distilled", "ltx-video", 768, 512, 121, 24,
         "-ar 3:2 -fps 24 -len 5"),
    Case("Wan 2.1 1.3B", "wan-t2v-1.3b", "wan-t2v-1.3b", 832, 480, 81, 16, "-ar 16:9 -fps 16 -len 5"),
]
TINY = [
    Case("ltx-tiny", "ltx-tiny", "ltx-tiny", 160, 96, 121, 24, "-ar 16:9 -fps 24 -len 5"),
    Case("wan-tiny", "wan-tiny", "wan-tiny", 80, 48, 81, 16, "-ar 16:9 -fps 16 -len 5"),
    Case("ltx2-tiny (with sound)", "ltx2-tiny", "ltx2-tiny", 160, 96, 121, 24, "-ar 16:9 -fps 24 -len 5"),
    # A 5 s track at 24 fps is 120 frames; a square face picks the 1:1 bucket.
    Case("ltx2-tiny lip-sync, 5 s track", "ltx2-tiny", "ltx2-tiny", 96, 96, 120, 24, "-fps 24", task="lip-sync",
         plain=False),
]
TRACK_SECONDS, TRACK_RATE = 5.0, 22050


@dataclasses.dataclass
class Row:
    case: str
    path: str  # "plain" or "reelbot"
    steps: int
    seconds: float  # median per clip, end to end for reelbot
    model_seconds: float  # median pipeline call
    peak_gib: float | None
    knobs: dict
    # Medians of the worker's own stage timings (reelbot jobs): where the outside time goes.
    stages: dict = dataclasses.field(default_factory=dict)

    @property
    def outside_share(self) -> float:
        return max(0.0, self.seconds - self.model_seconds) / self.seconds


# --- building the pipeline -----------------------------------------------------------------


def build_pipeline(case: Case, device: str, weights: dict, models_dir: Path):
    """The pipeline (a) runs, in the dtypes of the model card: bf16, Wan's VAE in fp32."""
    spec = get_model(case.architecture if case.architecture.endswith("tiny") else case.model)
    dtypes = speed.component_dtypes(spec, speed.Knobs(dtype="auto"), device)
    if case.architecture in weights:
        from inference.loading import read_pipeline

        pipeline = read_pipeline(spec, weights[case.architecture], dtype=dtypes)
        source = weights[case.architecture]
    elif case.architecture.endswith("tiny"):
        from inference.loading import read_pipeline, resolve_source

        source = resolve_source(spec, None, models_dir)
        pipeline = read_pipeline(spec, source, dtype=dtypes)
    else:
        from inference.fullsize import build_fullsize

        with torch.device(device):
            pipeline = build_fullsize(case.architecture, dtype=dtypes["default"], vae_dtype=dtypes.get("vae"))
        source = "random weights, real-size architecture"
    pipeline.to(device)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline, source


# --- (a) plain diffusers -----------------------------------------------------------------------


def plain_call(pipeline, case: Case, steps: int, runs: int, device: str) -> Row:
    spec = get_model(case.model)
    arguments = dict(prompt=PROMPT, negative_prompt=spec.default_negative_prompt or "", width=case.width,
                     height=case.height, num_frames=case.frames, num_inference_steps=steps,
                     guidance_scale=spec.default_guidance, output_type="np", **dict(spec.call_kwargs))
    if spec.family in ("ltx", "ltx2"):
        arguments["frame_rate"] = case.fps
    times = []
    reset_peak(device)
    for run in range(runs + 1):  # the first call warms kernels up and is not counted
        arguments["generator"] = torch.Generator("cpu").manual_seed(run)
        started = time.perf_counter()
        pipeline(**arguments)
        sync(device)
        if run:
            times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    return Row(case.label, "plain diffusers", steps, seconds, seconds, peak(device), {})


# --- (b) a Reelbot job -------------------------------------------------------------------------


async def reelbot_jobs(renderer: Renderer, case: Case, steps: int | None, runs: int, tmp: Path, device: str) -> Row:
    redis_proc, redis_url = start_redis(tmp / "redis", appendonly=False)
    database_url = f"sqlite:///{tmp}/bench.db"
    settings = load_settings(redis_url=redis_url, database_url=database_url, storage_url=f"file://{tmp}/media",
                             models=[case.model], models_dir=tmp / "models", device=device, log_level="WARNING",
                             model_steps={case.model: steps} if steps else {})
    await upgrade_async(database_url)
    redis = await connect(redis_url)
    store = ClipStore.from_url(database_url)
    runtime = Runtime(settings=settings, redis=redis, store=store, storage=storage_from_settings(settings),
                      worker_id="bench")
    runtime.renderers = {case.model: renderer}
    workers = build_workers(runtime)
    serving = [asyncio.create_task(w.async_run()) for w in workers]
    reader = OutcomeReader(redis, "bench")
    await reader.ensure_group()
    rows = []
    try:
        reset_peak(device)
        for run in range(runs + 1):  # the first job is not counted (allocator, cudnn, caches)
            clip_id = new_clip_id()
            inputs = lip_sync_inputs(runtime.storage, clip_id) if case.task == "lip-sync" else {}
            job = new_job(parse_prompt(f"{PROMPT} {case.flags} -seed {run}"), model=case.model, task=Task(case.task),
                          clip_id=clip_id, input_keys=inputs)
            await store.add(id=job.clip_id, task=job.task.value, prompt=job.prompt, flags=job.flags, seed=job.seed,
                            model=job.model)
            started = time.perf_counter()
            await enqueue(redis, job)
            got = []
            while not got:
                got = await reader.read(count=1, block_ms=60_000)
            elapsed = time.perf_counter() - started
            message_id, outcome = got[0]
            await reader.ack(message_id)
            if outcome.status != "done":
                raise RuntimeError(f"job {job.clip_id} ended {outcome.status}: {outcome.error}")
            if (outcome.width, outcome.height, outcome.num_frames) != (case.width, case.height, case.frames):
                raise RuntimeError(f"rendered {outcome.width}x{outcome.height}x{outcome.num_frames}")
            if run:
                rows.append((elapsed, outcome.timings))
    finally:
        for task in serving:
            task.cancel()
        for worker in workers:
            with contextlib.suppress(Exception):
                await worker.close()
        await redis.close(close_connection_pool=True)
        await store.close()
        redis_proc.terminate()
    spec = renderer.spec
    used = steps or (len(spec.timesteps) if spec.timesteps else spec.default_steps)
    stages = {name: statistics.median(getattr(t, name) for _, t in rows)
              for name in ("queue_wait", "inputs", "encode", "upload")}
    return Row(case.label, "reelbot job", used, statistics.median(e for e, _ in rows),
               statistics.median(t.render for _, t in rows), peak(device), renderer.knobs.summary(), stages)


def lip_sync_inputs(storage, clip_id: str) -> dict[str, str]:
    """A face and a 5 s voice-like WAV stored as a member's attachments would be."""
    import io
    import math
    import wave
    from array import array

    from PIL import Image

    face = io.BytesIO()
    Image.new("RGB", (256, 256), (190, 150, 120)).save(face, "PNG")
    count = round(TRACK_SECONDS * TRACK_RATE)
    pcm = array("h", (int(12000 * math.sin(2 * math.pi * 220 * i / TRACK_RATE) * (0.6 + 0.4 * math.sin(6 * math.pi * i /
                                                                                                         TRACK_RATE)))
                      for i in range(count)))
    voice = io.BytesIO()
    with wave.open(voice, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(TRACK_RATE)
        file.writeframes(pcm.tobytes())
    keys = {"image": input_key(clip_id, "image.png"), "audio": input_key(clip_id, "audio.wav")}
    storage.put(keys["image"], face.getvalue(), "image/png")
    storage.put(keys["audio"], voice.getvalue(), "audio/wav")
    return keys


def reapply(pipeline, before: speed.Knobs | None, knobs: speed.Knobs) -> speed.Knobs:
    """The knobs still to put on a pipeline that already carries `before`'s: a step
    cache is taken off and put on again as asked; compiled blocks stay compiled."""
    if before is None:
        return knobs
    if before.cache:
        for transformer in speed.transformers_of(pipeline):
            transformer.disable_cache()
    return dataclasses.replace(knobs, compile=False, fp8=None if before.fp8 == knobs.fp8 else knobs.fp8,
                               attention=None if before.attention == knobs.attention else knobs.attention)


# --- measuring ---------------------------------------------------------------------------------


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def peak(device: str) -> float | None:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return None


def report(rows: list[Row], header: str) -> str:
    lines = [header, "", "| model | path | steps | s/clip | model s | outside model | speedup | peak GPU GiB | knobs |",
             "|---|---|---|---|---|---|---|---|---|"]
    plain = {row.case: row for row in rows if row.path == "plain diffusers"}
    for row in rows:
        base = plain.get(row.case) or plain.get(row.case.split(",")[0])
        speedup = f"{base.seconds / row.seconds:.2f}x" if base and row is not base else "1.00x" if base else "-"
        peak_text = f"{row.peak_gib:.1f}" if row.peak_gib is not None else "n/a"
        knobs = ", ".join(f"{k}={v}" for k, v in row.knobs.items()) or "-"
        lines.append(f"| {row.case} | {row.path} | {row.steps} | {row.seconds:.3f} | {row.model_seconds:.3f} | "
                     f"{row.outside_share:.1%} | {speedup} | {peak_text} | {knobs} |")
    staged = [row for row in rows if row.stages]
    if staged:
        lines += ["", "Outside the model, median seconds per job (the rest: arq pick-up, clip record, outcome event):",
                  "", "| model | queue wait | inputs | encode + poster | upload |", "|---|---|---|---|---|"]
        lines += [f"| {row.case} | {row.stages['queue_wait']:.3f} | {row.stages['inputs']:.3f} | "
                  f"{row.stages['encode']:.3f} | {row.stages['upload']:.3f} |" for row in staged]
    return "\n".join(lines)


async def main(args) -> None:
    configure("WARNING", "console")  # the worker's per-job lines would bury the table
    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    tiny = args.tiny or device == "cpu"
    cases = [c for c in (TINY if tiny else REAL) if not args.only or c.model in args.only or c.architecture in args.only]
    weights = dict(item.split("=", 1) for item in args.weights)
    configured = json.loads(args.knobs) if args.knobs else None
    tmp = Path(tempfile.mkdtemp(prefix="reelbot-gpu-bench-"))
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU ({os.cpu_count()} cores), tiny models"
    rows = []
    pipelines, applied = {}, {}
    for case in cases:
        if case.architecture not in pipelines:  # the distilled row reuses the 2B pipeline
            started = time.perf_counter()
            pipelines[case.architecture] = build_pipeline(case, device, weights, tmp / "models")
            print(f"built {case.architecture} ({pipelines[case.architecture][1]}) in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
        pipeline, source = pipelines[case.architecture]
        spec = get_model(case.model)
        steps = args.steps or (spec.default_steps if not spec.timesteps else None)
        if not spec.timesteps and case.plain:
            rows.append(plain_call(pipeline, case, steps, args.runs, device))
            print(report(rows[-1:], "").strip(), flush=True)
        knobs = speed.resolve(spec, device, configured)
        renderer = Renderer(spec, source, device=device, knobs=reapply(pipeline, applied.get(case.architecture), knobs),
                            pipeline=pipeline)
        renderer.knobs = knobs  # what the job runs with, for the table
        applied[case.architecture] = knobs
        # No separate warm-up: the first job, not counted, compiles at the benchmark's own size.
        rows.append(await reelbot_jobs(renderer, case, args.steps, args.runs, tmp, device))
        print(report(rows[-1:], "").strip(), flush=True)

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    header = (f"{name}; torch {torch.__version__}; median of {args.runs} runs after one warm-up; "
              f"process peak RSS {rss:.1f} GiB")
    print()
    print(report(rows, header))
    if args.json:
        Path(args.json).write_text(json.dumps({"device": name, "rows": [dataclasses.asdict(r) for r in rows]},
                                              indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the tiny random-weight models (default on a CPU)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per path, after one warm-up")
    parser.add_argument("--steps", type=int, help="denoising steps for both paths (default: the card's)")
    parser.add_argument("--only", nargs="*", help="model names to run (ltx-video, ltx-video-distilled, wan-t2v-1.3b; "
                        "tiny: ltx-tiny, wan-tiny, ltx2-tiny)")
    parser.add_argument("--weights", nargs="*", default=[], help="NAME=FOLDER: real weights for an architecture")
    parser.add_argument("--knobs", help="REELBOT_KNOBS-style JSON over the defaults for this card")
    parser.add_argument("--json", help="also write the rows here")
    asyncio.run(main(parser.parse_args()))
