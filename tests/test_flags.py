"""Flags inside the prompt (PRODUCT.md, "Flags inside the prompt")."""

from __future__ import annotations

import math
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.flags import (
    CAMERA_MOVES,
    KNOWN_FLAGS,
    FlagError,
    Flags,
    Request,
    format_flags,
    parse_prompt,
)

MODELS = ["ltx-video", "ltx-video-distilled", "ltx-tiny"]


def ok(text: str, **kwargs) -> Request:
    result = parse_prompt(text, **kwargs)
    assert isinstance(result, Request), str(result)
    return result


def err(text: str, **kwargs) -> FlagError:
    result = parse_prompt(text, **kwargs)
    assert isinstance(result, FlagError), result
    return result


# --- Accepted values, boundaries included --------------------------------------------

@pytest.mark.parametrize(
    "text, field, value",
    [
        ("a fox -ar 16:9", "ar", (16, 9)),
        ("a fox -ar 9:16", "ar", (9, 16)),
        ("a fox -ar 1:1", "ar", (1, 1)),
        ("a fox -ar 21:9", "ar", (7, 3)),
        ("a fox -ar 32:18", "ar", (16, 9)),  # reduced by gcd
        ("a fox -ar 1920:1080", "ar", (16, 9)),
        ("a fox -ar 3:1", "ar", (3, 1)),  # boundary
        ("a fox -ar 1:3", "ar", (1, 3)),  # boundary
        ("a fox -ar 16 : 9", "ar", (16, 9)),
        ("a fox -fps 8", "fps", 8),
        ("a fox -fps 24", "fps", 24),
        ("a fox -fps 30", "fps", 30),
        ("a fox -fps 024", "fps", 24),
        ("a fox -len 1", "length", 1.0),
        ("a fox -len 10", "length", 10.0),
        ("a fox -len 4.5", "length", 4.5),
        ("a fox -len 5s", "length", 5.0),
        ("a fox -len 10.0", "length", 10.0),
        ("a fox -motion 0", "motion", 0),
        ("a fox -motion 4", "motion", 4),
        ("a fox -gs 1", "gs", 1.0),
        ("a fox -gs 7.5", "gs", 7.5),
        ("a fox -gs 25", "gs", 25.0),
        ("a fox -seed 0", "seed", 0),
        ("a fox -seed 7", "seed", 7),
        ("a fox -seed 4294967295", "seed", 4294967295),
        ("a fox -neg blurry", "neg", "blurry"),
        ("a fox -neg blurry,  low   quality", "neg", "blurry, low quality"),
        ('a fox -neg "blurry text"', "neg", "blurry text"),
        ("a fox -neg “curly quoted”", "neg", "curly quoted"),
        ("a fox -neg ”same mark both sides”", "neg", "same mark both sides"),
        ('a fox -neg "no -ar or -fps in here"', "neg", "no -ar or -fps in here"),
        ("a fox -camera zoom in", "camera", "zoom in"),
        ("a fox -camera zoom out", "camera", "zoom out"),
        ("a fox -camera pan left", "camera", "pan left"),
        ("a fox -camera pan down", "camera", "pan down"),
        ("a fox -camera pan up left", "camera", "pan up left"),
        ("a fox -camera pan left up", "camera", "pan up left"),  # one canonical order
        ("a fox -camera pan right down", "camera", "pan down right"),
        ("a fox -camera Rotate CW", "camera", "rotate cw"),
        ("a fox -camera rotate ccw", "camera", "rotate ccw"),
        ("a fox -camera zoom-in", "camera", "zoom in"),
        ('a fox -camera "pan up right"', "camera", "pan up right"),
        ("a fox -model anything-goes", "model", "anything-goes"),
        ("a fox -private", "private", True),
        ("a fox", "private", False),
        ("a fox -theme", "theme", True),
        ("a fox —theme -ar 1:1", "theme", True),
        ("a fox", "theme", False),
    ],
)
def test_accepted_values(text, field, value):
    assert getattr(ok(text).flags, field) == value


@pytest.mark.parametrize("text", ["a fox -fps 24", "a fox --fps 24", "a fox -FPS 24", "a fox --Fps 24"])
def test_double_dash_and_case_are_the_same_flag(text):
    assert ok(text) == Request(prompt="a fox", flags=Flags(fps=24))


