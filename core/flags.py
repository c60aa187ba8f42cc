"""Flags inside a prompt, Pika-style: ``a fox running through snow -ar 16:9 -seed 7``.

`parse_prompt` splits what a member typed into the prompt text and checked `Flags`.
Every problem comes back as a `FlagError`, never as an exception, so the bot can
answer it privately and queue nothing. `format_flags` writes flags back in canonical
form, and parsing ``prompt + " " + format_flags(flags)`` gives the same `Request`
again: the Remix modal and the result post rely on that.

What counts as a flag
---------------------
The text is split on whitespace into words. A word is a flag when it is one or two
ASCII hyphens followed by ASCII letters only: ``-ar``, ``--AR``, ``-sead``. Known names
are flags; any other such word is an error with a "did you mean". A known name typed
with an em or en dash (``—ar``: phones turn ``--`` into ``—``) is a flag too, while
other dash words (``—and``) stay prose. So "well-lit", "sci-fi", "x - y",
"-5 degrees" and "-v2" stay in the prompt. A known flag glued to its value
(``-fps24``, ``--seed=3``) is an error asking for a space, so it cannot slip into the
prompt unnoticed.

The prompt is every word before the first flag. A flag's value is every word up to
the next flag, or one "quoted" string (straight or curly quotes) when the value starts
with a quote; flags are not looked for inside the quotes. Quotes in the prompt itself
are plain text (a 12" record must not swallow the flags after it).

Switches take no value: ``-private``, ``-sound`` (a clip with sound), ``-mute`` (no
sound track), ``-loop`` (the clip ends where it begins) and ``-theme`` (enter the clip in the
server's current theme; whether one runs is the bot's check). ``-sound`` and ``-mute`` together
contradict each other and are refused; whether the model can make sound (or loop) is the
bot's check, not the parser's. ``-relax`` and ``-fast`` choose the lane (`Flags.lane`); both
at once are refused too.

``-effect NAME`` names an effect (a LoRA of some model, core/catalog.py's adapters); given the
deployment's effects, a name it lacks is refused with a "did you mean". ``-camera`` takes the
word moves below and the moves that only a camera LoRA renders (``dolly in``, ``jib down`` …);
which models have which LoRA is the bot's check.

This module is pure: no I/O, nothing heavier than pydantic.
"""

from __future__ import annotations

import bisect
import difflib
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.catalog import AdapterKind, adapters_of

# The accepted ranges, shared by the parser, its messages and the `Flags` model.
AR_RATIO_MAX = 3  # W:H from 1:3 to 3:1
AR_SIDE_MAX = 10_000  # keeps "W:H" small enough to read, and ints small enough to parse
FPS_MIN, FPS_MAX = 8, 30
LEN_MIN, LEN_MAX = 1, 10
MOTION_MIN, MOTION_MAX = 0, 4
GS_MIN, GS_MAX = 1, 25
SEED_MIN, SEED_MAX = 0, 2**32 - 1

# In the order of the /help table.
KNOWN_FLAGS = ("ar", "fps", "len", "motion", "gs", "neg", "seed", "camera", "model", "private", "sound", "mute",
               "effect", "loop", "theme", "relax", "fast")
# The flags that take no value.
SWITCHES = ("private", "sound", "mute", "loop", "theme")
# The lanes of the fair queue (core/fair.py), each a switch that sets `Flags.lane`.
LANES = ("fast", "relax")

# Short values first and free text near the end, so the rendered line reads easily.
_FORMAT_ORDER = ("ar", "fps", "len", "motion", "gs", "seed", "camera", "effect", "model", "neg", "private", "sound",
                 "mute", "loop", "theme", "relax", "fast")

# The `Flags` field behind each flag name.
_FIELD = {name: name for name in KNOWN_FLAGS} | {"len": "length", "relax": "lane", "fast": "lane"}

CAMERA_MOVES = (
    "zoom in", "zoom out",
    "pan up", "pan down", "pan left", "pan right",
    "pan up left", "pan up right", "pan down left", "pan down right",
    "rotate cw", "rotate ccw",
)
# Moves only a camera LoRA renders (the catalog's camera adapters): a model without that LoRA
# cannot do them in words.
LORA_MOVES = tuple(adapters_of(AdapterKind.CAMERA))
_VERTICAL, _HORIZONTAL = ("up", "down"), ("left", "right")


