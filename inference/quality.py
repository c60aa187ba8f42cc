"""Quality signals of a rendered clip, from its decoded frames and track: pure functions over
numpy arrays (OpenCV, pyloudnorm), plus the CLIP-style adherence scorer. No Redis, no
database: the worker (worker/quality.py) calls these between render and encode.

| signal | what it is | definition |
|---|---|---|
| `motion` | how much moves | mean optical-flow magnitude (OpenCV's DIS, ultrafast preset) between consecutive frames downscaled to `ANALYSIS_WIDTH`, as a percentage of the frame's width per second |
| `flicker` | VBench's `temporal_flickering` | (255 - mean over consecutive pairs of the mean absolute pixel difference) / 255: 1.0 is perfectly steady |
| `frozen` | share of frame pairs with no visible change | a pair whose mean absolute difference is under `FROZEN_MAE` grey levels |
| `black` | share of black frames | ffmpeg blackdetect's rule: at least `BLACK_PICTURE` of the pixels at or under `BLACK_PIXEL` luma |
| `sharpness` | focus / detail | variance of the Laplacian of the luma, median over `SHARPNESS_FRAMES` frames at full size |
| `loudness` | for clips with sound | integrated loudness, EBU R128 / ITU-R BS.1770-4 (pyloudnorm), in LUFS; `LOUDNESS_FLOOR` (the absolute gate) for silence |
| `silence` | share of silent sound | 50 ms windows whose RMS is under `SILENCE_DBFS` |
| `clipping` | share of clipped samples | samples at or past `CLIP_LEVEL` of full scale |
| `adherence` | how well frames match the prompt | 100 x the mean cosine similarity of CLIP's image embeddings of `ADHERENCE_FRAMES` sampled frames and its text embedding of the prompt (CLIPScore without its clamp) |

`broken` names what makes a clip unfit to post: non-finite output, all black, or frozen
from the first frame to the last when motion was asked for.

OpenCV and pyloudnorm are imported with this module, never first inside a job's thread: two
pipelined jobs must not race through cv2's first import; and OpenCV keeps no thread pool.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import pyloudnorm

# OpenCV runs each call in the calling thread: the worker measures one clip beside the next
# one's render, and a second thread pool would only fight the model for the same cores.
cv2.setNumThreads(0)

# Flow runs on frames this wide (height in proportion): the magnitude of motion survives the
# downscale, and DIS on 192 px frames costs about a millisecond a pair on one CPU core.
ANALYSIS_WIDTH = 192
# ffmpeg's blackdetect defaults: a pixel is black at <= 10 % luma, a picture at >= 98 % of them.
BLACK_PIXEL = 0.10 * 255
BLACK_PICTURE = 0.98
# Under half a grey level of mean difference nothing visible changed (a model's frozen frames
# are equal or off by rounding; the slowest real pan moves far more).
FROZEN_MAE = 0.5
SHARPNESS_FRAMES = 8
ADHERENCE_FRAMES = 4
# EBU R128's absolute gate: anything quieter reads as silence, and JSON has no -inf.
LOUDNESS_FLOOR = -70.0
SILENCE_DBFS = -60.0
SILENCE_WINDOW_S = 0.05
CLIP_LEVEL = 0.999
# pyloudnorm's 400 ms gating block: shorter tracks have no integrated loudness.
LOUDNESS_MIN_S = 0.4

# What makes a clip broken, in the order they are looked for.
NON_FINITE, BLACK, FROZEN = "non-finite", "black", "frozen"


@dataclass(frozen=True)
class Signals:
    motion: float | None = None
    flicker: float | None = None
    frozen: float | None = None
    black: float | None = None
    sharpness: float | None = None
    loudness: float | None = None
    silence: float | None = None
    clipping: float | None = None
    adherence: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


# --- pictures --------------------------------------------------------------------------

def frame_signals(frames: np.ndarray, fps: float) -> dict[str, float | None]:
    """motion, flicker, frozen, black and sharpness of (F, H, W, 3) uint8 frames."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] == 0 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (F, H, W, 3), got {frames.shape}")
    count, height, width = frames.shape[:3]
    small = (ANALYSIS_WIDTH, max(8, round(height * ANALYSIS_WIDTH / width)))
    lumas = [cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), small, interpolation=cv2.INTER_AREA)
             for frame in frames]
    black = float(np.mean([np.count_nonzero(luma <= BLACK_PIXEL) >= BLACK_PICTURE * luma.size for luma in lumas]))
    out = {"black": black, "sharpness": sharpness(frames)}
    if count < 2:
        return out | {"motion": None, "flicker": None, "frozen": None}
    # VBench's MAE is over the full frames; |a - b| of uint8 equals its float32 absdiff.
    maes = np.array([cv2.mean(cv2.absdiff(frames[i], frames[i + 1]))[:3] for i in range(count - 1)]).mean(axis=1)
    out["flicker"] = float((255.0 - maes.mean()) / 255.0)
    out["frozen"] = float(np.mean(maes < FROZEN_MAE))
    out["motion"] = flow_motion(lumas, fps)
    return out


