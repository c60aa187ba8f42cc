"""The words members see: status lines, progress bars, ETAs, thread names, refusals, /help.

Pure text, no discord.py, so every line can be tested on its own. Discord limits that
matter here: message content 2,000 characters, thread names 100, embed titles 256.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

from core.catalog import MODELS
from core.contract import WHOLE_FRAME
from core.flags import CAMERA_MOVES, FPS_MAX, FPS_MIN, GS_MAX, GS_MIN, LEN_MAX, LEN_MIN, MOTION_MAX, MOTION_MIN

BAR_CELLS = 5
FULL, EMPTY = "▰", "▱"
CONTENT_MAX = 2000
THREAD_NAME_MAX = 100


def progress_bar(fraction: float, cells: int = BAR_CELLS) -> str:
    """`▰▰▰▱▱` for 0.6: whole cells only, so the bar never shows more than was done."""
    fraction = min(1.0, max(0.0, fraction if math.isfinite(fraction) else 0.0))
    filled = math.floor(fraction * cells + 1e-9)
    return FULL * filled + EMPTY * (cells - filled)


def eta_text(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    seconds = max(1, round(seconds))
    if seconds < 90:
        return f"~{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"~{minutes} min"
    return f"~{minutes / 60:.1f} h"


WAITING = "waiting for a worker"
DATABASE_AWAY = ("Reelbot can't reach its database right now, so this wasn't done; please try again in a moment. "
                 "(A clip already shown as queued will still be delivered.)")


def eta_range_text(low: float | None, high: float | None) -> str:
    """`~40 s` when the range is one value as shown, else `~40 s–2 min`."""
    shown_low = eta_text(low)
    if high is None or eta_text(high) == shown_low or shown_low == "unknown":
        return shown_low
    return f"{shown_low}–{eta_text(high).lstrip('~')}"


def ahead_text(position: int) -> str:
    ahead = max(0, position - 1)
    return f"{ahead} clip{'s' if ahead != 1 else ''} ahead"


MOVED_TO_RELAX = {
    "member": "relax lane: your fast time for today is used up (it comes back at midnight UTC)",
    "server": "relax lane: this server's fast hours for today are used up (they come back at midnight UTC)",
}


def status_queued(position: int | None, eta_seconds: float | None, waiting: bool = False, *,
                  eta_high: float | None = None, lane: str = "fast", moved: str | None = None,
                  rose_from: int | None = None) -> str:
    """`Queued · position 3 · 2 clips ahead · ETA ~40 s–2 min`: the clips ahead of it now, and
    an ETA range (the work ahead at the current rate, up to what other servers may still put
    ahead under the fair order). With no worker online for the model (starting, restarting,
    scaled to zero) the job waits on the queue all the same, and says so. A relax clip says
    so (and why, when its fast time was spent); a count that rose says that fairer clips
    went first."""
    head = "Queued" if lane == "fast" else "Queued · relax"
    if moved in MOVED_TO_RELAX:
        head = f"Queued · {MOVED_TO_RELAX[moved]}"
    if position is None:
        line = f"{head} · {WAITING}" if waiting else f"{head} · starting soon"
    elif waiting:
        line = f"{head} · position {position} · {ahead_text(position)} · {WAITING}"
    else:
        line = f"{head} · position {position} · {ahead_text(position)} · ETA {eta_range_text(eta_seconds, eta_high)}"
    if rose_from is not None and position is not None and position > rose_from:
        went = position - rose_from
        line += f" · {went} more ahead than before: the fair queue put quieter servers' or members' clips first"
    return line


def waiting(text: str | None) -> bool:
    return WAITING in (text or "")


STATUS_UPLOADING = "Rendered · uploading… (storage is slow to answer; the clip is kept safe meanwhile)"


def status_rendering(fraction: float) -> str:
    fraction = min(1.0, max(0.0, fraction))
    return f"Rendering {progress_bar(fraction)} {math.floor(fraction * 100)}%"


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.1f} s" if seconds < 100 else f"{seconds / 60:.1f} min"


def status_done(waited_seconds: float | None) -> str:
    """What the member waited, from their command to the post (the breakdown is in Clip details)."""
    return f"Done in {seconds_text(waited_seconds)} · the clip is below"


def status_failed(reason: str | None) -> str:
    return f"Failed · {reason or 'the render failed'}"


def status_cancelled() -> str:
    return "Cancelled · nothing more will be rendered"


def shortened_note(asked_seconds: float | None, seconds: float | None, model: str) -> str | None:
    """The line a clip shorter than asked carries (-len past what the model renders at this
    fps: Outcome.asked_seconds is set), or None when it is as long as asked."""
    if not asked_seconds or not seconds or seconds >= asked_seconds:
        return None
    return (f"Shorter than asked: {seconds:.1f} s of the {asked_seconds:g} s you asked for, the longest "
            f"{model} makes at this frame rate (a lower -fps gives more seconds).")


def status_withheld(told: bool) -> str:
    """A clip or input the image-safety check flagged, outside an age-restricted channel: the
    public line says no more than that (its author gets the reason privately)."""
    if told:
        return "Not posted · its author was told why, privately"
    return "Not posted · the image-safety check flagged it"


def status_undeliverable() -> str:
    return "Done · but Reelbot couldn't post the clip here (check its permissions); use `/show` to see it"


def thread_name(prompt: str, clip_id: str) -> str:
    """A thread title from the prompt's first line, or the clip id when there is no prompt."""
    text = " ".join((prompt or "").split())
    if not text:
        return f"clip {clip_id}"
    return text if len(text) <= THREAD_NAME_MAX else text[: THREAD_NAME_MAX - 1] + "…"


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def model_label(model: str) -> str:
    """Random-weight test models say so wherever they appear (PRODUCT.md, "Models and tasks")."""
    spec = MODELS.get(model)
    return spec.label if spec is not None else model