# --- Results -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FlagError:
    """Why a prompt was refused, in words a member understands."""

    flag: str | None  # "-fps"; None when the problem is not one flag (e.g. the prompt's length)
    message: str  # "`-fps 60` is out of range: use a whole number from 8 to 30."
    suggestion: str | None = None  # "did you mean `-seed`?"

    def __str__(self) -> str:
        if not self.suggestion:
            return self.message
        return f"{self.message} {self.suggestion[:1].upper()}{self.suggestion[1:]}"


class Flags(BaseModel):
    """Checked flags. None (or False for a switch) means "not given"."""

    # Unknown keys are ignored so that a payload from a newer bot still loads in an
    # older worker during a rolling deploy.
    model_config = ConfigDict(frozen=True, extra="ignore")

    ar: tuple[int, int] | None = None
    fps: int | None = Field(default=None, ge=FPS_MIN, le=FPS_MAX)
    length: float | None = Field(default=None, ge=LEN_MIN, le=LEN_MAX)
    motion: int | None = Field(default=None, ge=MOTION_MIN, le=MOTION_MAX)
    gs: float | None = Field(default=None, ge=GS_MIN, le=GS_MAX)
    neg: str | None = None
    seed: int | None = Field(default=None, ge=SEED_MIN, le=SEED_MAX)
    camera: str | None = None
    model: str | None = None
    private: bool = False
    sound: bool = False  # -sound: the member wants sound (refused for a model that makes none)
    mute: bool = False  # -mute: no sound track, even from a model that makes one
    effect: str | None = None  # -effect NAME: an effect LoRA of the model (core.catalog.Adapter)
    loop: bool = False  # -loop: the clip ends where it begins
    # -theme: enter the clip in the server's current theme. An act, not a way to render: the bot
    # records the entry (core/themes.py) and stores the clip's flags without it.
    theme: bool = False
    lane: Literal["fast", "relax"] | None = None  # -fast / -relax (None: the member's /settings, else fast)

    # The validators below hold stored or hand-built flags to what the parser accepts,
    # so `format_flags` round-trips for every valid `Flags`.

    @field_validator("ar")
    @classmethod
    def _valid_ar(cls, ar: tuple[int, int] | None) -> tuple[int, int] | None:
        if ar is None:
            return None
        reduced = _reduce_ratio(*ar)
        if reduced is None:
            raise ValueError(f"aspect ratio {ar[0]}:{ar[1]} is out of range")
        return reduced

    @field_validator("camera")
    @classmethod
    def _valid_camera(cls, camera: str | None) -> str | None:
        if camera is None:
            return None
        move = _camera_move(camera.lower().split())
        if move is None:
            raise ValueError(f"unknown camera move {camera!r}")
        return move

    @field_validator("effect")
    @classmethod
    def _valid_effect(cls, effect: str | None) -> str | None:
        if effect is not None and not _EFFECT_NAME.fullmatch(effect):
            raise ValueError(f"{effect!r} is not an effect name")
        return effect

    @field_validator("neg")
    @classmethod
    def _valid_neg(cls, neg: str | None) -> str | None:
        if neg is None:
            return None
        neg = _collapse(_clean(neg))
        if not neg or not _neg_renders(neg):
            raise ValueError("negative prompt is empty or cannot be written as a flag")
        return neg

    @field_validator("model")
    @classmethod
    def _valid_model(cls, model: str | None) -> str | None:
        if model is not None and not _MODEL_NAME.fullmatch(model):
            raise ValueError(f"{model!r} is not a model name")
        return model

    @model_validator(mode="after")
    def _not_both_sound_and_mute(self) -> Flags:
        if self.sound and self.mute:
            raise ValueError("-sound and -mute contradict each other")
        return self

    def to_dict(self) -> dict:
        """JSON-safe, every key present (None when not given); `ar` as [W, H]."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict) -> Flags:
        """Load stored flags; raises pydantic's ValidationError on bad data."""
        return cls.model_validate(data)

    def merged_over(self, defaults: Flags) -> Flags:
        """These flags, with a member's /settings defaults where a flag was not given."""
        given = {name: value for name, value in self if value is not None}
        # `private` has no "not given" state: a default of on cannot be turned off per prompt.
        given["private"] = self.private or defaults.private
        return defaults.model_copy(update=given)


