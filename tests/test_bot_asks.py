"""What the bot checks beyond a task (bot/asks.py), what clip posts say of effects and camera
moves (bot/posts.made_with), what /effects and the effect autocomplete offer, and what an
extend carries over: catalog data only, no Discord."""

from __future__ import annotations

from types import SimpleNamespace

from bot import asks, posts
from bot.commands.animate import effect_choices
from bot.commands.effects import effects_text
from bot.commands.extend import not_continued
from core.catalog import MODELS, TINY_MODELS, Task, get_model
from core.flags import Flags

TINY = list(TINY_MODELS.values())


def test_what_each_tiny_model_lacks():
    ltx, vace, flf, i2v = (get_model(n) for n in ("ltx-tiny", "wan-vace-tiny", "wan-flf2v-tiny", "wan-i2v-tiny"))
    i2v_task, t2v = Task.IMAGE_TO_VIDEO, Task.TEXT_TO_VIDEO
    assert asks.lacks(ltx, i2v_task, Flags(effect="squish"), 0) is None
    assert asks.lacks(ltx, i2v_task, Flags(effect="inflate"), 0) == "effect"
    assert asks.lacks(i2v, t2v, Flags(effect="squish"), 0) == "effect"  # Remade's are image-to-video only
    assert asks.lacks(ltx, t2v, Flags(camera="dolly in"), 0) == "camera"
    assert asks.lacks(ltx, t2v, Flags(camera="zoom in"), 0) is None  # a word move: any model
    assert asks.lacks(get_model("ltx2-tiny"), t2v, Flags(camera="jib down"), 0) is None
    assert asks.lacks(get_model("wan-tiny"), t2v, Flags(loop=True), 0) == "loop"
    assert asks.lacks(vace, i2v_task, Flags(loop=True), 0) is None
    assert asks.lacks(flf, Task.KEYFRAMES, Flags(), 3) == "keyframes" and asks.lacks(flf, Task.KEYFRAMES, Flags(), 2) is None
    assert asks.lacks(vace, Task.KEYFRAMES, Flags(), 5) is None
    assert not asks.beyond_task(Flags(camera="zoom in"), 2) and asks.beyond_task(Flags(camera="dolly out"), 0)


def test_refusals_name_the_models_that_can():
    text = asks.refusal("effect", "ltx-tiny", Task.IMAGE_TO_VIDEO, Flags(effect="inflate"), 0, TINY)
    assert "`ltx-tiny` has no `inflate` effect" in text and "`wan-i2v-tiny`" in text and "-model wan-i2v-tiny" in text
    text = asks.refusal("effect", "ltx-tiny", Task.TEXT_TO_VIDEO, Flags(effect="inflate"), 0, TINY)
    assert "works on image-to-video clips, not text-to-video" in text and "/animate … effect:inflate" in text
    text = asks.refusal("keyframes", "wan-flf2v-tiny", Task.KEYFRAMES, Flags(), 4, TINY)
    assert "not 4" in text and "`ltx-tiny`, `wan-vace-tiny`, `ltx2-tiny`" in text
    text = asks.refusal("loop", "wan-tiny", Task.TEXT_TO_VIDEO, Flags(loop=True), 0, [get_model("wan-tiny")])
    assert "can't make text-to-video clips that loop" in text and "None of the models here" in text
    assert "`ltx2-tiny`" in asks.refusal("camera", "ltx-tiny", Task.TEXT_TO_VIDEO, Flags(camera="dolly in"), 0, TINY)


def clip(**values):
    base = dict(id="0123456789abcdef", model="ltx-tiny", task="image-to-video", flags={}, prompt="a duck")
    return SimpleNamespace(**{**base, **values})


def test_a_post_names_the_effect_and_how_the_camera_moved():
    shown = dict(posts.made_with(clip(flags=Flags(effect="squish", camera="zoom in").to_dict())))
    assert shown["Effect"].startswith("squish (LoRA at 1") and "SQUISH" in shown["Effect"]
    assert shown["Camera"] == "zoom in · through the prompt's words"
    lora = dict(posts.made_with(clip(model="ltx2-tiny", task="text-to-video",
                                     flags=Flags(camera="dolly in").to_dict())))
    assert lora == {"Camera": "dolly in · through the model's camera LoRA"}
    assert posts.made_with(clip()) == [] and posts.made_with(clip(flags={"fps": "bad"})) == []


def test_an_extend_drops_the_loop_and_adapters_not_for_extends():
    assert not_continued(clip(flags=Flags(loop=True, effect="squish").to_dict())) == {"loop": False, "effect": None}
    assert not_continued(clip(model="ltx2-tiny", flags=Flags(camera="dolly in").to_dict())) == {
        "loop": False, "camera": None}
    assert not_continued(clip(flags=Flags(camera="pan left").to_dict())) == {"loop": False}


def test_effects_lists_effects_and_camera_moves_with_their_models():
    text = effects_text(TINY, "ltx-tiny")
    assert "`squish` squeezed like a stress ball · on `ltx-tiny` (text-to-video, image-to-video), `wan-i2v-tiny` " \
           "(image-to-video)" in text
    assert "`/animate image: (a picture) effect: squish`" in text  # on the default model: no -model needed
    assert "`inflate`" in text and "-model wan-i2v-tiny" in text
    assert "`dolly in` · on `ltx2-tiny`" in text
    assert "no effects or camera LoRAs" in effects_text([get_model("wan-tiny")], "wan-tiny")
    assert len(effects_text(list(MODELS.values()), "ltx-video")) <= 4096


def test_the_effect_autocomplete_offers_the_image_to_video_effects_typed():
    assert [c.value for c in effect_choices(TINY, "")] == ["cakeify", "squish", "inflate", "deflate", "crush", "rotate"]
    assert [(c.value, c.name) for c in effect_choices(TINY, "SQU")] == [("squish", "squish · ltx-tiny, wan-i2v-tiny")]
    assert effect_choices([get_model("wan-tiny")], "") == []
