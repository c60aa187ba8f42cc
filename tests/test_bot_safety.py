"""Safety end to end: the real `reelbot bot` against discordsim, a real `reelbot worker`
running the image-safety check with the random-weight test classifier, Redis and
PostgreSQL. The worker's threshold is 0, so the check flags every picture it looks at:
attachments fail before any denoising step, clips for ordinary channels are withheld and
their authors told privately, clips for an age-restricted channel are posted there,
marked, and kept out of the gallery and the showcase. Reports, the moderators' buttons,
per-server bans, banned terms and pauses all land in the audit log that /admin audit
shows. The last test turns the check off (worker and bot) and sees nothing checked.
"""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import messages
from bot.buttons import custom_id
from core import audit, listings
from core.contract import PROGRESS_CHANNEL
from core.settings import load_settings
from gallery.app import make_app
from tests.test_attachments import image_bytes
from tests.test_bot_world import BotWorld, clip_id_of, footer_of, help_text, no_violations  # noqa: F401 (autouse)

pytestmark = pytest.mark.slow
_n = itertools.count()
SHORT = "-len 1 -fps 8"


@pytest.fixture(scope="module")
async def world(postgres_server, models_dir, tiny_model, tmp_path_factory):
    w = BotWorld(tmp_path_factory.mktemp("safety"), postgres_server.new_database(f"bot_safety_{next(_n)}"),
                 models_dir, REELBOT_SAFETY_THRESHOLD="0", REELBOT_SHOWCASE_VOTES="1",
                 REELBOT_BANNED_TERMS="forbidden")
    await w.start()
    w.adults = w.sim.add_channel(w.guild, "after-dark", nsfw=True)
    w.mods = w.sim.add_channel(w.guild, "moderators")
    w.showcase = w.sim.add_channel(w.guild, "showcase")
    w.manager = w.member("manager", manage_guild=True, manage_messages=True)
    for option, channel in (("mod-channel", w.mods), ("gallery-channel", w.showcase)):
        ix = await w.slash(w.manager, "admin", {"channel": channel}, subcommand=option)
        assert f"<#{channel.id}>" in await w.private_text(ix)
    yield w
    await w.close()


@pytest.fixture(scope="module")
async def gallery(world):
    settings = load_settings(database_url=world.database_url, storage_url=f"file://{world.media}")
    async with TestClient(TestServer(make_app(settings))) as client:
        yield client


async def final(world, clip_id: str, timeout: float = 60):
    async def done():
        clip = await world.store.get(clip_id)
        return clip if clip is not None and clip.status in ("done", "failed", "cancelled") else None

    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        clip = await done()
        if clip is not None:
            return clip
        await asyncio.sleep(0.1)
    raise TimeoutError(f"clip {clip_id} never finished:\n{world.logs()}")


async def entries(world, **kw) -> list[audit.Entry]:
    async with world.store.session() as s:
        return await audit.latest(s, guild_id=str(world.guild.id), limit=100, **kw)


class Steps:
    """Every denoising step the worker reports, from the progress feed."""

    def __init__(self, redis):
        self.pubsub = redis.pubsub()
        self.seen: list[dict] = []

    async def __aenter__(self):
        await self.pubsub.subscribe(PROGRESS_CHANNEL)
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self):
        async for message in self.pubsub.listen():
            if message["type"] == "message":
                self.seen.append(json.loads(message["data"]))

    async def __aexit__(self, *exc):
        self.task.cancel()
        await self.pubsub.unsubscribe()
        await self.pubsub.aclose()

    def of(self, clip_id: str) -> list[dict]:
        return [p for p in self.seen if p["clip_id"] == clip_id and p["status"] == "running"]


async def test_help_says_what_the_check_does(world):
    ix = await world.slash(world.member("reader"), "help")
    text = help_text(ix)
    assert ix.response.ephemeral and "image-safety check looks at attachments and finished clips" in text
    assert "random-weight test classifier" in text and "Report clip" in text


