"""Encoded clips waiting for storage: a bounded folder on the models volume.

A render is the expensive part of a clip and an upload the cheap part to try again. So an
encoded clip is written here (MP4, poster and the outcome it will publish) before it is
uploaded, and removed once storage has it. While storage is away (S3 or MinIO down) the job
tries again with backoff, holds its lease and says "uploading" in its status; if its worker
dies meanwhile, whichever worker takes the job next finds the clip here (the models volume
is shared by every worker pod) and uploads it instead of rendering it again.
The spool is bounded (REELBOT_SPOOL_MAX_BYTES): past that, a clip waits in memory only.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.contract import Outcome
from core.logging import get_logger
from worker.metrics import SPOOLED

log = get_logger("worker")
SPOOL_DIR = "spool"
FILES = ("clip.mp4", "poster.jpg", "outcome.json")


@dataclass
class Encoded:
    mp4: bytes
    poster: bytes
    encode_s: float = 0.0
    sound: bool = False  # the MP4 has an audio track


class Spool:
    def __init__(self, root: Path, max_bytes: int):
        self.root, self.max_bytes = root, max_bytes

    def put(self, clip_id: str, encoded: Encoded, outcome: Outcome) -> bool:
        """Keep the clip until `remove`; False (and nothing written) when it would pass the bound."""
        size = len(encoded.mp4) + len(encoded.poster)
        if self.used_bytes() + size > self.max_bytes:
            log.warning("spool full: this clip waits for storage in memory only", clip_id=clip_id,
                        used_bytes=self.used_bytes(), max_bytes=self.max_bytes)
            return False
        # Written whole into a folder of its own, then renamed: a reader never sees half a clip.
        partial = self.root / f".{clip_id}.{uuid.uuid4().hex}"
        partial.mkdir(parents=True)
        for name, data in zip(FILES, (encoded.mp4, encoded.poster, outcome.model_dump_json().encode())):
            (partial / name).write_bytes(data)
        self.remove(clip_id)
        try:
            partial.rename(self.root / clip_id)
        except OSError:  # another try of the same clip spooled it meanwhile: the same clip
            shutil.rmtree(partial, ignore_errors=True)
        SPOOLED.set(len(self.clips()))
        return True

    def get(self, clip_id: str) -> tuple[Encoded, Outcome] | None:
        folder = self.root / clip_id
        if not all((folder / name).is_file() for name in FILES):
            return None
        mp4, poster, outcome = ((folder / name).read_bytes() for name in FILES)
        outcome = Outcome.model_validate_json(outcome)
        return Encoded(mp4, poster, sound=bool(outcome.sound)), outcome

    def remove(self, clip_id: str) -> None:
        if (self.root / clip_id).exists():
            shutil.rmtree(self.root / clip_id, ignore_errors=True)
            SPOOLED.set(len(self.clips()))

    def used_bytes(self) -> int:
        if not self.root.exists():
            return 0
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def clips(self) -> list[str]:
        return sorted(p.name for p in self.root.glob("*") if p.is_dir() and not p.name.startswith("."))