def test_every_flag_together():
    request = ok(
        'a fox running through snow -ar 9:16 -fps 12 -len 3.5 -motion 2 -gs 9 '
        '-neg "blurry" -seed 42 -camera pan left up -model LTX-Tiny -private',
        models=MODELS,
    )
    assert request.prompt == "a fox running through snow"
    assert request.flags == Flags(
        ar=(9, 16), fps=12, length=3.5, motion=2, gs=9.0, neg="blurry", seed=42,
        camera="pan up left", model="ltx-tiny", private=True,
    )


def test_model_matches_the_served_names_case_insensitively():
    assert ok("a fox -model LTX-VIDEO", models=MODELS).flags.model == "ltx-video"


def test_neg_quoted_then_more_flags():
    request = ok('a fox -neg "quoted text" -seed 3')
    assert request.flags == Flags(neg="quoted text", seed=3)


def test_neg_unquoted_runs_to_the_next_flag():
    assert ok("a fox -neg dogs, cats -fps 12").flags == Flags(neg="dogs, cats", fps=12)


# --- What counts as a flag ----------------------------------------------------------

@pytest.mark.parametrize(
    "text, prompt",
    [
        ("a well-lit sci-fi city", "a well-lit sci-fi city"),
        ("x - y", "x - y"),
        ("thermometer at -5 degrees", "thermometer at -5 degrees"),
        ("a robot -v2 model", "a robot -v2 model"),
        ("a -HELLO- sign", "a -HELLO- sign"),
        ("a story —told in pictures", "a story —told in pictures"),  # em dash prose
        ("a 12\" record", "a 12\" record"),  # quotes in the prompt are plain text
        ("  lots   of\tspace\n\nhere  ", "lots of space here"),
        ("", ""),
        ("   ", ""),
        ("\u200d\u200d", ""),  # only zero-width joiners: nothing to see
        ("a\x00b\x07c", "abc"),  # controls stripped
        ("a\ud800b", "ab"),  # lone surrogate stripped
        ("cafe\u0301", "café"),  # NFC
        ("a\u202ereversed", "areversed"),  # bidi override stripped
        ("a\u200bb", "ab"),  # zero-width space stripped
        ("👨‍👩‍👧 family", "👨‍👩‍👧 family"),  # ZWJ in emoji kept
    ],
)
def test_prompt_text(text, prompt):
    assert ok(text) == Request(prompt=prompt)


@pytest.mark.parametrize("dash", ["—", "–"])
def test_em_and_en_dash_before_a_known_flag_is_a_flag(dash):
    # Phones turn "--" into an em dash.
    assert ok(f"a fox {dash}ar 9:16").flags.ar == (9, 16)


def test_flag_after_a_newline():
    assert ok("a fox\n-seed 3").flags.seed == 3


def test_prompt_is_everything_before_the_first_flag():
    assert ok("-seed 3").prompt == ""
    assert ok("a fox -seed 3").prompt == "a fox"


def test_text_after_a_flag_value_is_an_error_not_prompt():
    error = err("a fox -ar 16:9 running in snow")
    assert error.flag == "-ar"


