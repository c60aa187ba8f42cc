"""Effects, /effects, /scene, /keyframes through four pictures and -loop end to end: the real
`reelbot bot` (discord.py) against discordsim, a real `reelbot worker` serving the tiny LTX and
VACE models with their tiny random-weight LoRAs, Redis and PostgreSQL.

What reached the pipeline is read from the worker's own log line for the clip ("render done":
the adapters switched on and what the pipeline call was given to hold, taken from its
arguments), and the loop's seam from the delivered MP4 itself."""

from __future__ import annotations

import asyncio
import io
import itertools
import json

import av
import numpy as np
import pytest
from sqlalchemy import select

from bot.buttons import custom_id
from core.tables import Clip
from tests.test_bot_world import BotWorld, clip_id_of, help_text, no_violations  # noqa: F401 (autouse)

pytestmark = pytest.mark.slow
_n = itertools.count()
SHORT = "-len 1 -fps 8"
SERVED = "ltx-tiny,wan-vace-tiny"
# Offered without workers: their effects, camera LoRAs and refusals are the catalog's.
CATALOG = "ltx-tiny,wan-vace-tiny,wan-flf2v-tiny,wan-i2v-tiny,ltx2-tiny"


@pytest.fixture(scope="module")
def built(models_dir):
    """The tiny models and their LoRAs, built before the worker starts (so it never races to build them)."""
    from core.catalog import get_model
    from inference.adapters import locate
    from inference.loading import resolve_source

    for name in SERVED.split(","):
        spec = get_model(name)
        resolve_source(spec, None, models_dir)
        for adapter in spec.adapters:
            locate(spec, adapter, models_dir)


@pytest.fixture(scope="module")
async def world(postgres_server, models_dir, built, tmp_path_factory):
    w = BotWorld(tmp_path_factory.mktemp("effects"), postgres_server.new_database(f"bot_effects_{next(_n)}"),
                 models_dir, REELBOT_MODELS=SERVED, REELBOT_CATALOG=CATALOG, REELBOT_JOBS_IN_FLIGHT="6",
                 REELBOT_JOBS_PER_DAY="100")
    await w.start()
    yield w
    await w.close()


def picture(colour: tuple[int, int, int], size=(96, 64), kind="PNG") -> tuple[str, bytes, str]:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, kind)
    return f"p{colour[0]}.{kind.lower()}", buffer.getvalue(), f"image/{kind.lower()}"


def fields_of(post) -> dict:
    return {f["name"]: f["value"] for f in post.embeds[0]["fields"]}


def rendered(world, clip_id: str) -> dict:
    """The worker's "render done" line for the clip."""
    for line in world.workers[0].log_path.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"render done"' in line:
            entry = json.loads(line)
            if entry.get("clip_id") == clip_id:
                return entry
    raise AssertionError(f"no render of {clip_id} in the worker's log:\n{world.logs()}")


async def clips_of(world, member) -> list[Clip]:
    async with world.store.session() as s:
        return list(await s.scalars(select(Clip).where(Clip.author_id == str(member.id))))


async def delivered(world, ix) -> tuple[str, object]:
    kind, clip_id = await world.answer(ix)
    assert kind == "queued", clip_id
    [post] = await world.wait_post(clip_id)
    return clip_id, post


