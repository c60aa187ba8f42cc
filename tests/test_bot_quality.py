"""Quality end to end, through the real discord.py client against discordsim, a real worker
serving two tiny models and PostgreSQL: "Clip details" for the author and another member
(private clips: author only), the finished status saying what the member waited, members'
reactions recorded per clip, and the canary sending a sticky share of members to a
candidate model whose posts say so."""

from __future__ import annotations

import asyncio
import itertools
import re

import pytest
from sqlalchemy import select, update

from bot.buttons import custom_id
from core import quality
from core.tables import Clip, Reaction
from tests.test_bot_world import BotWorld, clip_id_of, footer_of, no_violations  # noqa: F401 (autouse)

pytestmark = pytest.mark.slow
SHORT = "-len 1 -fps 8"
CANDIDATE = "wan-tiny"
_n = itertools.count()


@pytest.fixture(scope="module")
async def world(postgres_server, tmp_path_factory, models_dir):
    from core.catalog import get_model
    from inference.loading import resolve_source

    for name in ("ltx-tiny", CANDIDATE):  # built before the worker starts
        resolve_source(get_model(name), None, models_dir)
    tmp = tmp_path_factory.mktemp("quality")
    w = BotWorld(tmp, postgres_server.new_database(f"bot_quality_{next(_n)}"), models_dir,
                 REELBOT_MODELS=f"ltx-tiny,{CANDIDATE}", REELBOT_CANARY=f"{CANDIDATE}:50",
                 REELBOT_MODEL_STEPS='{"ltx-tiny": 4, "wan-tiny": 4}', REELBOT_ADHERENCE_MODEL="clip-tiny",
                 REELBOT_JOBS_PER_DAY="50")
    await w.start()
    yield w
    await w.close()


def _member(world, in_canary: bool):
    """A new member on the wanted side of the canary's 50 % (the hash of their id decides)."""
    while True:
        member = world.member("q")
        if quality.in_canary(str(member.id), 50) == in_canary:
            return member


async def _made(world, member, prompt: str):
    _ix, status = await world.create(member, prompt)
    clip_id = clip_id_of(status)
    [post] = await world.wait_post(clip_id)
    return clip_id, post, status


def _fields(message) -> dict[str, str]:
    return {f["name"]: f["value"] for e in message.embeds for f in e.get("fields", [])}


async def _details(world, member, post):
    ix = await world.sim.message_command(member, post, "Clip details")
    await ix.wait_response(timeout=10)
    return ix


async def test_clip_details_shows_the_author_and_another_member_how_the_clip_was_made(world):
    author, other = _member(world, False), _member(world, False)
    clip_id, post, _status = await _made(world, author, f"a lighthouse at dusk {SHORT} -seed 5 -motion 2")
    clip = await world.store.get(clip_id)
    assert clip.model == "ltx-tiny" and clip.canary == quality.CONTROL

    for viewer in (author, other):
        ix = await _details(world, viewer, post)
        assert ix.response.ephemeral and ix.response.latency < 3
        [answer] = ix.ephemeral
        facts = _fields(answer)
        assert facts["Model"] == "ltx-tiny · weights random weights" and facts["Seed"] == "5"
        assert facts["Task"] == "text-to-video" and facts["Steps · guidance"].startswith("4 · ")
        assert "queue wait" in facts["Time"] and "render" in facts["Time"] and "encode" in facts["Time"]
        assert "upload" in facts["Time"] and re.fullmatch(r"[0-9.]+", facts["GPU seconds"])
        assert "from the command to the post" in facts["Waited"]
        signals = facts["Quality signals"]
        for label in ("motion", "steadiness", "frozen frames", "black frames", "sharpness", "prompt adherence"):
            assert label in signals, signals
        assert "median" in signals  # each signal against the model's median
        assert facts["Safety check"] == "passed" and facts["Canary"] == "control (default model)"
        assert answer.visible_to == viewer.id and footer_of(answer) == f"clip {clip_id}"
    assert [c["name"] for c in world.sim.commands() if c["type"] == 3] == ["Report clip", "Clip details"]