# --- Errors ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, flag, words",
    [
        # out of range
        ("a -fps 60", "-fps", ["`-fps 60`", "out of range", "from 8 to 30"]),
        ("a -fps 7", "-fps", ["`-fps 7`", "out of range"]),
        ("a -fps 31", "-fps", ["out of range"]),
        ("a -fps -24", "-fps", ["out of range"]),
        ("a -fps " + "9" * 5000, "-fps", ["out of range", "…"]),
        ("a -len 0.99", "-len", ["out of range", "from 1 to 10"]),
        ("a -len 10.01", "-len", ["out of range"]),
        ("a -len " + "9" * 500, "-len", ["out of range"]),
        ("a -motion 5", "-motion", ["out of range", "from 0 to 4"]),
        ("a -motion -1", "-motion", ["out of range"]),
        ("a -gs 0.5", "-gs", ["out of range", "from 1 to 25"]),
        ("a -gs 25.5", "-gs", ["out of range"]),
        ("a -seed -1", "-seed", ["out of range", "from 0 to 4294967295"]),
        ("a -seed 4294967296", "-seed", ["out of range"]),
        ("a -ar 0:5", "-ar", ["`-ar 0:5`", "out of range", "1:3", "3:1"]),
        ("a -ar 16:0", "-ar", ["out of range"]),
        ("a -ar 1:100", "-ar", ["out of range"]),
        ("a -ar 31:10", "-ar", ["out of range"]),
        ("a -ar 20000:10000", "-ar", ["out of range"]),
        ("a -ar 1" + "0" * 5000 + ":1", "-ar", ["out of range"]),
        # wrong type
        ("a -fps fast", "-fps", ["`-fps fast`", "isn't a whole number"]),
        ("a -fps 24.5", "-fps", ["isn't a whole number"]),
        ("a -fps 1e400", "-fps", ["isn't a whole number"]),
        ("a -fps ٣٠", "-fps", ["isn't a whole number"]),  # Arabic-Indic digits
        ("a -fps ２４", "-fps", ["isn't a whole number"]),  # full-width digits
        ("a -seed 3.0", "-seed", ["isn't a whole number"]),
        ("a -motion high", "-motion", ["isn't a whole number"]),
        ("a -len five", "-len", ["isn't a number"]),
        ("a -len nan", "-len", ["isn't a number"]),
        ("a -gs inf", "-gs", ["isn't a number"]),
        ("a -gs 1e1", "-gs", ["isn't a number"]),
        ("a -gs 7,5", "-gs", ["isn't a number"]),
        ("a -ar wide", "-ar", ["isn't an aspect ratio"]),
        ("a -ar 16:9:1", "-ar", ["isn't an aspect ratio"]),
        ("a -ar -16:9", "-ar", ["isn't an aspect ratio"]),
        ("a -camera spin", "-camera", ["`-camera spin`", "isn't a camera move", "zoom in"]),
        ("a -camera pan left right", "-camera", ["opposite pans"]),
        ("a -camera pan up down", "-camera", ["opposite pans"]),
        ("a -camera pan left left", "-camera", ["isn't a camera move"]),
        ("a -camera pan up left right", "-camera", ["isn't a camera move"]),
        ("a -model two words", "-model", ["isn't a model name"]),
        ("a -model 🦊", "-model", ["isn't a model name"]),
        ("a -private yes", "-private", ["takes no value"]),
        ("a -private in the park", "-private", ["takes no value"]),
        ('a -private ""', "-private", ["takes no value", "`\"\"`"]),
        # missing values
        ("a -fps", "-fps", ["needs a value", "from 8 to 30"]),
        ("a -ar -fps 24", "-ar", ["needs a value"]),
        ("a -neg", "-neg", ["needs a value"]),
        ("a -neg   ", "-neg", ["needs a value"]),
        ('a -neg ""', "-neg", ["needs a value"]),
        ("a -neg -seed 3", "-neg", ["needs a value"]),
        ("a -camera", "-camera", ["needs a value"]),
        ("a -model", "-model", ["needs a value"]),
        # duplicates, however they are spelt
        ("a -fps 24 -fps 24", "-fps", ["given twice"]),
        ("a -seed 1 --SEED 2", "-seed", ["given twice"]),
        ("a -private -private", "-private", ["given twice"]),
        ("a -theme foxes", "-theme", ["takes no value"]),
        ("a -len 2 —len 3", "-len", ["given twice"]),
        # quotes
        ('a -neg "blurry', "-neg", ["opening quote but no closing quote"]),
        ('a -neg “blurry -seed 3', "-neg", ["no closing quote"]),
        ('a -neg "blurry"text -seed 3', "-neg", ["`text`", "space after the quote"]),
        ('a -neg "blurry" more -seed 3', "-neg", ["`more`", "before the flags"]),
    ],
)
def test_errors(text, flag, words):
    error = err(text)
    assert error.flag == flag
    for word in words:
        assert word in error.message
    assert len(str(error)) < 400  # fits comfortably in an ephemeral reply


