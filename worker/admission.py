"""Which jobs a worker process may lease: one gate for every model queue it serves.

A process renders one clip at a time on its GPU, so a job it leases but cannot start
only waits, while another worker (another GPU) might be idle. So, across all its
queues, it holds one job at a time.

With pipelining it may hold one more, leased only when the GPU will be free soon: the
job on the GPU is past its last denoising step (VAE decode, encode, upload), or its
remaining steps are due within `ahead_s` at its current rate. The next job then fetches
its inputs and waits at the GPU while the first decodes, and takes the GPU the moment
the first lets go; the first's encode, upload, record and outcome run beside the second's
denoising, off the GPU's critical path. (FastVideo's and ComfyUI's queues keep a GPU fed
the same way: the next request is prepared while the current one finishes.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

# How a held job stands towards the GPU.
WAITING = "waiting"  # leased: loading inputs, or waiting for the GPU
ON_GPU = "on_gpu"
DONE_WITH_GPU = "done_with_gpu"  # encoding, uploading, publishing


@dataclass
class Admission:
    pipelining: bool = True
    ahead_s: float = 1.0
    held: dict[str, str] = field(default_factory=dict)  # job id → WAITING / ON_GPU / DONE_WITH_GPU
    _remaining: dict[str, Callable[[], float]] = field(default_factory=dict)

    def holds(self, job_id: str) -> bool:
        return job_id in self.held

    def reserve(self, job_id: str) -> bool:
        """Take `job_id` if this process may lease it now (called by each queue's arq worker)."""
        if job_id in self.held:  # already ours (a lease lost in a Redis restart, picked up again)
            return False
        if self.held and not (self.pipelining and len(self.held) == 1 and self._free_soon()):
            return False
        self.held[job_id] = WAITING
        return True

    def release(self, job_id: str) -> None:
        self.held.pop(job_id, None)
        self._remaining.pop(job_id, None)

    def on_gpu(self, job_id: str, remaining_s: Callable[[], float]) -> None:
        """The job holds the GPU; `remaining_s()` estimates its denoising time left."""
        if job_id in self.held:
            self.held[job_id] = ON_GPU
            self._remaining[job_id] = remaining_s

    def off_gpu(self, job_id: str) -> None:
        if job_id in self.held:
            self.held[job_id] = DONE_WITH_GPU
            self._remaining.pop(job_id, None)

    def _free_soon(self) -> bool:
        [(job_id, state)] = self.held.items()
        if state == DONE_WITH_GPU:
            return True
        return state == ON_GPU and self._remaining[job_id]() <= self.ahead_s
