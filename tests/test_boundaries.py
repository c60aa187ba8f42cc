"""The bot, gallery and shared core never load torch, diffusers or the worker: they run in
slim images without them."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import importlib, pkgutil, sys
for package in {packages!r}:
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        importlib.import_module(info.name)
heavy = sorted(m for m in ("torch", "diffusers", "transformers", "worker", "inference.render") if m in sys.modules)
print(",".join(heavy))
"""


@pytest.mark.parametrize("packages", [["bot"], ["gallery"], ["core"], ["discordsim"]])
def test_slim_processes_never_import_the_models(packages):
    result = subprocess.run([sys.executable, "-c", PROBE.format(packages=packages)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{packages} imported {result.stdout.strip()}"


def test_boto3_and_tqdm_are_in_the_extras_that_use_them_not_the_core_install():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements):
        return {r.split(">")[0].split("=")[0].split(";")[0].strip().lower() for r in requirements}

    assert not names(project["dependencies"]) & {"boto3", "tqdm"}
    extras = {extra: names(reqs) for extra, reqs in project["optional-dependencies"].items()}
    assert {"tqdm", "huggingface_hub", "boto3"} <= extras["worker"]
    assert "boto3" in extras["bot"] and "boto3" in extras["gallery"] and extras["s3"] == {"boto3"}
    # And the core install's own processes (the exporter, migrate) never import them.
    probe = ("import sys, tempfile; import core.settings, core.storage, core.media, core.reconcile, core.metrics; "
             "core.storage.open_storage('file://' + tempfile.mkdtemp()).put('clips/a/clip.mp4', b'x'); "
             "print(sorted(m for m in ('boto3', 'tqdm') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr
