"""Reelbot on a GPU, measured like against like, with random weights (nothing downloaded).

Per model (LTX-Video 2B at 768x512x121, the LTX distilled settings at the same size, Wan 2.1
1.3B at 832x480x81; real architectures from inference/fullsize.py, random weights), in
three parts, each at the same model, steps and size as what it is compared with:

1. model call: the plain diffusers call (the model card's dtypes and settings, output as
   numpy) against Reelbot's Renderer with no knobs, each speed knob of this card alone,
   and all of them together (the worker's defaults). The distilled model is compared
   with its own plain call at its own timesteps. Each configuration gets a freshly built
   pipeline and one uncounted call first (compiling, when it compiles).
2. one job: a Reelbot job through the real path (arq queue in a local redis-server, the
   worker's job function, encode with the probed encoder, upload to file storage, the
   SQLite record, the outcome stream), one at a time: seconds per clip, and the share of
   it spent outside the model call, with the stages it goes to.
3. a queue: 20 mixed requests (aspects, lengths) queued at once, pipelining off and on:
   clips per hour, the GPU's idle share between back-to-back jobs (the gaps between one
   model call and the next over the whole run), and the share outside the model call.

LTX-2 (video with its sound) runs on the tiny model only (no real-size LTX-2 architecture
is built here yet): text-to-video with sound, and a lip-sync to a 5 s track, whose job
includes decoding the member's WAV, encoding it with the audio VAE and muxing it as AAC
(a lip-sync has no plain-diffusers twin, so no plain row).

Every row is printed as soon as it is measured (a run cut short still says something),
and parts past --budget-s are skipped with a line saying so.

    python bench/gpu.py --runs 2 --steps 20 --json /tmp/gpu.json    # on one H200: see RESULTS.md
    python bench/gpu.py --tiny --runs 2                              # the same path on a CPU

--weights NAME=FOLDER loads real weights instead (ltx-video, ltx-video-distilled,
wan-t2v-1.3b); without it the distilled row runs the distilled *settings* (8 timesteps,
no guidance) on the 2B architecture, since no 13B architecture is built in code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.logging import configure  # noqa: E402

configure("WARNING", "console")  # before the worker's modules bind their loggers: its per-job lines would bury the tables

import torch  # noqa: E402

from core.catalog import Task, get_model  # noqa: E402
from core.clips import ClipStore  # noqa: E402
from core.contract import input_key, new_clip_id  # noqa: E402
from core.events import OutcomeReader  # noqa: E402
from core.flags import parse_prompt  # noqa: E402
from core.jobs import new_job  # noqa: E402
from core.migrate import upgrade_async  # noqa: E402
from core.queue import connect, enqueue  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.storage import storage_from_settings  # noqa: E402
from inference import knobs as speed  # noqa: E402
from inference.encode import pick_encoder  # noqa: E402
from inference.render import Renderer, RenderInput  # noqa: E402
from reelbot.local import start_redis  # noqa: E402
from worker.admission import Admission  # noqa: E402
from worker.main import build_workers  # noqa: E402
from worker.runtime import Runtime  # noqa: E402

PROMPT = "a red fox running through fresh snow in a pine forest, morning light"
QUEUE_JOBS = 20
# The queue's mix: what members ask for most (aspects) and a spread of lengths.
QUEUE_ASPECTS = ("16:9", "9:16", "1:1", "4:3")
QUEUE_SECONDS = (5, 3, 4, 2)
KNOB_NAMES = ("attention", "compile", "cache", "fp8", "vae_tiling", "offload")


@dataclasses.dataclass
class Case:
    label: str
    model: str  # catalog name whose settings (steps, guidance, knobs) are used
    architecture: str  # fullsize.build_fullsize name, or the tiny model's name
    width: int
    height: int
    frames: int
    fps: int
    task: str = "text-to-video"
    plain: bool = True  # also time a plain diffusers call (lip-sync has no plain-diffusers twin)

    @property
    def aspect(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


REAL = [
    Case("LTX-Video 2B", "ltx-video", "ltx-video", 768, 512, 121, 24),
    Case("LTX-Video distilled", "ltx-video-distilled", "ltx-video", 768, 512, 121, 24),
    Case("Wan 2.1 1.3B", "wan-t2v-1.3b", "wan-t2v-1.3b", 832, 480, 81, 16),
]
TINY = [
    Case("ltx-tiny", "ltx-tiny", "ltx-tiny", 160, 96, 121, 24),
    Case("wan-tiny", "wan-tiny", "wan-tiny", 80, 48, 81, 16),
    Case("ltx2-tiny (with sound)", "ltx2-tiny", "ltx2-tiny", 160, 96, 121, 24),
    # A 5 s track at 24 fps is 120 frames; a square face picks the 1:1 bucket.
    Case("ltx2-tiny lip-sync, 5 s track", "ltx2-tiny", "ltx2-tiny", 96, 96, 120, 24, task="lip-sync", plain=False),
]
TRACK_SECONDS, TRACK_RATE = 5.0, 22050


class Clock:
    """Stops parts that would start past the budget (a run must end before its time does)."""

    def __init__(self, budget_s: float):
        self.started, self.budget_s = time.perf_counter(), budget_s
        self.skipped: list[str] = []

    def allows(self, part: str) -> bool:
        if time.perf_counter() - self.started < self.budget_s:
            return True
        self.skipped.append(part)
        print(f"skipped (past --budget-s {self.budget_s:.0f}): {part}", flush=True)
        return False


# --- building ----------------------------------------------------------------------------------


def build_pipeline(case: Case, device: str, weights: dict, models_dir: Path):
    """A fresh pipeline in the model card's dtypes (bf16 on a GPU; Wan's VAE fp32), on `device`."""
    spec = get_model(case.model)
    dtypes = speed.component_dtypes(spec, speed.Knobs(dtype="auto"), device)
    from inference.loading import read_pipeline, resolve_source

    if case.model in weights or case.architecture in weights:
        pipeline = read_pipeline(spec, weights.get(case.model) or weights[case.architecture], dtype=dtypes)
    elif spec.tiny:
        pipeline = read_pipeline(spec, resolve_source(spec, None, models_dir), dtype=dtypes)
    else:
        from inference.fullsize import build_fullsize

        with torch.device(device):
            pipeline = build_fullsize(case.architecture, dtype=dtypes["default"], vae_dtype=dtypes.get("vae"))
    pipeline.to(device)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def free() -> None:
    """Give the memory of what the caller just dropped back (before the next build)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_gib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


