"""Where a model's weights come from, and loading them into a pipeline.

A source is either a local folder in diffusers layout (model_index.json at the top) or a
Hugging Face hub id, `owner/name` or `owner/name@revision` (a pinned commit, as the catalog
has them). Both go through the same `DiffusionPipeline.from_pretrained` call; the folder's
model_index.json names the pipeline class (LTXPipeline, LTXConditionPipeline, ...). The
worker fetches hub weights into the cache first (inference/weights.py, with progress) and
loads the folder it got.
"""

from __future__ import annotations

from pathlib import Path

from core.catalog import ModelSpec, split_source


class ModelSourceError(ValueError):
    """A model source that is neither a pipeline folder nor a hub id."""


def resolve_source(spec: ModelSpec, source: str | None, models_dir: Path) -> str:
    """The folder or hub id to load `spec` from.

    An explicit `source` wins. Without one, a tiny model lives in `models_dir/<name>`
    (built there on first use) and any other model comes from its hub id.
    """
    if source is not None:
        return _check_source(source)
    if spec.tiny:
        folder = Path(models_dir) / spec.name
        if not (folder / "model_index.json").exists():
            from .tiny import build_tiny  # torch is only needed when building

            build_tiny(spec, folder)
        return str(folder)
    if spec.hub_id is None:
        raise ModelSourceError(f"{spec.name} has no hub id; name a local folder for it")
    return spec.hub_id


def _check_source(source: str) -> str:
    folder = Path(source).expanduser()
    if folder.is_dir():
        if not (folder / "model_index.json").exists():
            raise ModelSourceError(f"{folder} is not a diffusers pipeline folder (no model_index.json)")
        return str(folder)
    if split_source(source):
        return source
    raise ModelSourceError(f"model source {source!r} is neither a folder nor a hub id (owner/name[@revision])")


def default_dtype(device: str):
    """bfloat16 on GPUs (what LTX and Wan are trained in); float32 elsewhere, where bf16 is slow."""
    import torch

    return torch.bfloat16 if str(device).startswith("cuda") else torch.float32


def read_pipeline(spec: ModelSpec, source: str, dtype=None):
    """Load the pipeline for `spec` from a folder or hub id onto the CPU, unplaced.

    `dtype` is one torch dtype or a dict of component name → dtype (with "default").
    """
    from diffusers import DiffusionPipeline
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    # Loading bars would only clutter worker logs.
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    hub = None if Path(source).expanduser().is_dir() else split_source(source)
    repo, revision = hub or (source, None)
    pipeline = DiffusionPipeline.from_pretrained(repo, revision=revision, dtype=dtype or default_dtype("cpu"))
    # model_index.json picks the class; make sure it is the family the spec describes,
    # so a misconfigured folder fails here and not with odd arguments mid-render.
    if not type(pipeline).__name__.lower().startswith(spec.family):
        raise ModelSourceError(f"{source} holds a {type(pipeline).__name__}, not a {spec.family} pipeline")
    # Progress goes through Renderer's on_step.
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def load_pipeline(spec: ModelSpec, source: str, device: str = "cpu", dtype=None):
    """Load the pipeline for `spec` from a folder or hub id, moved to `device`."""
    pipeline = read_pipeline(spec, source, dtype=dtype or default_dtype(device))
    pipeline.to(device)
    return pipeline


def task_pipelines(spec: ModelSpec, pipeline) -> dict:
    """One pipeline per class the spec's tasks need, all sharing `pipeline`'s modules.

    A checkpoint's model_index.json names one class (WanPipeline, LTXPipeline, ...); the
    other classes of the family are built around the same module objects, so the
    weights are in memory once whatever the number of tasks.
    """
    built = {type(pipeline).__name__: pipeline}
    for _, name in spec.pipelines:
        if name not in built:
            built[name] = share_modules(pipeline_class(name), pipeline)
    return built


def pipeline_class(name: str):
    """A pipeline class by name: diffusers' own, else Reelbot's (inference/pipelines.py)."""
    import diffusers

    if hasattr(diffusers, name):
        return getattr(diffusers, name)
    from . import pipelines

    return getattr(pipelines, name)


def share_modules(cls, pipeline):
    """A `cls` pipeline over `pipeline`'s modules and matching configuration.

    Not `cls.from_pipe(pipeline)`: that casts every shared module to one dtype (float32
    unless told otherwise), which would undo bf16 weights, or the float32 VAE kept
    beside them, in the pipeline they came from.
    """
    import inspect

    accepted = inspect.signature(cls.__init__).parameters
    components = {name: module for name, module in pipeline.components.items() if name in accepted}
    config = {name: value for name, value in pipeline.config.items()
              if name in accepted and name not in components and not name.startswith("_")}
    shared = cls(**components, **config)
    shared.set_progress_bar_config(disable=True)
    return shared
