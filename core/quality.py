"""Quality as operators and members read it: the signals each clip carries (measured by
worker/quality.py, stored in clips.quality), members' reactions to clips, the canary's arms,
and the queries behind "Clip details", the gallery's clip page and `reelbot quality`.

Reactions (table `reactions`, one row per clip, kind and member): a 🔁 Retry, a **redo** (a
new clip from the same member with nearly the same prompt within `REDO_WINDOW` of the
first being posted), a 🗑 Delete by the clip's author, a report, an 👍 upvote (removed when
taken back), a 🔀 Remix, a ⏩ Extend and an ✏️ Edit. Joined to the clips they react to, they
are queryable per clip, model, weights revision and speed knobs.

The canary (`REELBOT_CANARY=MODEL:PERCENT`): a member is in the candidate's share or not by a
hash of their id, so the choice is sticky; only clips that name no model take part, and
each records its arm (`candidate` or `control`) so `reelbot quality --canary` compares the
two on the same population and period (core/canary.py).
"""

from __future__ import annotations

import difflib
import hashlib
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from sqlalchemy import delete, desc, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.contract import Status
from core.db import dialect_of, insert_ignoring
from core.tables import Clip, Reaction, utcnow

REDO_WINDOW = timedelta(minutes=10)
# difflib's ratio of the two prompts (lower-cased, spaces collapsed) from which a new clip is a redo.
REDO_SIMILARITY = 0.8
REDO_LOOKBACK = 20  # the member's latest clips compared
# A model's medians (Clip details, the gallery) are over its latest clips, this many.
MEDIAN_CLIPS = 500


class Kind(StrEnum):
    RETRY = "retry"
    REDO = "redo"
    DELETE = "delete"  # by the clip's own author
    REPORT = "report"
    UPVOTE = "upvote"
    REMIX = "remix"
    EXTEND = "extend"
    EDIT = "edit"


# Reactions that say a clip disappointed, and those that say it pleased.
DISAPPOINTED = (Kind.RETRY, Kind.REDO, Kind.DELETE, Kind.REPORT)
PLEASED = (Kind.UPVOTE, Kind.REMIX, Kind.EXTEND, Kind.EDIT)


@dataclass(frozen=True)
class Signal:
    name: str
    label: str
    unit: str
    digits: int
    better: str | None  # "higher", "lower", or None when neither is better in itself

    def text(self, value: float | None) -> str:
        if value is None:
            return "—"
        return f"{value:.{self.digits}f}{(' ' + self.unit) if self.unit else ''}"


SIGNALS = (
    Signal("motion", "motion", "% width/s", 1, None),
    Signal("flicker", "steadiness (VBench temporal flickering)", "", 4, "higher"),
    Signal("frozen", "frozen frames", "share", 2, "lower"),
    Signal("black", "black frames", "share", 2, "lower"),
    Signal("sharpness", "sharpness (Laplacian variance)", "", 0, "higher"),
    Signal("loudness", "loudness", "LUFS", 1, None),
    Signal("silence", "silence", "share", 2, "lower"),
    Signal("clipping", "clipping", "share", 4, "lower"),
    Signal("adherence", "prompt adherence (CLIP score)", "", 1, "higher"),
)
SIGNAL = {s.name: s for s in SIGNALS}


# --- reactions ---------------------------------------------------------------------------

async def react(sessions: async_sessionmaker, clip_id: str, kind: Kind, member_id: str,
                made_clip_id: str | None = None) -> bool:
    """Record a reaction once (a second of the same kind by the same member adds nothing).
    True when it is new. A clip id that names no clip records nothing."""
    async with sessions.begin() as s:
        if await s.get(Clip, clip_id) is None:
            return False
        added = await s.execute(insert_ignoring(dialect_of(s), Reaction, ["clip_id", "kind", "member_id"],
                                                clip_id=clip_id, kind=kind.value, member_id=member_id,
                                                made_clip_id=made_clip_id, created_at=utcnow()))
    return added.rowcount == 1


async def unreact(sessions: async_sessionmaker, clip_id: str, kind: Kind, member_id: str) -> None:
    """Take a reaction back (an upvote pressed again)."""
    async with sessions.begin() as s:
        await s.execute(delete(Reaction).where(Reaction.clip_id == clip_id, Reaction.kind == kind.value,
                                               Reaction.member_id == member_id))


