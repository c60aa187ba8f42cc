"""Prompt words for -motion and -camera: what every family is trained to follow.

Both LTX-Video and Wan were trained on long, descriptive captions that name camera moves
("the camera slowly zooms in") and the amount of movement, so the flags become a
sentence after the member's prompt. Family-specific knobs for motion live in
inference/ltx.py and inference/wan.py; camera LoRAs (which still get the words: their
model cards ask for them) in inference/adapters.py.
"""

from __future__ import annotations

# -motion N → words appended to the prompt. 1 is the default and adds nothing, so a
# plain prompt renders as the model would.
MOTION_PHRASES = {
    0: "static shot, minimal movement",
    1: "",
    2: "steady, noticeable motion",
    3: "lively, energetic motion",
    4: "fast dynamic motion",
}

# -camera MOVE → words appended to the prompt. Pans are built from their directions
# ("pan up left" → "the camera pans up and left").
CAMERA_PHRASES = {
    "zoom in": "the camera slowly zooms in",
    "zoom out": "the camera slowly zooms out",
    "rotate cw": "the camera rotates clockwise",
    "rotate ccw": "the camera rotates counterclockwise",
    # Moves only a camera LoRA renders (core.flags.LORA_MOVES), worded as their cards describe them.
    "dolly in": "the camera dollies in, pushing forward towards the subject",
    "dolly out": "the camera dollies out, pulling back to reveal more of the scene",
    "dolly left": "the camera dollies to the left, revealing what is on the left",
    "dolly right": "the camera dollies to the right, revealing what is on the right",
    "jib up": "the camera rises on a jib, revealing what is above",
    "jib down": "the camera descends on a jib, revealing what is below",
}
PAN_DIRECTIONS = ("left", "right", "up", "down")
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


def normalize_camera(camera: str) -> str:
    """A camera move in canonical spelling ("Pan  UP left" → "pan up left"); ValueError
    for a move we do not know."""
    move = " ".join(camera.lower().split())
    if move in CAMERA_PHRASES:
        return move
    verb, *directions = move.split() or [""]
    if verb == "pan" and _valid_pan(directions):
        return move
    raise ValueError(f"unknown camera move {camera!r}")


def camera_phrase(camera: str | None) -> str:
    """Prompt words for a -camera move; ValueError for a move we do not know."""
    if not camera:
        return ""
    move = normalize_camera(camera)
    if move in CAMERA_PHRASES:
        return CAMERA_PHRASES[move]
    return "the camera pans " + " and ".join(move.split()[1:])


def _valid_pan(directions: list[str]) -> bool:
    if not 1 <= len(directions) <= 2 or not all(d in PAN_DIRECTIONS for d in directions):
        return False
    return len(directions) == 1 or directions[1] not in (directions[0], OPPOSITE[directions[0]])


def compose_prompt(prompt: str, camera: str | None, motion: int) -> str:
    """The member's prompt followed by camera and motion phrasing."""
    if motion not in MOTION_PHRASES:
        raise ValueError(f"motion must be 0..4, got {motion}")
    extras = ", ".join(phrase for phrase in (camera_phrase(camera), MOTION_PHRASES[motion]) if phrase)
    prompt = prompt.strip()
    if not extras:
        return prompt
    sentence = extras[0].upper() + extras[1:] + "."
    return f"{prompt.rstrip('.')}. {sentence}" if prompt else sentence
