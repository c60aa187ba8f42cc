"""The worker's Prometheus series, on prometheus-client's default registry (which also
carries the process_* series: memory, CPU, open files).

Stages of `reelbot_worker_render_seconds` follow a job through the worker:
queue_wait (enqueue → start), inputs (attachments, parent clip), gpu_wait (ready, waiting
for the GPU: a pipelined job waits for the one before), denoise (the pipeline up to its
last step, prompt encoding included), decode (after the last step: VAE decode and frame
conversion), encode (MP4 + poster), upload, total; and load and warm_up, observed once per
model when the worker starts (weights read and moved to the device; compiling).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily

from core.contract import Timings

disable_created_metrics()  # *_created series double every counter's size and no panel reads them

# From a tiny CPU render (tens of ms) to a long GPU one (an hour at most, the job timeout).
SECONDS_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)
STEP_RATE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

JOBS = Counter("reelbot_worker_jobs", "Jobs this worker ended, by outcome: done, failed, cancelled "
               "(published once per clip), retried (a fault, tried again), interrupted (handed back on "
               "shutdown or stopped by the job timeout)", ["model", "outcome"])
RENDER_SECONDS = Histogram("reelbot_worker_render_seconds", "Seconds a job spent in each stage",
                           ["model", "stage"], buckets=SECONDS_BUCKETS)
STEPS_PER_SECOND = Histogram("reelbot_worker_steps_per_second", "Denoising steps per second of each render",
                             ["model"], buckets=STEP_RATE_BUCKETS)
MODEL_LOADED = Gauge("reelbot_worker_model_loaded", "1 once the model is loaded and can render", ["model"])
GPU_SECONDS = Counter("reelbot_worker_gpu_seconds", "GPU seconds of finished clips, by model, server (guild; "
                      "\"-\" for DMs) and lane: what fast budgets charge and operators account",
                      ["model", "guild", "lane"])
BUSY = Gauge("reelbot_worker_busy", "Jobs of the model this worker holds: 1 while it renders, 2 while a "
             "pipelined next job waits for the GPU", ["model"])
SPOOLED = Gauge("reelbot_worker_spooled_clips", "Encoded clips in the spool, waiting for storage (worker/spool.py)")


@dataclass
class StepClock:
    """Times the pipeline call from the worker's side: started just before it, ticked by the
    step callback (in the render thread), ended when it returns."""

    started: float = field(default_factory=time.perf_counter)
    first_step: float | None = None
    last_step: float | None = None
    steps: int = 0
    total: int | None = None
    first_index: int = 0
    ended: float | None = None

    def start(self) -> None:
        self.started = time.perf_counter()

    def tick(self, step: int, total: int | None = None) -> None:
        now = time.perf_counter()
        if self.first_step is None:
            self.first_step, self.first_index = now, step
        self.last_step, self.steps = now, step
        self.total = total or self.total

    def remaining_s(self) -> float:
        """Seconds of denoising left at the current rate: 0 once the last step is done,
        infinite before a rate is known."""
        if self.total is not None and self.steps >= self.total:
            return 0.0
        rate = self.steps_per_second
        if self.total is None or rate <= 0:
            return float("inf")
        return (self.total - self.steps) / rate

    def end(self) -> None:
        self.ended = time.perf_counter()

    @property
    def denoise_s(self) -> float:
        return (self.last_step or self.started) - self.started

    @property
    def decode_s(self) -> float:
        return max(0.0, (self.ended or self.started) - (self.last_step or self.started))

    @property
    def steps_per_second(self) -> float:
        # Between the first and last step callbacks: the steady rate, without prompt encoding.
        if self.steps > self.first_index and self.last_step > self.first_step:
            return (self.steps - self.first_index) / (self.last_step - self.first_step)
        return self.steps / self.denoise_s if self.denoise_s > 0 else 0.0


def record_load(model: str, seconds: float, warm_up_s: float = 0.0) -> None:
    RENDER_SECONDS.labels(model, "load").observe(seconds)
    if warm_up_s:
        RENDER_SECONDS.labels(model, "warm_up").observe(warm_up_s)
    MODEL_LOADED.labels(model).set(1)


def record_render(model: str, timings: Timings, clock: StepClock) -> None:
    """A render that produced a clip: every stage it went through."""
    stages = {"queue_wait": timings.queue_wait, "inputs": timings.inputs, "gpu_wait": timings.gpu_wait,
              "denoise": clock.denoise_s,
              "decode": clock.decode_s, "encode": timings.encode, "upload": timings.upload, "total": timings.total}
    for stage, seconds in stages.items():
        RENDER_SECONDS.labels(model, stage).observe(seconds)
    if clock.steps:
        STEPS_PER_SECOND.labels(model).observe(clock.steps_per_second)


def record_gpu(model: str, guild_id: str | None, lane: str, seconds: float) -> None:
    GPU_SECONDS.labels(model, guild_id or "-", lane).inc(max(0.0, seconds))


def record_outcome(model: str, outcome: str) -> None:
    JOBS.labels(model, outcome).inc()


class GpuMemory:
    """`reelbot_worker_gpu_memory_bytes{device,kind}`, read at scrape time from torch.cuda:
    allocated (tensors), reserved (the caching allocator's pool), peak (most allocated since
    start). Without CUDA one series, device="cpu", reads 0: dashboards keep their panels."""

    KINDS = ("allocated", "reserved", "peak")

    def collect(self):
        family = GaugeMetricFamily("reelbot_worker_gpu_memory_bytes", "GPU memory held by this worker",
                                   labels=["device", "kind"])
        for device, values in self.read().items():
            for kind in self.KINDS:
                family.add_metric([device, kind], values[kind])
        yield family

    @staticmethod
    def read() -> dict[str, dict[str, float]]:
        torch = sys.modules.get("torch")  # never import torch just to say there is no GPU
        if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return {"cpu": dict.fromkeys(GpuMemory.KINDS, 0.0)}
        return {f"cuda:{i}": {"allocated": float(torch.cuda.memory_allocated(i)),
                              "reserved": float(torch.cuda.memory_reserved(i)),
                              "peak": float(torch.cuda.max_memory_allocated(i))}
                for i in range(torch.cuda.device_count())}


REGISTRY.register(GpuMemory())
