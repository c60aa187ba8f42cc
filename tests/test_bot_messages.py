"""What members read (bot/messages.py, bot/posts.py) and the buttons' custom ids (bot/buttons.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import buttons, messages, posts
from bot.commands.delete import DeleteButton
from bot.commands.edit import EditButton
from bot.commands.extend import ExtendButton
from bot.commands.remix import RemixButton
from bot.commands.retry import RetryButton
from bot.commands.upvote import UpvoteButton
from bot.status import CancelButton
from bot.workers import EtaBook, summarise
from core.contract import new_clip_id


@pytest.mark.parametrize("fraction, bar", [(0, "▱▱▱▱▱"), (0.19, "▱▱▱▱▱"), (0.2, "▰▱▱▱▱"), (0.6, "▰▰▰▱▱"),
                                           (0.99, "▰▰▰▰▱"), (1, "▰▰▰▰▰"), (7, "▰▰▰▰▰"), (-1, "▱▱▱▱▱"),
                                           (float("nan"), "▱▱▱▱▱")])
def test_progress_bar(fraction, bar):
    assert messages.progress_bar(fraction) == bar


def test_status_lines():
    assert messages.status_queued(3, 40) == "Queued · position 3 · 2 clips ahead · ETA ~40 s"
    assert messages.status_queued(1, 150) == "Queued · position 1 · 0 clips ahead · ETA ~2 min"
    assert messages.status_queued(2, 40, eta_high=130) == "Queued · position 2 · 1 clip ahead · ETA ~40 s–2 min"
    assert messages.status_queued(None, None) == "Queued · starting soon"
    assert messages.status_queued(2, None, waiting=True) == "Queued · position 2 · 1 clip ahead · waiting for a worker"
    assert messages.status_queued(4, 40, lane="relax") == "Queued · relax · position 4 · 3 clips ahead · ETA ~40 s"
    moved = messages.status_queued(4, 40, lane="relax", moved="server")
    assert moved.startswith("Queued · relax lane: this server's fast hours for today are used up")
    rose = messages.status_queued(6, 40, rose_from=4)
    assert rose.endswith("· 2 more ahead than before: the fair queue put quieter servers' or members' clips first")
    assert "more ahead" not in messages.status_queued(3, 40, rose_from=4)  # fell back: nothing to explain
    assert messages.status_rendering(0.6) == "Rendering ▰▰▰▱▱ 60%"
    assert messages.status_done(12.34) == "Done in 12.3 s · the clip is below"
    assert messages.status_failed(None).startswith("Failed · ")


@pytest.mark.parametrize("seconds, text", [(0.2, "~1 s"), (40, "~40 s"), (89, "~89 s"), (150, "~2 min"),
                                           (7200, "~2.0 h"), (None, "unknown"), (float("inf"), "unknown")])
def test_eta_text(seconds, text):
    assert messages.eta_text(seconds) == text


def test_thread_names_fit_discord():
    assert messages.thread_name("a fox\nin snow", "abc") == "a fox in snow"
    assert messages.thread_name("", "abc") == "clip abc"
    assert len(messages.thread_name("x" * 500, "abc")) == 100


def test_test_models_are_labelled():
    assert "noise" in messages.model_label("ltx-tiny")
    assert messages.model_label("ltx-video") == "ltx-video"


def test_refusals_name_the_way_out():
    assert "-model ltx-video" in messages.task_refused("ltx-tiny", "extend", ["ltx-video"])
    assert "None of the models" in messages.task_refused("ltx-tiny", "extend", [])
    assert "/settings" in messages.model_not_served("wan", ["ltx-tiny"], from_settings=True)
    assert "`nude`" in messages.banned_term("nude")


def test_help_fits_in_a_message_and_names_every_flag():
    from core.flags import KNOWN_FLAGS

    assert len(messages.HELP) <= 4096  # an embed's description
    assert all(f"`-{flag}" in messages.HELP for flag in KNOWN_FLAGS)


# --- custom ids -----------------------------------------------------------------------

CLIP_BUTTONS = [RetryButton, RemixButton, ExtendButton, EditButton, UpvoteButton, DeleteButton, CancelButton]


@pytest.mark.parametrize("button", CLIP_BUTTONS)
def test_each_button_id_carries_its_action_and_clip_id(button):
    clip_id = new_clip_id()
    item = button(clip_id)
    assert item.custom_id == f"reelbot:{button.action}:{clip_id}" and len(item.custom_id) <= 100
    match = button.__discord_ui_compiled_template__.fullmatch(item.custom_id)
    assert match and match["clip_id"] == clip_id
    others = [b for b in CLIP_BUTTONS if b is not button]
    assert not any(b.__discord_ui_compiled_template__.fullmatch(item.custom_id) for b in others)


@pytest.mark.parametrize("value", ["", "reelbot", "reelbot:retry", "reelbot:retry:XYZ", "reelbot:nuke:abcdef012345",
                                   "other:retry:abcdef012345", "reelbot:retry:abcdef012345:extra",
                                   "reelbot:retry:" + "a" * 200])
def test_anything_else_is_not_a_button_of_ours(value):
    assert not any(b.__discord_ui_compiled_template__.fullmatch(value) for b in CLIP_BUTTONS)


@given(st.text(max_size=120), st.sampled_from(["retry", "edit", "lip-sync"]))
def test_custom_ids_are_refused_unless_well_formed(clip_id, action):
    try:
        value = buttons.custom_id(action, clip_id)
    except ValueError:
        return
    assert len(value) <= 100 and value.endswith(clip_id)


async def test_clip_view_has_the_six_buttons_with_the_vote_count():
    view = posts.clip_view("0123456789abcdef01234567", votes=4)
    assert [child.item.label for child in view.children] == ["Retry", "Remix", "Extend", "Edit", "4", "Delete"]


# --- posts ----------------------------------------------------------------------------

def _clip(**kw):
    base = dict(id="0123456789abcdef01234567", prompt="a *fox* in snow", flags={"ar": [9, 16], "fps": 12},
                seed=7, model="ltx-tiny", timings={"total": 5.0, "queue_wait": 1.5}, duration=2.0, width=96,
                height=160, fps=12, author_id="42", parent_id=None, task="text-to-video", private=False,
                vote_count=2, error=None, flagged=False, edit_region=None, sound=False)
    return SimpleNamespace(**(base | kw))


async def test_result_post_shows_what_the_member_needs():
    post = posts.result_post(_clip(), video=b"mp4", video_url=None, mention=True)
    data = post.embed.to_dict()
    assert post.content == "<@42>" and post.filename.endswith(".mp4")
    assert "\\*fox\\*" in data["description"] and "-ar 9:16 -fps 12" in data["description"]
    fields = {f["name"]: f["value"] for f in data["fields"]}
    assert fields["Seed"] == "`7`" and "noise" in fields["Model"] and fields["Render time"] == "3.5 s"
    assert fields["Author"] == "<@42>" and fields["Clip"] == "2.0 s · 96×160 · 12 fps"
    assert data["footer"]["text"] == "clip 0123456789abcdef01234567"
    assert [c.item.label for c in post.view.children][4] == "2"
    assert "Edited" not in fields and "Edit of" not in fields


async def test_an_edits_post_says_what_it_changed_and_its_source():
    whole = posts.result_post(_clip(task="edit", parent_id="abcdef0123456789", edit_region="whole frame"),
                              video=b"mp4", video_url=None, mention=False)
    fields = {f["name"]: f["value"] for f in whole.embed.to_dict()["fields"]}
    assert fields["Edited"] == "the whole frame" and fields["Edit of"] == "clip `abcdef0123456789`"
    masked = posts.result_post(_clip(task="edit", edit_region="the red car"), video=b"mp4", video_url=None,
                               mention=False)
    fields = {f["name"]: f["value"] for f in masked.embed.to_dict()["fields"]}
    assert fields["Edited"].startswith("only “the red car”") and "Edit of" not in fields


async def test_a_clip_shorter_than_asked_says_so_in_its_post():
    short = posts.result_post(_clip(model="ltx-video", duration=257 / 30, fps=30), video=b"mp4", video_url=None,
                              mention=False, asked_seconds=10.0)
    fields = {f["name"]: f["value"] for f in short.embed.to_dict()["fields"]}
    assert fields["Length"].startswith("Shorter than asked: 8.6 s of the 10 s you asked for")
    assert "ltx-video" in fields["Length"]
    as_asked = posts.result_post(_clip(), video=b"mp4", video_url=None, mention=False)
    assert "Length" not in {f["name"] for f in as_asked.embed.to_dict()["fields"]}


async def test_a_clip_too_big_to_attach_is_linked():
    post = posts.result_post(_clip(), video=None, video_url="https://media.example/c.mp4", mention=False)
    assert post.video is None and post.content is None
    assert "https://media.example/c.mp4" in str(post.embed.to_dict()["fields"])


async def test_a_flagged_clip_is_marked_and_its_video_covered():
    post = posts.result_post(_clip(flagged=True), video=b"mp4", video_url=None, mention=True)
    data = post.embed.to_dict()
    assert "image-safety check" in {f["name"]: f["value"] for f in data["fields"]}["Safety"]
    assert data["footer"]["text"] == "clip 0123456789abcdef01234567 · flagged"
    assert post.file().filename == "SPOILER_0123456789abcdef01234567.mp4"
    assert posts.result_post(_clip(), video=b"mp4", video_url=None, mention=True).file().filename == \
        "0123456789abcdef01234567.mp4"


def test_a_withheld_clip_is_a_notice_without_buttons_or_video():
    post = posts.withheld_post(_clip(), "Your clip `x` was made, but the image-safety check flagged it")
    assert post.view is None and post.video is None and post.content is None
    assert "flagged it" in post.embed.description and "a \\*fox\\* in snow" in post.embed.description
    assert posts.is_post_of(SimpleNamespace(embeds=[post.embed]), "0123456789abcdef01234567")
    assert "told why" in messages.status_withheld(told=True) and "flagged" in messages.status_withheld(told=False)


async def test_posts_are_recognised_by_their_footer():
    post = posts.failed_post(_clip(), "out of memory", mention=False)
    message = SimpleNamespace(embeds=[post.embed])
    assert posts.is_post_of(message, "0123456789abcdef01234567")
    assert not posts.is_post_of(message, "0123456789abcdef01234568")
    assert "out of memory" in post.embed.description


# --- workers and ETA ------------------------------------------------------------------

def test_presence_is_summarised_per_model():
    online = summarise([{"models": {"ltx-tiny": ["text-to-video"]}},
                        {"models": {"ltx-tiny": ["text-to-video"], "wan": ["extend", "text-to-video"]}},
                        {"models": "garbage"}, {}])
    assert online.workers == {"ltx-tiny": 2, "wan": 1}


def test_eta_follows_recent_clips():
    book = EtaBook()
    assert book.eta("m", 2, 1) == 2 * EtaBook.DEFAULT_S
    book.seed({"m": [10.0, 20.0, 30.0]})
    assert book.eta("m", 3, 2) == 30.0
    book.record("m", 40.0)
    assert 20.0 < book.per_model["m"] < 40.0


# --- anything a member can type stays within Discord's limits -----------------------

@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=1500), st.text(max_size=200))
async def test_posts_and_threads_fit_discord_whatever_the_prompt(prompt, flag_text):
    from core.flags import Request, parse_prompt

    from bot.orders import text_of

    parsed = parse_prompt(f"{prompt} {flag_text}")
    if not isinstance(parsed, Request):
        return
    clip = _clip(prompt=parsed.prompt, flags=parsed.flags.to_dict())
    embed = posts.result_post(clip, video=None, video_url="https://x/y.mp4", mention=True).embed
    assert len(embed.description or "") <= 4096 and len(embed) <= 6000
    name = messages.thread_name(parsed.prompt, clip.id)
    assert 1 <= len(name) <= 100
    # What Retry and the Remix modal put back in reads as the same request.
    assert parse_prompt(text_of(clip)) == parsed


# --- status edits and shards ----------------------------------------------------------

def test_queue_positions_are_edited_sparingly_and_progress_always():
    from bot.status import Watched, worth_editing

    w = Watched("c", "m", text="Queued · position 40 · ETA ~20 min", position=40)
    assert not worth_editing(w, w.text, 40)
    assert not worth_editing(w, "Queued · position 35 · ETA ~17 min", 35)  # a small move: not worth an edit
    assert worth_editing(w, "Queued · position 32 · ETA ~16 min", 32)  # a fifth closer
    near = Watched("c", "m", text="Queued · position 4 · ETA ~2 min", position=4)
    assert worth_editing(near, "Queued · position 3 · ETA ~90 s", 3)
    assert worth_editing(w, "Rendering ▰▱▱▱▱ 20%", None)
    assert not worth_editing(w, None, None)
    assert worth_editing(w, "Queued · position 41 · 40 clips ahead · ETA ~20 min · 1 more ahead than before", 41)


def test_shard_settings_are_checked():
    from bot.client import sharding
    from core.settings import SettingsError, load_settings

    assert sharding(load_settings()) == {}
    assert sharding(load_settings(discord_shard_count=4, discord_shard_ids=[1, 3])) == \
        {"shard_count": 4, "shard_ids": [1, 3]}
    with pytest.raises(SettingsError, match="REELBOT_DISCORD_SHARD_IDS"):
        sharding(load_settings(discord_shard_count=2, discord_shard_ids=[2]))


async def test_the_done_post_delivery_builds_says_when_the_clip_came_out_shorter(tmp_path):
    from bot.delivery import Delivery
    from core.contract import Outcome, Status
    from core.settings import load_settings
    from core.storage import FileStorage

    storage = FileStorage(tmp_path)
    storage.put("clips/c/clip.mp4", b"mp4", "video/mp4")
    delivery = Delivery(None, SimpleNamespace(settings=load_settings(), storage=storage, redis=None))
    clip = _clip(model="ltx-video", duration=257 / 30, fps=30, video_key="clips/c/clip.mp4", video_bytes=3,
                 max_bytes=None)
    done = Outcome(clip_id=clip.id, status=Status.DONE, video_key=clip.video_key, video_bytes=3, fps=30,
                   num_frames=257, asked_seconds=10.0)
    post = await delivery._build(clip, done, mention=False, private=False)
    fields = {f["name"]: f["value"] for f in post.embed.to_dict()["fields"]}
    assert post.video == b"mp4" and fields["Length"].startswith("Shorter than asked: 8.6 s of the 10 s")
    as_asked = await delivery._build(clip, done.model_copy(update={"asked_seconds": None}), mention=False,
                                     private=False)
    assert "Length" not in {f["name"] for f in as_asked.embed.to_dict()["fields"]}