async def test_a_flagged_attachment_fails_before_any_denoising_step(world):
    member = world.member("uploader")
    async with Steps(world.redis) as steps:
        ix = await world.slash(member, "create", {"prompt": f"my holiday photo {SHORT}"},
                               attachments={"image": ("photo.png", image_bytes(), "image/png")})
        status = await world.status_message(ix)
        clip_id = clip_id_of(status)
        clip = await final(world, clip_id)
        # A control render through the same worker and feed shows steps when there are some.
        _ix, control = await world.create(world.member("control"), f"a calm sea {SHORT}", channel=world.adults)
        await world.wait_post(clip_id_of(control))
        assert steps.of(clip_id_of(control))
    assert steps.of(clip_id) == []  # no denoising step ran for the flagged image
    assert (clip.status, clip.flagged, clip.video_key) == ("failed", True, None)
    [notice] = await world.wait_post(clip_id)
    assert notice.channel_id == world.sim.dm_channel(member).id  # told privately, nowhere else
    assert "flagged your image" in notice.embeds[0]["description"] and not notice.attachments
    await world.sim.wait_for(lambda: world.sim.message(status.id).content.startswith("Not posted"), 10)
    assert not any("Rendering" in v.get("content", "") for v in world.sim.message(status.id).edits)
    [entry] = await entries(world, member_id=str(member.id), actions=[audit.Action.FLAGGED_INPUT])
    assert entry.clip_id == clip_id and entry.actor == audit.SAFETY_CHECK and entry.prompt.startswith("my holiday")


async def test_a_flagged_clip_for_an_ordinary_channel_is_withheld_and_its_author_told(world):
    member = world.member("painter")
    _ix, status = await world.create(member, f"a lighthouse at dusk {SHORT}")
    clip_id = clip_id_of(status)
    [notice] = await world.wait_post(clip_id)
    assert notice.channel_id == world.sim.dm_channel(member).id and not notice.attachments
    assert "wasn't posted" in notice.embeds[0]["title"] and "age-restricted" in notice.embeds[0]["description"]
    thread = world.sim.thread_of(status)
    public = world.sim.messages(thread) if thread else []
    assert not [m for m in public + world.sim.messages(world.channel) if clip_id in footer_of(m)]
    await world.sim.wait_for(lambda: world.sim.message(status.id).content.startswith("Not posted"), 10)
    clip = await world.store.get(clip_id)
    assert (clip.status, clip.flagged, clip.video_key) == ("failed", True, None)
    assert list(world.media.glob(f"clips/{clip_id}/*")) == []  # nothing stored
    [entry] = await entries(world, member_id=str(member.id), actions=[audit.Action.FLAGGED_OUTPUT])
    assert entry.clip_id == clip_id and "not posted" in entry.reason


async def test_a_withheld_clip_whose_author_has_dms_closed_says_so_in_its_status(world):
    member = world.member("closed", dms_open=False)
    _ix, status = await world.create(member, f"a red kite {SHORT}")
    clip_id = clip_id_of(status)
    await final(world, clip_id)
    await world.sim.wait_for(lambda: world.sim.message(status.id).content == messages.status_withheld(told=False), 15)
    assert world.posts_of(clip_id) == []


async def test_in_an_age_restricted_channel_it_is_posted_marked_and_kept_out_of_the_galleries(world, gallery):
    author, fan = world.member("nightowl"), world.member("fan")
    _ix, status = await world.create(author, f"a neon alley at night {SHORT}", channel=world.adults)
    clip_id = clip_id_of(status)
    [post] = await world.wait_post(clip_id)
    assert post.channel_id == world.sim.thread_of(status).id  # the thread of the age-restricted channel
    fields = {f["name"]: f["value"] for f in post.embeds[0]["fields"]}
    assert "image-safety check" in fields["Safety"] and footer_of(post).endswith("· flagged")
    assert post.attachments[0].filename == f"SPOILER_{clip_id}.mp4"
    clip = await world.store.get(clip_id)
    assert (clip.status, clip.flagged) == ("done", True) and clip.video_key
    async with world.store.session() as s:
        assert await listings.public_clip(s, clip_id) is None
    assert (await gallery.get(f"/api/clips/{clip_id}")).status == 404
    assert clip_id not in await (await gallery.get("/api/clips?sort=new")).text()
    # One upvote reaches this world's showcase threshold: a flagged clip is never showcased.
    click = await world.sim.click(fan, post, custom_id("upvote", clip_id))
    assert (await click.wait_response()).type == 7
    await asyncio.sleep(1.5)
    assert not [m for m in world.posts_of(clip_id) if m.channel_id == world.showcase.id]
    assert (await world.store.get(clip_id)).showcased_at is None
    # /show reposts it only in an age-restricted channel.
    ix = await world.slash(fan, "show", {"clip": clip_id})
    assert "only in age-restricted channels" in await world.private_text(ix)
    world.flagged_post = post  # reported in the next test


