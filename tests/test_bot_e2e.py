"""The bot end to end: the real `reelbot bot` process against discordsim, a real
`reelbot worker` with the tiny model, Redis and PostgreSQL. One world for the module;
each test acts as fresh members so their limits never meet."""

from __future__ import annotations

import asyncio
import itertools
import re

import pytest
from sqlalchemy import func, select, update

from bot.buttons import custom_id
from core import audit
from core.catalog import get_model
from core.tables import Clip, Member
from tests.test_attachments import BAD, image_bytes, video_bytes
from tests.test_bot_world import BotWorld, clip_id_of, footer_of, help_text, no_violations  # noqa: F401 (autouse)

pytestmark = pytest.mark.slow
_n = itertools.count()
SHORT = "-len 1 -fps 8"
LONG = "-len 10 -fps 30"  # about 2-3 s on the world's worker: long enough to watch or cancel


@pytest.fixture(scope="module")
async def gallery(postgres_server, tmp_path_factory):
    """The web gallery over the world's database and media folder: where a clip too big to attach is linked."""
    from aiohttp import web

    from core.migrate import upgrade_async
    from core.settings import load_settings
    from gallery.app import make_app
    from tests.servers import free_port

    tmp = tmp_path_factory.mktemp("bot")
    database = postgres_server.new_database(f"bot_e2e_{next(_n)}")
    await upgrade_async(database)
    port = free_port()
    runner = web.AppRunner(make_app(load_settings(database_url=database, storage_url=f"file://{tmp / 'media'}",
                                                  gallery_url=f"http://127.0.0.1:{port}")), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield tmp, database, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture(scope="module")
async def world(gallery, models_dir, tiny_model):
    tmp, database, gallery_url = gallery
    w = BotWorld(tmp, database, models_dir, REELBOT_GALLERY_URL=gallery_url,
                 REELBOT_MODEL_STEPS='{"ltx-tiny": 150}', REELBOT_COOLDOWN_SECONDS="1",
                 # The deployment also serves wan-tiny, whose workers are not started: it is
                 # offered all the same (its jobs wait for a worker) and does no image-to-video.
                 REELBOT_CATALOG="ltx-tiny,wan-tiny",
                 REELBOT_BANNED_TERMS="forbidden,blood bath", REELBOT_JOBS_PER_DAY="20",
                 REELBOT_IMAGE_MAX_BYTES=str(2 * 1024 * 1024), REELBOT_VIDEO_MAX_BYTES=str(5 * 1024 * 1024))
    await w.start()
    w.gallery_url = gallery_url
    yield w
    await w.close()


async def clips_of(world, member) -> list[Clip]:
    async with world.store.session() as s:
        return list(await s.scalars(select(Clip).where(Clip.author_id == str(member.id)).order_by(Clip.created_at)))


async def made(world, ix) -> str:
    """The clip id a command queued (from its status message's Cancel button)."""
    return clip_id_of(await world.status_message(ix))


# --- the life of a job ---------------------------------------------------------------

async def test_create_posts_the_clip_in_a_thread_with_its_buttons(world):
    alice = world.member("alice")
    ix, status = await world.create(alice, f"a fox running through snow -ar 9:16 {SHORT} -seed 7")
    assert not ix.response.ephemeral and ix.response.latency < 3
    assert re.fullmatch(r"Queued · position (\d+) · \d+ clips? ahead · ETA ~\d+ (s|min)(–\d+ (s|min))?",
                        status.content)
    assert status.custom_ids == [custom_id("cancel", clip_id_of(status))]
    clip_id = clip_id_of(status)
    thread = await world.sim.wait_for(lambda: world.sim.thread_of(status), 10)
    assert thread.name == "a fox running through snow"
    [post] = await world.wait_post(clip_id)
    assert post.channel_id == thread.id
    assert post.attachments[0].filename == f"{clip_id}.mp4" and post.attachments[0].size > 0
    assert post.labels == ["Retry", "Remix", "Extend", "Edit", "0", "Delete"]
    embed = post.embeds[0]
    assert "a fox running through snow" in embed["description"] and "-ar 9:16" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Seed"] == "`7`" and fields["Author"] == f"<@{alice.id}>" and "noise" in fields["Model"]
    assert footer_of(post) == f"clip {clip_id}" and post.content == f"<@{alice.id}>"
    await world.sim.wait_for(lambda: world.sim.message(status.id).content.startswith("Done in"), 10)
    assert world.sim.message(status.id).custom_ids == []  # no Cancel once done
    clip = await world.store.get(clip_id)
    assert (clip.status, clip.thread_id, clip.status_message_id, clip.result_message_id) == \
           ("done", str(thread.id), str(status.id), str(post.id))


async def test_progress_is_shown_and_edits_are_throttled(world):
    member = world.member("watcher")
    _ix, status = await world.create(member, f"a slow pan over a city {LONG}")
    clip_id = clip_id_of(status)
    await world.wait_post(clip_id)
    await world.sim.wait_for(lambda: world.sim.message(status.id).content.startswith("Done"), 10)
    shown = [version["content"] for version in world.sim.message(status.id).edits]
    assert any(re.fullmatch(r"Rendering [▰▱]{5} \d+%", text) for text in shown), shown
    edits = [r.at for r in world.sim.requests if r.method == "PATCH" and r.path.endswith(f"/messages/{status.id}")]
    progress_edits = edits[:-1]  # the last one is the outcome, written at once
    if len(progress_edits) >= 2:  # on average no closer than the 0.5 s interval (arrival times jitter)
        spacing = (progress_edits[-1] - progress_edits[0]) / (len(progress_edits) - 1)
        assert spacing >= 0.45, progress_edits


async def test_in_a_dm_and_in_a_thread_the_clip_comes_back_in_place(world):
    member = world.member("dm")
    dm = world.sim.dm_channel(member)
    ix = await world.slash(member, "create", {"prompt": f"a paper boat {SHORT}"}, channel=dm)
    clip_id = await made(world, ix)
    [post] = await world.wait_post(clip_id)
    assert post.channel_id == dm.id and world.sim.thread_of(ix.message) is None
    assert post.reference and post.reference.get("message_id") == str(ix.message.id)

    # A command typed inside a thread answers in that thread, without opening another.
    _ix, opener_status = await world.create(world.member("opener"), f"a red kite {SHORT}")
    thread = await world.sim.wait_for(lambda: world.sim.thread_of(opener_status), 10)
    await asyncio.sleep(1.1)
    ix2 = await world.slash(member, "create", {"prompt": f"a blue kite {SHORT}"}, channel=thread)
    clip2 = await made(world, ix2)
    [post2] = await world.wait_post(clip2)
    assert post2.channel_id == thread.id and world.sim.thread_of(ix2.message) is None


async def test_a_private_clip_goes_to_its_author_only(world):
    member = world.member("shy")
    ix = await world.slash(member, "create", {"prompt": f"a secret garden {SHORT} -private"})
    assert ix.response.ephemeral
    clip_id = clip_id_of(ix.message)
    [post] = await world.wait_post(clip_id)
    dm = world.sim.dm_channel(member)
    assert post.channel_id == dm.id and post.attachments
    assert not [m for m in world.sim.messages(world.channel) if clip_id in footer_of(m)]
    assert world.sim.thread_of(ix.message) is None
    assert (await world.store.get(clip_id)).private


# --- refusals ------------------------------------------------------------------------

@pytest.mark.parametrize("prompt, words", [
    ("a fox -fps 60", "`-fps 60` is out of range"),
    ("a fox -sead 3", "Did you mean `-seed`"),
    ("a fox -ar 16x9", "-ar 16:9"),
    ("a fox -camera spin", "isn't a camera move"),
    ("a fox -model nope", "isn't a model served here"),
    ("a fox -len", "`-len` needs a value"),
    ("x" * 1501, "1,501 characters"),
    ("-ar 16:9", "Write what the clip should show"),
    ("a fox -private yes", "`-private` takes no value"),
    ("a fox \u202e -fps 0", "out of range"),
])
async def test_bad_flags_are_refused_privately_and_nothing_is_queued(world, prompt, words):
    member = world.member("flags")
    ix = await world.slash(member, "create", {"prompt": prompt})
    assert ix.response.ephemeral
    assert words in await world.private_text(ix)
    assert await clips_of(world, member) == []


async def test_fifteen_kinds_of_bad_attachment_then_a_good_command(world):
    member = world.member("uploader")
    for name, option, filename, ctype, build, words in BAD:
        ix = await world.slash(member, "create", {"prompt": f"a fox {SHORT}"},
                               attachments={option: (filename, build(), ctype)})
        assert ix.response.ephemeral, name
        text = await world.private_text(ix)
        assert words in text and f"`{filename}`" in text, (name, text)
    assert await clips_of(world, member) == []
    ix, status = await world.create(member, f"a fox after all that {SHORT}")
    await world.wait_post(clip_id_of(status))


@pytest.mark.parametrize("option, filename, build, ctype, task", [
    ("image", "fox.webp", lambda: image_bytes("WEBP", (96, 64)), "image/webp", "image-to-video"),
    ("video", "clip.mov", lambda: video_bytes("mov", seconds=1), "video/quicktime", "video-to-video"),
])
async def test_good_attachments_are_rendered(world, option, filename, build, ctype, task):
    member = world.member("good")
    ix = await world.slash(member, "create", {"prompt": f"a fox {SHORT}"},
                           attachments={option: (filename, build(), ctype)})
    assert ix.response.type == 5 and ix.response.ephemeral  # deferred privately while the file is checked
    kind, value = await world.answer(ix)
    if task not in await _online_tasks(world):
        assert kind == "refused" and f"can't do {task}" in value  # the checks passed; the model can't
        return
    assert kind == "queued", value
    [post] = await world.wait_post(value)
    clip = await world.store.get(value)
    assert (clip.task, clip.status) == (task, "done") and post.attachments
    assert list(clip.input_keys) == [option] and clip.input_keys[option].startswith(f"inputs/{value}/")
    assert (world.media / clip.input_keys[option]).read_bytes() == build()


async def test_animate_and_keyframes(world):
    member = world.member("animator")
    still = ("still.png", image_bytes("PNG", (96, 64)), "image/png")
    ix = await world.slash(member, "animate", {}, attachments={"image": still})
    kind, clip_id = await world.answer(ix)
    assert kind == "queued", clip_id
    [post] = await world.wait_post(clip_id)
    assert (await world.store.get(clip_id)).task == "image-to-video" and "(no prompt)" in post.embeds[0]["description"]
    await asyncio.sleep(1.05)
    last = ("last.jpg", image_bytes("JPEG", (96, 64)), "image/jpeg")
    ix = await world.slash(member, "keyframes", {"prompt": f"day into night {SHORT}"},
                           attachments={"first": still, "last": last})
    kind, clip_id = await world.answer(ix)
    assert kind == "queued", clip_id
    await world.wait_post(clip_id)
    clip = await world.store.get(clip_id)
    assert clip.task == "keyframes" and sorted(clip.input_keys) == ["image", "last_image"]
    assert clip.input_keys["last_image"].endswith(".jpg")


async def test_a_task_the_model_lacks_is_refused_with_the_models_that_can(world):
    member = world.member("picky")
    ix = await world.slash(member, "create", {"prompt": "a fox -model wan-tiny"},
                           attachments={"image": ("fox.png", image_bytes(), "image/png")})
    kind, text = await world.answer(ix)
    assert kind == "refused" and "`wan-tiny` can't do image-to-video" in text and "`ltx-tiny`" in text
    ix = await world.slash(member, "create", {"prompt": "a fox -model no-such"})
    kind, text = await world.answer(ix)
    assert kind == "refused" and "`ltx-tiny`, `wan-tiny`" in text
    assert await clips_of(world, member) == []


async def test_a_model_with_no_worker_online_is_queued_and_says_so(world):
    # wan-tiny is in the catalog but no worker serves it (as after a deploy, or scaled to zero).
    member = world.member("patient")
    _ix, status = await world.create(member, f"a fox -model wan-tiny {SHORT}")
    clip_id = clip_id_of(status)
    assert "waiting for a worker" in status.content
    assert await world.redis.zscore("reelbot:queue:wan-tiny", clip_id) is not None
    ix = await world.slash(member, "queue")
    text = await world.private_text(ix)
    assert "`wan-tiny" in text and "no worker online" in text and "waiting for a worker" in text
    ix = await world.slash(member, "cancel", {"clip": clip_id})
    assert "taken off the queue" in await world.private_text(ix)


async def _online_tasks(world) -> set[str]:
    return set(get_model("ltx-tiny").tasks)


async def test_both_an_image_and_a_video_is_refused(world):
    member = world.member("both")
    ix = await world.slash(member, "create", {"prompt": "a fox"}, attachments={
        "image": ("a.png", image_bytes(), "image/png"), "video": ("b.mp4", video_bytes(), "video/mp4")})
    assert "not both" in await world.private_text(ix)


async def test_banned_terms_from_the_operator_and_the_server(world):
    member, manager = world.member("speaker"), world.member("manager", manage_guild=True)
    for prompt in ("a FORBIDDEN fox", "a fórbidden fox", "a ｆｏｒｂｉｄｄｅｎ fox", "a blood  bath",
                   "a calm lake -neg forbidden"):
        ix = await world.slash(member, "create", {"prompt": prompt})
        assert "blocked term" in await world.private_text(ix), prompt
    ix = await world.slash(manager, "admin", {"term": "Gorý"}, subcommand="terms add")
    assert "`gory`" in await world.private_text(ix)
    ix = await world.slash(member, "create", {"prompt": "a gory scene"})
    assert "blocked term (`gory`)" in await world.private_text(ix)
    ix = await world.slash(manager, "admin", {}, subcommand="terms list")
    assert "`gory`" in await world.private_text(ix) and "operator also blocks 2" in await world.private_text(ix)
    await world.slash(manager, "admin", {"term": "gory"}, subcommand="terms remove")
    assert await clips_of(world, member) == []
    _ix, status = await world.create(member, f"a gory scene, a forbiddenly good fox {SHORT}")
    assert clip_id_of(status)


async def test_limits_cooldown_in_flight_per_day_and_bans(world):
    member, manager = world.member("busy"), world.member("boss", manage_guild=True)
    _ix, status = await world.create(member, f"first {SHORT}")
    ix = await world.slash(member, "create", {"prompt": f"second {SHORT}"})
    assert "Slow down" in await world.private_text(ix)
    await world.wait_post(clip_id_of(status))

    async with world.store.session.begin() as s:  # two clips already waiting, as if queued elsewhere
        for i in range(3):
            s.add(Clip(id=f"ffff{member.id % 10**12:012d}{i:04d}"[:24], task="text-to-video", prompt="x", flags={},
                       seed=1, model="ltx-tiny", author_id=str(member.id), status="queued"))
    await asyncio.sleep(1.1)
    ix = await world.slash(member, "create", {"prompt": f"third {SHORT}"})
    assert "already have 3 clips queued or rendering" in await world.private_text(ix)
    async with world.store.session.begin() as s:
        await s.execute(update(Clip).where(Clip.author_id == str(member.id), Clip.status == "queued")
                        .values(status="cancelled"))
        await s.execute(update(Member).where(Member.id == str(member.id)).values(jobs_today=20))
    ix = await world.slash(member, "create", {"prompt": f"fourth {SHORT}"})
    assert "made your 20 clips for today" in await world.private_text(ix)
    async with world.store.session.begin() as s:
        await s.execute(update(Member).where(Member.id == str(member.id)).values(jobs_today=0))

    ix = await world.slash(manager, "admin", {"member": member, "reason": "spam"}, subcommand="ban")
    assert "can no longer make clips" in await world.private_text(ix)
    ix = await world.slash(member, "create", {"prompt": f"fifth {SHORT}"})
    assert "blocked you" in await world.private_text(ix)
    await world.slash(manager, "admin", {"member": member}, subcommand="unban")
    _ix, status = await world.create(member, f"sixth {SHORT}")
    assert clip_id_of(status)


# --- buttons -------------------------------------------------------------------------

async def test_retry_is_the_clip_as_asked_whoever_presses_it(world):
    alice, bob = world.member("landscape"), world.member("portrait-fan")
    ix = await world.slash(bob, "settings", {"ar": "9:16", "fps": 12, "model": "wan-tiny"})
    assert "9:16" in await world.private_text(ix)
    _ix, status = await world.create(alice, f"a wide beach -ar 16:9 {SHORT}")
    clip_id = clip_id_of(status)
    [post] = await world.wait_post(clip_id)
    original = await world.store.get(clip_id)

    click = await world.sim.click(bob, post, custom_id("retry", clip_id))
    retried = await made(world, click)
    await world.wait_post(retried)
    again = await world.store.get(retried)
    # Bob's /settings (9:16, 12 fps, wan-tiny) do not apply: alice's flags and model do.
    assert (again.model, again.flags["ar"], again.flags["fps"]) == ("ltx-tiny", [16, 9], 8)
    assert (again.width, again.height) == (original.width, original.height) and again.width > again.height
    assert again.seed != original.seed

    # A -private clip is posted to its author only (a DM), and its Retry stays private.
    _ix, status = await world.create(alice, f"my secret garden -private {SHORT}")
    secret = clip_id_of(status)
    [private_post] = await world.wait_post(secret)
    await asyncio.sleep(1.1)  # the world's cooldown
    click = await world.sim.click(alice, private_post, custom_id("retry", secret))
    kind, value = await world.answer(click)
    assert kind == "queued", value
    assert (await world.store.get(value)).private


async def test_every_button(world):
    alice, bob, carol, dave = (world.member(n) for n in ("author", "fan", "remixer", "stranger"))
    _ix, status = await world.create(alice, f"a lighthouse at dusk {SHORT} -seed 3")
    clip_id = clip_id_of(status)
    [post] = await world.wait_post(clip_id)

    # Upvote: one per member, a second press takes it back.
    for member, count in ((bob, "1"), (alice, "2"), (bob, "1")):
        click = await world.sim.click(member, post, custom_id("upvote", clip_id))
        assert (await click.wait_response()).type == 7
        assert world.sim.message(post.id).labels[4] == count
    assert (await world.store.get(clip_id)).vote_count == 1

    # Retry: same prompt and flags, a new seed, a new clip posted in the same thread.
    click = await world.sim.click(bob, post, custom_id("retry", clip_id))
    retried = await made(world, click)
    [retry_post] = await world.wait_post(retried)
    assert retry_post.channel_id == post.channel_id
    again = await world.store.get(retried)
    assert again.prompt == "a lighthouse at dusk" and again.seed != 3 and again.author_id == str(bob.id)
    assert again.flags["length"] == 1 and again.flags["seed"] is None

    # Remix: a modal pre-filled with the prompt and flags; the new clip records its parent.
    click = await world.sim.click(carol, post, custom_id("remix", clip_id))
    assert (await click.wait_response()).type == 9
    assert "a lighthouse at dusk -fps 8 -len 1 -seed 3" in str(click.modal)
    submit = await world.sim.submit_modal(carol, click, {"prompt": f"a lighthouse in a storm -ar 1:1 {SHORT}"})
    await submit.wait_response()
    remixed = await made(world, submit)
    await world.wait_post(remixed)
    remix = await world.store.get(remixed)
    assert (remix.parent_id, remix.prompt, remix.flags["ar"]) == (clip_id, "a lighthouse in a storm", [1, 1])

    # Extend: continues this clip from its last frames, as a new clip whose parent is this one.
    click = await world.sim.click(dave, post, custom_id("extend", clip_id))
    kind, value = await world.answer(click)
    if "extend" in await _online_tasks(world):
        assert kind == "queued", value
        [extended_post] = await world.wait_post(value)
        extended = await world.store.get(value)
        assert (extended.task, extended.parent_id, extended.status) == ("extend", clip_id, "done")
        assert extended.input_keys == {"parent": f"public/clips/{clip_id}/clip.mp4"}  # the posted copy
        assert f"clip `{clip_id}`" in str(extended_post.embeds[0]["fields"])
    else:
        assert kind == "refused" and "can't do extend" in value

    # Delete: refused to others, done for the author; the post goes, the clip leaves the galleries.
    click = await world.sim.click(dave, post, custom_id("delete", clip_id))
    assert "Only the clip's author" in await world.private_text(click)
    assert not world.sim.message(post.id).deleted
    click = await world.sim.click(alice, post, custom_id("delete", clip_id))
    assert "Deleted" in await world.private_text(click)
    await world.sim.wait_for(lambda: world.sim.message(post.id).deleted, 5)
    assert (await world.store.get(clip_id)).deleted


async def test_deleting_a_clip_deletes_its_media_and_inputs_once_the_post_is_gone(world):
    member = world.member("tidy")
    ix = await world.slash(member, "create", {"prompt": f"a fox from my photo {SHORT}"},
                           attachments={"image": ("fox.png", image_bytes(), "image/png")})
    clip_id = await made(world, ix)
    [post] = await world.wait_post(clip_id)
    clip = await world.store.get(clip_id)
    files = [clip.video_key, clip.poster_key, *clip.input_keys.values()]
    assert clip.video_key.startswith("public/") and len(files) == 3
    assert all((world.media / key).is_file() for key in files)
    click = await world.sim.click(member, post, custom_id("delete", clip_id))
    assert "Deleted" in await world.private_text(click)
    await world.sim.wait_for(lambda: world.sim.message(post.id).deleted, 5)
    await world.sim.wait_for(lambda: not any((world.media / key).exists() for key in files), 10)
    assert not any(clip_id in str(path) for path in world.media.rglob("*"))  # nothing of it anywhere


async def test_a_moderator_can_delete_someone_elses_clip(world):
    author, mod = world.member("poster"), world.member("mod", manage_messages=True)
    _ix, status = await world.create(author, f"a moth {SHORT}")
    clip_id = clip_id_of(status)  # read now: the Cancel button goes when the clip is done
    [post] = await world.wait_post(clip_id)
    click = await world.sim.click(mod, post, custom_id("delete", clip_id))
    assert "Deleted" in await world.private_text(click)
    await world.sim.wait_for(lambda: world.sim.message(post.id).deleted, 5)
    async with world.store.session() as s:  # a moderator's decision, in the audit log
        [entry] = await audit.latest(s, member_id=str(author.id))
    assert (entry.action, entry.actor, entry.clip_id) == ("delete", str(mod.id), clip_id)


async def test_cancel_a_running_clip_with_its_button(world):
    author, other = world.member("canceller"), world.member("meddler")
    _ix, status = await world.create(author, f"a long cancelled pan {LONG}")
    clip_id = clip_id_of(status)
    await world.sim.wait_for(lambda: world.store.get(clip_id), 10)
    await _wait_status(world, clip_id, "running")
    click = await world.sim.click(other, status, custom_id("cancel", clip_id))
    assert "Only <@" in await world.private_text(click)
    click = await world.sim.click(author, status, custom_id("cancel", clip_id))
    assert "Stopping" in await world.private_text(click) or "taken off the queue" in await world.private_text(click)
    [post] = await world.wait_post(clip_id)
    assert post.embeds[0]["title"] == "Cancelled"
    await world.sim.wait_for(lambda: world.sim.message(status.id).content.startswith("Cancelled"), 10)
    assert (await world.store.get(clip_id)).status == "cancelled"


async def _wait_status(world, clip_id: str, wanted: str, timeout: float = 30) -> None:
    async def reached():
        clip = await world.store.get(clip_id)
        return clip is not None and clip.status == wanted

    await world.sim.wait_for(reached, timeout)


async def test_slash_cancel_takes_the_newest_job_off_the_queue(world):
    member = world.member("queuer")
    _ix, first = await world.create(member, f"first long {LONG}")
    await asyncio.sleep(1.05)
    _ix, second = await world.create(member, f"second long {LONG}")
    ix = await world.slash(member, "cancel")
    text = await world.private_text(ix)
    assert "taken off the queue" in text or "Stopping" in text
    [post] = await world.wait_post(clip_id_of(second))
    assert post.embeds[0]["title"] == "Cancelled"
    [done] = await world.wait_post(clip_id_of(first))
    assert done.attachments
    ix = await world.slash(member, "cancel")
    assert "no clips queued or rendering" in await world.private_text(ix)


# --- the other commands --------------------------------------------------------------

async def test_help_queue_me_settings(world):
    member = world.member("curious")
    ix = await world.slash(member, "help")
    assert ix.response.ephemeral and "-camera" in help_text(ix) and "-private" in help_text(ix)

    ix = await world.slash(member, "queue")
    text = await world.private_text(ix)
    assert "ltx-tiny" in text and "1 worker" in text and "You have no clips in the queue" in text

    ix = await world.slash(member, "settings", {"ar": "9:16", "fps": 12})
    assert "`-ar 9:16 -fps 12`" in await world.private_text(ix)
    ix = await world.slash(member, "settings", {"ar": "7:1"})
    assert "out of range" in await world.private_text(ix)
    _ix, status = await world.create(member, "a default fox -len 1")
    clip = await world.store.get(clip_id_of(status))
    assert (clip.flags["ar"], clip.flags["fps"]) == ([9, 16], 12)
    await world.wait_post(clip.id)

    ix = await world.slash(member, "me")
    text = await world.private_text(ix)
    assert "Clips made: 1" in text and "`-ar 9:16 -fps 12`" in text and "of 20" in text
    ix = await world.slash(member, "settings", {"reset": True})
    assert "none" in await world.private_text(ix)


async def test_show_and_extend_by_id_or_link(world):
    author, viewer = world.member("shower"), world.member("viewer")
    _ix, status = await world.create(author, f"a glass of water {SHORT}")
    clip_id = clip_id_of(status)
    [post] = await world.wait_post(clip_id)
    ix = await world.slash(viewer, "show", {"clip": clip_id})
    shown = await ix.wait_message()
    assert not shown.ephemeral and footer_of(shown) == f"clip {clip_id}" and shown.attachments
    assert "Retry" in shown.labels

    link = f"https://discord.com/channels/{world.guild.id}/{post.channel_id}/{post.id}"
    ix = await world.slash(viewer, "extend", {"clip": link, "prompt": f"and then it rains {SHORT}"})
    kind, value = await world.answer(ix)
    if kind == "queued":
        await world.wait_post(value)
        extended = await world.store.get(value)
        assert (extended.parent_id, extended.prompt) == (clip_id, "and then it rains")
    else:
        assert "can't do extend" in value
    ix = await world.slash(viewer, "show", {"clip": "nothing-like-a-clip"})
    assert "No clip found" in await world.private_text(ix)

    private = world.member("private")
    pix = await world.slash(private, "create", {"prompt": f"my own {SHORT} -private"})
    private_id = clip_id_of(pix.message)
    await world.wait_post(private_id)
    ix = await world.slash(viewer, "show", {"clip": private_id})
    assert "No clip found" in await world.private_text(ix)
    ix = await world.slash(private, "show", {"clip": private_id})
    assert (await ix.wait_message()).ephemeral


async def test_admin_pause_channels_and_the_permission_guard(world):
    member, manager = world.member("regular"), world.member("owner", manage_guild=True)
    ix = await world.slash(member, "admin", {}, subcommand="pause", check=False)
    assert "Manage Server" in await world.private_text(ix)

    await world.slash(manager, "admin", {}, subcommand="pause")
    ix = await world.slash(member, "create", {"prompt": "a paused fox"})
    assert "paused" in await world.private_text(ix)
    await world.slash(manager, "admin", {}, subcommand="resume")

    other = world.sim.add_channel(world.guild, "clips")
    ix = await world.slash(manager, "admin", {"channel": other}, subcommand="channels add")
    assert f"<#{other.id}>" in await world.private_text(ix)
    ix = await world.slash(member, "create", {"prompt": "a misplaced fox"})
    assert f"only in <#{other.id}>" in await world.private_text(ix)
    await world.slash(manager, "admin", {}, subcommand="channels clear")
    async with world.store.session() as s:
        assert await s.scalar(select(func.count()).select_from(Clip).where(Clip.author_id == str(member.id))) == 0
    _ix, status = await world.create(member, f"a well placed fox {SHORT}")
    assert clip_id_of(status)


async def test_commands_are_registered_with_their_options(world):
    names = {c["name"] for c in world.sim.commands() if c["type"] == 1}
    assert names == {"create", "animate", "extend", "keyframes", "edit", "lipsync", "cancel", "queue", "me", "settings",
                     "show",
                     "gallery", "help", "admin", "theme", "effects", "scene"}
    assert [c["name"] for c in world.sim.commands() if c["type"] == 3] == ["Report clip", "Clip details"]  # Apps menu


async def test_a_private_clip_for_a_member_with_closed_dms_comes_as_an_ephemeral_followup(world):
    member = world.member("closed", dms_open=False)
    ix = await world.slash(member, "create", {"prompt": f"for my eyes only {SHORT} -private"})
    clip_id = clip_id_of(ix.message)
    [post] = await world.wait_post(clip_id)
    assert post.ephemeral and post.visible_to == member.id and post.attachments
    assert post in ix.followups and world.sim.dms(member) == []


async def test_a_clip_too_big_for_the_server_is_fitted_or_else_linked_to_a_page_that_works(world):
    import aiohttp

    prompt = "a big clip -len 3 -fps 24 -seed 11"
    member = world.member("roomy")
    _ix, status = await world.create(member, prompt)
    [roomy] = await world.wait_post(clip_id_of(status))
    whole = (await world.store.get(clip_id_of(status))).video_bytes  # as big as it comes

    # Where the upload limit is half of that, the worker re-encodes the clip to fit: it is attached.
    snug = world.sim.add_guild("Snug Uploads", attachment_size_limit=whole // 2)
    # Where no bitrate fits, it is kept whole and posted as a link to its gallery page.
    tiny = world.sim.add_guild("Tiny Uploads", attachment_size_limit=2048)
    await asyncio.sleep(0.5)  # the bot hears of the new servers over the gateway
    posted, clips = {}, {}
    for guild in (snug, tiny):
        channel = world.sim.add_channel(guild, "general")
        someone = world.sim.add_member(guild, f"small{guild.id}")
        ix = await world.slash(someone, "create", {"prompt": prompt}, channel=channel)
        clip_id = await made(world, ix)
        [posted[guild.name]] = await world.wait_post(clip_id)
        clips[guild.name] = await world.store.get(clip_id)

    fitted, snug_clip = posted["Snug Uploads"], clips["Snug Uploads"]
    assert snug_clip.max_bytes == whole // 2 and len(fitted.attachments) == 1
    assert snug_clip.video_bytes <= whole // 2 < whole and roomy.attachments

    linked, clip = posted["Tiny Uploads"], clips["Tiny Uploads"]
    assert clip.max_bytes == 2048 and clip.status == "done" and clip.video_bytes > 2048 and linked.attachments == []
    [link] = re.findall(r"\]\((\S+?)\)", str(linked.embeds[0]["fields"]))
    assert link == f"{world.gallery_url}/clips/{clip.id}"  # never a local path or an expiring URL
    assert clip.video_key.startswith("public/")  # posted publicly: its media is the public copy
    async with aiohttp.ClientSession() as http:
        async with http.get(link) as page:
            html = await page.text()
            assert page.status == 200 and "a big clip" in html
        [video_url] = re.findall(r'<meta property="og:video" content="([^"]+)"', html)
        async with http.get(video_url) as video:
            assert video.status == 200 and await video.read() == (world.media / clip.video_key).read_bytes()


async def test_a_malformed_command_is_answered_privately_and_the_bot_carries_on(world):
    member = world.member("malformed")
    ix = await world.slash(member, "create", {}, check=False)  # no prompt: Discord's client would refuse
    assert ix.response.ephemeral
    _ix, status = await world.create(member, f"a proper one {SHORT}")
    await world.wait_post(clip_id_of(status))