def similar(a: str, b: str) -> bool:
    """Nearly the same prompt: the same words give or take a few."""
    a, b = (" ".join((text or "").lower().split()) for text in (a, b))
    return bool(a and b) and difflib.SequenceMatcher(None, a, b).ratio() >= REDO_SIMILARITY


async def note_redo(sessions: async_sessionmaker, clip_id: str, member_id: str, prompt: str, task: str,
                    now: datetime | None = None) -> str | None:
    """When the member's new clip `clip_id` is a redo of one of theirs posted within
    REDO_WINDOW (nearly the same prompt, the same task), record it on that one and return its id."""
    now = now or utcnow()
    async with sessions() as s:
        recent = (await s.execute(
            select(Clip.id, Clip.prompt, Clip.task, Clip.status, Clip.finished_at)
            .where(Clip.author_id == member_id, Clip.created_at >= now - REDO_WINDOW - timedelta(hours=1),
                   Clip.id != clip_id)
            .order_by(desc(Clip.created_at)).limit(REDO_LOOKBACK))).all()
    for row in recent:
        finished = _aware(row.finished_at)
        if (row.status == Status.DONE.value and finished is not None and now - REDO_WINDOW <= finished <= now
                and row.task == task and similar(row.prompt, prompt)):
            await react(sessions, row.id, Kind.REDO, member_id, made_clip_id=clip_id)
            return row.id
    return None


async def reactions_of(session: AsyncSession, clip_id: str) -> dict[str, int]:
    """How many members reacted to a clip, by kind."""
    rows = (await session.execute(select(Reaction.kind).where(Reaction.clip_id == clip_id))).scalars()
    counts: dict[str, int] = {}
    for kind in rows:
        counts[kind] = counts.get(kind, 0) + 1
    return counts


# --- the canary ------------------------------------------------------------------------------

CANDIDATE, CONTROL = "candidate", "control"


def in_canary(member_id: str, percent: float) -> bool:
    """Whether a member's clips go to the candidate: a hash of their id, so always the same answer."""
    bucket = int.from_bytes(hashlib.sha256(f"reelbot-canary:{member_id}".encode()).digest()[:8], "big") % 10_000
    return bucket < round(percent * 100)


def canary_choice(canary: tuple[str, float] | None, member_id: str, default: str, able) -> tuple[str, str | None]:
    """(the model, the arm) for a clip that names no model: the candidate for members in its
    share when it can make the clip (`able(model)`: the catalog's task and sound checks),
    else the default; no arm when no canary runs or the candidate could not take part."""
    if canary is None or canary[0] == default:
        return default, None
    candidate, percent = canary
    if not able(candidate) or not able(default):
        return default, None
    return (candidate, CANDIDATE) if in_canary(member_id, percent) else (default, CONTROL)


# --- what a clip measured, against its model ------------------------------------------------

def signals_of(clip) -> dict[str, float | None]:
    return dict((clip.quality or {}).get("signals") or {})


async def model_medians(session: AsyncSession, model: str, limit: int = MEDIAN_CLIPS) -> dict[str, float]:
    """Each signal's median over the model's latest finished clips that were measured."""
    rows = (await session.execute(
        select(Clip.quality).where(Clip.model == model, Clip.status == Status.DONE.value, Clip.quality.is_not(None))
        .order_by(desc(Clip.created_at)).limit(limit))).scalars()
    values: dict[str, list[float]] = {}
    for quality in rows:
        for name, value in (quality or {}).get("signals", {}).items():
            if value is not None:
                values.setdefault(name, []).append(float(value))
    return {name: statistics.median(found) for name, found in values.items()}


def versus(value: float | None, median: float | None) -> str:
    """How a value compares with the model's median, in words: "median 0.93 · +12 %"."""
    if value is None or median is None:
        return ""
    if abs(median) < 1e-9:
        return f"median {median:g}"
    change = (value - median) / abs(median) * 100
    return f"median {median:.4g} · {change:+.0f} %"


