"""/edit and the ✏️ Edit button end to end: the real `reelbot bot` against discordsim, a real
`reelbot worker` serving the tiny edit models (and the tiny segmenter), Redis and
PostgreSQL; then the web gallery's lineage of what was made."""

from __future__ import annotations

import asyncio
import io
import itertools

import av
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.buttons import custom_id
from core.settings import load_settings
from gallery.app import make_app
from inference.encode import probe_mp4
from tests.test_attachments import image_bytes, video_bytes
from tests.test_bot_world import BotWorld, clip_id_of, no_violations  # noqa: F401 (autouse)
from tests.test_edit import source_mp4

pytestmark = pytest.mark.slow
_n = itertools.count()
SHORT = "-len 1 -fps 8"
MODELS = "ltx-tiny,lucy-edit-tiny,wan-vace-tiny"


@pytest.fixture(scope="module")
def built(models_dir):
    """The tiny models and segmenter, built before the worker starts (so it never races to build them)."""
    from core.catalog import get_model
    from inference.loading import resolve_source
    from inference.masks import TINY_SEGMENTER, load_segmenter

    for name in MODELS.split(","):
        resolve_source(get_model(name), None, models_dir)
    load_segmenter(TINY_SEGMENTER, models_dir)


@pytest.fixture(scope="module")
async def world(postgres_server, models_dir, built, tmp_path_factory):
    w = BotWorld(tmp_path_factory.mktemp("edit"), postgres_server.new_database(f"bot_edit_{next(_n)}"), models_dir,
                 REELBOT_MODELS=MODELS, REELBOT_SEGMENTER="clipseg-tiny", REELBOT_JOBS_IN_FLIGHT="5",
                 REELBOT_VIDEO_MAX_BYTES=str(5 * 1024 * 1024))
    await w.start()
    yield w
    await w.close()


def source_attachment(**kwargs) -> tuple[str, bytes, str]:
    return "dance.mp4", source_mp4(**kwargs), "video/mp4"


async def posted_once(world, clip_id: str):
    """The clip's one post; a moment later there is still only one."""
    [post] = await world.wait_post(clip_id)
    await asyncio.sleep(0.5)
    assert len(world.posts_of(clip_id)) == 1
    return post


def fields_of(post) -> dict:
    return {f["name"]: f["value"] for f in post.embeds[0]["fields"]}


def mp4_of(world, clip) -> bytes:
    return (world.media / clip.video_key).read_bytes()


async def test_edit_an_attached_video_keeps_its_length_fps_aspect_and_sound(world):
    member = world.member("editor")
    ix = await world.slash(member, "edit", {"prompt": "make the jacket red -seed 4"},
                           attachments={"video": source_attachment(frames=18, fps=12, sound="aac")})
    assert ix.response.ephemeral  # deferred privately while the file is checked
    kind, clip_id = await world.answer(ix)
    assert kind == "queued", clip_id
    post = await posted_once(world, clip_id)
    clip = await world.store.get(clip_id)
    # No -model, and the server's default (ltx-tiny) can't edit: the first model that can does.
    assert (clip.task, clip.model, clip.status, clip.parent_id) == ("edit", "lucy-edit-tiny", "done", None)
    assert list(clip.input_keys) == ["video"]
    info = probe_mp4(mp4_of(world, clip))
    assert info["fps"] == 12 and abs(info["frames"] - 18) <= 1 and info["width"] < info["height"]  # 3:4 kept
    with av.open(io.BytesIO(mp4_of(world, clip))) as container:
        assert container.streams.audio, "the source's sound was not kept"
    assert fields_of(post)["Edited"] == "the whole frame" and post.attachments
    assert "Edit" in post.labels


