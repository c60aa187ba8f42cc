"""Typed words to a voice, for `/lipsync text:`: a transformers text-to-speech pipeline.

Any checkpoint `pipeline("text-to-speech")` loads will do (REELBOT_TTS_MODEL: a hub id or
a local folder); the default is Meta's MMS English voice, a VITS model small enough to run
beside the video model. Tiny video models speak with a tiny random-weight VITS built
locally (`mms-tts-tiny`), which says noise, as they show noise.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from core.catalog import ModelSpec

from .audio import Track

DEFAULT_VOICE = "facebook/mms-tts-eng"
TINY_VOICE = "mms-tts-tiny"
# VITS draws noise for its durations and pitch: a fixed seed makes the same words give the
# same track (so Retry of a typed lip-sync hears the same voice).
SEED = 0


class Unspeakable(ValueError):
    """Text with nothing in it the voice can say (the message is fit for a member)."""


def default_voice(spec: ModelSpec) -> str:
    return TINY_VOICE if spec.tiny else DEFAULT_VOICE


class Speaker:
    """One text-to-speech model, loaded on first use (most jobs never speak)."""

    def __init__(self, source: str, *, models_dir: Path, device: str = "cpu"):
        self.source, self.models_dir, self.device = source, Path(models_dir), device
        self._pipeline = None
        self._loading = threading.Lock()

    def speak(self, text: str) -> Track:
        import torch

        pipeline = self._load()
        if not pipeline.tokenizer(text).input_ids:
            raise Unspeakable("The text has no words the voice can say: write them in letters.")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            spoken = pipeline(text)
        samples = np.asarray(spoken["audio"], dtype=np.float32)
        return Track(np.ascontiguousarray(samples.reshape(-1, samples.shape[-1])), int(spoken["sampling_rate"]))

    def _load(self):
        with self._loading:
            if self._pipeline is None:
                from transformers import pipeline
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()
                self._pipeline = pipeline("text-to-speech", model=self._resolve(), device=self.device)
            return self._pipeline

    def _resolve(self) -> str:
        if self.source != TINY_VOICE:
            return self.source
        folder = self.models_dir / TINY_VOICE
        if not (folder / "config.json").exists():
            from .tiny import build_tiny_voice

            build_tiny_voice(folder)
        return str(folder)