# --- `reelbot quality` ------------------------------------------------------------------------

@dataclass
class ClipRow:
    """What the report reads of one clip."""

    id: str
    model: str
    revision: str
    knobs: str
    status: str
    broken: str | None
    canary: str | None
    motion_flag: int | None
    signals: dict[str, float | None]
    render_s: float | None
    gpu_s: float | None
    reactions: set[str] = field(default_factory=set)


async def report_rows(session: AsyncSession, since: datetime | None = None, model: str | None = None,
                      canary: bool = False) -> list[ClipRow]:
    """Finished clips (done or failed; cancelled ones say nothing of quality) made since
    `since`, of `model`, or only those in the canary, with their reactions."""
    query = select(Clip.id, Clip.model, Clip.revision, Clip.knobs, Clip.status, Clip.broken, Clip.canary,
                   Clip.flags, Clip.quality, Clip.timings, Clip.gpu_seconds).where(
        Clip.status.in_([Status.DONE.value, Status.FAILED.value]))
    reactions = select(Reaction.clip_id, Reaction.kind).join(Clip, Clip.id == Reaction.clip_id)
    if since is not None:
        query, reactions = query.where(Clip.created_at >= since), reactions.where(Clip.created_at >= since)
    if model:
        query, reactions = query.where(Clip.model == model), reactions.where(Clip.model == model)
    if canary:
        query, reactions = query.where(Clip.canary.is_not(None)), reactions.where(Clip.canary.is_not(None))
    rows = {}
    for r in (await session.execute(query.order_by(Clip.created_at))).all():
        motion = (r.flags or {}).get("motion")
        rows[r.id] = ClipRow(
            id=r.id, model=r.model, revision=r.revision or "—", knobs=r.knobs or "—", status=r.status,
            broken=r.broken, canary=r.canary, motion_flag=int(motion) if motion is not None else 1,
            signals=dict((r.quality or {}).get("signals") or {}),
            render_s=(r.timings or {}).get("render"), gpu_s=r.gpu_seconds)
    for clip_id, kind in (await session.execute(reactions)).all():
        if clip_id in rows:
            rows[clip_id].reactions.add(kind)
    return list(rows.values())


@dataclass
class Summary:
    """One line of the report: a model, or a model at one weights revision and knob set."""

    model: str
    revision: str
    knobs: str
    clips: int
    failed: int
    broken: int
    reaction_rates: dict[str, float]
    medians: dict[str, float | None]
    render_p50: float | None
    render_p95: float | None
    gpu_per_clip: float | None


def summarize(rows: list[ClipRow], by_version: bool = True) -> list[Summary]:
    """One Summary per model (and revision and knobs when `by_version`), in name order."""
    groups: dict[tuple, list[ClipRow]] = {}
    for row in rows:
        key = (row.model, row.revision, row.knobs) if by_version else (row.model, "*", "*")
        groups.setdefault(key, []).append(row)
    return [_summary(key, group) for key, group in sorted(groups.items())]


def _summary(key: tuple, rows: list[ClipRow]) -> Summary:
    done = [r for r in rows if r.status == Status.DONE.value]
    renders = sorted(r.render_s for r in done if r.render_s is not None)
    gpus = [r.gpu_s for r in done if r.gpu_s is not None]
    return Summary(
        model=key[0], revision=key[1], knobs=key[2], clips=len(rows),
        failed=sum(r.status == Status.FAILED.value for r in rows), broken=sum(r.broken is not None for r in rows),
        reaction_rates={kind.value: rate(done, kind) for kind in Kind},
        medians={s.name: median_of(done, s.name) for s in SIGNALS},
        render_p50=percentile(renders, 50), render_p95=percentile(renders, 95),
        gpu_per_clip=statistics.fmean(gpus) if gpus else None,
    )


def rate(rows: list[ClipRow], kind: Kind) -> float:
    """The share of clips with at least one reaction of `kind`."""
    return sum(kind.value in r.reactions for r in rows) / len(rows) if rows else 0.0


def median_of(rows: list[ClipRow], signal: str) -> float | None:
    found = [r.signals[signal] for r in rows if r.signals.get(signal) is not None]
    return statistics.median(found) if found else None


