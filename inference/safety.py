"""The image-safety classifier: a transformers image-classification pipeline that scores
pictures, and a threshold that turns the scores into a verdict.

An image's score is the sum of the probabilities of the unsafe labels
(`REELBOT_SAFETY_LABELS`, "nsfw" for the default NSFW detector), capped at 1; it is
flagged at `REELBOT_SAFETY_THRESHOLD` or more. A clip or an attached video is judged on
`REELBOT_SAFETY_FRAMES` frames spread evenly from its first to its last (`sample_frames`):
one flagged frame flags the whole.

The source is a hub id or a local folder like any transformers checkpoint, or
`safety-tiny` (core.safety.TEST_CLASSIFIER): a ViT with a few thousand random weights
built from a config in code (fixed seed, so every build is identical), saved with
save_pretrained into the models folder and loaded back through the same pipeline call,
offline. Its labels are the real ones ("normal", "nsfw") and its config says
`reelbot_test_model: true`; with its classifier bias every picture scores about 0.1 nsfw,
a little more or less by picture, so the default threshold (0.5) passes everything and a
test flags with a threshold under that (or between two pictures' scores, to get one of
each).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.safety import TEST_CLASSIFIER

SEED = 0
TINY_IMAGE_SIZE = 32
TINY_LABELS = ("normal", "nsfw")
# Logit bias of the tiny classifier: softmax(1, -1) puts about 0.12 on "nsfw", and the
# larger-than-usual random head weights spread pictures around it.
TINY_BIAS = (1.0, -1.0)
TINY_HEAD_STD = 0.5


class SafetyModelError(ValueError):
    """A classifier that cannot do the job as configured (say, a label it does not have)."""


@dataclass(frozen=True)
class Verdict:
    flagged: bool
    score: float  # the highest score among the pictures
    index: int  # which picture scored it
    pictures: int
    seconds: float

    def reason(self, threshold: float, what: str) -> str:
        """For the audit log: which picture, how high, against what."""
        return (f"{what}: score {self.score:.3f} >= {threshold:g} on picture {self.index + 1} of {self.pictures}"
                if self.flagged else f"{what}: highest score {self.score:.3f} < {threshold:g}")


class SafetyClassifier:
    def __init__(self, pipe, *, threshold: float, unsafe_labels: Sequence[str], batch_size: int = 8):
        labels = {str(label).lower() for label in pipe.model.config.id2label.values()}
        wanted = {label.strip().lower() for label in unsafe_labels if label.strip()}
        missing = sorted(wanted - labels)
        if not wanted or missing:
            raise SafetyModelError(f"the classifier has no label {', '.join(missing) or '(none given)'}: "
                                   f"its labels are {', '.join(sorted(labels))}")
        self.pipe = pipe
        self.threshold = threshold
        self.unsafe = wanted
        self.batch_size = batch_size
        self.test_model = bool(getattr(pipe.model.config, "reelbot_test_model", False))
        self._lock = threading.Lock()  # a pipeline is not safe to call from two threads at once

    @classmethod
    def load(cls, source: str, *, threshold: float, unsafe_labels: Sequence[str], models_dir: Path,
             device: str = "cpu") -> SafetyClassifier:
        """Blocking: the pipeline from a hub id, a folder, or the test classifier (built on first use)."""
        from transformers import pipeline
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        pipe = pipeline("image-classification", model=resolve_source(source, models_dir), device=device)
        return cls(pipe, threshold=threshold, unsafe_labels=unsafe_labels)

    def scores(self, pictures: Sequence) -> list[float]:
        """Each picture's unsafe score (PIL images or (H, W, 3) uint8 arrays)."""
        images = [_image(picture) for picture in pictures]
        if not images:
            return []
        with self._lock:
            results = self.pipe(images, top_k=None, batch_size=self.batch_size)
        return [min(1.0, sum(r["score"] for r in result if str(r["label"]).lower() in self.unsafe))
                for result in results]

    def check(self, pictures: Sequence) -> Verdict:
        started = time.perf_counter()
        scores = self.scores(pictures)
        index = max(range(len(scores)), key=scores.__getitem__) if scores else 0
        score = scores[index] if scores else 0.0
        return Verdict(bool(scores) and score >= self.threshold, score, index, len(scores),
                       time.perf_counter() - started)


def sample_frames(frames: Sequence, count: int) -> list:
    """`count` frames spread evenly from the first to the last (all of them when fewer)."""
    total = len(frames)
    if total <= count:
        return list(frames)
    if count == 1:
        return [frames[total // 2]]
    return [frames[round(i * (total - 1) / (count - 1))] for i in range(count)]


def _image(picture):
    from PIL import Image

    if isinstance(picture, Image.Image):
        return picture.convert("RGB") if picture.mode != "RGB" else picture
    return Image.fromarray(picture).convert("RGB")


def resolve_source(source: str, models_dir: Path) -> str:
    """The folder or hub id to load; the test classifier is built in `models_dir` on first use."""
    if source == TEST_CLASSIFIER:
        folder = Path(models_dir) / TEST_CLASSIFIER
        if not (folder / "config.json").exists():
            build_tiny(folder)
        return str(folder)
    folder = Path(source).expanduser()
    if folder.is_dir() and not (folder / "config.json").exists():
        raise SafetyModelError(f"{folder} is not a transformers model folder (no config.json)")
    return str(folder) if folder.is_dir() else source


def build_tiny(folder: Path) -> Path:
    """Build the random-weight test classifier into `folder`, atomically (two processes
    building at once both succeed and one copy is kept)."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    config = ViTConfig(image_size=TINY_IMAGE_SIZE, patch_size=8, hidden_size=16, num_hidden_layers=1,
                       num_attention_heads=2, intermediate_size=32,
                       id2label=dict(enumerate(TINY_LABELS)), label2id={n: i for i, n in enumerate(TINY_LABELS)},
                       reelbot_test_model=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = ViTForImageClassification(config)
        with torch.no_grad():
            model.classifier.weight.normal_(0.0, TINY_HEAD_STD)
            model.classifier.bias.copy_(torch.tensor(TINY_BIAS))
    processor = ViTImageProcessor(size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE})
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        os.rename(staging, folder)
    except OSError:
        if not (folder / "config.json").exists():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
