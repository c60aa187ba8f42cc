"""Sound through Discord: the real bot against discordsim, a real worker serving the tiny
LTX-2, Redis and PostgreSQL. `/lipsync` with a picture and a WAV, a video and an MP3, and
typed words; bad sound refused privately with nothing queued; `-sound` refused for a model
that makes none; a clip with sound posted once, with its AAC track."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest
from sqlalchemy import select

from bot.buttons import custom_id
from bot.orders import text_of
from core.tables import Clip
from tests.sounds import sound_file, tone
from tests.test_attachments import BAD_SOUNDS, image_bytes, video_bytes
from tests.test_bot_world import BotWorld, clip_id_of, no_violations  # noqa: F401 (autouse)

pytestmark = pytest.mark.slow
_n = itertools.count()
SOUND_MODEL = "ltx2-tiny"
SHORT = "-len 1 -fps 8"


@pytest.fixture(scope="module")
def built(models_dir):
    """The tiny LTX-2 and the tiny voice, built before the worker starts."""
    from core.catalog import get_model
    from inference.loading import resolve_source
    from inference.speech import TINY_VOICE, Speaker

    resolve_source(get_model(SOUND_MODEL), None, models_dir)
    Speaker(TINY_VOICE, models_dir=models_dir)._resolve()


@pytest.fixture(scope="module")
async def world(postgres_server, models_dir, built, tmp_path_factory):
    # ltx-tiny is in the catalog (it makes silent clips) but has no worker: -sound is refused
    # for it before anything would wait on its queue.
    w = BotWorld(tmp_path_factory.mktemp("sound"), postgres_server.new_database(f"bot_sound_{next(_n)}"),
                 models_dir, REELBOT_MODEL=SOUND_MODEL, REELBOT_MODELS=SOUND_MODEL,
                 REELBOT_CATALOG=f"{SOUND_MODEL},ltx-tiny", REELBOT_COOLDOWN_SECONDS="0", REELBOT_JOBS_PER_DAY="50",
                 REELBOT_JOBS_IN_FLIGHT="5", REELBOT_AUDIO_MAX_BYTES=str(2 * 1024 * 1024))
    await w.start()
    yield w
    await w.close()


async def clips_of(world, member) -> list[Clip]:
    async with world.store.session() as s:
        return list(await s.scalars(select(Clip).where(Clip.author_id == str(member.id))))


async def posted_mp4(world, clip_id: str) -> bytes:
    """The one post of the clip, and its MP4 as a member downloads it."""
    [post] = await world.wait_post(clip_id)
    await asyncio.sleep(0.5)  # a second post would come within moments
    assert len(world.posts_of(clip_id)) == 1, "the clip was posted more than once"
    [attachment] = post.attachments
    assert attachment.filename == f"{clip_id}.mp4"
    return attachment.data


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    a, b = a[:n].astype(np.float64), b[:n].astype(np.float64)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


async def lipsync(world, member, attachments: dict, **options):
    ix = await world.slash(member, "lipsync", options, attachments=attachments)
    return ix, *(await world.answer(ix, timeout=30))


async def test_lipsync_with_a_picture_and_a_wav_speaks_the_members_track(world):
    from inference.audio import read
    from inference.encode import probe_mp4

    member = world.member("speaker")
    wav = sound_file("wav", 1.4, 22050)
    ix, kind, clip_id = await lipsync(world, member, {"face": ("face.png", image_bytes("PNG", (96, 96)), "image/png"),
                                                       "audio": ("voice.wav", wav, "audio/wav")},
                                      prompt="a woman talks to the camera -fps 12")
    assert kind == "queued", clip_id
    assert ix.response.type == 5 and ix.response.ephemeral  # deferred privately while the files are checked
    data = await posted_mp4(world, clip_id)
    info = probe_mp4(data)
    assert info["audio_codec"] == "aac" and info["audio_rate"] == 22050
    assert info["frames"] == 17 and abs(info["audio_seconds"] - 17 / 12) < 0.002  # as long as the track, to a frame
    heard = read(data).samples[0]
    assert correlation(heard, np.array(tone(1.4, 22050))) > 0.99  # the member's own waveform
    clip = await world.store.get(clip_id)
    assert (clip.task, clip.status, clip.sound) == ("lip-sync", "done", True)
    assert set(clip.input_keys) == {"image", "audio"}
    assert (world.media / clip.input_keys["audio"]).read_bytes() == wav


async def test_lipsync_with_a_video_and_an_mp3(world):
    from inference.encode import probe_mp4

    member = world.member("dubber")
    face = ("face.mov", video_bytes("mov", seconds=1, size=(96, 64)), "video/quicktime")
    ix, kind, clip_id = await lipsync(world, member, {"face": face, "audio": ("line.mp3", sound_file("mp3", 1.0),
                                                                               "audio/mpeg")})
    assert kind == "queued", clip_id
    info = probe_mp4(await posted_mp4(world, clip_id))
    assert info["audio_codec"] == "aac" and abs(info["audio_seconds"] - info["frames"] / info["fps"]) < 0.002
    assert 1.0 <= info["frames"] / info["fps"] < 1.0 + 1 / 24 + 0.06  # the MP3's length (and its encoder delay)
    clip = await world.store.get(clip_id)
    assert set(clip.input_keys) == {"video", "audio"} and clip.status == "done"


async def test_lipsync_with_typed_words(world):
    from inference.encode import probe_mp4

    member = world.member("typist")
    face = {"face": ("face.jpg", image_bytes("JPEG", (96, 96)), "image/jpeg")}
    ix, kind, short = await lipsync(world, member, face, text="hi there")
    assert kind == "queued", short
    ix, kind, long = await lipsync(world, member, face, text="hello there, how are you doing on this fine day?")
    assert kind == "queued", long
    short_info, long_info = [probe_mp4(await posted_mp4(world, clip_id)) for clip_id in (short, long)]
    assert short_info["audio_codec"] == long_info["audio_codec"] == "aac" and long_info["audio_rate"] == 16000
    assert long_info["audio_seconds"] > 2 * short_info["audio_seconds"]  # the length follows the words
    clip = await world.store.get(long)
    assert (world.media / clip.input_keys["speech"]).read_text() == "hello there, how are you doing on this fine day?"


async def test_bad_sound_and_missing_voices_are_refused_privately_and_nothing_is_queued(world):
    member = world.member("noisy")
    face = ("face.png", image_bytes("PNG", (96, 96)), "image/png")
    for name, filename, ctype, build, words in BAD_SOUNDS:
        ix = await world.slash(member, "lipsync", {}, attachments={"face": face, "audio": (filename, build(), ctype)})
        text = await world.private_text(ix)
        assert words in text and f"`{filename}`" in text, (name, text)
    for options, attachments, words in [
        ({}, {"face": face}, "attach an `audio` file or type `text`"),
        ({"text": "hello"}, {"face": face, "audio": ("v.wav", sound_file("wav"), "audio/wav")}, "not both"),
        ({"text": "!!! ???"}, {"face": face}, "no words"),
        ({}, {"face": ("voice.wav", sound_file("wav"), "audio/wav"),
              "audio": ("v.wav", sound_file("wav"), "audio/wav")}, "isn't an image"),
    ]:
        ix = await world.slash(member, "lipsync", options, attachments=attachments)
        text = await world.private_text(ix)
        assert ix.response.ephemeral and words in text, text
    assert await clips_of(world, member) == []


async def test_lipsync_goes_to_a_model_that_can_when_the_default_cannot(world):
    member = world.member("defaulted")
    ix = await world.slash(member, "settings", {"model": "ltx-tiny"})  # a default without lip-sync
    await world.private_text(ix)
    face = ("face.png", image_bytes("PNG", (96, 96)), "image/png")
    ix, kind, clip_id = await lipsync(world, member, {"face": face, "audio": ("v.wav", sound_file("wav", 0.6),
                                                                               "audio/wav")})
    assert kind == "queued", clip_id
    assert (await world.store.get(clip_id)).model == SOUND_MODEL
    ix = await world.slash(member, "lipsync", {"prompt": "-model ltx-tiny"},
                           attachments={"face": face, "audio": ("v.wav", sound_file("wav", 0.6), "audio/wav")})
    text = await world.private_text(ix)
    assert "can't do lip-sync" in text and SOUND_MODEL in text  # named, it is refused with the models that can


async def test_sound_is_refused_for_a_silent_model_with_the_models_that_can(world):
    member = world.member("ears")
    ix = await world.slash(member, "create", {"prompt": f"a fox barks -sound -model ltx-tiny {SHORT}"})
    text = await world.private_text(ix)
    assert ix.response.ephemeral and "`ltx-tiny` makes silent clips" in text and SOUND_MODEL in text
    ix = await world.slash(member, "create", {"prompt": f"a fox -sound -mute {SHORT}"})
    assert "contradict" in await world.private_text(ix)
    assert await clips_of(world, member) == []


async def test_a_clip_with_sound_is_posted_once_with_its_aac_track_and_mute_drops_it(world):
    from inference.encode import probe_mp4

    member = world.member("listener")
    _ix, status = await world.create(member, f"a man says hello -sound {SHORT}")
    clip_id = clip_id_of(status)
    info = probe_mp4(await posted_mp4(world, clip_id))
    assert info["audio_codec"] == "aac" and abs(info["audio_seconds"] - info["frames"] / 8) < 0.002
    assert (await world.store.get(clip_id)).sound is True
    [post] = world.posts_of(clip_id)
    assert "🔊 sound" in {f["name"]: f["value"] for f in post.embeds[0]["fields"]}["Clip"]

    # ⏩ Extend continues it, with sound (the parent's under the lead-in: see tests/test_sound.py).
    click = await world.sim.click(member, post, custom_id("extend", clip_id))
    extended = clip_id_of(await world.status_message(click))
    info = probe_mp4(await posted_mp4(world, extended))
    assert info["audio_codec"] == "aac" and (await world.store.get(extended)).task == "extend"

    _ix, status = await world.create(member, f"a quiet street -mute {SHORT}")
    muted = clip_id_of(status)
    [post] = await world.wait_post(muted)
    assert probe_mp4(await posted_mp4(world, muted))["audio_codec"] is None
    clip = await world.store.get(muted)
    assert clip.sound is False and clip.flags["mute"] is True
    assert "-mute" in text_of(clip)  # what 🔀 Remix's dialog is filled with
    # 🔁 Retry keeps -mute: a new seed, still no sound.
    click = await world.sim.click(member, post, custom_id("retry", muted))
    retried = clip_id_of(await world.status_message(click))
    assert probe_mp4(await posted_mp4(world, retried))["audio_codec"] is None
    assert (await world.store.get(retried)).flags["mute"] is True