@pytest.mark.parametrize(
    "text, suggestion",
    [
        ("a fox -sed 3", "did you mean `-seed`?"),
        ("a fox --sead 3", "did you mean `-seed`?"),
        ("a fox --fsp 24", "did you mean `-fps`?"),
        ("a fox -camra zoom in", "did you mean `-camera`?"),
        ("a fox -arr 16:9", "did you mean `-ar`?"),
        ("a fox -length 5", "did you mean `-len`?"),
        ("a fox -privat", "did you mean `-private`?"),
        ("a fox -modle ltx-video", "did you mean `-model`?"),
        ("a fox -NEGATIVE blurry", "did you mean `-neg`?"),
        ("a fox --guidance 7", "did you mean `-gs`?"),
        ("a fox -camera zoom inn", "did you mean `-camera zoom in`?"),
        ("a fox -camera rotate clockwise", "did you mean `-camera rotate cw`?"),
        ("a fox -camera rotate counterclockwise", "did you mean `-camera rotate ccw`?"),
        ("a fox -ar 16x9", "did you mean `-ar 16:9`?"),
        ("a fox -fps24", "did you mean `-fps 24`?"),
        ("a fox --seed=3", "did you mean `-seed 3`?"),
        ("a fox -model ltx-vdeo", "did you mean `-model ltx-video`?"),
    ],
)
def test_did_you_mean(text, suggestion):
    error = err(text, models=MODELS)
    assert error.suggestion == suggestion
    assert str(error).endswith(suggestion[0].upper() + suggestion[1:])


def test_unknown_flag_without_a_close_match_lists_the_flags():
    error = err("dance -like nobody is watching")
    assert error.suggestion is None
    assert "`-like` isn't a flag" in error.message
    assert all(f"-{name}" in error.message for name in KNOWN_FLAGS)


def test_unknown_model_lists_the_served_models():
    error = err("a fox -model sora", models=MODELS)
    assert error.flag == "-model"
    assert all(f"`{name}`" in error.message for name in MODELS)


def test_no_models_served():
    assert "none right now" in err("a fox -model ltx-video", models=[]).message


def test_flag_error_str():
    error = FlagError("-seed", "`-sed` isn't a flag.", "did you mean `-seed`?")
    assert str(error) == "`-sed` isn't a flag. Did you mean `-seed`?"
    assert str(FlagError("-fps", "No.")) == "No."


def test_backticks_in_values_do_not_break_the_message():
    error = err("a -fps `oops`")
    assert error.message.count("`") % 2 == 0


def test_first_problem_wins():
    assert err("a -fps 99 -seed x").flag == "-fps"
    assert err("a -sed 1 -fps 99").suggestion == "did you mean `-seed`?"


# --- Prompt length --------------------------------------------------------------------

def test_prompt_length_limit_counts_the_prompt_only():
    prompt = "x" * 1500
    assert ok(prompt + " -neg " + "y" * 100 + " -seed 3").prompt == prompt
    error = err("x" * 1501 + " -seed 3")
    assert error.flag is None
    assert "1,501" in error.message and "1,500" in error.message


def test_prompt_length_limit_is_configurable():
    assert ok("abcd", max_prompt_chars=4).prompt == "abcd"
    assert isinstance(parse_prompt("abcde", max_prompt_chars=4), FlagError)


def test_prompt_length_is_counted_after_collapsing_whitespace():
    assert ok("a" + " " * 5000 + "b", max_prompt_chars=3).prompt == "a b"


def test_neg_has_the_same_length_limit():
    assert err('a -neg "' + "n" * 1501 + '"').flag == "-neg"


# --- Strange input never raises -------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    [
        "a -fps 1e400",
        "a -len 1e400",
        "a -gs NaN",
        "a -ar 0:5",
        "a -ar 16:0",
        "a -ar 1:100",
        "a -seed ٣",
        "🦊🦊 -seed 🦊",
        "\x00" * 100 + "-fps 24",
        "a\ud800 -neg \udfff",
        "-\ud800fps 24",
        "x" * 100_000,
        "-neg " + "y" * 100_000,
        "-" + "a" * 100_000,
        "-a " * 30_000,
        '-neg "' + "z" * 100_000,
        "a -neg",
        'a -neg "',
        'a -neg "unterminated -seed 3',
        "a -ar 99999999999999999999999999999999999:1",
        "-- - --- -—- —",
        "a -fps " + "1" * 10_000,
        "a -seed " + "1" * 10_000,
    ],
)
def test_strange_input_gives_a_request_or_an_error(text):
    assert isinstance(parse_prompt(text), (Request, FlagError))