async def test_clip_details_of_a_private_clip_are_its_authors_only(world):
    author, other = _member(world, False), _member(world, False)
    ix = await world.slash(author, "create", {"prompt": f"my secret garden {SHORT} -private"})
    clip_id = clip_id_of(ix.message)
    [post] = await world.wait_post(clip_id)  # in the author's DMs
    details = await _details(world, author, post)
    assert "Quality signals" in _fields(details.ephemeral[0])
    with pytest.raises(ValueError):  # Discord shows another member nothing of the author's DMs
        await world.sim.message_command(other, post, "Clip details")

    # A post whose clip is private in the records (however it came to be public) stays the author's.
    public_id, public_post, _ = await _made(world, author, f"a public garden {SHORT}")
    async with world.store.session.begin() as s:
        await s.execute(update(Clip).where(Clip.id == public_id).values(private=True))
    refused = await _details(world, other, public_post)
    assert "only its author" in await world.private_text(refused)
    assert "Quality signals" in _fields((await _details(world, author, public_post)).ephemeral[0])

    nothing = await _details(world, other, (await world.create(other, f"not yet {SHORT}"))[1])
    text = await world.private_text(nothing)
    assert "still being made" in text or "How this clip was made" in str(nothing.ephemeral[0].embeds)


async def test_the_finished_status_says_what_the_member_waited_from_command_to_post(world):
    member = _member(world, False)
    clip_id, _post, status = await _made(world, member, f"a clock tower {SHORT}")
    done = await world.sim.wait_for(lambda: world.sim.message(status.id).content.startswith("Done in")
                                    and world.sim.message(status.id), 10)
    said = float(re.match(r"Done in ([0-9.]+) s", done.content).group(1))
    clip = await world.store.get(clip_id)
    waited = (clip.posted_at - clip.requested_at).total_seconds()
    # Not the worker's share of it: from the member's command to the post, queue and delivery included.
    assert said >= clip.timings["total"] - 0.05 and said == pytest.approx(waited, abs=0.3)
    assert clip.requested_at <= clip.created_at


async def test_members_reactions_are_recorded_per_clip(world):
    author, fan = _member(world, False), _member(world, False)
    clip_id, post, _ = await _made(world, author, f"a paper boat on a rainy street {SHORT}")

    await (await world.sim.click(fan, post, custom_id("upvote", clip_id))).wait_response()
    retry = await world.sim.click(fan, post, custom_id("retry", clip_id))
    await retry.wait_response()
    retried = clip_id_of(await world.status_message(retry))
    # A redo: the author makes nearly the same prompt again soon after seeing the clip.
    redo_id, _redo_post, _ = await _made(world, author, f"a paper boat on a rainy street at night {SHORT}")

    async def reactions(wanted: set, timeout: float = 10) -> set:
        """The clip's reactions, once they are `wanted` (a button answers before it records)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            async with world.store.session() as s:
                rows = set((await s.execute(select(Reaction.kind, Reaction.member_id, Reaction.made_clip_id)
                                            .where(Reaction.clip_id == clip_id))).all())
            if rows == wanted or asyncio.get_running_loop().time() > deadline:
                return rows
            await asyncio.sleep(0.1)

    wanted = {("upvote", str(fan.id), None), ("retry", str(fan.id), retried), ("redo", str(author.id), redo_id)}
    assert await reactions(wanted) == wanted
    await (await world.sim.click(fan, post, custom_id("upvote", clip_id))).wait_response()  # taken back
    await (await world.sim.click(author, post, custom_id("delete", clip_id))).wait_response()
    wanted = {("retry", str(fan.id), retried), ("redo", str(author.id), redo_id), ("delete", str(author.id), None)}
    assert await reactions(wanted) == wanted


async def test_the_canary_sends_a_sticky_share_of_members_to_the_candidate_and_says_so(world):
    trial, control = _member(world, True), _member(world, False)
    for _ in range(2):  # sticky: the same member gets the same model every time
        clip_id, post, _ = await _made(world, trial, f"a red kite over hills {SHORT}")
        clip = await world.store.get(clip_id)
        assert clip.model == CANDIDATE and clip.canary == quality.CANDIDATE
        assert _fields(post)["Model"].startswith(CANDIDATE) and "canary" in _fields(post)["Model"]
    clip_id, post, _ = await _made(world, control, f"a red kite over hills {SHORT}")
    clip = await world.store.get(clip_id)
    assert clip.model == "ltx-tiny" and clip.canary == quality.CONTROL and "canary" not in _fields(post)["Model"]
    # A clip that names its model is no part of the trial, whoever asks.
    clip_id, _post, _ = await _made(world, trial, f"a red kite over hills {SHORT} -model ltx-tiny")
    clip = await world.store.get(clip_id)
    assert clip.model == "ltx-tiny" and clip.canary is None
    # Nor is a task the candidate cannot do (wan-tiny has no image-to-video): the default makes it.
    from tests.test_attachments import image_bytes

    ix = await world.slash(trial, "create", {"prompt": f"it moves {SHORT}"},
                           attachments={"image": ("a.png", image_bytes(), "image/png")})
    clip_id = clip_id_of(await world.status_message(ix))
    clip = await world.store.get(clip_id)
    assert clip.model == "ltx-tiny" and clip.canary is None
