"""Weights an operator can manage: `reelbot fetch-models` and the worker's own fetch, against a
hub on loopback (tests/hub.py) serving a tiny pipeline; pinned revisions; the no-GPU refusal."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.catalog import REAL_MODELS, get_model, split_source
from inference.weights import COMMIT, needed_files
from tests.hub import FakeHub, folder_files
from tests.stack import ROOT

REPO = "reelbot-test/ltx-tiny"
TRANSFORMER = "transformer/diffusion_pytorch_model.safetensors"


@pytest.fixture
def hub(models_dir):
    from inference.adapters import locate
    from inference.loading import resolve_source

    folder = Path(resolve_source(get_model("ltx-tiny"), None, models_dir))
    server = FakeHub()
    repo = server.repo(REPO)
    files = folder_files(folder)
    # What real repositories carry besides the pipeline: a single-file checkpoint at the top,
    # .bin twins and fp16 variants. None of them is read by from_pretrained, so none is fetched.
    extras = {"ltx-video-2b-v0.9.5.safetensors": b"x" * 4096, "transformer/diffusion_pytorch_model.bin": b"b" * 999,
              "transformer/diffusion_pytorch_model.fp16.safetensors": b"h" * 999, "README.md": b"# tiny"}
    server.pinned = repo.add_commit({**files, **extras})
    # Then upstream re-pushes main with other weights: a pinned source must not see them.
    server.repushed = repo.add_commit({**files, **extras, TRANSFORMER: files[TRANSFORMER][::-1]})
    server.files = files
    # ltx-video's effect LoRAs, as random-weight LoRAs for the tiny transformer behind it.
    server.adapters = {}
    tiny = get_model("ltx-tiny")
    for adapter in get_model("ltx-video").adapters:
        located = locate(tiny, tiny.adapter(adapter.kind, adapter.name), models_dir)
        server.adapters[adapter.name] = server.repo(adapter.source).add_commit(
            {adapter.weight_name: (located.folder / located.weight_name).read_bytes(), "README.md": b"# a LoRA"})
    yield server
    server.stop()


def hub_env(hub: FakeHub, tmp_path: Path, **settings) -> dict:
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"),
           "REELBOT_LOG_FORMAT": "json", "REELBOT_MODELS_DIR": str(tmp_path / "models")}
    env.pop("HF_TOKEN", None)
    return env | {f"REELBOT_{k.upper()}": v for k, v in settings.items()}


def reelbot(*args: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reelbot", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_the_files_fetched_are_those_from_pretrained_reads():
    index = {"_class_name": "LTXConditionPipeline", "transformer": ["diffusers", "X"], "vae": ["diffusers", "Y"],
             "tokenizer": ["transformers", "T5TokenizerFast"], "scheduler": ["diffusers", "S"],
             "safety_checker": [None, None]}
    tree = {"model_index.json": 1, "ltx-2b.safetensors": 9, "README.md": 1,
            "transformer/config.json": 1, "transformer/diffusion_pytorch_model.safetensors.index.json": 1,
            "transformer/diffusion_pytorch_model-00001-of-00002.safetensors": 5,
            "transformer/diffusion_pytorch_model-00002-of-00002.safetensors": 5,
            "transformer/diffusion_pytorch_model.bin": 9, "transformer/diffusion_pytorch_model.fp16.safetensors": 9,
            "vae/config.json": 1, "vae/diffusion_pytorch_model.bin": 3,  # only .bin: that is what loads
            "tokenizer/spiece.model": 1, "tokenizer/tokenizer_config.json": 1, "scheduler/scheduler_config.json": 1,
            "safety_checker/model.safetensors": 9}
    assert sorted(needed_files(index, tree)) == [
        "model_index.json", "scheduler/scheduler_config.json", "tokenizer/spiece.model",
        "tokenizer/tokenizer_config.json", "transformer/config.json",
        "transformer/diffusion_pytorch_model-00001-of-00002.safetensors",
        "transformer/diffusion_pytorch_model-00002-of-00002.safetensors",
        "transformer/diffusion_pytorch_model.safetensors.index.json", "vae/config.json",
        "vae/diffusion_pytorch_model.bin"]


def test_fetch_models_gets_the_pinned_revision_with_progress_bars_and_only_what_loads(hub, tmp_path):
    env = hub_env(hub, tmp_path, model_sources=json.dumps({"ltx-tiny": f"{REPO}@{hub.pinned}"}))
    done = reelbot("fetch-models", "--models", "ltx-tiny", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"ltx-tiny: {REPO}@{hub.pinned[:12]}: {len(hub.files)} files" in done.stdout
    assert "100%" in done.stderr  # the progress bars
    snapshot = tmp_path / "hf" / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots" / hub.pinned
    assert f"ready in {snapshot}" in done.stdout
    assert folder_files(snapshot) == hub.files  # the pinned weights, not main's re-push; no extras

    # Run again: everything is in the cache, nothing is downloaded.
    before = len(hub.requests)
    again = reelbot("fetch-models", "--models", "ltx-tiny", env=env)
    assert again.returncode == 0 and "(0.0 GiB to download)" in again.stdout
    assert not [r for r in hub.requests[before:] if r[0] == "GET" and "/resolve/" in r[1]]

    # A branch is resolved to its commit first: `main` now means the re-push.
    env = hub_env(hub, tmp_path, model_sources=json.dumps({"ltx-tiny": REPO}))
    moved = reelbot("fetch-models", "--models", "ltx-tiny", env=env)
    assert moved.returncode == 0 and f"{REPO}@{hub.repushed[:12]}" in moved.stdout
    gone = reelbot("fetch-models", "--models", "ltx-tiny", env=hub_env(
        hub, tmp_path, model_sources=json.dumps({"ltx-tiny": f"{REPO}@{'0' * 40}"})))
    assert gone.returncode == 1 and "no revision" in gone.stderr and "Traceback" not in gone.stderr


def test_fetch_models_fetches_the_models_loras_and_a_worker_renders_with_them_offline(hub, tmp_path):
    env = hub_env(hub, tmp_path, model_sources=json.dumps({"ltx-video": f"{REPO}@{hub.pinned}"}))
    done = reelbot("fetch-models", "--models", "ltx-video", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    for adapter in get_model("ltx-video").adapters:
        commit = hub.adapters[adapter.name]  # the catalog names the repository; `main` resolved to its commit
        cached = (tmp_path / "hf" / "hub" / f"models--{adapter.source.replace('/', '--')}" / "snapshots" / commit /
                  adapter.weight_name)
        assert f"ltx-video effect {adapter.name}: {adapter.source}@{commit[:12]} ready in {cached}" in done.stdout
        assert cached.is_file() and hub.downloads(adapter.weight_name)
    assert not hub.downloads("README.md")  # only the LoRA file

    # Offline, a worker loads the model and its LoRAs from the cache and renders an effect.
    before = len(hub.requests)
    script = ("from core.settings import load_settings; from worker.runtime import load_renderer; "
              "from inference.render import RenderInput; from PIL import Image; "
              "r = load_renderer(load_settings(), 'ltx-video', 'cpu', warm_up=False); "
              "out = r.render(RenderInput(task='image-to-video', prompt='a duck', image=Image.new('RGB', (64, 64)), "
              "effect='squish', fps=8, seconds=1, steps=2)); "
              "print('USED', out.adapters, r.adapters.files['effect-squish'].folder)")
    offline = subprocess.run([sys.executable, "-c", script], env=env | {"HF_HUB_OFFLINE": "1", "REELBOT_ALLOW_CPU": "1"},
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert offline.returncode == 0, offline.stderr[-3000:]
    assert "USED {'effect': 'squish'}" in offline.stdout and f"snapshots/{hub.adapters['squish']}" in offline.stdout
    assert len(hub.requests) == before  # nothing asked of the hub


def test_a_cut_download_resumes_and_a_killed_one_keeps_its_finished_files(hub, tmp_path):
    shard = "transformer/diffusion_pytorch_model-0000{}-of-00002.safetensors"
    big = os.urandom(24 * 2**20)  # over huggingface_hub's 10 MiB write chunk, so part of it reaches the disk
    sha = hub.repo("reelbot-test/sharded").add_commit({
        "model_index.json": json.dumps({"_class_name": "LTXConditionPipeline",
                                        "transformer": ["diffusers", "LTXVideoTransformer3DModel"]}).encode(),
        "transformer/config.json": b"{}", shard.format(1): big, shard.format(2): b"second shard" * 1000})
    env = hub_env(hub, tmp_path, model_sources=json.dumps({"ltx-tiny": f"reelbot-test/sharded@{sha}"}))
    hub.drop_once.add(shard.format(1))  # the connection drops halfway through the big shard
    hub.hold[shard.format(2)] = threading.Event()  # and the last shard never comes: the pod is killed
    proc = subprocess.Popen([sys.executable, "-m", "reelbot", "fetch-models", "--models", "ltx-tiny"], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    blobs = tmp_path / "hf" / "hub" / "models--reelbot-test--sharded" / "blobs"
    deadline = time.monotonic() + 120
    while not (blobs / hashlib.sha256(big).hexdigest()).is_file():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    [first, resumed] = hub.downloads(shard.format(1))
    assert first is None and resumed.startswith("bytes=") and int(resumed[6:].rstrip("-")) >= 10 * 2**20

    hub.hold[shard.format(2)].set()
    again = reelbot("fetch-models", "--models", "ltx-tiny", env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(hub.downloads(shard.format(1))) == 2  # the finished shard is not fetched again
    snapshot = blobs.parent / "snapshots" / sha
    assert (snapshot / shard.format(1)).read_bytes() == big and (snapshot / shard.format(2)).is_file()


def test_a_worker_logs_its_download_and_loads_the_pinned_weights(hub, tmp_path):
    # A full-size model's spec with the tiny weights behind it, on the CPU because told so.
    env = hub_env(hub, tmp_path, model_sources=json.dumps({"ltx-video": f"{REPO}@{hub.pinned}"}), allow_cpu="1")
    script = ("from core.settings import load_settings; from core.logging import configure; "
              "s = load_settings(); configure('INFO', 'json'); from worker.runtime import load_renderer; "
              "r = load_renderer(s, 'ltx-video', 'cpu', warm_up=False); print('SOURCE', r.source)")
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    logs = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    progress = [e for e in logs if e["event"] == "downloading weights"]
    assert progress and progress[-1]["percent"] == 100.0 and progress[-1]["model"] == "ltx-video"
    assert f"{REPO}@{hub.pinned[:12]}" in json.dumps(progress)
    assert any(e["event"] == "model loaded" for e in logs)
    assert f"snapshots/{hub.pinned}" in done.stdout


def test_a_worker_without_a_gpu_refuses_a_full_size_model_in_one_line(redis_server, tmp_path):
    env = {**os.environ, "REELBOT_REDIS_URL": redis_server.url, "REELBOT_MODELS": "wan-t2v-1.3b",
           "REELBOT_DEVICE": "cpu", "REELBOT_LOG_FORMAT": "json", "REELBOT_DATABASE_URL": f"sqlite:///{tmp_path}/w.db"}
    env.pop("REELBOT_ALLOW_CPU", None)
    refused = reelbot("worker", env=env, timeout=120)
    assert refused.returncode == 2
    [line] = [line for line in refused.stderr.splitlines() if "refusing" in line]
    assert "wan-t2v-1.3b without a GPU" in line and "download about 14 GiB" in line and "Wan-AI/" in line
    assert "REELBOT_ALLOW_CPU=1" in line and "wan-tiny" in line and "Traceback" not in refused.stderr


def test_catalog_sources_are_pinned_to_a_commit():
    unpinned = {name for name, spec in REAL_MODELS.items() if not COMMIT.match(split_source(spec.hub_id)[1] or "")}
    # No commit of LTX-Video-0.9.7-distilled, Lucy-Edit-Dev or the LTX-2 checkpoints was at hand
    # offline: an operator pins them with REELBOT_MODEL_SOURCES (`hub/id@commit`).
    assert unpinned == {"ltx-video-distilled", "lucy-edit-dev", "ltx-2", "ltx-2.3-distilled", "ltx-2.5"}
