"""`reelbot quality` over a seeded database (core/quality.py, core/canary.py, reelbot/quality.py),
reactions and redo detection in the store, the canary's sticky choice, and the gallery's clip
page showing how a clip was made."""

import asyncio
import random
import re
from datetime import datetime, timedelta, timezone

import pytest

from bench.quality_seed import seed
from core import canary as trial
from core import quality
from core.db import make_engine, make_sessionmaker
from core.migrate import upgrade_async
from core.quality import CANDIDATE, CONTROL, ClipRow, Kind
from reelbot.cli import main
from tests.servers import database_url


@pytest.fixture
def database(tmp_path):
    return f"sqlite:///{tmp_path / 'quality.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def both(request, tmp_path):
    """SQLite and PostgreSQL: reactions are written with each one's insert-or-ignore."""
    return database_url(request, tmp_path, "quality")


async def _rows(url, **kw):
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as s:
        rows = await quality.report_rows(s, **kw)
    await engine.dispose()
    return rows


def test_the_table_covers_every_model_revision_and_knob_set(database, capsys, monkeypatch):
    asyncio.run(seed(database, 600))
    monkeypatch.setenv("REELBOT_DATABASE_URL", database)
    assert main(["quality", "--since", "7d"]) == 0
    out = capsys.readouterr().out
    assert "600 finished clips" in out
    for model in ("ltx-video", "wan-t2v-1.3b", "ltx-2"):
        assert re.search(rf"^{re.escape(model)}\s", out, re.M), out
    assert "cache=first-block,compile=True" in out and "e58e28c39631" in out
    rows = asyncio.run(_rows(database))
    summaries = quality.summarize(rows)
    assert sum(s.clips for s in summaries) == 600
    assert sum(s.failed for s in summaries) == sum(r.status == "failed" for r in rows)
    # The reaction rates are what the rows hold, per group.
    ltx2 = [s for s in quality.summarize(rows, by_version=False) if s.model == "ltx-2"][0]
    done = [r for r in rows if r.model == "ltx-2" and r.status == "done"]
    assert ltx2.reaction_rates["upvote"] == pytest.approx(sum("upvote" in r.reactions for r in done) / len(done))
    assert ltx2.medians["loudness"] is not None and ltx2.render_p50 <= ltx2.render_p95


async def test_motion_calibration_says_which_models_follow_motion(database):
    await seed(database, 600)
    calibration = quality.calibration(await _rows(database))
    from reelbot.quality import motion_works

    assert motion_works(calibration["ltx-video"]).startswith("yes")
    assert motion_works(calibration["wan-t2v-1.3b"]).startswith("barely")  # its -motion barely moves it
    assert [flag for flag in calibration["ltx-video"]] == [0, 1, 2, 3, 4]


def test_the_html_report_embeds_its_charts(database, tmp_path, monkeypatch, capsys):
    asyncio.run(seed(database, 520))
    monkeypatch.setenv("REELBOT_DATABASE_URL", database)
    assert main(["quality", "--html", str(tmp_path / "report.html")]) == 0
    page = (tmp_path / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4 and "-motion calibration" in page and "520 finished clips" in page
    assert "http://" not in page and "https://" not in page  # no external assets
    import base64

    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)


def test_the_canary_rolls_back_a_candidate_worse_on_broken_clips(database, capsys, monkeypatch):
    asyncio.run(seed(database, 700, candidate_broken=0.25))
    monkeypatch.setenv("REELBOT_DATABASE_URL", database)
    assert main(["quality", "--canary"]) == 0
    out = capsys.readouterr().out
    verdict = next(line for line in out.splitlines() if line.startswith("Verdict:"))
    assert verdict.startswith("Verdict: ROLL BACK: the candidate is worse on") and "broken (" in verdict
    line = next(line for line in out.splitlines() if line.startswith("broken (guard)"))
    assert re.search(r"\[\+\d+\.\d, \+\d+\.\d\] pts", line)  # the interval, wholly above zero


