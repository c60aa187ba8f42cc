"""A database of made-up finished clips for `reelbot quality`: three models with their own
habits (how often they fail, come out broken, get retried or upvoted, how much `-motion`
moves them), two weights revisions and two knob sets of one of them, members' reactions,
and a canary. Deterministic for a seed. Used by bench/quality_report.py (the table and the
chart PNG in docs/) and by tests/test_quality_report.py.

    python bench/quality_seed.py sqlite:///quality.db [--clips 600]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.clips import knobs_label  # noqa: E402
from core.db import make_engine  # noqa: E402
from core.migrate import upgrade_async  # noqa: E402
from core.quality import CANDIDATE, CONTROL, Kind  # noqa: E402
from core.tables import Clip, Reaction  # noqa: E402


@dataclass(frozen=True)
class Habit:
    """How a model's clips come out, on average."""

    model: str
    share: float  # of all clips
    fail: float
    broken: float
    motion_base: float  # % width/s at -motion 0
    motion_step: float  # added per -motion step
    flicker: float
    sharpness: float
    adherence: float
    render_s: float
    sound: bool
    reactions: dict  # Kind -> chance a clip gets one
    revisions: tuple = ("random weights",)
    knob_sets: tuple = ({},)


REACTIONS = {Kind.RETRY: 0.12, Kind.REDO: 0.06, Kind.DELETE: 0.04, Kind.REPORT: 0.01, Kind.UPVOTE: 0.30,
             Kind.REMIX: 0.08, Kind.EXTEND: 0.05, Kind.EDIT: 0.03}
HABITS = (
    Habit("ltx-video", 0.45, 0.03, 0.02, 2.0, 5.5, 0.985, 180, 29.0, 38.0, False, REACTIONS,
          revisions=("e58e28c39631", "0f3b1c77d2aa"), knob_sets=({}, {"cache": "first-block", "compile": True})),
    Habit("wan-t2v-1.3b", 0.30, 0.05, 0.03, 4.0, 0.3, 0.975, 140, 30.5, 95.0, False,
          REACTIONS | {Kind.RETRY: 0.18, Kind.UPVOTE: 0.22}, revisions=("0fad780a534b",)),
    Habit("ltx-2", 0.25, 0.04, 0.05, 3.0, 4.0, 0.98, 210, 31.0, 70.0, True,
          REACTIONS | {Kind.UPVOTE: 0.36, Kind.REMIX: 0.12}, revisions=("9b1d2c0e55f1",)),
)


def clips(count: int = 600, *, seed: int = 7, now: datetime | None = None, days: float = 6.0,
          canary: tuple[str, str] | None = ("ltx-video", "ltx-2"), candidate_broken: float | None = None
          ) -> tuple[list[dict], list[dict]]:
    """(clip rows, reaction rows). With `canary` (control model, candidate model) the clips of
    those two models are in its arms; `candidate_broken` overrides the candidate's broken rate."""
    rng = random.Random(seed)
    now = now or datetime.now(timezone.utc)
    habits = {h.model: h for h in HABITS}
    rows, reactions = [], []
    for n in range(count):
        habit = rng.choices(HABITS, weights=[h.share for h in HABITS])[0]
        arm = None
        if canary and habit.model in canary:
            arm = CONTROL if habit.model == canary[0] else CANDIDATE
        broken_rate = candidate_broken if arm == CANDIDATE and candidate_broken is not None else habit.broken
        rows.append(_clip(rng, n, habits[habit.model], now - timedelta(days=rng.uniform(0, days)), arm, broken_rate))
        if rows[-1]["status"] == "done":
            reactions += [dict(clip_id=rows[-1]["id"], kind=kind.value, member_id=f"m{rng.randrange(400)}",
                               created_at=rows[-1]["created_at"] + timedelta(minutes=2))
                          for kind, chance in habit.reactions.items() if rng.random() < chance]
    return rows, reactions


def _clip(rng: random.Random, n: int, habit: Habit, created: datetime, arm: str | None, broken_rate: float) -> dict:
    flag = rng.choice([0, 1, 1, 1, 2, 2, 3, 4])
    broken = rng.random() < broken_rate
    # A broken first render is made again; now and then the second is broken too and the clip fails.
    failed = rng.random() < habit.fail or (broken and rng.random() < 0.3)
    knobs = rng.choice(habit.knob_sets)
    render = habit.render_s * rng.lognormvariate(0, 0.2) * (0.6 if knobs else 1.0)
    signals = {
        "motion": max(0.0, (habit.motion_base + habit.motion_step * flag) * rng.lognormvariate(0, 0.35)),
        "flicker": min(1.0, habit.flicker + rng.gauss(0, 0.006)),
        "frozen": max(0.0, rng.gauss(0.02, 0.03)) if flag else max(0.0, rng.gauss(0.15, 0.1)),
        "black": 0.0 if rng.random() > 0.03 else round(rng.random() * 0.2, 2),
        "sharpness": habit.sharpness * rng.lognormvariate(0, 0.3),
        "loudness": rng.gauss(-21, 3) if habit.sound else None,
        "silence": min(1.0, max(0.0, rng.gauss(0.1, 0.08))) if habit.sound else None,
        "clipping": max(0.0, rng.gauss(0.0005, 0.0005)) if habit.sound else None,
        "adherence": rng.gauss(habit.adherence, 2.5),
    }
    quality = dict(signals=signals, seconds=0.4, revision=rng.choice(habit.revisions), knobs=knobs, steps=40,
                   guidance=3.0, broken="black" if broken and rng.random() < 0.6 else "frozen" if broken else None,
                   safety="passed")
    timings = dict(queue_wait=rng.uniform(0.5, 30), render=render, gpu=render * 1.04, quality=0.4,
                   encode=render * 0.02, upload=0.3, total=render * 1.1 + 1)
    return dict(
        id=f"{int(created.timestamp() * 1000):011x}{n:013x}", task="text-to-video", prompt=f"made-up clip {n}",
        flags={"motion": flag}, seed=rng.randrange(2**32), model=habit.model, status="failed" if failed else "done",
        error="The model produced a blank (all black) clip twice" if failed else None, attempts=1,
        timings=timings, gpu_seconds=None if failed else timings["gpu"], quality=quality,
        revision=quality["revision"], knobs=knobs_label(knobs), broken=quality["broken"], canary=arm,
        author_id=f"m{rng.randrange(400)}", private=False, deleted=False, sound=habit.sound, vote_count=0,
        fps=24, num_frames=121, duration=121 / 24, width=768, height=512,
        created_at=created, updated_at=created, requested_at=created - timedelta(seconds=0.2),
        finished_at=created + timedelta(seconds=math.ceil(timings["total"])),
    )


async def seed(url: str, count: int = 600, **kw) -> int:
    """Migrate `url` and fill it with `count` made-up clips and their reactions."""
    await upgrade_async(url)
    rows, reactions = clips(count, **kw)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(Clip.__table__.insert(), rows)
            if reactions:
                await conn.execute(Reaction.__table__.insert(), _unique(reactions))
    finally:
        await engine.dispose()
    return len(rows)


def _unique(reactions: list[dict]) -> list[dict]:
    seen, out = set(), []
    for r in reactions:
        key = (r["clip_id"], r["kind"], r["member_id"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("--clips", type=int, default=600)
    args = parser.parse_args()
    print(f"seeded {asyncio.run(seed(args.database_url, args.clips))} clips into {args.database_url}")


if __name__ == "__main__":
    main()