# --- 1. the model call -------------------------------------------------------------------------


def plain_call(case: Case, pipeline, steps: int | None, runs: int, device: str) -> dict:
    """diffusers as its documentation calls it: the card's settings, numpy frames out."""
    spec = get_model(case.model)
    arguments = dict(prompt=PROMPT, negative_prompt=spec.default_negative_prompt or "", width=case.width,
                     height=case.height, num_frames=case.frames, guidance_scale=spec.default_guidance,
                     output_type="np", **dict(spec.call_kwargs))
    if steps is None and spec.timesteps:
        arguments.update(timesteps=list(spec.timesteps), num_inference_steps=len(spec.timesteps))
    else:
        arguments["num_inference_steps"] = steps or spec.default_steps
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
    return {"case": case.label, "config": "plain diffusers", "steps": arguments["num_inference_steps"],
            "model_s": statistics.median(times), "peak_gib": peak_gib(device)}


def knob_configs(spec, device: str, configured: dict | None) -> list[tuple[str, speed.Knobs]]:
    """Reelbot with no knobs, each knob this card gets alone, then all of them (the defaults)."""
    defaults = speed.resolve(spec, device, configured)
    base = speed.Knobs(dtype=defaults.dtype)
    configs = [("reelbot, no knobs", base)]
    on = [name for name in KNOB_NAMES if getattr(defaults, name)]
    for name in on:
        alone = dataclasses.replace(base, **{name: getattr(defaults, name)}, cache_threshold=defaults.cache_threshold)
        configs.append((f"reelbot, {name} only", alone))
    if len(on) > 1:
        configs.append(("reelbot, all knobs (the worker's configuration)", defaults))
    return configs


