"""What one render will do, decided by `Renderer.plan` before any pipeline runs: the type the
family modules (ltx.py, ltx2.py, wan.py, lucy.py) turn into pipeline arguments. It sits below
both so that neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import PIL.Image

    from .audio import Track


@dataclass
class Plan:
    """What one render will do, decided before any pipeline runs."""

    task: str
    pipeline: str  # diffusers class name
    width: int
    height: int
    fps: int  # of the clip
    model_fps: float  # the rate the model renders at (the clip's, or the model's native)
    model_frames: int  # frames the pipeline renders, an extend's lead-in included
    output_frames: int  # frames the clip has
    skip: int  # leading frames dropped: an extend's lead-in, which repeats the parent
    motion: int
    keep: int | None = None  # frames kept after the skip (None: all): a lip-sync ends with its track
    image: PIL.Image.Image | None = None  # the first frame (image-to-video, keyframes, a loop's)
    last_image: PIL.Image.Image | None = None  # the last frame (keyframes; a loop's: the first again)
    between: list | None = None  # keyframes: (frame index, picture) pairs between the first and the last
    video: list | None = None  # video-to-video and edit source at model_fps, model_frames long
    context: list | None = None  # extend: the parent's last frames at model_fps
    # Reference pictures (VACE's reference_images): an edit's object to put in, a scene's ingredients.
    references: list | None = None
    mask: list | None = None  # masked edits: per frame, white where the edit may change it
    edit_region: str | None = None  # what the mask covers: a phrase, or WHOLE_FRAME
    lead_in_audio: Track | None = None  # extend: the parent's sound under those frames
    audio: Track | None = None  # lip-sync: the member's track, as long as the clip
    loop: bool = False  # -loop: the last frame pinned to the first, the closing frame dropped after

    def pinned(self) -> list[tuple[int, PIL.Image.Image]]:
        """The pictures the clip must pass through, by frame index (of the model's frames): the
        first at 0, keyframes' in-between pictures, the last at the last frame."""
        pinned = [(0, self.image)] if self.image is not None else []
        pinned += list(self.between or [])
        if self.last_image is not None:
            pinned.append((self.model_frames - 1, self.last_image))
        return pinned