def flow_motion(lumas: list[np.ndarray], fps: float) -> float:
    """Mean optical-flow magnitude between consecutive luma frames, in % of width per second."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    magnitudes = []
    for before, after in zip(lumas, lumas[1:]):
        flow = dis.calc(before, after, None)
        magnitudes.append(float(np.mean(np.hypot(flow[..., 0], flow[..., 1]))))
    return float(np.mean(magnitudes)) / lumas[0].shape[1] * fps * 100.0


def sharpness(frames: np.ndarray) -> float:
    """Median variance of the Laplacian of the luma over frames spread across the clip."""
    picks = spread(len(frames), SHARPNESS_FRAMES)
    return float(np.median([cv2.Laplacian(cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()
                            for i in picks]))


def spread(total: int, count: int) -> list[int]:
    """`count` indices spread evenly from the first to the last of `total` (all when fewer)."""
    if total <= count:
        return list(range(total))
    if count == 1:
        return [total // 2]
    return [round(i * (total - 1) / (count - 1)) for i in range(count)]


# --- sound -----------------------------------------------------------------------------

def sound_signals(samples: np.ndarray, rate: int) -> dict[str, float | None]:
    """loudness (LUFS), silence and clipping shares of (channels, samples) floats in [-1, 1]."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] == 0:
        return {"loudness": None, "silence": None, "clipping": None}
    clipping = float(np.mean(np.abs(samples) >= CLIP_LEVEL))
    mono = samples.mean(axis=0)
    window = max(1, round(SILENCE_WINDOW_S * rate))
    usable = len(mono) // window * window or len(mono)
    pieces = mono[:usable].reshape(-1, min(window, usable))
    rms = np.sqrt(np.mean(pieces ** 2, axis=1))
    silence = float(np.mean(20 * np.log10(np.maximum(rms, 1e-12)) < SILENCE_DBFS))
    loudness = None
    if samples.shape[1] / rate >= LOUDNESS_MIN_S:
        value = pyloudnorm.Meter(rate).integrated_loudness(samples.T)
        loudness = max(LOUDNESS_FLOOR, float(value)) if not math.isnan(value) else LOUDNESS_FLOOR
    return {"loudness": loudness, "silence": silence, "clipping": clipping}


# --- what makes a clip broken ----------------------------------------------------------

def broken(signals: dict, *, finite: bool = True, motion_asked: bool = True) -> str | None:
    """NON_FINITE, BLACK or FROZEN when the clip must not be posted as a success, else None."""
    if not finite:
        return NON_FINITE
    if signals.get("black") == 1.0:
        return BLACK
    if motion_asked and signals.get("frozen") == 1.0:
        return FROZEN
    return None


# --- prompt adherence ------------------------------------------------------------------

TINY_ADHERENCE = "clip-tiny"


class AdherenceScorer:
    """A transformers CLIP model (hub id, folder, or `clip-tiny`: random weights built in
    code, inference/tiny.py) that scores frames against a prompt, on the worker's device."""

    def __init__(self, model, processor, *, device: str = "cpu", label: str = "", tiny: bool = False):
        self.model, self.processor, self.device = model.eval().to(device), processor, device
        self.label, self.tiny = label, tiny
        self._lock = threading.Lock()  # one forward pass at a time (pipelined jobs share it)

    @classmethod
    def load(cls, source: str, models_dir: Path, device: str = "cpu") -> AdherenceScorer:
        """Blocking: the model and its processor from `source`."""
        from transformers import AutoModel, AutoProcessor
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        tiny = source == TINY_ADHERENCE
        folder = str(Path(models_dir) / TINY_ADHERENCE) if tiny else source
        if tiny and not (Path(folder) / "config.json").exists():
            from .tiny import build_tiny_clip

            build_tiny_clip(Path(folder))
        model = AutoModel.from_pretrained(folder)
        if not hasattr(model, "get_text_features") or not hasattr(model, "get_image_features"):
            raise ValueError(f"{source} is not a CLIP-style model (it has no text and image embeddings)")
        return cls(model, AutoProcessor.from_pretrained(folder), device=device, label=source, tiny=tiny)

    def score(self, frames: np.ndarray, prompt: str) -> float | None:
        """100 x the mean cosine similarity of sampled frames to the prompt; None without a prompt."""
        import torch
        from PIL import Image

        if not prompt or not prompt.strip() or len(frames) == 0:
            return None
        images = [Image.fromarray(frames[i]) for i in spread(len(frames), ADHERENCE_FRAMES)]
        inputs = self.processor(text=[prompt], images=images, return_tensors="pt", padding=True, truncation=True)
        inputs = {name: value.to(self.device) for name, value in inputs.items()}
        with self._lock, torch.inference_mode():
            texts = _embeds(self.model.get_text_features(input_ids=inputs["input_ids"],
                                                        attention_mask=inputs.get("attention_mask")))
            pictures = _embeds(self.model.get_image_features(pixel_values=inputs["pixel_values"]))
        return float((pictures @ texts.T).mean()) * 100.0


def _embeds(output):
    """L2-normalised embeddings, from a tensor or a model output that holds them (transformers 5)."""
    tensor = output if hasattr(output, "norm") else getattr(output, "pooler_output", None)
    if tensor is None:
        tensor = output[0]
    tensor = tensor.float()
    return tensor / tensor.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def measure(frames: np.ndarray, fps: float, *, track=None, prompt: str = "",
            scorer: AdherenceScorer | None = None) -> tuple[Signals, float]:
    """Every signal of a clip, and the seconds it took."""
    started = time.perf_counter()
    values = frame_signals(frames, fps)
    if track is not None:
        values |= sound_signals(track.samples, track.rate)
    if scorer is not None:
        values["adherence"] = scorer.score(frames, prompt)
    return Signals(**values), time.perf_counter() - started
