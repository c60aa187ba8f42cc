"""Compile and warm-up at a worker's start, with torch's compile cache on the models volume:
the second start of a worker loads the compiled graphs instead of compiling again.

On a CPU (inductor's C++ kernels) here; on CUDA (Triton kernels, in the same folder) only
where a GPU is.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

START = """
import json, sys
from core.logging import configure

configure("INFO", "json", sys.stdout)  # before the worker's modules bind their loggers
from torch._dynamo.utils import counters
from core.settings import load_settings
from worker.runtime import load_renderers


settings = load_settings(models=["ltx-tiny"], models_dir=sys.argv[1], device=sys.argv[2], warm_up=["16:9"],
                         knobs={"ltx-tiny": {"compile": True}})
load_renderers(settings)
print(json.dumps({"hits": counters["inductor"]["fxgraph_cache_hit"],
                  "misses": counters["inductor"]["fxgraph_cache_miss"]}))
"""


def start_worker_models(models_dir: Path, device: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    result = subprocess.run([sys.executable, "-c", START, str(models_dir), device], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    logged = [json.loads(line) for line in lines[:-1] if line.startswith("{")]
    warmed = [entry for entry in logged if entry.get("event") == "warm-up done"]
    assert warmed and warmed[0]["seconds"] > 0, result.stdout[-2000:]  # the warm-up time, reported at start
    return json.loads(lines[-1])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_a_restarted_worker_loads_its_compiled_graphs_from_the_models_volume(models_dir, tmp_path, device):
    import torch

    from core.catalog import get_model

    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("GPU-only: the compile cache's CUDA side (Triton kernels) needs a GPU")
    from inference.loading import resolve_source

    volume = tmp_path / "models"  # a fresh models volume: no compile cache in it yet
    shutil.copytree(resolve_source(get_model("ltx-tiny"), None, models_dir), volume / "ltx-tiny")
    first = start_worker_models(volume, device)
    assert first["misses"] >= 1 and first["hits"] == 0
    assert any((volume / "torch-compile-cache" / "fxgraph").iterdir())
    second = start_worker_models(volume, device)
    assert second["hits"] >= 1 and second["misses"] == 0, second