def test_not_a_string_is_an_error_not_an_exception():
    assert isinstance(parse_prompt(None), FlagError)  # type: ignore[arg-type]


# --- Flags: storage, defaults, formatting -------------------------------------------

def test_to_dict_is_json_safe_and_loads_back():
    flags = Flags(ar=(9, 16), fps=12, length=2.5, neg="blurry", seed=7, camera="pan up left", private=True)
    data = flags.to_dict()
    assert data == {
        "ar": [9, 16], "fps": 12, "length": 2.5, "motion": None, "gs": None, "neg": "blurry",
        "seed": 7, "camera": "pan up left", "model": None, "private": True, "sound": False, "mute": False,
        "effect": None, "loop": False, "theme": False, "lane": None,
    }
    assert Flags.from_dict(data) == flags
    assert Flags.from_dict({}) == Flags()


@pytest.mark.parametrize(
    "data",
    [{"fps": 60}, {"ar": [1, 100]}, {"ar": [0, 1]}, {"camera": "spin"}, {"neg": "  "}, {"seed": -1},
     {"gs": float("nan")}, {"length": float("inf")}, {"model": "two words"}, {"neg": '"a" -ar 1:1'}],
)
def test_from_dict_refuses_what_the_parser_refuses(data):
    with pytest.raises(ValidationError):
        Flags.from_dict(data)


def test_from_dict_normalises():
    assert Flags.from_dict({"ar": [32, 18], "camera": "pan left up"}) == Flags(ar=(16, 9), camera="pan up left")


def test_from_dict_ignores_unknown_keys():
    assert Flags.from_dict({"fps": 12, "from_a_newer_bot": 1}) == Flags(fps=12)


def test_flags_are_frozen():
    with pytest.raises(ValidationError):
        Flags().fps = 12  # type: ignore[misc]


def test_merged_over_fills_in_defaults_only_where_not_given():
    defaults = Flags(ar=(9, 16), fps=12, model="ltx-tiny", private=True)
    mine = Flags(fps=24, seed=3)
    assert mine.merged_over(defaults) == Flags(ar=(9, 16), fps=24, seed=3, model="ltx-tiny", private=True)
    assert Flags(private=True).merged_over(Flags()).private is True
    assert Flags().merged_over(Flags()) == Flags()


def test_format_flags_canonical_text():
    flags = Flags(ar=(16, 9), fps=24, seed=7, neg="blurry")
    assert format_flags(flags) == '-ar 16:9 -fps 24 -seed 7 -neg "blurry"'
    assert format_flags(Flags()) == ""
    assert format_flags(Flags(length=5.0, gs=7.5, private=True)) == "-len 5 -gs 7.5 -private"
    assert format_flags(Flags(private=True, sound=True, theme=True)) == "-private -sound -theme"


def test_neg_with_quote_marks_is_written_unquoted():
    request = ok('a fox -neg the word "cat" -seed 3')
    assert request.flags.neg == 'the word "cat"'
    assert format_flags(request.flags) == '-seed 3 -neg the word "cat"'


@pytest.mark.parametrize(
    "text",
    [
        "a fox -ar 32:18 -fps 24 -seed 7",
        'a fox -neg "no -ar here" -camera pan left up',
        "a fox -neg it's \"fine\" -len 2.25 -gs 12.125",
        "a fox —ar 9:16 -private -model LTX-Tiny",
        "a fox -effect Squish -loop -camera dolly-in",
        "-motion 0",
        "",
    ],
)
def test_format_flags_round_trips(text):
    request = ok(text, models=MODELS)
    again = ok(request.prompt + " " + format_flags(request.flags), models=MODELS)
    assert again == request
    assert ok(request.to_text(), models=MODELS) == request


