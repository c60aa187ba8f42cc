"""What an edit may change: a mask per frame, found from the instruction's words.

A masked edit (VACE) redraws only where its mask is white and keeps the rest of each frame.
`target_phrase` picks the thing an instruction is about ("replace the car with this one"
→ "the car"), and a `Segmenter`, a text-promptable segmentation model from transformers
(CLIPSeg), finds it in every frame. Without a segmenter (`REELBOT_SEGMENTER` unset), or
when it finds nothing, the whole frame may change (core.contract.WHOLE_FRAME); the clip's post says
which (`RenderOutput.edit_region`).

`clipseg-tiny` is a random-weight CLIPSeg built from a config in code (inference/tiny.py)
for tests and offline runs: it finds noise, not things.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from core.catalog import TINY_LABEL

if TYPE_CHECKING:
    import PIL.Image

TINY_SEGMENTER = "clipseg-tiny"
# CLIPSeg's probability above which a pixel belongs to the phrase (its authors' demos use 0.3–0.5).
THRESHOLD = 0.4
# A mask covering less than this share of the clip found nothing worth editing.
MIN_AREA = 0.002
# Grown by this share of the frame's short side, so the edit has room at the edges of the
# thing (a hat is bigger than the head it sits on) and CLIPSeg's coarse borders are covered.
GROW = 0.04
# Longer phrases are cut at a word (CLIP reads 77 tokens; a post quotes the phrase).
MAX_PHRASE = 80
# Frames segmented per model call.
BATCH = 16

_PRONOUNS = {"him": "the person", "her": "the person", "them": "the people", "he": "the person",
             "she": "the person", "they": "the people", "himself": "the person", "herself": "the person"}
_VAGUE = {"it", "this", "that", "everything", "the scene", "the video", "the clip", "the image", "the picture",
          "the whole thing", "all"}
# The thing an instruction is about, for the ways people phrase edits; first match wins.
_PATTERNS = [
    r"^(?:replace|swap|exchange|substitute)\s+(?P<x>.+?)\s+(?:with|for|by)\s+.+$",
    r"^(?:turn|change|transform|convert|morph)\s+(?P<x>.+?)\s+(?:into|to)\s+.+$",
    r"^(?:put|place|add|attach|stick)\s+.+?\s+(?:on|onto|to|in|into|over|around|next to|beside)\s+(?P<x>.+)$",
    r"^(?:give)\s+(?P<x>him|her|them|the \w+)\s+.+$",
    r"^(?:remove|delete|erase|hide)\s+(?P<x>.+)$",
    r"^(?:make|paint|colou?r|dye|recolou?r)\s+(?P<x>.+?)\s+\S+$",
    r"^(?P<x>.+?)\s+(?:is|are|becomes|become|turns|turn)\s+.+$",
]
# Words that end the thing's name ("make the woman wear a hat" → "the woman").
_ENDS = r"\s+(?:wear|wears|wearing|look|looks|looking|be|with|to|into|so|and|that|who|which|while)\b.*$"


def target_phrase(instruction: str) -> str | None:
    """The thing an edit instruction changes, as words a segmenter can look for; None when
    the instruction is about the whole picture ("make it snow", "it is night")."""
    text = " ".join(instruction.lower().replace("’", "'").split()).strip(" .!?")
    text = re.sub(r"^(?:please|now|then|and)\s+", "", text)
    for pattern in _PATTERNS:
        match = re.match(pattern, text)
        if match:
            phrase = re.sub(_ENDS, "", match["x"]).strip(" ,.")
            phrase = re.sub(r"\s+(?:please|too|as well)$", "", phrase)
            return _named(_PRONOUNS.get(phrase, phrase))
    return _named(text)


def _named(phrase: str) -> str | None:
    if not phrase or phrase in _VAGUE or phrase.split()[0] in ("it", "everything", "all"):
        return None
    return phrase[:MAX_PHRASE].rsplit(" ", 1)[0] if len(phrase) > MAX_PHRASE else phrase


class Segmenter:
    """A text-promptable segmentation model (CLIPSeg) from a folder or hub id: a phrase → a
    mask per frame."""

    def __init__(self, source: str, device: str = "cpu", *, tiny: bool = False):
        from transformers import AutoProcessor, CLIPSegForImageSegmentation
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self.source, self.device, self.tiny = source, device, tiny
        self.processor = AutoProcessor.from_pretrained(source)
        self.model = CLIPSegForImageSegmentation.from_pretrained(source).to(device).eval()

    @property
    def label(self) -> str:
        return f"{TINY_SEGMENTER} ({TINY_LABEL})" if self.tiny else self.source

    def masks(self, frames: list[PIL.Image.Image], phrase: str | None) -> list[PIL.Image.Image] | None:
        """Per frame, white where `phrase` is (grown a little, and held over neighbouring
        frames so it does not flicker), black elsewhere; None when it is nowhere."""
        import numpy as np
        import torch
        from PIL import Image, ImageFilter

        if not phrase or not frames:
            return None
        width, height = frames[0].size
        probabilities = []
        for start in range(0, len(frames), BATCH):
            batch = frames[start:start + BATCH]
            inputs = self.processor(text=[phrase] * len(batch), images=batch, padding=True, return_tensors="pt")
            with torch.no_grad():
                logits = self.model(**inputs.to(self.device)).logits
            logits = logits.reshape(len(batch), *logits.shape[-2:]).float().sigmoid()
            resized = torch.nn.functional.interpolate(logits[:, None], size=(height, width), mode="bilinear",
                                                      align_corners=False)
            probabilities.append(resized[:, 0].cpu().numpy())
        found = np.concatenate(probabilities) > THRESHOLD
        if found.mean() < MIN_AREA:
            return None
        held = found.copy()
        held[1:] |= found[:-1]
        held[:-1] |= found[1:]
        size = 2 * max(1, round(GROW * min(width, height) / 2)) + 1  # odd, as MaxFilter needs
        grow = ImageFilter.MaxFilter(size)
        return [Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), "L").filter(grow) for mask in held]


def load_segmenter(setting: str | None, models_dir: Path, device: str = "cpu") -> Segmenter | None:
    """The segmenter `REELBOT_SEGMENTER` names: a folder, a hub id, or `clipseg-tiny` (built
    in models_dir on first use); None when unset."""
    if not setting:
        return None
    if setting == TINY_SEGMENTER:
        folder = Path(models_dir) / TINY_SEGMENTER
        if not (folder / "config.json").exists():
            from .tiny import build_tiny_segmenter  # torch is only needed when building

            build_tiny_segmenter(folder)
        return Segmenter(str(folder), device, tiny=True)
    return Segmenter(setting, device)