class Request(BaseModel):
    """A prompt and its flags. An empty prompt is returned as "": callers decide."""

    model_config = ConfigDict(frozen=True)

    prompt: str = ""
    flags: Flags = Flags()

    def to_text(self) -> str:
        """The canonical text a member could type to get this request again."""
        return " ".join(part for part in (self.prompt, format_flags(self.flags)) if part)


# --- Parsing -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Limits:
    max_prompt_chars: int
    models: Sequence[str] | None
    effects: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class _RawFlag:
    name: str  # lower-case, known
    value: str | None  # None when nothing follows the flag


def parse_prompt(
    text: str, *, max_prompt_chars: int = 1500, models: Sequence[str] | None = None,
    effects: Sequence[str] | None = None,
) -> Request | FlagError:
    """Split `text` into a prompt and checked flags. Never raises.

    `models`, when given, are the model names `-model` may name (matched
    case-insensitively, returned as spelled in `models`); `effects`, the effect names
    `-effect` may name (the deployment's).
    """
    if not isinstance(text, str):
        return FlagError(None, "The prompt must be text.")
    split = _split(_clean(text))
    if isinstance(split, FlagError):
        return split
    prompt, raw_flags = split
    if len(prompt) > max_prompt_chars:
        return _too_long("Your prompt", len(prompt), max_prompt_chars, None)
    flags = _check_flags(raw_flags, _Limits(max_prompt_chars, models, effects))
    if isinstance(flags, FlagError):
        return flags
    return Request(prompt=_visible_or_empty(prompt), flags=flags)


# Characters with no meaning in a prompt: C0/C1 controls, lone surrogates (they cannot
# even be encoded to send on), zero-width spaces and BOMs, and the bidi controls, which
# can make a prompt display as something other than what it says.
_DROPPED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200b\u2060\ufeff\u202a-\u202e\u2066-\u2069]")
_WHITESPACE = re.compile(r"\s")  # same set as str.isspace: newlines, NBSP, ideographic space …


def _clean(text: str) -> str:
    # Whitespace becomes a space first so "cat\n-ar 1:1" still has a flag after a space;
    # NFC comes last so nothing removed afterwards can leave text un-normalised.
    text = _WHITESPACE.sub(" ", text)
    return unicodedata.normalize("NFC", _DROPPED.sub("", text))


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _visible_or_empty(prompt: str) -> str:
    # A prompt of only zero-width joiners and the like says nothing: report it as "".
    if all(unicodedata.category(ch) == "Cf" for ch in prompt):
        return ""
    return prompt


_WORD = re.compile(r"[^ ]+")  # after _clean the only whitespace left is " "
_FLAG_WORD = re.compile(r"(--?|[—–])([A-Za-z]+)")
_GLUED_FLAG = re.compile(r"--?([A-Za-z]+)[0-9=:]")
_QUOTES = "\"“”„‟"
_QUOTE = re.compile(f"[{_QUOTES}]")


def _flag_name(word: str) -> str | None:
    """The lower-case name when `word` is written as a flag (known or not), else None."""
    match = _FLAG_WORD.fullmatch(word)
    if match is None:
        return None
    dash, name = match.group(1), match.group(2).lower()
    if dash not in ("-", "--") and name not in KNOWN_FLAGS:
        return None  # an em dash before a word is prose, not a misspelt flag
    return name


def _glued_flag(word: str) -> str | None:
    """The name when `word` is a known flag with its value stuck on: "-fps24"."""
    match = _GLUED_FLAG.match(word)
    if match is None or match.group(1).lower() not in KNOWN_FLAGS:
        return None
    return match.group(1).lower()


def _ends_text(word: str) -> bool:
    """Whether `word` ends the prompt or the value before it."""
    return _flag_name(word) is not None or _glued_flag(word) is not None