def test_effect_names_an_effect_of_the_deployment_with_a_did_you_mean():
    effects = ["squish", "cakeify", "inflate"]
    assert ok("a fox -effect Inflate", effects=effects).flags.effect == "inflate"
    refused = parse_prompt("a fox -effect sqush", effects=effects)
    assert isinstance(refused, FlagError) and refused.flag == "-effect"
    assert "isn't an effect here" in refused.message and refused.suggestion == "did you mean `-effect squish`?"
    assert "none on this server" in parse_prompt("a fox -effect squish", effects=[]).message
    assert "needs a value" in parse_prompt("a fox -effect").message
    assert ok("a fox -effect anything").flags.effect == "anything"  # no list given: the bot checks later
    assert isinstance(parse_prompt("a fox -effect squish -effect melt"), FlagError)  # given twice


def test_loop_is_a_switch_and_lora_moves_are_camera_moves():
    from core.flags import LORA_MOVES

    assert ok("a fox -loop").flags.loop and "`-loop` takes no value" in parse_prompt("a fox -loop yes").message
    assert {"dolly in", "jib down"} <= set(LORA_MOVES)
    assert ok("a fox -camera Jib_Down").flags.camera == "jib down"
    assert parse_prompt("a fox -camera doly in").suggestion == "did you mean `-camera dolly in`?"
    assert "a move some models have a camera LoRA for" in parse_prompt("a fox -camera spin").message


# --- Properties ---------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

# Every character Python can hold, lone surrogates and controls included.
any_char = st.characters(codec=None, exclude_categories=[])
words = st.one_of(
    st.sampled_from(["a", "fox", "well-lit", "sci-fi", "-", "--", "—", "-5", "x-y", "🦊"]),
    st.sampled_from(['"', "“", "”", '12"', "-v2", "-like", "-fps24"]),
    st.text(any_char, min_size=1, max_size=8),
)
flag_words = st.builds(
    lambda dash, name, upper: dash + (name.upper() if upper else name),
    st.sampled_from(["-", "--", "—", "–", "---"]),
    st.sampled_from(KNOWN_FLAGS + ("sed", "fsp", "camra", "arr", "x", "length", "seeds")),
    st.booleans(),
)
values = st.one_of(
    st.integers(-10, 50).map(str),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(-30, 30, places=3).map(str),
    st.builds(lambda w, h: f"{w}:{h}", st.integers(-2, 40), st.integers(-2, 40)),
    st.sampled_from(CAMERA_MOVES + ("pan left up", "pan left right", "rotate", "zoom")),
    st.sampled_from(MODELS + ["LTX-TINY", "sora"]),
    st.builds(lambda q1, body, q2: q1 + body + q2, st.sampled_from(['"', "“", "”", ""]),
              st.text(any_char, max_size=12), st.sampled_from(['"', "”", "“", "", '"x'])),
    st.sampled_from(["٣", "２４", "1e400", "nan", "inf", "5s", ".5", "16x9", "-fps24", "--seed=3"]),
)
separators = st.sampled_from([" ", "  ", "\n", "\t", "\u00a0", "\u3000", "", " \x00 "])
pieces = st.lists(st.one_of(words, flag_words, values), max_size=14)
interleaved = st.builds(lambda ps, seps: "".join(p + s for p, s in zip(ps, seps * (len(ps) + 1))),
                        pieces, st.lists(separators, min_size=1, max_size=4))

