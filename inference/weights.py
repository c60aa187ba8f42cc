"""Model weights from the Hugging Face hub, fetched into its cache before a model loads: the files
a pipeline reads, at a pinned revision, resumable, with progress.

Who fetches: `reelbot fetch-models` (progress bars, for operators and image builds) and the
worker at start (progress in its logs instead of bars). Both land in the hub cache (HF_HOME;
the `models` volume in deploy/), so a worker after `fetch-models` downloads nothing.

What is fetched is what diffusers' from_pretrained reads: model_index.json and, in each
component folder it names, the configs, tokenizer files and safetensors weights, without the
.bin/.ckpt twins, fp16 variants or the single-file checkpoints many repositories keep at their
top. A revision is resolved to its commit first, and the files are fetched at that commit, so
a branch moving mid-download cannot mix two versions; the catalog pins commits outright.
An interrupted download resumes: huggingface_hub keeps the partial file and asks for the rest.
Gated weights need HF_TOKEN (read by huggingface_hub itself; deploy/ passes it as a secret).

Importing this module needs no torch.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.catalog import split_source

COMMIT = re.compile(r"^[0-9a-f]{40}$")
# Weight formats from_pretrained skips when safetensors are there, and dtype variants it only
# reads when asked (diffusers' `variant=`).
OTHER_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".msgpack", ".h5", ".onnx", ".onnx_data", ".gguf")
VARIANT = re.compile(r"\.(fp16|bf16|fp32|fp8|non_ema|ema)\.[^/]+$")
GIB = 1024**3


class WeightsError(Exception):
    """Weights that cannot be fetched, in one line an operator can act on."""


@dataclass(frozen=True)
class Download:
    """What fetching one source means: the files at one commit and their sizes."""

    repo: str
    commit: str
    files: dict[str, int]  # path in the repository -> bytes
    present: frozenset[str]  # those already complete in the cache

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())

    @property
    def missing_bytes(self) -> int:
        return sum(size for path, size in self.files.items() if path not in self.present)

    def describe(self) -> str:
        return (f"{self.repo}@{self.commit[:12]}: {len(self.files)} files, {self.total_bytes / GIB:.1f} GiB"
                f" ({self.missing_bytes / GIB:.1f} GiB to download)")


def needed_files(index: dict, tree: dict[str, int]) -> dict[str, int]:
    """The files of `tree` (path -> size) that loading the pipeline described by `index`
    (its model_index.json) reads."""
    components = [name for name, value in index.items()
                  if not name.startswith("_") and isinstance(value, list) and value and value[0]]
    chosen = {"model_index.json": tree.get("model_index.json", 0)}
    for component in components:
        files = {path: size for path, size in tree.items() if path.startswith(component + "/")}
        plain = [p for p in files if p.endswith(".safetensors") and not VARIANT.search(p)]
        if plain:
            files = {p: s for p, s in files.items()
                     if not p.endswith(OTHER_WEIGHTS) and not (p.endswith(".safetensors") and VARIANT.search(p))}
        chosen.update(files)
    return chosen


def plan(source: str, token: str | None = None) -> Download:
    """Resolve `source` ("owner/name[@revision]") to a commit and the files to fetch (asks the hub)."""
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.hf_api import RepoFile

    repo, revision = _split(source)
    api = HfApi(token=token)
    with _hub_refusals(repo, revision):
        commit = revision if revision and COMMIT.match(revision) else api.repo_info(repo, revision=revision).sha
        tree = {f.path: f.size for f in api.list_repo_tree(repo, revision=commit, recursive=True)
                if isinstance(f, RepoFile)}
        index = json.loads(Path(hf_hub_download(repo, "model_index.json", revision=commit, token=token)).read_text())
    if "model_index.json" not in tree:
        raise WeightsError(f"{repo}@{commit} is not a diffusers pipeline (no model_index.json)")
    files = needed_files(index, tree)
    snapshot = _snapshot(repo, commit)
    present = frozenset(p for p in files if (snapshot / p).is_file())
    return Download(repo, commit, files, present)


def fetch(download: Download, *, bars: bool = True, report: Callable[[dict], None] | None = None,
          every_s: float = 10.0, token: str | None = None) -> Path:
    """Fetch the files of `download` into the hub cache; returns the snapshot folder to load.

    `bars`: huggingface_hub's progress bars (a terminal). `report`: called every `every_s`
    seconds with the bytes so far (a worker's logs), watching the cache's files grow."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
    from tqdm import tqdm

    (enable_progress_bars if bars else disable_progress_bars)()
    # Plain tqdm bars show off a terminal too (a docker build's log); huggingface_hub's own hide there.
    bar = tqdm if bars else None
    watching = _Watcher(download, report, every_s) if report else None
    try:
        folder = snapshot_download(download.repo, revision=download.commit, allow_patterns=list(download.files),
                                   token=token, tqdm_class=bar)
    except OSError as exc:  # the connection dropped for good; a rerun resumes
        raise WeightsError(f"downloading {download.repo} stopped: {exc}".splitlines()[0]) from None
    finally:
        if watching:
            watching.stop()
    return Path(folder)


def fetch_adapter(source: str, weight_name: str, *, bars: bool = True, token: str | None = None) -> Path:
    """A LoRA file (`weight_name` of hub source "owner/name[@revision]") in the hub cache, fetched
    there first when missing (resumable, like the models); with HF_HUB_OFFLINE, the cached file.
    The path lies in the snapshot of the commit the revision resolved to (its folder's name)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    repo, revision = _split(source)
    (enable_progress_bars if bars else disable_progress_bars)()
    try:
        with _hub_refusals(repo, revision):
            return Path(hf_hub_download(repo, weight_name, revision=revision, token=token))
    except LocalEntryNotFoundError:
        raise WeightsError(f"{source} ({weight_name}) is not in the cache and the hub cannot be reached "
                           "(HF_HUB_OFFLINE?): run `reelbot fetch-models` where it can") from None
    except EntryNotFoundError:
        raise WeightsError(f"{repo} has no file {weight_name}") from None
    except OSError as exc:  # the connection dropped for good; a rerun resumes
        raise WeightsError(f"fetching {weight_name} of {repo} stopped: {exc}".splitlines()[0]) from None


@contextlib.contextmanager
def _hub_refusals(repo: str, revision: str | None):
    """The hub's refusals (gated, no such revision or repository, an HTTP error) as one WeightsError line."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except EntryNotFoundError:
        raise  # a file missing (on the hub, or from the cache offline): the caller knows which
    except GatedRepoError:
        raise WeightsError(f"{repo} is gated on the hub: accept its licence there and set HF_TOKEN") from None
    except RevisionNotFoundError:
        raise WeightsError(f"{repo} has no revision {revision!r} on the hub") from None
    except RepositoryNotFoundError:
        raise WeightsError(f"{repo} is not on the hub (or is private: set HF_TOKEN)") from None
    except HfHubHTTPError as exc:
        raise WeightsError(f"the hub refused {repo}: {exc}".splitlines()[0]) from None


def cached(source: str) -> Path | None:
    """The cached snapshot of `source` when the hub cannot be asked (HF_HUB_OFFLINE): a pinned
    commit's folder, or the one a branch pointed to when it was last fetched."""
    repo, revision = _split(source)
    commit = revision if revision and COMMIT.match(revision) else None
    if commit is None:
        ref = _cache_folder(repo) / "refs" / (revision or "main")
        commit = ref.read_text().strip() if ref.is_file() else None
    folder = _snapshot(repo, commit) if commit else None
    return folder if folder is not None and (folder / "model_index.json").is_file() else None


def _split(source: str) -> tuple[str, str | None]:
    hub = split_source(source)
    if hub is None:
        raise WeightsError(f"{source!r} is not a hub id (owner/name[@revision])")
    return hub


def _cache_folder(repo: str) -> Path:
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    return Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo, repo_type="model")


def _snapshot(repo: str, commit: str) -> Path:
    return _cache_folder(repo) / "snapshots" / commit


class _Watcher:
    """Reports a download's progress from the bytes in the cache's blobs (complete and
    .incomplete), which grows the same way whichever transport the hub uses."""

    def __init__(self, download: Download, report: Callable[[dict], None], every_s: float):
        self.download, self.report, self.every_s = download, report, every_s
        self.blobs = _cache_folder(download.repo) / "blobs"
        self.start_bytes = self._bytes()
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="weights-progress", daemon=True)
        self._thread.start()

    def _bytes(self) -> int:
        if not self.blobs.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.blobs.iterdir() if p.is_file())

    def progress(self) -> dict:
        done = max(0, self._bytes() - self.start_bytes)
        wanted = max(1, self.download.missing_bytes)
        elapsed = max(1e-6, time.monotonic() - self.started)
        return {"model_source": f"{self.download.repo}@{self.download.commit[:12]}",
                "done_gib": round(done / GIB, 2), "total_gib": round(wanted / GIB, 2),
                "percent": round(min(100.0, 100 * done / wanted), 1), "mib_per_s": round(done / elapsed / 2**20, 1)}

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.report(self.progress())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.report(self.progress())
