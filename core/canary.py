"""Should the canary's candidate model replace the default? `compare` sets its clips against
the control arm's (members outside the candidate's share, same period, clips that named no
model: core/quality.py) on every reaction rate and signal, each with a 95 % interval for
the difference, and says promote, hold or roll back with the reason.

- Rates (failed, broken, each reaction) are two proportions: the difference with Newcombe's
  hybrid score interval (from two Wilson intervals), which stays honest at 0 % and 100 %
  and with few clips, where the plain normal interval collapses to a point.
- Signals are compared by their medians: the difference with a percentile bootstrap interval
  (`BOOTSTRAP` resamples, seeded so the same data gives the same verdict).
- A difference counts (marked worse or better) when its interval excludes no difference and
  it is big enough to matter: `MIN_GUARD_POINTS` or `MIN_RATE_POINTS` of a rate, or
  `MIN_MEDIAN_CHANGE` of a median. (With nineteen measures, some interval misses zero by
  chance alone; a change too small to matter should not hold a better model back.)
- Guards: failures, broken clips and reports. Any guard worse rolls back. Otherwise, with
  fewer than `MIN_CLIPS` finished clips in either arm, anything else worse, or a guard
  trending worse by `MIN_RATE_POINTS` without proof yet, hold; else promote.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass

from core.contract import Status
from core.quality import CANDIDATE, CONTROL, DISAPPOINTED, SIGNALS, ClipRow, Kind

Z95 = 1.959963984540054
BOOTSTRAP = 400
MIN_CLIPS = 30
MIN_GUARD_POINTS = 0.005  # half a percentage point more failures, broken clips or reports
MIN_RATE_POINTS = 0.02
MIN_MEDIAN_CHANGE = 0.05  # of the control's median
GUARDS = ("failed", "broken", Kind.REPORT.value)
PROMOTE, HOLD, ROLL_BACK = "promote", "hold", "roll back"


@dataclass(frozen=True)
class Difference:
    """candidate - control on one measure, with its 95 % interval."""

    name: str
    kind: str  # "rate" or "median"
    candidate: float | None
    control: float | None
    low: float | None
    high: float | None
    worse_when: str | None  # "higher", "lower", or None (neither is worse in itself)
    guard: bool = False

    @property
    def worse(self) -> bool:
        """The whole interval is on the worse side of no difference, by enough to matter."""
        return self._differs(self.worse_when)

    @property
    def better(self) -> bool:
        return self._differs({"higher": "lower", "lower": "higher"}.get(self.worse_when))

    def _differs(self, side: str | None) -> bool:
        if self.low is None or self.high is None or side is None or not self.matters:
            return False
        return self.low > 0 if side == "higher" else self.high < 0

    @property
    def matters(self) -> bool:
        if self.candidate is None or self.control is None:
            return False
        change = abs(self.candidate - self.control)
        if self.kind == "rate":
            return change >= (MIN_GUARD_POINTS if self.guard else MIN_RATE_POINTS)
        return change >= MIN_MEDIAN_CHANGE * abs(self.control)


@dataclass(frozen=True)
class Verdict:
    decision: str  # PROMOTE, HOLD or ROLL_BACK
    reason: str
    candidate_model: str | None
    control_model: str | None
    candidate_clips: int
    control_clips: int
    differences: list[Difference]


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The Wilson score 95 % interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + Z95 ** 2 / (2 * n)) / (1 + Z95 ** 2 / n)
    half = Z95 / (1 + Z95 ** 2 / n) * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_difference(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float, float]:
    """p1 - p2 and Newcombe's hybrid score 95 % interval for it."""
    p1, p2 = (x1 / n1 if n1 else 0.0), (x2 / n2 if n2 else 0.0)
    (l1, u1), (l2, u2) = wilson(x1, n1), wilson(x2, n2)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def median_difference(a: list[float], b: list[float], resamples: int = BOOTSTRAP,
                      seed: int = 0) -> tuple[float, float, float] | None:
    """median(a) - median(b) and its percentile bootstrap 95 % interval; None without data."""
    if not a or not b:
        return None
    rng = random.Random(seed)
    draws = sorted(statistics.median(rng.choices(a, k=len(a))) - statistics.median(rng.choices(b, k=len(b)))
                   for _ in range(resamples))
    return (statistics.median(a) - statistics.median(b), draws[int(0.025 * (resamples - 1))],
            draws[int(math.ceil(0.975 * (resamples - 1)))])