def frames_of(mp4: bytes) -> np.ndarray:
    with av.open(io.BytesIO(mp4)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


# --- effects ---------------------------------------------------------------------------------


async def test_animate_with_an_effect_is_posted_naming_it_and_retry_remix_extend_keep_what_they_should(world):
    member = world.member("squisher")
    typing = await world.sim.autocomplete(member, world.channel, "animate", {"effect": "squ"}, focused="effect")
    choices = (await typing.wait_response()).choices
    assert [c["value"] for c in choices] == ["squish"] and "ltx-tiny" in choices[0]["name"]

    ix = await world.slash(member, "animate", {"effect": "squish", "prompt": f"a rubber duck {SHORT}"},
                           attachments={"image": picture((200, 30, 30))})
    clip_id, post = await delivered(world, ix)
    clip = await world.store.get(clip_id)
    assert (clip.model, clip.task, clip.flags["effect"]) == ("ltx-tiny", "image-to-video", "squish")
    assert "-effect squish" in post.embeds[0]["description"]
    effect = fields_of(post)["Effect"]
    assert effect.startswith("squish (LoRA at 1") and "SQUISH" in effect
    assert rendered(world, clip_id)["adapters"] == {"effect": "squish"}
    details = await world.sim.message_command(member, post, "Clip details")  # names the effect too
    await details.wait_response(timeout=10)
    [answer] = details.ephemeral
    assert fields_of(answer)["Effect"] == effect

    # Retry: all of it (the effect, the picture); Remix: the effect in the dialog's text.
    click = await world.sim.click(member, post, custom_id("retry", clip_id))
    retried, _ = await delivered(world, click)
    again = await world.store.get(retried)
    assert again.flags["effect"] == "squish" and again.input_keys == clip.input_keys
    assert rendered(world, retried)["adapters"] == {"effect": "squish"}
    click = await world.sim.click(member, post, custom_id("remix", clip_id))
    assert (await click.wait_response()).type == 9 and "-effect squish" in str(click.modal)

    # Extend: ltx-tiny's squish is for text- and image-to-video, so the continuation goes without it.
    click = await world.sim.click(member, post, custom_id("extend", clip_id))
    extended, _ = await delivered(world, click)
    assert (await world.store.get(extended)).flags["effect"] is None
    assert rendered(world, extended)["adapters"] == {}


async def test_a_misspelled_effect_is_refused_with_the_right_suggestion_and_one_the_model_lacks_with_those_that_have_it(
        world):
    member = world.member("typo")
    ix = await world.slash(member, "animate", {"effect": "sqush"}, attachments={"image": picture((10, 200, 10))})
    kind, text = await world.answer(ix)
    assert kind == "refused" and "Did you mean `-effect squish`?" in text and "isn't an effect here" in text

    ix = await world.slash(member, "animate", {"effect": "inflate", "prompt": "-model ltx-tiny"},
                           attachments={"image": picture((10, 200, 10))})
    kind, text = await world.answer(ix)
    assert kind == "refused" and "`ltx-tiny` has no `inflate` effect" in text and "`wan-i2v-tiny`" in text

    ix = await world.slash(member, "create", {"prompt": "a duck -effect inflate"})
    kind, text = await world.answer(ix)
    assert kind == "refused" and "works on image-to-video clips, not text-to-video" in text and "/animate" in text

    ix = await world.slash(member, "create", {"prompt": "a duck -camera dolly in -model ltx-tiny"})
    kind, text = await world.answer(ix)
    assert kind == "refused" and "only a camera LoRA makes" in text and "`ltx2-tiny`" in text
    assert await clips_of(world, member) == []


async def test_effects_lists_what_the_deployment_has(world):
    ix = await world.slash(world.member("curious"), "effects")
    assert ix.response.ephemeral
    text = help_text(ix)
    for effect in ("squish", "cakeify", "inflate", "deflate", "crush", "rotate"):
        assert f"`{effect}`" in text
    assert "`ltx-tiny` (text-to-video, image-to-video)" in text and "`wan-i2v-tiny` (image-to-video)" in text
    assert "/animate image: (a picture) effect: squish" in text
    assert "**Camera LoRA moves**" in text and "`dolly in` · on `ltx2-tiny`" in text
    assert "-camera jib down -model ltx2-tiny" in text


# --- scene, keyframes, loop ---------------------------------------------------------------------


async def test_a_scene_of_three_pictures_reaches_the_pipeline_whole_and_retry_reuses_them(world):
    member = world.member("director")
    pictures = {f"ingredient{i}": picture(colour) for i, colour in
                enumerate(((250, 0, 0), (0, 250, 0), (0, 0, 250)), 1)}
    ix = await world.slash(member, "scene", {"prompt": f"a picnic with all three {SHORT}"}, attachments=pictures)
    clip_id, post = await delivered(world, ix)
    clip = await world.store.get(clip_id)
    # No -model: the server's default (ltx-tiny) takes no reference pictures, so one that does renders it.
    assert (clip.model, clip.task, sorted(clip.input_keys)) == ("wan-vace-tiny", "scene",
                                                                ["ingredient1", "ingredient2", "ingredient3"])
    for name, (_, data, _) in pictures.items():
        assert (world.media / clip.input_keys[name]).read_bytes() == data
    assert rendered(world, clip_id)["conditioning"] == {"reference_images": 3}

    click = await world.sim.click(member, post, custom_id("retry", clip_id))
    retried, _ = await delivered(world, click)
    assert (await world.store.get(retried)).input_keys == clip.input_keys
    assert rendered(world, retried)["conditioning"] == {"reference_images": 3}

    # Remix: new words, the same three pictures; Extend: continues the clip itself.
    click = await world.sim.click(member, post, custom_id("remix", clip_id))
    assert (await click.wait_response()).type == 9
    submit = await world.sim.submit_modal(member, click, {"prompt": f"a picnic in the rain {SHORT}"})
    remixed, _ = await delivered(world, submit)
    remix = await world.store.get(remixed)
    assert (remix.task, remix.parent_id, remix.input_keys) == ("scene", clip_id, clip.input_keys)
    assert rendered(world, remixed)["conditioning"] == {"reference_images": 3}
    click = await world.sim.click(member, post, custom_id("extend", clip_id))
    extended, _ = await delivered(world, click)
    assert (await world.store.get(extended)).task == "extend" and "reference_images" not in rendered(
        world, extended)["conditioning"]

    ix = await world.slash(member, "scene", {"prompt": "a picnic -model ltx-tiny"}, attachments=pictures)
    kind, text = await world.answer(ix)
    assert kind == "refused" and "`ltx-tiny` can't do scene" in text and "`wan-vace-tiny`" in text


async def test_keyframes_through_four_pictures_sit_at_evenly_spaced_frames(world):
    member = world.member("storyboard")
    pictures = {"first": picture((255, 0, 0)), "last": picture((0, 0, 255)), "between1": picture((0, 255, 0)),
                "between2": picture((255, 255, 0))}
    ix = await world.slash(member, "keyframes", {"prompt": "a light changing colour -len 2 -fps 12"},
                           attachments=pictures)
    clip_id, _post = await delivered(world, ix)
    clip = await world.store.get(clip_id)
    assert sorted(clip.input_keys) == ["between1", "between2", "image", "last_image"]
    # 2 s at 12 fps: 25 frames (8k+1); four pictures evenly spaced on latent frames.
    assert clip.num_frames == 25 and rendered(world, clip_id)["conditioning"] == {"condition_frames": [0, 8, 16, 24]}

    ix = await world.slash(member, "keyframes", {"prompt": "a light changing colour -model wan-flf2v-tiny"},
                           attachments=pictures)
    kind, text = await world.answer(ix)
    assert kind == "refused" and "takes a first and a last picture only, not 4" in text
    assert "`ltx-tiny`" in text and "`wan-vace-tiny`" in text and "`wan-flf2v-tiny`" not in text.split("Models")[1]


async def test_a_loop_is_delivered_with_a_seam_that_passes_and_extend_does_not_loop(world):
    from inference.loop import SEAM_LIMIT, seam

    member = world.member("looper")
    _ix, status = await world.create(member, f"a spinning top -loop {SHORT} -seed 5")
    clip_id = clip_id_of(status)
    [post] = await world.wait_post(clip_id)
    clip = await world.store.get(clip_id)
    assert clip.flags["loop"] and clip.num_frames == 8  # 9 rendered, the closing one (the first again) dropped
    frames = frames_of((world.media / clip.video_key).read_bytes())
    measured = seam(frames)
    assert measured.ratio <= SEAM_LIMIT, measured  # in the MP4 members get, not only on the worker
    logged = rendered(world, clip_id)
    assert logged["seam"]["ratio"] <= SEAM_LIMIT and logged["conditioning"]["condition_frames"] == [0, 8]

    await asyncio.sleep(0.2)
    click = await world.sim.click(member, post, custom_id("retry", clip_id))
    retried, _ = await delivered(world, click)
    assert (await world.store.get(retried)).flags["loop"]
    click = await world.sim.click(member, post, custom_id("extend", clip_id))
    extended, _ = await delivered(world, click)
    assert not (await world.store.get(extended)).flags["loop"] and rendered(world, extended)["seam"] is None

    ix = await world.slash(member, "create", {"prompt": "a top -loop -model wan-vace-tiny -len 1"})
    vace, _ = await delivered(world, ix)  # VACE loops too, through its kept frames
    assert rendered(world, vace)["conditioning"]["kept_frames"] == [0, 16]