def renderer_for(case: Case, knobs: speed.Knobs, device: str, weights: dict, models_dir: Path) -> Renderer:
    pipeline = build_pipeline(case, device, weights, models_dir)
    return Renderer(get_model(case.model), "bench", device=device, knobs=knobs, pipeline=pipeline)


def renderer_call(case: Case, renderer: Renderer, label: str, steps: int | None, runs: int, device: str) -> dict:
    if case.task == "lip-sync":  # the face and the track as the worker decodes them
        from worker.inputs import decode_image, decode_sound

        inp = RenderInput(task=case.task, prompt=PROMPT, fps=case.fps, steps=steps, image=decode_image(face_png()),
                          audio=decode_sound(voice_wav()))
    else:
        inp = RenderInput(prompt=PROMPT, aspect=case.aspect, fps=case.fps, seconds=case.seconds, steps=steps)
    reset_peak(device)
    started = time.perf_counter()
    first = renderer.render(dataclasses.replace(inp, seed=0))  # uncounted: compiles when compiling
    first_s = time.perf_counter() - started
    if (first.width, first.height, first.num_frames) != (case.width, case.height, case.frames):
        raise RuntimeError(f"{case.label}: rendered {first.width}x{first.height}x{first.num_frames}")
    times = [renderer.render(dataclasses.replace(inp, seed=run)).model_seconds for run in range(1, runs + 1)]
    spec = renderer.spec
    used = steps or (len(spec.timesteps) if spec.timesteps else spec.default_steps)
    return {"case": case.label, "config": label, "steps": used, "model_s": statistics.median(times),
            "first_s": first_s, "peak_gib": peak_gib(device), "knobs": renderer.knobs.summary()}


def face_png() -> bytes:
    import io

    from PIL import Image

    face = io.BytesIO()
    Image.new("RGB", (256, 256), (190, 150, 120)).save(face, "PNG")
    return face.getvalue()