def code(text: str) -> str:
    """Text in `backticks`, with backticks inside it neutralised."""
    return f"`{text.replace('`', chr(0x2C8))}`" if text else ""


def names_list(names) -> str:
    names = [code(n) for n in names]
    return ", ".join(names) if names else "none right now"


def model_not_served(model: str, served: list[str], from_settings: bool) -> str:
    """A model this deployment does not serve (a `/settings` default, or a parent clip's model
    that was retired): `-model` itself is checked by the flag parser."""
    where = " (your default from `/settings`)" if from_settings else ""
    return (f"{code(model)}{where} isn't served here, so nothing was queued. "
            f"Models here: {names_list(served)}.")


def _way_out(capable: list[str], which: str, none: str) -> str:
    """` Models here that can: … — add -model X to your prompt.`, or what to do when none can."""
    if not capable:
        return f" {none}"
    return f" Models here {which}: {names_list(capable)} — add `-model {capable[0]}` to your prompt."


def task_refused(model: str, task: str, capable: list[str]) -> str:
    return f"{code(model)} can't do {task}." + _way_out(capable, "that can", "None of the models here can do that yet.")


def reference_refused(model: str, capable: list[str]) -> str:
    return (f"{code(model)} edits from your words alone and can't put in a picture."
            + _way_out(capable, "that can", "None of the models here can put in a picture yet: try the edit "
                                            "without the `image`."))


def edit_region_text(region: str) -> str:
    """What an edit was allowed to change, as its post says it."""
    if region == WHOLE_FRAME:
        return "the whole frame"
    return f"only “{truncate(region, 100)}” (found in every frame); the rest is kept"


def effect_refused(model: str, effect: str, task: str, tasks: list[str], capable: list[str]) -> str:
    """An effect the model lacks (or has for other tasks), with the models here that have it."""
    if tasks and task not in tasks:
        what = f"The {code(effect)} effect works on {' and '.join(tasks)} clips, not {task}"
        return what + (f" (try `/animate … effect:{effect}`)." if "image-to-video" in tasks else ".")
    return (f"{code(model)} has no {code(effect)} effect."
            + _way_out(capable, "that have it", "None of the models here have it for this kind of clip."))


def camera_lora_refused(model: str, move: str, capable: list[str]) -> str:
    return (f"`-camera {move}` is a move only a camera LoRA makes, and {code(model)} has none for it."
            + _way_out(capable, "with that LoRA", "None of the models here have it: try a move in words, "
                                                  "e.g. `-camera zoom in`."))


def loop_refused(model: str, task: str, capable: list[str]) -> str:
    return (f"{code(model)} can't make {task} clips that loop (`-loop`)."
            + _way_out(capable, "that can", "None of the models here can loop this kind of clip."))


def keyframes_refused(model: str, pictures: int, capable: list[str]) -> str:
    return (f"{code(model)} takes a first and a last picture only, not {pictures}."
            + _way_out(capable, f"that take {pictures}", "None of the models here take more than two: "
                                                        "leave out the `between` pictures."))