def _split(text: str) -> tuple[str, list[_RawFlag]] | FlagError:
    """The prompt and the flags as written, with flag names and quotes checked."""
    words = list(_WORD.finditer(text))
    first = next((i for i, w in enumerate(words) if _ends_text(w.group())), len(words))
    prompt = " ".join(w.group() for w in words[:first])
    raw_flags: list[_RawFlag] = []
    i = first
    while i < len(words):
        word = words[i].group()
        if not _ends_text(word):  # only after a quoted value: `-neg "a" b`
            return _text_after_quote(raw_flags[-1].name, word)
        name = _flag_name(word)
        if name is None:
            return _glued_error(word)
        if name not in KNOWN_FLAGS:
            return _unknown_flag(word, name)
        read = _read_value(text, words, i + 1, name)
        if isinstance(read, FlagError):
            return read
        value, i = read
        raw_flags.append(_RawFlag(name, value))
    return prompt, raw_flags


def _read_value(text: str, words: list[re.Match], start: int, name: str) -> tuple[str | None, int] | FlagError:
    """The value after a flag and the index of the word after it."""
    if start < len(words) and words[start].group()[0] in _QUOTES:
        return _read_quoted(text, words, start, name)
    end = start
    while end < len(words) and not _ends_text(words[end].group()):
        end += 1
    value = " ".join(w.group() for w in words[start:end])
    return (value or None), end


def _read_quoted(text: str, words: list[re.Match], start: int, name: str) -> tuple[str, int] | FlagError:
    opening = words[start].start()
    closing = _QUOTE.search(text, opening + 1)
    if closing is None:
        return FlagError(f"-{name}", f"`-{name}` has an opening quote but no closing quote.")
    after = closing.end()
    if after < len(text) and text[after] != " ":
        trailing = _WORD.match(text, after).group()
        return FlagError(
            f"-{name}", f"`-{name}` has `{_show(trailing)}` stuck to its closing quote: put a space after the quote."
        )
    value = _collapse(text[opening + 1 : closing.start()])
    return value, bisect.bisect_left(words, after, key=lambda w: w.start())


def _check_flags(raw_flags: list[_RawFlag], limits: _Limits) -> Flags | FlagError:
    values: dict[str, object] = {}
    contradiction = _lane_given_twice(raw_flags)
    if contradiction is not None:
        return contradiction
    for raw in raw_flags:
        if _FIELD[raw.name] in values:
            return FlagError(f"-{raw.name}", f"`-{raw.name}` is given twice: give each flag once.")
        value = _VALUE_CHECKS[raw.name](raw.value, limits)
        if isinstance(value, FlagError):
            return value
        values[_FIELD[raw.name]] = value
    if values.get("sound") and values.get("mute"):
        return FlagError("-mute", "`-sound` and `-mute` contradict each other: give one of them (or neither).")
    return Flags(**values)


def _lane_given_twice(raw_flags: list[_RawFlag]) -> FlagError | None:
    lanes = [raw.name for raw in raw_flags if raw.name in LANES]
    if len(set(lanes)) > 1:
        return FlagError(f"-{lanes[1]}", "`-fast` and `-relax` contradict each other: give one of them (or neither).")
    return None


# --- Flag values -------------------------------------------------------------------

_INT = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: "٣" is not a number here
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")  # no exponents, nan or inf
_INT_DIGITS_MAX = 30  # longer is surely out of range; int() of huge strings is slow or refused


def _whole_number(flag: str, value: str | None, low: int, high: int, example: str) -> int | FlagError:
    accepted = f"use a whole number from {low} to {high}"
    if value is None:
        return _missing(flag, accepted, example)
    if not _INT.fullmatch(value):
        return FlagError(flag, f"`{flag} {_show(value)}` isn't a whole number: {accepted}, e.g. `{flag} {example}`.")
    number = int(value) if len(value) <= _INT_DIGITS_MAX else None
    if number is None or not low <= number <= high:
        return _out_of_range(flag, value, accepted)
    return number


def _number(flag: str, value: str | None, low: int, high: int, what: str, example: str) -> float | FlagError:
    accepted = f"use {what} from {low} to {high} (decimals allowed)"
    if value is None:
        return _missing(flag, accepted, example)
    if not _NUMBER.fullmatch(value):
        return FlagError(flag, f"`{flag} {_show(value)}` isn't a number: {accepted}, e.g. `{flag} {example}`.")
    number = float(value)  # a huge literal becomes inf, which the range check refuses
    if not (math.isfinite(number) and low <= number <= high):
        return _out_of_range(flag, value, accepted)
    return number


def _check_fps(value: str | None, limits: _Limits) -> int | FlagError:
    return _whole_number("-fps", value, FPS_MIN, FPS_MAX, "24")