async def test_edit_a_clip_by_id_with_a_reference_then_through_the_button(world):
    author, editor, fan = world.member("source"), world.member("swapper"), world.member("presser")
    _ix, status = await world.create(author, f"a red car on a road -ar 16:9 {SHORT}")
    source_id = clip_id_of(status)
    post = await posted_once(world, source_id)
    source = await world.store.get(source_id)

    # /edit clip: with an image to put in: a reference edit (VACE), masked where the words point.
    ix = await world.slash(editor, "edit", {"prompt": "replace the car with this one", "clip": source_id},
                           attachments={"image": ("car.png", image_bytes("PNG", (64, 48)), "image/png")})
    kind, edit_id = await world.answer(ix)
    assert kind == "queued", edit_id
    edit_post = await posted_once(world, edit_id)
    edit = await world.store.get(edit_id)
    assert (edit.task, edit.model, edit.parent_id) == ("edit", "wan-vace-tiny", source_id)
    assert edit.input_keys["video"] == source.video_key and edit.input_keys["reference"].endswith(".png")
    fields = fields_of(edit_post)
    assert fields["Edit of"] == f"clip `{source_id}`"
    assert edit.edit_region == "the car" and fields["Edited"].startswith("only “the car”")
    info = probe_mp4(mp4_of(world, edit))
    assert (info["fps"], info["frames"]) == (source.fps, source.num_frames) and info["width"] > info["height"]

    # ✏️ Edit on the source's post: a dialog asking for the change; the edit's parent is that clip.
    click = await world.sim.click(fan, post, custom_id("edit", source_id))
    assert (await click.wait_response()).type == 9  # a modal
    assert "What should change?" in str(click.modal)
    submit = await world.sim.submit_modal(fan, click, {"prompt": "turn the road into a river"})
    await submit.wait_response()
    kind, button_id = await world.answer(submit)
    assert kind == "queued", button_id
    await posted_once(world, button_id)
    made = await world.store.get(button_id)
    assert (made.task, made.parent_id, made.prompt, made.author_id) == (
        "edit", source_id, "turn the road into a river", str(fan.id))

    # The web gallery's lineage: both edits are children of their source, which is their parent.
    settings = load_settings(database_url=world.database_url, storage_url=f"file://{world.media}")
    async with TestClient(TestServer(make_app(settings))) as gallery:
        parent = await (await gallery.get(f"/api/clips/{source_id}")).json()
        children = {child["id"]: child for child in parent["remixes"]}
        assert {edit_id, button_id} <= set(children)
        assert children[edit_id]["made_as"] == "edit" and children[edit_id]["edit_region"] == "the car"
        child = await (await gallery.get(f"/api/clips/{edit_id}")).json()
        assert [a["id"] for a in child["ancestors"]] == [source_id]
        command = child["clip"]["remix_command"]
        assert command.startswith(f"/edit clip: {source_id} prompt: replace the car with this one")
        page = await (await gallery.get(f"/clips/{edit_id}")).text()
        assert "Edited from" in page and "only “the car”" in page


async def test_an_edit_the_model_cannot_do_is_refused_with_the_models_that_can(world):
    member = world.member("chooser")
    video = {"video": source_attachment()}
    ix = await world.slash(member, "edit", {"prompt": "make it snow -model ltx-tiny"}, attachments=video)
    kind, text = await world.answer(ix)
    assert kind == "refused" and "`ltx-tiny` can't do edit" in text
    assert "`lucy-edit-tiny`" in text and "`wan-vace-tiny`" in text
    ix = await world.slash(member, "edit", {"prompt": "put this hat on him -model lucy-edit-tiny"},
                           attachments={**video, "image": ("hat.png", image_bytes(), "image/png")})
    kind, text = await world.answer(ix)
    assert kind == "refused" and "can't put in a picture" in text and "`wan-vace-tiny`" in text
    assert await clips_of(world, member) == []


@pytest.mark.parametrize("name, attachment, words", [
    ("random bytes", ("noise.mp4", bytes(range(256)) * 40, "video/mp4"), "isn't a video"),
    ("a 60 s video", ("long.mp4", video_bytes(seconds=60, fps=8), "video/mp4"), "60.0 s long"),
    ("an image given as video", ("still.png", image_bytes("PNG", (96, 64)), "image/png"), "not a video"),
])
async def test_a_bad_source_is_refused_privately(world, name, attachment, words):
    member = world.member("careless")
    ix = await world.slash(member, "edit", {"prompt": "make it snow"}, attachments={"video": attachment})
    kind, text = await world.answer(ix)
    assert kind == "refused" and words in text, (name, text)
    assert await clips_of(world, member) == []


async def test_edit_needs_exactly_one_source(world):
    member = world.member("unsure")
    ix = await world.slash(member, "edit", {"prompt": "make it snow"})
    assert "attach it as `video`, or name one of the clips" in await world.private_text(ix)
    ix = await world.slash(member, "edit", {"prompt": "make it snow", "clip": "0123456789abcdef"},
                           attachments={"video": source_attachment()})
    assert "not both" in await world.private_text(ix)
    ix = await world.slash(member, "edit", {"prompt": "make it snow", "clip": "0123456789abcdef"})
    assert "No clip found" in await world.private_text(ix)
    assert await clips_of(world, member) == []


async def test_an_edit_of_a_private_clip_is_its_authors_and_stays_private(world):
    author, other = world.member("hermit"), world.member("nosy")
    ix = await world.slash(author, "create", {"prompt": f"my own garden {SHORT} -private"})
    source_id = clip_id_of(ix.message)
    await posted_once(world, source_id)
    ix = await world.slash(other, "edit", {"prompt": "make it snow", "clip": source_id})
    assert "No clip found" in await world.private_text(ix)
    ix = await world.slash(author, "edit", {"prompt": "make it snow", "clip": source_id})
    assert ix.response.ephemeral
    edit_id = clip_id_of(ix.message)
    post = await posted_once(world, edit_id)
    edit = await world.store.get(edit_id)
    assert edit.private and edit.parent_id == source_id and edit.flags["private"]
    assert post.channel_id == world.sim.dm_channel(author).id


async def clips_of(world, member) -> list:
    from sqlalchemy import select

    from core.tables import Clip

    async with world.store.session() as s:
        return list(await s.scalars(select(Clip).where(Clip.author_id == str(member.id))))