def percentile(ordered: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of sorted values."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def calibration(rows: list[ClipRow]) -> dict[str, dict[int, tuple[float, int]]]:
    """-motion against the motion measured: per model, per -motion value, (median motion, clips)."""
    found: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        if r.status == Status.DONE.value and r.signals.get("motion") is not None and r.motion_flag is not None:
            found.setdefault(r.model, {}).setdefault(r.motion_flag, []).append(r.signals["motion"])
    return {model: {flag: (statistics.median(values), len(values)) for flag, values in sorted(by_flag.items())}
            for model, by_flag in sorted(found.items())}


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# --- "Clip details" and the gallery's clip page ------------------------------------------------

# Timings in the order a job goes through them, with what each is called.
TIMINGS = (("queue_wait", "queue wait"), ("inputs", "inputs"), ("gpu_wait", "waiting for the GPU"),
           ("render", "render"), ("quality", "quality check"), ("encode", "encode"), ("upload", "upload"))


def facts(clip, medians: dict[str, float], *, public: bool = False) -> list[tuple[str, str]]:
    """How a clip was made and how it measured, as (name, text) pairs: "Clip details" shows
    them all to its viewer; the gallery (`public`) leaves out the moderation ones."""
    made = clip.quality or {}
    timings = clip.timings or {}
    spec_revision = made.get("revision") or clip.revision
    out = [("Model", clip.model + (f" · weights {spec_revision}" if spec_revision else "")),
           ("Task", clip.task), ("Seed", str(clip.seed))]
    first_seed = made.get("first_seed")
    if first_seed is not None:
        out.append(("Rendered again", f"the first render (seed {first_seed}) was {made.get('broken')}; "
                                      "made again with a new seed, at no cost"))
    steps, guidance = made.get("steps"), made.get("guidance")
    if steps is not None or guidance is not None:
        out.append(("Steps · guidance", f"{steps if steps is not None else '—'} · "
                                        f"{f'{guidance:g}' if guidance is not None else '—'}"))
    knobs = made.get("knobs")
    if knobs is not None:
        out.append(("Speed knobs", ", ".join(f"{k} {v}" for k, v in sorted(knobs.items())) or "none"))
    lane = (clip.flags or {}).get("lane")
    if lane:
        out.append(("Lane", str(lane)))
    if clip.canary:
        out.append(("Canary", "candidate model on trial" if clip.canary == CANDIDATE else "control (default model)"))
    steps_text = [f"{label} {_seconds(timings[key])}" for key, label in TIMINGS if timings.get(key) is not None]
    if steps_text:
        out.append(("Time", " · ".join(steps_text)))
    if clip.gpu_seconds is not None:
        discarded = timings.get("gpu_discarded") or 0
        out.append(("GPU seconds", f"{clip.gpu_seconds:.2f}" + (f" (+{discarded:.2f} not charged: a broken render "
                                                                "made again)" if discarded else "")))
    member_waited = waited(clip)
    if member_waited is not None:
        out.append(("Waited", f"{_seconds(member_waited)} from the command to the post"))
    signals = signals_of(clip)
    lines = [f"{s.label}: {s.text(signals.get(s.name))}" + (f" ({versus(signals[s.name], medians.get(s.name))})"
                                                            if signals.get(s.name) is not None
                                                            and medians.get(s.name) is not None else "")
             for s in SIGNALS if signals.get(s.name) is not None]
    out.append(("Quality signals", "\n".join(lines) if lines else "not measured"))
    if not public:
        safety = made.get("safety") or ("flagged" if clip.flagged else None)
        out.append(("Safety check", {"passed": "passed", "flagged": "flagged (age-restricted channels only)",
                                     "off": "off on this server's workers"}.get(safety, "not recorded")))
    return out


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 100 else f"{value / 60:.1f} min"


def waited(clip, now: datetime | None = None) -> float | None:
    """What the member waited: from their command (the interaction's time; the clip's record
    for clips from before it was kept) to the post (`now` while it is not recorded yet)."""
    asked, posted = _aware(clip.requested_at or clip.created_at), _aware(clip.posted_at or now)
    return max(0.0, (posted - asked).total_seconds()) if asked and posted else None