def _check_motion(value: str | None, limits: _Limits) -> int | FlagError:
    return _whole_number("-motion", value, MOTION_MIN, MOTION_MAX, "2")


def _check_seed(value: str | None, limits: _Limits) -> int | FlagError:
    return _whole_number("-seed", value, SEED_MIN, SEED_MAX, "7")


def _check_length(value: str | None, limits: _Limits) -> float | FlagError:
    # "5s" is how people write seconds; accept it rather than refuse the obvious.
    if value is not None and value[-1:] in ("s", "S") and _NUMBER.fullmatch(value[:-1]):
        value = value[:-1]
    return _number("-len", value, LEN_MIN, LEN_MAX, "a number of seconds", "4.5")


def _check_gs(value: str | None, limits: _Limits) -> float | FlagError:
    return _number("-gs", value, GS_MIN, GS_MAX, "a number", "7.5")


_RATIO = re.compile(r"([0-9]+) ?: ?([0-9]+)")
_RATIO_LOOKALIKE = re.compile(r"([0-9]+) ?[xX×/] ?([0-9]+)")  # "16x9", "16/9"
_AR_ACCEPTED = (
    f"use W:H with whole numbers from 1 to {AR_SIDE_MAX} and a ratio between "
    f"1:{AR_RATIO_MAX} and {AR_RATIO_MAX}:1, e.g. `-ar 16:9` or `-ar 9:16`"
)


def _reduce_ratio(width: int, height: int) -> tuple[int, int] | None:
    """W:H reduced by their gcd (32:18 → 16:9), or None when out of range."""
    if not (1 <= width <= AR_SIDE_MAX and 1 <= height <= AR_SIDE_MAX):
        return None
    if width > AR_RATIO_MAX * height or height > AR_RATIO_MAX * width:
        return None
    divisor = math.gcd(width, height)
    return width // divisor, height // divisor


def _check_ar(value: str | None, limits: _Limits) -> tuple[int, int] | FlagError:
    if value is None:
        return _missing("-ar", _AR_ACCEPTED, "16:9")
    match = _RATIO.fullmatch(value)
    if match is None:
        return _not_a_ratio(value)
    sides = match.groups()
    # Digit count first: int() of a thousand-digit side is needless work.
    reduced = None if max(map(len, sides)) > 6 else _reduce_ratio(int(sides[0]), int(sides[1]))
    if reduced is None:
        return _out_of_range("-ar", value, _AR_ACCEPTED)
    return reduced


def _not_a_ratio(value: str) -> FlagError:
    lookalike = _RATIO_LOOKALIKE.fullmatch(value)
    suggestion = f"did you mean `-ar {lookalike[1]}:{lookalike[2]}`?" if lookalike else None
    return FlagError("-ar", f"`-ar {_show(value)}` isn't an aspect ratio: {_AR_ACCEPTED}.", suggestion)


def _camera_move(words: list[str]) -> str | None:
    """The canonical move for words like ["pan", "left", "up"], or None."""
    if len(words) == 3 and words[0] == "pan" and words[1] in _HORIZONTAL and words[2] in _VERTICAL:
        words = ["pan", words[2], words[1]]  # one spelling per move: vertical first
    move = " ".join(words)
    return move if move in CAMERA_MOVES or move in LORA_MOVES else None


def _check_camera(value: str | None, limits: _Limits) -> str | FlagError:
    accepted = (
        "use zoom in, zoom out, pan left/right/up/down (two pans that aren't opposite may "
        "combine, e.g. pan up left), rotate cw or rotate ccw"
    ) + (f", or a move some models have a camera LoRA for: {', '.join(LORA_MOVES)}" if LORA_MOVES else "")
    if value is None:
        return _missing("-camera", accepted, "zoom in")
    # "zoom-in" and "pan_left" are the same move spelt as one word.
    words = value.lower().replace("-", " ").replace("_", " ").split()
    move = _camera_move(words)
    if move is not None:
        return move
    if len(words) == 3 and words[0] == "pan" and set(words[1:]) in ({"left", "right"}, {"up", "down"}):
        return FlagError("-camera", f"`-camera {_show(value)}` combines opposite pans: {accepted}.")
    return FlagError("-camera", f"`-camera {_show(value)}` isn't a camera move: {accepted}.", _camera_hint(words))