def voice_wav() -> bytes:
    """A 5 s voice-like WAV: a tone whose loudness comes and goes."""
    import io
    import wave
    from array import array

    count = round(TRACK_SECONDS * TRACK_RATE)
    loudness = [0.6 + 0.4 * math.sin(6 * math.pi * i / TRACK_RATE) for i in range(count)]
    pcm = array("h", (int(12000 * math.sin(2 * math.pi * 220 * i / TRACK_RATE) * loudness[i]) for i in range(count)))
    voice = io.BytesIO()
    with wave.open(voice, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(TRACK_RATE)
        file.writeframes(pcm.tobytes())
    return voice.getvalue()


def lip_sync_inputs(storage, clip_id: str) -> dict[str, str]:
    """A face and a 5 s voice stored as a member's attachments would be."""
    keys = {"image": input_key(clip_id, "image.png"), "audio": input_key(clip_id, "audio.wav")}
    storage.put(keys["image"], face_png(), "image/png")
    storage.put(keys["audio"], voice_wav(), "audio/wav")
    return keys


# --- 2 and 3. jobs through the real path -------------------------------------------------------


class JobPath:
    """A local redis-server, SQLite and file storage, and the worker's arq workers in this
    process around an already loaded Renderer; records when the model holds the GPU."""

    def __init__(self, renderer: Renderer, case: Case, tmp: Path, encoder: str, steps: int | None):
        self.renderer, self.case, self.tmp, self.encoder, self.steps = renderer, case, tmp, encoder, steps
        self.spans: list[tuple[float, float]] = []
        render = renderer.render

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return render(*args, **kwargs)
            finally:
                self.spans.append((started, time.perf_counter()))

        renderer.render = timed

    @contextlib.asynccontextmanager
    async def running(self, pipelining: bool):
        folder = Path(tempfile.mkdtemp(dir=self.tmp))
        redis_proc, redis_url = start_redis(folder / "redis", appendonly=False)
        database_url = f"sqlite:///{folder}/bench.db"
        model = self.case.model
        settings = load_settings(redis_url=redis_url, database_url=database_url, storage_url=f"file://{folder}/media",
                                 models=[model], models_dir=self.tmp / "models", log_level="WARNING",
                                 model_steps={model: self.steps} if self.steps else {})
        await upgrade_async(database_url)
        redis = await connect(redis_url)
        store = ClipStore.from_url(database_url)
        rt = Runtime(settings=settings, redis=redis, store=store, storage=storage_from_settings(settings),
                     worker_id="bench", renderers={model: self.renderer}, encoder=self.encoder,
                     admission=Admission(pipelining=pipelining, ahead_s=settings.pipeline_ahead_seconds))
        workers = build_workers(rt)
        serving = [asyncio.create_task(w.async_run()) for w in workers]
        reader = OutcomeReader(redis, "bench")
        await reader.ensure_group()
        try:
            yield store, redis, reader, rt.storage
        finally:
            while any(worker.jobs_in_hand() for worker in workers):  # arq records the last result
                await asyncio.sleep(0.01)
            for worker in workers:
                worker.handle_sig(15)
            await asyncio.gather(*serving, return_exceptions=True)
            await redis.close(close_connection_pool=True)
            await store.close()
            redis_proc.terminate()

    async def submit(self, store, redis, storage, prompt: str):
        clip_id = new_clip_id()
        inputs = lip_sync_inputs(storage, clip_id) if self.case.task == "lip-sync" else {}
        job = new_job(parse_prompt(prompt), model=self.case.model, task=Task(self.case.task), clip_id=clip_id,
                      input_keys=inputs)
        await store.add(id=job.clip_id, task=job.task.value, prompt=job.prompt, flags=job.flags, seed=job.seed,
                        model=job.model)
        await enqueue(redis, job)
        return job

    @staticmethod
    async def outcomes(reader, count: int) -> list:
        got = []
        while len(got) < count:
            for mid, outcome in await reader.read(count=count, block_ms=600_000):
                await reader.ack(mid)
                if outcome.status != "done":
                    raise RuntimeError(f"job {outcome.clip_id} ended {outcome.status}: {outcome.error}")
                got.append(outcome)
        return got

    def flags(self, aspect: str | None = None, seconds: float | None = None) -> str:
        case = self.case
        if case.task == "lip-sync":
            return f"-fps {case.fps}"  # the face sets the aspect, the track the length
        if aspect is None:
            divisor = math.gcd(case.width, case.height)
            aspect = f"{case.width // divisor}:{case.height // divisor}"
        return f"-ar {aspect} -fps {case.fps} -len {seconds or case.seconds:g}"

    async def one_at_a_time(self, runs: int) -> dict:
        rows = []
        async with self.running(pipelining=False) as (store, redis, reader, storage):
            for run in range(runs + 1):  # the first is not counted
                started = time.perf_counter()
                await self.submit(store, redis, storage, f"{PROMPT} {self.flags()} -seed {run}")
                [outcome] = await self.outcomes(reader, 1)
                if run:
                    rows.append((time.perf_counter() - started, outcome.timings))
        seconds = statistics.median(e for e, _ in rows)
        model = statistics.median(t.render for _, t in rows)
        stages = {name: statistics.median(getattr(t, name) for _, t in rows)
                  for name in ("queue_wait", "inputs", "encode", "upload")}
        return {"case": self.case.label, "s_per_clip": seconds, "model_s": model,
                "outside": max(0.0, seconds - model) / seconds, **stages}

    def mix(self) -> list[tuple[str, float]]:
        return [(QUEUE_ASPECTS[i % len(QUEUE_ASPECTS)], QUEUE_SECONDS[i % len(QUEUE_SECONDS)]) for i in range(QUEUE_JOBS)]

    def warm_up_mix(self) -> None:
        """Render each size of the mix once, so neither queue run pays for compiling."""
        for aspect, seconds in dict.fromkeys(self.mix()):
            width, height = (int(side) for side in aspect.split(":"))
            self.renderer.render(RenderInput(prompt=PROMPT, aspect=(width, height), fps=self.case.fps, seconds=seconds,
                                             steps=self.steps))

    async def queue(self, pipelining: bool) -> dict:
        async with self.running(pipelining) as (store, redis, reader, storage):
            self.spans.clear()
            started = time.perf_counter()
            for i, (aspect, seconds) in enumerate(self.mix()):
                await self.submit(store, redis, storage, f"{PROMPT} {self.flags(aspect, seconds)} -seed {i}")
            outcomes = await self.outcomes(reader, QUEUE_JOBS)
            wall = time.perf_counter() - started
        spans = sorted(self.spans)
        window = spans[-1][1] - spans[0][0]
        busy = sum(end - start for start, end in spans)
        return {"case": self.case.label, "pipelining": "on" if pipelining else "off",
                "clips_per_hour": QUEUE_JOBS / wall * 3600, "gpu_idle": max(0.0, window - busy) / window,
                "outside": 1 - sum(o.timings.render for o in outcomes) / wall, "wall_s": wall}


# --- the tables --------------------------------------------------------------------------------


def model_table(rows: list[dict]) -> list[str]:
    lines = ["| model | configuration | steps | model call s | vs plain | first call s | peak GPU GiB | knobs |",
             "|---|---|---|---|---|---|---|---|"]
    plain = {r["case"]: r for r in rows if r["config"] == "plain diffusers"}
    for r in rows:
        base = plain.get(r["case"])
        speedup = f"{base['model_s'] / r['model_s']:.2f}x" if base else "-"
        peak = f"{r['peak_gib']:.1f}" if r.get("peak_gib") is not None else "n/a"
        first = f"{r['first_s']:.1f}" if "first_s" in r else "-"
        knobs = ", ".join(f"{k}={v}" for k, v in r.get("knobs", {}).items()) or "-"
        lines.append(f"| {r['case']} | {r['config']} | {r['steps']} | {r['model_s']:.3f} | {speedup} | {first} | "
                     f"{peak} | {knobs} |")
    return lines


def job_table(rows: list[dict]) -> list[str]:
    lines = ["| model | s/clip | model s | outside the model | queue wait | inputs | encode + poster | upload |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['s_per_clip']:.3f} | {r['model_s']:.3f} | {r['outside']:.1%} | "
              f"{r['queue_wait']:.3f} | {r['inputs']:.3f} | {r['encode']:.3f} | {r['upload']:.3f} |" for r in rows]
    return lines


def queue_table(rows: list[dict]) -> list[str]:
    lines = [f"| model | pipelining | clips/hour ({QUEUE_JOBS} mixed) | GPU idle between jobs | outside the model | wall s |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['pipelining']} | {r['clips_per_hour']:.0f} | {r['gpu_idle']:.1%} | "
              f"{r['outside']:.1%} | {r['wall_s']:.1f} |" for r in rows]
    return lines


async def main(args) -> None:
    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    cases = [c for c in (TINY if args.tiny or device == "cpu" else REAL)
             if not args.only or c.model in args.only or c.architecture in args.only]
    weights = dict(item.split("=", 1) for item in args.weights)
    configured = json.loads(args.knobs) if args.knobs else None
    tmp = Path(tempfile.mkdtemp(prefix="reelbot-gpu-bench-"))
    speed.use_compile_cache(tmp / "models" / "torch-compile-cache", job_id="reelbot-bench")
    encoder = pick_encoder("auto")
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU ({os.cpu_count()} cores), tiny models"
    print(f"{name}; torch {torch.__version__}; encoder {encoder.codec} ({encoder.reason}); median of {args.runs} "
          f"runs after one uncounted; steps {args.steps or 'the card'}", flush=True)
    clock = Clock(args.budget_s)
    results = {"device": name, "encoder": encoder.codec, "model": [], "job": [], "queue": [], "skipped": []}
    parts = set(args.parts)
    for case in cases:
        spec = get_model(case.model)
        steps = None if spec.timesteps else args.steps  # a distilled model runs its own schedule
        if "model" in parts and case.plain and clock.allows(f"{case.label}: plain call"):
            pipeline = build_pipeline(case, device, weights, tmp / "models")
            results["model"].append(plain_call(case, pipeline, steps, args.runs, device))
            print("\n".join(model_table(results["model"][-1:])[2:]), flush=True)
            del pipeline
            free()
        configs = knob_configs(spec, device, configured)
        if "model" not in parts:
            configs = configs[-1:]
        renderer = None
        for label, knobs in configs:
            if not clock.allows(f"{case.label}: {label}"):
                break
            renderer = None
            free()
            renderer = renderer_for(case, knobs, device, weights, tmp / "models")
            if "model" in parts:
                results["model"].append(renderer_call(case, renderer, label, steps, args.runs, device))
                print("\n".join(model_table(results["model"][-1:])[2:]), flush=True)
        if renderer is None or renderer.knobs != configs[-1][1]:
            continue  # the worker's own configuration did not get built: no job rows for it
        path = JobPath(renderer, case, tmp, encoder.codec, steps)
        if "job" in parts and clock.allows(f"{case.label}: one job at a time"):
            results["job"].append(await path.one_at_a_time(args.runs))
            print("\n".join(job_table(results["job"][-1:])[2:]), flush=True)
        if "queue" in parts and case.model in args.queue_models and clock.allows(f"{case.label}: queue warm-up"):
            await asyncio.to_thread(path.warm_up_mix)
            for pipelining in (False, True):
                if clock.allows(f"{case.label}: queue, pipelining {'on' if pipelining else 'off'}"):
                    results["queue"].append(await path.queue(pipelining))
                    print("\n".join(queue_table(results["queue"][-1:])[2:]), flush=True)
        renderer = path = None
        free()
        if args.json:
            Path(args.json).write_text(json.dumps({**results, "skipped": clock.skipped}, indent=2, default=str))

    print(f"\n{name}; torch {torch.__version__}; encoder {encoder.codec}; median of {args.runs} runs\n")
    for title, table in (("Model call", model_table), ("One job at a time", job_table), ("Queue", queue_table)):
        key = {"Model call": "model", "One job at a time": "job", "Queue": "queue"}[title]
        if results[key]:
            print(f"{title}\n")
            print("\n".join(table(results[key])) + "\n")
    if clock.skipped:
        print("Not run (budget): " + "; ".join(clock.skipped))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the tiny random-weight models (default on a CPU)")
    parser.add_argument("--runs", type=int, default=2, help="timed runs per configuration, after one uncounted")
    parser.add_argument("--steps", type=int, help="denoising steps for every path of the many-step models "
                                                  "(default: the card's); a distilled model keeps its timesteps")
    parser.add_argument("--only", nargs="*", help="models to run (ltx-video, ltx-video-distilled, wan-t2v-1.3b; "
                        "tiny: ltx-tiny, wan-tiny, ltx2-tiny)")
    parser.add_argument("--parts", nargs="*", default=["model", "job", "queue"], help="model, job, queue")
    parser.add_argument("--queue-models", nargs="*", default=["ltx-video-distilled", "ltx-tiny"],
                        help="models that run the 20-request queue")
    parser.add_argument("--weights", nargs="*", default=[], help="NAME=FOLDER: real weights for a model")
    parser.add_argument("--knobs", help="REELBOT_KNOBS-style JSON over this card's defaults")
    parser.add_argument("--budget-s", type=float, default=540, help="start no part after this many seconds")
    parser.add_argument("--json", help="also write the rows here (after each model)")
    asyncio.run(main(parser.parse_args()))
