"""-loop: a clip that ends where it begins, and the measure of its seam.

The model does the work (see inference/README.md, "Loops"): the last frame is conditioned on
the first (the member's picture, or for text-to-video the first frame of a one-frame first
pass), and the closing frame, which repeats the first, is dropped, so on repeat the last frame
steps into the first like any other step.

`seam` measures what a viewer sees at the wrap: the mean absolute difference between the last
and the first frame, against the clip's median difference between neighbouring frames. A ratio
up to SEAM_LIMIT reads as an ordinary step. `close` checks it and, when the model left a jump
(a random-weight test model always may; a real model rarely), cross-fades the last frames
towards the first until the wrap is an ordinary step, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The wrap may be this many times the clip's median step and still read as motion, not a cut: a
# smooth clip's fastest steps are about that far above its median (a sine cycle's: 1.6x), a cut
# many times more.
SEAM_LIMIT = 2.0
# A nearly still clip has a median step near 0; a step under one grey level is invisible.
STEP_FLOOR = 1.0
# The cross-fade never takes more than this share of the clip.
MAX_FADE_SHARE = 0.5


@dataclass(frozen=True)
class Seam:
    wrap: float  # mean |last - first| per pixel value (0..255)
    median_step: float  # median mean |f[i+1] - f[i]|
    faded: int = 0  # frames cross-faded to close it (0: the model closed it alone)

    @property
    def ratio(self) -> float:
        return self.wrap / max(self.median_step, STEP_FLOOR)

    @property
    def seamless(self) -> bool:
        return self.ratio <= SEAM_LIMIT

    def summary(self) -> dict:
        return {"ratio": round(self.ratio, 3), "wrap": round(self.wrap, 3), "median_step": round(self.median_step, 3),
                "faded": self.faded}


def seam(frames: np.ndarray) -> Seam:
    """The seam of (F, H, W, 3) uint8 frames played on repeat."""
    if len(frames) < 2:
        return Seam(0.0, 0.0)
    frames = frames.astype(np.int16)
    steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    return Seam(float(np.abs(frames[-1] - frames[0]).mean()), float(np.median(steps)))


def close(frames: np.ndarray) -> tuple[np.ndarray, Seam]:
    """The frames with a seamless wrap, and its measure: as rendered when the model closed the
    loop, else with the fewest last frames (2, 4, 8 …, up to half the clip) cross-faded towards
    the first that close it (or, failing that, the most)."""
    found, out = seam(frames), frames
    fade = 2
    while not found.seamless and fade <= max(2, int(len(frames) * MAX_FADE_SHARE)):
        out = fade_into_first(frames, fade)
        measured = seam(out)
        found = Seam(measured.wrap, measured.median_step, fade)
        fade *= 2
    return out, found


def fade_into_first(frames: np.ndarray, count: int) -> np.ndarray:
    """The last `count` frames blended more and more towards the first (weights k/(count+1))."""
    out = frames.copy()
    first = frames[0].astype(np.float32)
    count = min(count, len(frames) - 1)
    for k in range(1, count + 1):
        index = len(frames) - count - 1 + k
        weight = k / (count + 1)
        out[index] = np.round((1 - weight) * frames[index].astype(np.float32) + weight * first).astype(np.uint8)
    return out