# "clockwise" shares more letters with "ccw" than with "cw": difflib alone would
# suggest the opposite turn.
_CAMERA_WORD_HINTS = {"clockwise": "cw", "counterclockwise": "ccw", "anticlockwise": "ccw"}


def _camera_hint(words: list[str]) -> str | None:
    hinted = _camera_move([_CAMERA_WORD_HINTS.get(word, word) for word in words])
    if hinted is not None:
        return f"did you mean `-camera {hinted}`?"
    return _did_you_mean(" ".join(words), CAMERA_MOVES + LORA_MOVES, "-camera ")


def _check_neg(value: str | None, limits: _Limits) -> str | FlagError:
    if not value:  # nothing after it, or an empty ""
        return _missing("-neg", "write what to keep out of the clip", '"blurry, low quality"')
    if len(value) > limits.max_prompt_chars:
        return _too_long("The `-neg` text", len(value), limits.max_prompt_chars, "-neg")
    return value


# One word of letters, digits and the punctuation model ids use ("Lightricks/LTX-Video").
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,99}")


def _check_model(value: str | None, limits: _Limits) -> str | FlagError:
    if value is None:
        return _missing("-model", "name a model (`/queue` lists them)", "ltx-video")
    if not _MODEL_NAME.fullmatch(value):
        return FlagError(
            "-model", f"`-model {_show(value)}` isn't a model name: use one word, e.g. `-model ltx-video`."
        )
    if limits.models is None:
        return value
    # Names that can't be typed as one flag value can't be chosen, and keying on the
    # lower-case spelling is what makes the match case-insensitive.
    by_key = {name.lower(): name for name in limits.models if _MODEL_NAME.fullmatch(name)}
    if value.lower() in by_key:
        return by_key[value.lower()]
    served = ", ".join(f"`{name}`" for name in by_key.values()) or "none right now"
    return FlagError(
        "-model",
        f"`-model {_show(value)}` isn't a model served here: the models are {served}.",
        _did_you_mean(value.lower(), list(by_key), "-model ", by_key),
    )


_EFFECT_NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")  # one word: "squish", "cakeify"


def _check_effect(value: str | None, limits: _Limits) -> str | FlagError:
    if value is None:
        return _missing("-effect", "name an effect (`/effects` lists them)", "squish")
    name = value.lower()
    known = list(limits.effects) if limits.effects is not None else None
    if known is not None and name not in known:
        listed = ", ".join(f"`{effect}`" for effect in known) or "none on this server"
        return FlagError("-effect", f"`-effect {_show(value)}` isn't an effect here: the effects are {listed}.",
                         _did_you_mean(name, known, "-effect "))
    if not _EFFECT_NAME.fullmatch(name):
        return FlagError("-effect", f"`-effect {_show(value)}` isn't an effect name: use one word, e.g. "
                                    "`-effect squish` (`/effects` lists them).")
    return name


def _switch(flag: str):
    """The check of a flag that takes no value."""

    def check(value: str | None, limits: _Limits) -> bool | FlagError:
        if value is not None:
            shown = _show(value) or '""'  # an empty quoted value is still a value
            return FlagError(
                flag, f"`{flag}` takes no value, but `{shown}` follows it: put the prompt text before the flags."
            )
        return True

    return check


def _lane(name: str):
    """The check of `-fast` / `-relax`: a switch whose value is the lane's name."""
    check_switch = _switch(f"-{name}")

    def check(value: str | None, limits: _Limits) -> str | FlagError:
        checked = check_switch(value, limits)
        return checked if isinstance(checked, FlagError) else name

    return check


_VALUE_CHECKS = {
    "ar": _check_ar,
    "fps": _check_fps,
    "len": _check_length,
    "motion": _check_motion,
    "gs": _check_gs,
    "neg": _check_neg,
    "seed": _check_seed,
    "camera": _check_camera,
    "model": _check_model,
    "effect": _check_effect,
    **{name: _switch(f"-{name}") for name in SWITCHES},
    **{name: _lane(name) for name in LANES},
}


# --- Messages ----------------------------------------------------------------------

_SHOWN_CHARS = 40  # error messages go into a 2,000-character Discord message