# Mostly-valid values per flag, with near misses, so many examples parse to a Request
# with flags and the round trip is exercised on real values.
value_for = {
    "ar": st.builds(lambda w, h: f"{w}:{h}", st.integers(0, 70), st.integers(0, 70)),
    "fps": st.integers(6, 32).map(str),
    "len": st.one_of(st.floats(0.5, 11).map(repr), st.integers(0, 11).map(lambda n: f"{n}s")),
    "motion": st.integers(-1, 5).map(str),
    "gs": st.one_of(st.floats(0.5, 26).map(repr), st.integers(0, 26).map(str)),
    "neg": st.one_of(
        st.lists(words, min_size=1, max_size=4).map(" ".join),
        st.text(any_char, max_size=20).map(lambda body: f'"{body}"'),
        st.text(any_char, max_size=20).map(lambda body: f"“{body}”"),
    ),
    "seed": st.integers(-1, 2**32).map(str),
    "camera": st.sampled_from(CAMERA_MOVES + ("pan left up", "pan right down", "pan left right", "Zoom-In")),
    "model": st.sampled_from(MODELS + ["LTX-TINY", "sora"]),
    "private": st.just(""),
    "sound": st.just(""),
    "mute": st.sampled_from(["", "", "please"]),
    "effect": st.sampled_from(["squish", "Cakeify", "sqush", "two words", ""]),
    "loop": st.sampled_from(["", "", "forever"]),
    "theme": st.sampled_from(["", "", "foxes"]),
    "relax": st.sampled_from(["", "", "now"]),
    "fast": st.just(""),
}
one_flag = st.sampled_from(KNOWN_FLAGS).flatmap(
    lambda name: st.builds(
        lambda dash, upper, value: f"{dash}{name.upper() if upper else name} {value}",
        st.sampled_from(["-", "-", "--", "—"]), st.booleans(), value_for[name],
    )
)
flagged = st.builds(
    lambda prompt, flags, seps: prompt + seps + seps.join(flags),
    st.lists(words, max_size=6).map(" ".join),
    st.lists(one_flag, max_size=6),
    st.sampled_from([" ", "  ", "\n", " \t "]),
)

anything = st.one_of(st.text(any_char, max_size=200), interleaved, flagged)


def assert_well_formed(request: Request, max_prompt_chars: int = 1500) -> None:
    prompt, flags = request.prompt, request.flags
    assert len(prompt) <= max_prompt_chars
    assert prompt == " ".join(prompt.split())
    assert prompt == unicodedata.normalize("NFC", prompt)
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in prompt)
    if flags.ar is not None:
        w, h = flags.ar
        assert 1 <= w <= 3 * h and 1 <= h <= 3 * w and math.gcd(w, h) == 1
    assert flags.fps is None or (type(flags.fps) is int and 8 <= flags.fps <= 30)
    assert flags.length is None or (math.isfinite(flags.length) and 1 <= flags.length <= 10)
    assert flags.motion is None or (type(flags.motion) is int and 0 <= flags.motion <= 4)
    assert flags.gs is None or (math.isfinite(flags.gs) and 1 <= flags.gs <= 25)
    assert flags.seed is None or (type(flags.seed) is int and 0 <= flags.seed <= 2**32 - 1)
    assert flags.neg is None or (flags.neg and flags.neg == " ".join(flags.neg.split()))
    assert flags.camera is None or flags.camera in CAMERA_MOVES
    assert flags.model is None or flags.model in MODELS
    assert flags.private in (True, False)
    assert not (flags.sound and flags.mute)


@PROPERTY_SETTINGS
@given(anything)
def test_any_text_gives_a_well_formed_request_or_an_error(text):
    result = parse_prompt(text, models=MODELS)
    if isinstance(result, FlagError):
        assert result.message and isinstance(str(result), str)
        return
    assert_well_formed(result)
    again = parse_prompt(result.prompt + " " + format_flags(result.flags), models=MODELS)
    assert again == result


@PROPERTY_SETTINGS
@given(st.text(any_char, max_size=60), st.sampled_from(KNOWN_FLAGS), st.text(any_char, max_size=30))
def test_any_value_after_any_flag(prompt, flag, value):
    result = parse_prompt(f"{prompt} -{flag} {value}", models=MODELS)
    if isinstance(result, Request):
        assert_well_formed(result)
        assert parse_prompt(result.to_text(), models=MODELS) == result
    else:
        assert result.flag is None or result.flag.startswith("-")


def is_valid_neg(neg: str) -> bool:
    try:
        Flags(neg=neg)
    except ValidationError:
        return False
    return True