async def test_two_reports_make_one_moderator_message_and_its_delete_removes_the_clip(world):
    post = world.flagged_post
    clip_id = footer_of(post).split(" · ")[0].removeprefix("clip ")
    first, second = world.member("reporter"), world.member("reporter")
    reports = await asyncio.gather(*(world.sim.message_command(m, post, "Report clip") for m in (first, second)))
    for ix in reports:
        assert "reported to this server's moderators" in await world.private_text(ix)
    again = await world.sim.message_command(first, post, "Report clip")
    assert "already reported" in await world.private_text(again)

    def moderator_messages():
        return [m for m in world.sim.messages(world.mods) if m.author_id == world.sim.bot_user.id]

    await world.sim.wait_for(lambda: any("by 2 members" in m.content for m in moderator_messages()), 10)
    await asyncio.sleep(0.5)
    [message] = moderator_messages()  # one message for the clip, its count edited
    assert f"clip `{clip_id}`" in message.content and message.custom_ids == [
        custom_id("report-delete", clip_id), custom_id("report-dismiss", clip_id)]

    plain = world.member("bystander")
    click = await world.sim.click(plain, message, custom_id("report-delete", clip_id))
    assert "Only moderators" in await world.private_text(click)
    click = await world.sim.click(world.manager, message, custom_id("report-delete", clip_id))
    assert (await click.wait_response()).type == 7
    await world.sim.wait_for(lambda: world.sim.message(post.id).deleted, 10)
    edited = world.sim.message(message.id)
    assert f"Deleted by <@{world.manager.id}>" in edited.content and edited.custom_ids == []
    assert (await world.store.get(clip_id)).deleted
    logged = await entries(world, actions=[audit.Action.REPORT, audit.Action.DELETE])
    assert sorted(e.actor for e in logged if e.action == "report") == sorted([str(first.id), str(second.id)])
    [deleted] = [e for e in logged if e.action == "delete"]
    assert (deleted.actor, deleted.clip_id, deleted.reason) == (str(world.manager.id), clip_id,
                                                                "reported by 2 members")


async def test_bans_terms_and_pauses_are_per_server_and_logged(world):
    member, manager = world.member("rowdy"), world.manager
    ix = await world.slash(member, "create", {"prompt": "a forbidden dance -len 1"})
    assert "blocked term" in await world.private_text(ix)
    ix = await world.slash(manager, "admin", {"term": "gore"}, subcommand="terms add")
    assert "`gore`" in await world.private_text(ix)
    ix = await world.slash(manager, "admin", {"member": member, "reason": "flooding"}, subcommand="ban")
    assert "can no longer make clips on this server" in await world.private_text(ix)
    ix = await world.slash(member, "create", {"prompt": f"a quiet pond {SHORT}"})
    assert "its managers have blocked you" in await world.private_text(ix)
    ix = await world.slash(member, "me")
    assert "managers have blocked you from making clips here" in await world.private_text(ix)

    # Another server is not bound by this one's ban.
    other = world.sim.add_guild("Other Server")
    elsewhere = world.sim.add_channel(other, "general")
    there = world.sim.add_member(other, member.name, user=member)
    ix = await world.slash(there, "create", {"prompt": f"a quiet pond {SHORT}"}, channel=elsewhere)
    kind, _value = await world.answer(ix)
    assert kind == "queued"

    await world.slash(manager, "admin", {}, subcommand="pause")
    await world.slash(manager, "admin", {}, subcommand="resume")
    await world.slash(manager, "admin", {"member": member}, subcommand="unban")
    await world.slash(manager, "admin", {"term": "gore"}, subcommand="terms remove")
    mine = [(e.action, e.actor, e.reason, e.prompt) for e in reversed(await entries(world)) if e.action in (
        "refused-prompt", "term-added", "term-removed", "ban", "unban", "pause", "resume")]
    boss = str(manager.id)
    assert mine == [("refused-prompt", str(member.id), "blocked term: forbidden", "a forbidden dance -len 1"),
                    ("term-added", boss, "gore", None), ("ban", boss, "flooding", None), ("pause", boss, None, None),
                    ("resume", boss, None, None), ("unban", boss, None, None), ("term-removed", boss, "gore", None)]