def compare(rows: list[ClipRow]) -> Verdict:
    """The canary's verdict from the clips of both arms."""
    arms = {CANDIDATE: [r for r in rows if r.canary == CANDIDATE], CONTROL: [r for r in rows if r.canary == CONTROL]}
    cand, ctrl = arms[CANDIDATE], arms[CONTROL]
    differences = [_rate("failed", cand, ctrl, lambda r: r.status == Status.FAILED.value),
                   _rate("broken", cand, ctrl, lambda r: r.broken is not None)]
    done = {arm: [r for r in clips if r.status == Status.DONE.value] for arm, clips in arms.items()}
    for kind in Kind:
        differences.append(_rate(kind.value, done[CANDIDATE], done[CONTROL], lambda r, k=kind.value: k in r.reactions,
                                 worse_when="higher" if kind in DISAPPOINTED else "lower"))
    for signal in SIGNALS:
        values = [[r.signals[signal.name] for r in done[arm] if r.signals.get(signal.name) is not None]
                  for arm in (CANDIDATE, CONTROL)]
        found = median_difference(*values)
        worse = {"higher": "lower", "lower": "higher"}.get(signal.better)
        differences.append(Difference(signal.name, "median", statistics.median(values[0]) if values[0] else None,
                                      statistics.median(values[1]) if values[1] else None,
                                      found[1] if found else None, found[2] if found else None, worse))
    decision, reason = _decide(differences, len(cand), len(ctrl))
    return Verdict(decision, reason, _model(cand), _model(ctrl), len(cand), len(ctrl), differences)


def _rate(name: str, cand: list[ClipRow], ctrl: list[ClipRow], hit, worse_when: str = "higher") -> Difference:
    x1, x2 = sum(map(hit, cand)), sum(map(hit, ctrl))
    _d, low, high = proportion_difference(x1, len(cand), x2, len(ctrl))
    return Difference(name, "rate", x1 / len(cand) if cand else None, x2 / len(ctrl) if ctrl else None,
                      low if cand and ctrl else None, high if cand and ctrl else None, worse_when,
                      guard=name in GUARDS)


def _decide(differences: list[Difference], candidates: int, controls: int) -> tuple[str, str]:
    tripped = [d for d in differences if d.guard and d.worse]
    if tripped:
        return ROLL_BACK, "the candidate is worse on " + ", ".join(_said(d) for d in tripped)
    if min(candidates, controls) < MIN_CLIPS:
        return HOLD, (f"too few clips to tell: {candidates} candidate and {controls} control, "
                      f"at least {MIN_CLIPS} each are needed")
    worse = [d for d in differences if d.worse]
    if worse:
        return HOLD, "no guard tripped, but the candidate is worse on " + ", ".join(_said(d) for d in worse)
    trending = [d for d in differences if d.guard and d.candidate - d.control >= MIN_RATE_POINTS]
    if trending:
        return HOLD, ("no guard tripped yet, but the candidate trends worse on " + ", ".join(_said(d) for d in trending)
                      + ": more clips will tell")
    better = [d.name for d in differences if d.better]
    return PROMOTE, ("no guard tripped and nothing is worse" +
                     (f"; better on {', '.join(better)}" if better else "; no measure differs significantly"))


def _said(d: Difference) -> str:
    if d.kind == "rate":
        return f"{d.name} ({d.candidate:.1%} vs {d.control:.1%})"
    return f"{d.name} (median {d.candidate:.4g} vs {d.control:.4g})"


def _model(rows: list[ClipRow]) -> str | None:
    models = statistics.multimode(r.model for r in rows)
    return models[0] if models else None
