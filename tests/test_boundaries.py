"""The bot, gallery and shared core never load torch, diffusers or the worker: they run in
slim images without them."""

import re
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


def _imports(path: Path) -> set[str]:
    """The project modules a file imports, at any depth of the file (function-level and
    TYPE_CHECKING too), relative imports (`from .render import Plan`) resolved."""
    import ast

    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_of_bot_core_or_worker_imports_one_that_imports_it_back():
    # A cycle is how features lose their one home: bot/actions.py and bot/buttons.py once
    # imported each other from inside functions.
    files = [p for package in ("bot", "core", "worker", "inference") for p in (ROOT / package).rglob("*.py")]
    modules = {_module_name(p): p for p in files}
    graph = {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            here = todo.pop()
            if here == goal:
                return True
            if here not in seen:
                seen.add(here)
                todo.extend(graph[here])
        return False

    cycles = sorted((a, b) for a in graph for b in graph[a] if reaches(b, a))
    assert cycles == []


def test_one_definition_of_the_ideas_every_process_shares():
    sources = {p: p.read_text() for package in ("bot", "core", "worker", "inference", "gallery", "reelbot")
               for p in (ROOT / package).rglob("*.py")}
    defining = lambda pattern: sorted(str(p.relative_to(ROOT)) for p, text in sources.items()  # noqa: E731
                                      if re.search(pattern, text, re.M))
    assert defining(r"^class Task\(") == ["core/catalog.py"]
    assert defining(r"^UNFINISHED = ") == ["core/contract.py"]
    assert defining(r"^TINY_LABEL = ") == ["core/catalog.py"]
    assert defining(r"on_conflict_do_nothing") == ["core/db.py"]
    # Every arq internal the project relies on (key prefixes, the in-progress lease, the
    # worker's counters) is reached through core/queue.py alone.
    assert defining(r"^\s*(from arq\.(constants|worker|jobs)\b|import arq\.(constants|worker|jobs))") == \
        ["core/queue.py"]