def _arm(rng, arm, n, fail=0.03, broken=0.02, upvote=0.3, adherence=30.0):
    rows = []
    for i in range(n):
        failed = rng.random() < fail
        rows.append(ClipRow(
            id=f"{arm}{i}", model="ltx-2" if arm == CANDIDATE else "ltx-video", revision="r", knobs="", canary=arm,
            status="failed" if failed else "done", broken="black" if rng.random() < broken else None, motion_flag=1,
            signals={"motion": rng.lognormvariate(2, 0.3), "flicker": 0.98 + rng.gauss(0, 0.004),
                     "adherence": rng.gauss(adherence, 2)},
            render_s=30.0, gpu_s=31.0, reactions={"upvote"} if rng.random() < upvote else set()))
    return rows


def test_an_equal_or_better_candidate_is_promoted_with_its_intervals():
    rng = random.Random(3)
    verdict = trial.compare(_arm(rng, CONTROL, 400) + _arm(rng, CANDIDATE, 400, upvote=0.4, adherence=32))
    assert verdict.decision == trial.PROMOTE, verdict.reason
    assert "upvote" in verdict.reason and "adherence" in verdict.reason
    upvote = next(d for d in verdict.differences if d.name == "upvote")
    assert upvote.low > 0 and upvote.better
    text = __import__("reelbot.quality", fromlist=["canary_text"]).canary_text(verdict)
    assert "Verdict: PROMOTE" in text and "95 % interval" in text and re.search(r"\[[+-]\d", text)


def test_few_clips_hold_and_a_guard_worse_rolls_back_even_so():
    rng = random.Random(4)
    few = trial.compare(_arm(rng, CONTROL, 12) + _arm(rng, CANDIDATE, 12))
    assert few.decision == trial.HOLD and "too few clips" in few.reason
    bad = trial.compare(_arm(rng, CONTROL, 200) + _arm(rng, CANDIDATE, 200, fail=0.3))
    assert bad.decision == trial.ROLL_BACK and "failed" in bad.reason


def test_intervals_for_proportions_stay_honest_at_zero():
    d, low, high = trial.proportion_difference(0, 50, 0, 50)
    assert d == 0 and low < 0 < high  # no failures either side: still uncertain, not a point
    d, low, high = trial.proportion_difference(30, 100, 10, 100)
    assert low > 0 and low < d < high
    found = trial.median_difference([1.0] * 50, [1.0] * 50)
    assert found == (0.0, 0.0, 0.0)


def test_the_canary_choice_is_sticky_and_about_the_share_asked():
    members = [str(10**17 + i) for i in range(4000)]
    share = sum(quality.in_canary(m, 10) for m in members) / len(members)
    assert 0.08 < share < 0.12
    assert all(quality.in_canary(m, 10) == quality.in_canary(m, 10) for m in members[:100])
    assert all(quality.in_canary(m, 100) for m in members[:100]) and not any(quality.in_canary(m, 0) for m in members)
    able = {"ltx-video", "ltx-2"}.__contains__
    member = next(m for m in members if quality.in_canary(m, 10))
    assert quality.canary_choice(("ltx-2", 10), member, "ltx-video", able) == ("ltx-2", CANDIDATE)
    assert quality.canary_choice(("ltx-2", 10), member, "ltx-video", {"ltx-video"}.__contains__) == ("ltx-video", None)
    assert quality.canary_choice(None, member, "ltx-video", able) == ("ltx-video", None)
    outside = next(m for m in members if not quality.in_canary(m, 10))
    assert quality.canary_choice(("ltx-2", 10), outside, "ltx-video", able) == ("ltx-video", CONTROL)