async def test_admin_audit_lists_the_latest_decisions_privately(world):
    ix = await world.slash(world.manager, "admin", {}, subcommand="audit")
    text = await world.private_text(ix)
    assert ix.response.ephemeral and text.startswith("The latest ") and "moderation decisions (newest first)" in text
    for action in ("term-removed", "unban", "resume", "pause", "ban", "term-added", "refused-prompt", "delete",
                   "report"):
        assert f"**{action}**" in text, action
    reporter = next(e.member_id for e in await entries(world, actions=[audit.Action.REPORT]))
    ix = await world.slash(world.manager, "admin", {"member": world.guild.members[int(reporter)]}, subcommand="audit")
    text = await world.private_text(ix)
    assert f"about <@{reporter}>" in text and "**report**" in text and "**ban**" not in text
    painter = next(e.member_id for e in await entries(world, actions=[audit.Action.FLAGGED_OUTPUT])
                   if e.prompt == "a lighthouse at dusk")
    ix = await world.slash(world.manager, "admin", {"member": world.guild.members[int(painter)]}, subcommand="audit")
    text = await world.private_text(ix)
    assert "**flagged-output**" in text and "by the safety check" in text and "`a lighthouse at dusk" in text
    ix = await world.slash(world.member("nosy"), "admin", {}, subcommand="audit", check=False)
    assert "Manage Server" in await world.private_text(ix)


async def test_with_the_check_off_nothing_is_checked_and_help_says_so(world, gallery):
    """Last in this module: it restarts the worker and the bot with REELBOT_SAFETY_CHECK=false."""
    before = len(await entries(world))
    world.workers[0].stop()
    await world.start_worker(REELBOT_SAFETY_CHECK="false")
    world.bot.stop()
    await world.start_bot(REELBOT_SAFETY_CHECK="false")
    member, fan = world.member("free"), world.member("fan")
    ix = await world.slash(member, "help")
    assert "turned the image-safety check off: nothing is checked" in help_text(ix)

    ix = await world.slash(member, "create", {"prompt": f"my holiday photo {SHORT}"},
                           attachments={"image": ("photo.png", image_bytes(), "image/png")})
    clip_id = clip_id_of(await world.status_message(ix))
    [post] = await world.wait_post(clip_id)  # threshold 0 would flag anything the check looked at
    assert post.channel_id == world.sim.thread_of(await world.status_message(ix)).id
    assert post.attachments[0].filename == f"{clip_id}.mp4" and "Safety" not in str(post.embeds)
    assert not (await world.store.get(clip_id)).flagged
    assert "image-safety check is off" in world.workers[-1].log_path.read_text()
    assert len(await entries(world)) == before
    # An ordinary public clip: in the gallery and, at one upvote, in the showcase.
    assert (await gallery.get(f"/api/clips/{clip_id}")).status == 200
    await (await world.sim.click(fan, post, custom_id("upvote", clip_id))).wait_response()
    await world.sim.wait_for(lambda: [m for m in world.posts_of(clip_id) if m.channel_id == world.showcase.id], 10)
    # A report dismissed by a moderator leaves the clip where it is.
    ix = await world.sim.message_command(fan, post, "Report clip")
    assert "reported" in await world.private_text(ix)
    message = await world.sim.wait_for(lambda: next((m for m in world.sim.messages(world.mods)
                                                     if f"clip `{clip_id}`" in m.content), None), 10)
    click = await world.sim.click(world.manager, message, custom_id("report-dismiss", clip_id))
    assert (await click.wait_response()).type == 7
    assert "Dismissed by" in world.sim.message(message.id).content and not world.sim.message(post.id).deleted
    assert not (await world.store.get(clip_id)).deleted
    [dismissed] = await entries(world, actions=[audit.Action.DISMISS])
    assert dismissed.clip_id == clip_id and dismissed.member_id == str(member.id)