def _show(text: str) -> str:
    """`text` made safe and short enough to quote inside `backticks`."""
    text = text.replace("`", "'")
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _missing(flag: str, accepted: str, example: str) -> FlagError:
    return FlagError(flag, f"`{flag}` needs a value: {accepted}, e.g. `{flag} {example}`.")


def _out_of_range(flag: str, value: str, accepted: str) -> FlagError:
    return FlagError(flag, f"`{flag} {_show(value)}` is out of range: {accepted}.")


def _too_long(what: str, length: int, limit: int, flag: str | None) -> FlagError:
    return FlagError(
        flag, f"{what} is {length:,} characters long: keep it to {limit:,} or fewer (flags don't count)."
    )


def _did_you_mean(
    typed: str, choices: Sequence[str], prefix: str, spelling: dict[str, str] | None = None
) -> str | None:
    # Only the first few dozen characters: a close match is never longer than that,
    # and difflib on a 100k-character word would be slow.
    close = difflib.get_close_matches(typed[:_SHOWN_CHARS], choices, n=1)
    if not close:
        return None
    choice = spelling[close[0]] if spelling else close[0]
    return f"did you mean `{prefix}{choice}`?"


# Spelled-out names people reach for, too far from the short ones for difflib.
# They are hints only: the contract's flags stay the one spelling that works.
_LONG_NAMES = {
    "negative": "neg", "aspect": "ar", "ratio": "ar", "guidance": "gs",
    "duration": "len", "seconds": "len", "framerate": "fps",
}


def _unknown_flag(word: str, name: str) -> FlagError:
    if name in _LONG_NAMES:
        suggestion = f"did you mean `-{_LONG_NAMES[name]}`?"
    else:
        suggestion = _did_you_mean(name, KNOWN_FLAGS, "-")
    if suggestion:
        return FlagError(_show(word), f"`{_show(word)}` isn't a flag.", suggestion)
    known = ", ".join(f"-{flag}" for flag in KNOWN_FLAGS)
    return FlagError(
        _show(word),
        f"`{_show(word)}` isn't a flag: the flags are {known}. If it belongs to your prompt, drop the dash.",
    )


def _text_after_quote(name: str, word: str) -> FlagError:
    return FlagError(
        f"-{name}",
        f"`-{name}` ends at its closing quote, but `{_show(word)}` follows it: put the prompt text before the flags.",
    )


def _glued_error(word: str) -> FlagError:
    match = _GLUED_FLAG.match(word)
    name, value = match.group(1).lower(), word[match.end(1) :].lstrip("=:")
    return FlagError(
        f"-{name}",
        f"`{_show(word)}` needs a space between the flag and its value.",
        f"did you mean `-{name} {_show(value)}`?",
    )


# --- Formatting --------------------------------------------------------------------

def format_flags(flags: Flags) -> str:
    """The flags as canonical text, e.g. `-ar 16:9 -fps 24 -seed 7 -neg "blurry"`; "" when none."""
    parts = []
    for name in _FORMAT_ORDER:
        value = getattr(flags, _FIELD[name])
        if name in LANES:
            if value == name:
                parts.append(f"-{name}")
        elif value is not None and value is not False:
            parts.append(_format_flag(name, value))
    return " ".join(parts)


def _format_flag(name: str, value: object) -> str:
    if name in SWITCHES:
        return f"-{name}"
    if name == "ar":
        return f"-ar {value[0]}:{value[1]}"
    if name == "neg":
        return f"-neg {_format_neg(value)}"
    if isinstance(value, float):
        return f"-{name} {_format_number(value)}"
    return f"-{name} {value}"


def _format_number(number: float) -> str:
    # "5" rather than "5.0"; otherwise repr, the shortest text that reads back exactly.
    return str(int(number)) if number.is_integer() else repr(number)


def _format_neg(neg: str) -> str:
    # Quoted when possible, so flag-like words inside it stay text. Text holding a quote
    # mark can only have come unquoted, and reads back the same way unquoted.
    return f'"{neg}"' if not _QUOTE.search(neg) else neg


def _neg_renders(neg: str) -> bool:
    """Whether `_format_neg(neg)` reads back as `neg`."""
    if not _QUOTE.search(neg):
        return True
    return neg[0] not in _QUOTES and not any(_ends_text(word) for word in neg.split(" "))
