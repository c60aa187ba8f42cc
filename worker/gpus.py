"""Which GPU each local worker process uses: `reelbot up --workers N` on an N-GPU host.

Without pinning, every worker sees every card and loads onto GPU 0. Worker i is given
CUDA_VISIBLE_DEVICES set to the i-th GPU this host lets its processes use, so inside it
that card is `cuda` (and its whole memory is its budget in the speed-knob defaults).
No torch here: `reelbot up` asks the environment and nvidia-smi.
"""

from __future__ import annotations

import shutil
import subprocess


def visible_gpus(env: dict[str, str]) -> list[str]:
    """The GPUs processes may use here: CUDA_VISIBLE_DEVICES when set (indices or UUIDs),
    else what nvidia-smi lists; none when the worker is told to use the CPU or there is no
    NVIDIA driver."""
    if env.get("REELBOT_DEVICE", "auto").startswith("cpu"):
        return []
    if "CUDA_VISIBLE_DEVICES" in env:
        listed = [part.strip() for part in env["CUDA_VISIBLE_DEVICES"].split(",")]
        return [gpu for gpu in listed if gpu and not gpu.startswith("-")]  # "-1" hides every card
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        answer = subprocess.run([smi, "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True,
                                timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in answer.stdout.splitlines() if line.strip()]


def pin_workers(count: int, env: dict[str, str]) -> list[tuple[dict[str, str], str]]:
    """For each of `count` workers: its environment, worker i pinned to GPU i, and where it
    runs in words. More workers than GPUs share cards in turn (said: they then split a
    card's memory between them)."""
    gpus = visible_gpus(env)
    if not gpus:
        where = "CPU" if env.get("REELBOT_DEVICE", "auto").startswith("cpu") else "no GPU found: CPU"
        return [(dict(env), where) for _ in range(count)]
    pinned = []
    for i in range(count):
        gpu = gpus[i % len(gpus)]
        sharing = sum(1 for j in range(count) if gpus[j % len(gpus)] == gpu)
        pinned.append(({**env, "CUDA_VISIBLE_DEVICES": gpu},
                       f"GPU {gpu}" + (f", shared by {sharing} workers" if sharing > 1 else "")))
    return pinned