async def test_reactions_are_recorded_once_and_redos_found(both):
    from core.clips import ClipStore

    await upgrade_async(both)
    store = ClipStore.from_url(both)
    now = datetime.now(timezone.utc)
    await store.add(id="a1", task="text-to-video", prompt="A red fox in the snow", seed=1, model="ltx-tiny",
                    author_id="m1", status="done", finished_at=now - timedelta(minutes=3))
    await store.add(id="old", task="text-to-video", prompt="a red fox in the snow", seed=1, model="ltx-tiny",
                    author_id="m1", status="done", finished_at=now - timedelta(minutes=30),
                    created_at=now - timedelta(minutes=31))
    await store.add(id="a2", task="text-to-video", prompt="a red fox in the snow, at dusk", seed=2, model="ltx-tiny",
                    author_id="m1", status="queued")
    assert await quality.note_redo(store.session, "a2", "m1", "a red fox in the snow, at dusk", "text-to-video",
                                   now=now) == "a1"
    assert await quality.note_redo(store.session, "a2", "m1", "a blue whale", "text-to-video", now=now) is None
    assert await quality.note_redo(store.session, "a2", "m2", "a red fox in the snow", "text-to-video", now=now) is None
    assert await quality.react(store.session, "a1", Kind.UPVOTE, "m9")
    assert not await quality.react(store.session, "a1", Kind.UPVOTE, "m9")  # once per member
    assert not await quality.react(store.session, "nope", Kind.UPVOTE, "m9")
    async with store.session() as s:
        assert await quality.reactions_of(s, "a1") == {"redo": 1, "upvote": 1}
    await quality.unreact(store.session, "a1", Kind.UPVOTE, "m9")
    async with store.session() as s:
        assert await quality.reactions_of(s, "a1") == {"redo": 1}
    await store.close()


async def test_the_gallery_clip_page_shows_how_it_was_made_without_moderation_facts(database, tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    from core.clips import ClipStore
    from core.contract import Outcome, Quality, Status, Timings
    from core.settings import load_settings
    from gallery.app import make_app

    await upgrade_async(database)
    store = ClipStore.from_url(database)
    for n, motion in enumerate((4.0, 6.0, 8.0)):
        await store.add(id=f"c{n}", task="text-to-video", prompt=f"a fox {n}", seed=n, model="ltx-tiny",
                        author_id="m1", status="running", private=False)
        await store.record_outcome(Outcome(
            clip_id=f"c{n}", status=Status.DONE, model="ltx-tiny", seed=n, video_key=f"clips/c{n}/clip.mp4",
            poster_key=f"clips/c{n}/poster.jpg", fps=8, num_frames=8, width=64, height=64,
            timings=Timings(queue_wait=1.5, render=2.0, gpu=2.1, encode=0.2, upload=0.1, quality=0.05),
            quality=Quality(signals={"motion": motion, "flicker": 0.97}, revision="random weights",
                            knobs={"compile": True}, steps=8, guidance=3.0, safety="passed")))
    await store.close()
    settings = load_settings(database_url=database, storage_url=f"file://{tmp_path / 'media'}")
    async with TestClient(TestServer(make_app(settings))) as client:
        page = await (await client.get("/clips/c2")).text()
    assert "How it was made" in page and "weights random weights" in page and "8 · 3" in page
    assert "compile True" in page and "render 2.00 s" in page and "2.10" in page
    assert "motion: 8.0 % width/s (median 6 · +33 %)" in page
    assert "Safety check" not in page  # a moderation fact: Clip details only


async def test_migration_0009_downgrades_and_upgrades_again(both):
    from alembic import command
    from sqlalchemy import inspect

    from core.migrate import alembic_config

    await upgrade_async(both)
    await seed(both, 20)
    await asyncio.to_thread(command.downgrade, alembic_config(both), "0008")
    engine = make_engine(both)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        columns = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("clips")})
    await engine.dispose()
    assert "reactions" not in tables and "quality" not in columns and "gpu_seconds" in columns
    await upgrade_async(both)
    assert len(await _rows(both)) == 20  # the clips stayed; their quality went with the columns