valid_flags = st.builds(
    Flags,
    ar=st.none() | st.tuples(st.integers(1, 60), st.integers(1, 60)).filter(lambda r: max(r) <= 3 * min(r)),
    fps=st.none() | st.integers(8, 30),
    length=st.none() | st.floats(1, 10),
    motion=st.none() | st.integers(0, 4),
    gs=st.none() | st.floats(1, 25),
    neg=st.none() | st.text(any_char, min_size=1, max_size=40).filter(is_valid_neg),
    seed=st.none() | st.integers(0, 2**32 - 1),
    camera=st.none() | st.sampled_from(CAMERA_MOVES),
    model=st.none() | st.sampled_from(MODELS),
    private=st.booleans(),
    lane=st.sampled_from([None, "fast", "relax"]),
)


@PROPERTY_SETTINGS
@given(valid_flags)
def test_every_valid_flags_round_trips_through_text(flags):
    assert parse_prompt("a fox " + format_flags(flags), models=MODELS) == Request(prompt="a fox", flags=flags)
    assert Flags.from_dict(flags.to_dict()) == flags


# --- -sound and -mute ---------------------------------------------------------------

@pytest.mark.parametrize(
    "text,sound,mute",
    [("a man says hello -sound", True, False), ("a quiet street -mute", False, True), ("a fox", False, False),
     ("waves --SOUND -ar 1:1", True, False), ("birds —mute -seed 3", False, True)],
)
def test_sound_and_mute_are_switches(text, sound, mute):
    request = parse_prompt(text)
    assert (request.flags.sound, request.flags.mute) == (sound, mute)
    assert parse_prompt(request.to_text()) == request


def test_sound_and_mute_together_are_refused_in_words():
    error = parse_prompt("a man says hello -sound -mute")
    assert isinstance(error, FlagError) and error.flag == "-mute"
    assert "`-sound` and `-mute` contradict" in error.message
    with pytest.raises(ValueError):
        Flags(sound=True, mute=True)


@pytest.mark.parametrize("flag", ["-sound", "-mute"])
def test_a_switch_takes_no_value(flag):
    error = parse_prompt(f"a fox {flag} loudly")
    assert isinstance(error, FlagError) and error.flag == flag and "takes no value" in error.message


@pytest.mark.parametrize("typo,meant", [("-sond", "-sound"), ("-muted", "-mute"), ("-sounds", "-sound")])
def test_misspelt_switches_get_a_did_you_mean(typo, meant):
    error = parse_prompt(f"a fox {typo}")
    assert isinstance(error, FlagError) and error.suggestion == f"did you mean `{meant}`?"


@PROPERTY_SETTINGS
@given(st.lists(st.sampled_from(["-sound", "--sound", "-mute", "--MUTE", "-private", "-seed 4", "-ar 1:1"]),
                max_size=5),
       st.lists(st.sampled_from(["a", "man", "says", "well-lit", "12\"", "🦊"]), min_size=1).map(" ".join))
def test_switches_parse_to_exactly_what_was_typed(flags, prompt):
    result = parse_prompt(" ".join([prompt, *flags]))
    names = [flag.lstrip("-").split()[0].lower() for flag in flags]
    if len(names) != len(set(names)):
        assert isinstance(result, FlagError) and "given twice" in result.message
    elif "sound" in names and "mute" in names:
        assert isinstance(result, FlagError) and "contradict" in result.message
    else:
        assert (result.flags.sound, result.flags.mute) == ("sound" in names, "mute" in names)
        assert parse_prompt(result.to_text()) == result


@pytest.mark.parametrize("text, lane", [("a fox -relax", "relax"), ("a fox --FAST -ar 9:16", "fast"),
                                        ("a fox —relax", "relax"), ("a fox", None)])
def test_relax_and_fast_choose_the_lane(text, lane):
    result = parse_prompt(text)
    assert result.flags.lane == lane
    assert parse_prompt(result.to_text()) == result


@pytest.mark.parametrize("text, words", [("a fox -relax -fast", "contradict"), ("a fox -fast -relax", "contradict"),
                                         ("a fox -relax please", "takes no value"), ("a fox -relx", "-relax")])
def test_a_bad_lane_is_refused(text, words):
    result = parse_prompt(text)
    assert isinstance(result, FlagError) and words in str(result)


def test_a_lane_typed_wins_over_the_default_lane():
    assert Flags(lane="fast").merged_over(Flags(lane="relax")).lane == "fast"
    assert Flags().merged_over(Flags(lane="relax")).lane == "relax"
