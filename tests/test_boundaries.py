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