def camera_text(move: str, lora: bool) -> str:
    """How a clip's -camera move was made, as its post says it."""
    return f"{move} · through the model's camera LoRA" if lora else f"{move} · through the prompt's words"


def effect_text(effect: str, trigger: str, strength: float) -> str:
    shown = f" · trigger words {code(truncate(trigger, 60))}" if trigger else ""
    return f"{effect} (LoRA at {strength:g}{shown})"


def sound_refused(model: str, capable: list[str]) -> str:
    return (f"{code(model)} makes silent clips, so `-sound` can't be done."
            + _way_out(capable, "that make sound", "None of the models here make sound yet."))


def banned_term(term: str) -> str:
    return (f"Your prompt contains a blocked term ({code(term)}), so nothing was queued. "
            "Change the prompt and try again.")


def empty_prompt(example: str) -> str:
    return f"Write what the clip should show, e.g. {code(example)}."


def timestamp(moment: datetime, style: str = "R") -> str:
    """Discord's `<t:…:R>`: shown in each reader's own time zone ("in 5 minutes"). Naive = UTC."""
    return f"<t:{int(moment.replace(tzinfo=moment.tzinfo or timezone.utc).timestamp())}:{style}>"


def theme_entered(words: str, number: int, most: int, ends_at: datetime) -> str:
    """The private note under a clip entered with -theme."""
    return (f"🎬 Your clip is entered in the theme “{words}” (entry {number} of {most}). Other members' 👍 count "
            f"until it ends {timestamp(ends_at)}; deleting the clip withdraws it.")


HELP = f"""**Make a clip**: `/create a fox running through snow -ar 16:9 -len 4`
Attach an `image` to animate it, or a `video` to restyle it. `/animate`, `/keyframes` and `/extend` \
do the same from a picture, two to five pictures (`between1`–`3` in order, evenly spaced) or one of your \
clips. `/scene` puts up to three pictures (characters, objects, places) in one clip. `/lipsync` makes a \
face speak an audio file or typed words. `/effects` lists the effects (`/animate … effect:squish`).
**Change what is in a video**: `/edit video: … prompt: make the jacket red` (or `clip:` one of the clips), \
with an `image` of something to put in. The edit keeps the video's motion, length and fps.

**Flags** go after the prompt (`-x` and `--x` are the same):
`-ar W:H` aspect ratio, e.g. 16:9, 9:16, 1:1, 21:9 (from 1:3 to 3:1)
`-fps N` frames per second, {FPS_MIN}–{FPS_MAX} (default 24)
`-len S` length in seconds, {LEN_MIN}–{LEN_MAX} (default: the model's, about 5)
`-motion N` how much things move, {MOTION_MIN}–{MOTION_MAX} (default 1)
`-gs X` guidance: how closely to follow the prompt, {GS_MIN}–{GS_MAX}
`-neg TEXT` what to keep out, e.g. `-neg "blurry, text"`
`-seed N` the same seed and prompt give the same clip
`-camera MOVE` {", ".join(m for m in CAMERA_MOVES if m.count(" ") < 2)}; two pans combine, e.g. `pan up left`; \
and LoRA moves such as `dolly in`, `jib down` (`/effects`)
`-effect NAME` an effect, e.g. `-effect squish` (`/effects` lists them) · `-loop` ends where it begins
`-model NAME` which model renders (`/queue` lists them)
`-private` the clip comes only to you and stays out of galleries
`-sound` a clip with sound (models that make it: `/queue`) · `-mute` no sound track
`-theme` enters the clip in the server's current theme (`/theme` shows it; not with `-private`)
`-relax` waits behind fast clips (never forever) and costs no fast GPU time · `-fast` the default (`/settings lane` changes it; `/me` shows your fast time left)

**Examples**
`/create a paper boat on a rainy street -ar 9:16 -camera zoom in`
`/create neon city at night, drone shot -len 8 -motion 3 -seed 42`
`/create a bowl of ramen, steam rising -neg "text, watermark" -private`

**Buttons** on a finished clip: 🔁 Retry (new seed) · 🔀 Remix (edit the prompt) · ⏩ Extend · ✏️ Edit · 👍 Upvote \
· 🗑 Delete. In a clip's Apps menu, **Clip details** shows you how it was made and how it measured.
`/cancel` stops your newest job, `/me` shows your quota, `/settings` sets your default flags.
`/theme` shows the server's theme: its words, the time left, how to enter and the leading entries; 👍 on \
entries are the votes (not your own)."""
