"""`reelbot quality [--since 7d] [--model M] [--html report.html] [--canary]`: the operator's view
of quality, over the clip records every process shares (core/quality.py's queries).

Per model, weights revision and speed-knob set: clips, failures, broken clips, members'
reaction rates, the signals' medians, render seconds p50/p95 and GPU seconds per clip; then
the `-motion` calibration (motion measured per `-motion` value per model: does the flag do
anything?). `--canary` compares the canary's candidate with the default on every measure,
with 95 % intervals, and says promote, hold or roll back (core/canary.py). `--html` writes
the same figures with charts (matplotlib PNGs embedded in the page: no external assets).
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
from datetime import datetime

from core import canary as trial
from core import quality
from core.quality import SIGNAL, SIGNALS, ClipRow, Kind, Summary
from reelbot.moderation import with_sessions

# The signals the text table shows, in columns (the HTML shows them all).
TABLE_SIGNALS = ("motion", "flicker", "frozen", "sharpness", "loudness", "adherence")
# -motion changes motion by this factor from 0 to 4 before we say the flag does something.
RESPONDS = 1.5


def run(settings, since: datetime | None, model: str | None, html_path: str | None, canary: bool) -> int:
    rows = asyncio.run(report_rows(settings, since, model, canary))
    verdict = trial.compare(rows) if canary else None
    print(report_text(rows, since, model, verdict))
    if html_path:
        try:
            page = report_html(rows, since, model, verdict)
        except ImportError:
            print("the HTML report needs matplotlib: pip install 'reelbot[report]'")
            return 2
        with open(html_path, "w", encoding="utf-8") as out:
            out.write(page)
        print(f"wrote {html_path}")
    return 0


async def report_rows(settings, since, model, canary) -> list[ClipRow]:
    """The finished clips the report reads (a database that refuses says so in one line)."""
    async def read(sessions) -> list[ClipRow]:
        async with sessions() as s:
            return await quality.report_rows(s, since, model, canary=canary)

    return await with_sessions(settings, read)


# --- text ------------------------------------------------------------------------------------

def report_text(rows: list[ClipRow], since, model, verdict: trial.Verdict | None = None) -> str:
    scope = (f"since {since:%Y-%m-%d %H:%M} UTC" if since else "all time") + (f", model {model}" if model else "")
    if not rows:
        return f"Reelbot quality ({scope}): no finished clips."
    summaries = quality.summarize(rows)
    parts = [f"Reelbot quality ({scope}): {len(rows)} finished clips", "",
             "Outcomes and members' reactions (share of clips)",
             _table(["model", "revision", "knobs", "clips", "failed", "broken", *Kind],
                    [[s.model, s.revision, s.knobs, str(s.clips), _pct(s.failed / s.clips),
                      _pct(s.broken / s.clips), *(_pct(s.reaction_rates[k]) for k in Kind)] for s in summaries]),
             "", "Signals (medians) and time",
             _table(["model", "revision", "knobs", *TABLE_SIGNALS, "render p50", "p95", "GPU s/clip"],
                    [[s.model, s.revision, s.knobs, *(_num(s.medians[n], SIGNAL[n].digits) for n in TABLE_SIGNALS),
                      _secs(s.render_p50), _secs(s.render_p95), _secs(s.gpu_per_clip)] for s in summaries]),
             "", "-motion calibration: median motion measured (% of frame width per second), clips",
             _table(["model", *(f"-motion {m}" for m in range(5)), "does -motion work?"], _calibration_rows(rows))]
    if verdict is not None:
        parts += ["", canary_text(verdict)]
    return "\n".join(parts)


def _calibration_rows(rows: list[ClipRow]) -> list[list[str]]:
    out = []
    for model, by_flag in quality.calibration(rows).items():
        cells = [f"{by_flag[m][0]:.1f} ({by_flag[m][1]})" if m in by_flag else "—" for m in range(5)]
        out.append([model, *cells, motion_works(by_flag)])
    return out


def motion_works(by_flag: dict[int, tuple[float, int]]) -> str:
    """Whether measured motion rises with -motion: from the lowest value asked to the highest."""
    flags = sorted(by_flag)
    if len(flags) < 2:
        return "not enough values asked"
    low, high = by_flag[flags[0]][0], by_flag[flags[-1]][0]
    rises = all(by_flag[a][0] <= by_flag[b][0] * 1.05 for a, b in zip(flags, flags[1:]))
    factor = high / low if low > 0 else float("inf")
    if factor >= RESPONDS and rises:
        return f"yes: x{factor:.1f} from -motion {flags[0]} to {flags[-1]}"
    return f"barely: x{factor:.1f} from -motion {flags[0]} to {flags[-1]}" + ("" if rises else ", not rising")


def canary_text(verdict: trial.Verdict) -> str:
    lines = [f"Canary: {verdict.candidate_model or '?'} (candidate, {verdict.candidate_clips} clips) vs "
             f"{verdict.control_model or '?'} (control, {verdict.control_clips} clips); "
             "difference candidate - control with its 95 % interval"]
    rows = []
    for d in verdict.differences:
        if d.kind == "rate":
            cells = [_pct(d.candidate), _pct(d.control), _signed_pct(d.candidate, d.control), _interval(d, True)]
        else:
            digits = SIGNAL[d.name].digits + 1
            cells = [_num(d.candidate, digits), _num(d.control, digits),
                     _num(None if d.candidate is None or d.control is None else d.candidate - d.control, digits),
                     _interval(d, False, digits)]
        mark = "WORSE" if d.worse else "better" if d.better else ""
        rows.append([d.name + (" (guard)" if d.guard else ""), *cells, mark])
    lines.append(_table(["measure", "candidate", "control", "difference", "95 % interval", ""], rows))
    lines.append(f"Verdict: {verdict.decision.upper()}: {verdict.reason}")
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _signed_pct(a, b) -> str:
    return "—" if a is None or b is None else f"{(a - b) * 100:+.1f} pts"


def _num(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _interval(d: trial.Difference, percent: bool, digits: int = 2) -> str:
    if d.low is None or d.high is None:
        return "—"
    if percent:
        return f"[{d.low * 100:+.1f}, {d.high * 100:+.1f}] pts"
    return f"[{d.low:+.{digits}f}, {d.high:+.{digits}f}]"


# --- HTML ------------------------------------------------------------------------------------

def report_html(rows: list[ClipRow], since, model, verdict: trial.Verdict | None = None) -> str:
    """The same figures as the text, with the charts as PNGs inside the page."""
    summaries = quality.summarize(rows, by_version=False)
    charts = [(title, _png(draw, rows, summaries)) for title, draw in CHARTS] if rows else []
    if verdict is not None:
        charts.append(("Canary: candidate - control, 95 % intervals", _png(_draw_canary, verdict)))
    images = "\n".join(f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,'
                       f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(title)}</figcaption></figure>'
                       for title, png in charts)
    text = html.escape(report_text(rows, since, model, verdict))
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Reelbot quality</title>"
            f"<style>{STYLE}</style></head><body><h1>Reelbot quality</h1>{images}<h2>Figures</h2>"
            f"<pre>{text}</pre></body></html>")


STYLE = ("body{font:15px system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}"
         "figure{display:inline-block;margin:0 1em 1em 0}img{max-width:580px}"
         "pre{font-size:12px;overflow-x:auto;background:#f6f6f6;padding:1em}")


def _png(draw, *args) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7.2, 4.2), dpi=100)
    try:
        draw(axes, *args)
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png")
        return out.getvalue()
    finally:
        pyplot.close(figure)


def report_figure(rows: list[ClipRow], path: str) -> None:
    """Every chart of the HTML report in one PNG (docs/)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    summaries = quality.summarize(rows, by_version=False)
    figure, grid = pyplot.subplots(2, 2, figsize=(14, 8.4), dpi=100)
    try:
        for axes, (title, draw) in zip(grid.flat, CHARTS):
            draw(axes, rows, summaries)
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        pyplot.close(figure)


def _draw_rates(axes, rows, summaries: list[Summary]) -> None:
    names = ["failed", "broken", *Kind]
    width = 0.8 / max(1, len(summaries))
    for i, s in enumerate(summaries):
        values = [s.failed / s.clips * 100, s.broken / s.clips * 100, *(s.reaction_rates[k] * 100 for k in Kind)]
        axes.bar([x + i * width for x in range(len(names))], values, width, label=s.model)
    axes.set_xticks([x + width * (len(summaries) - 1) / 2 for x in range(len(names))], names, rotation=30)
    axes.set_ylabel("% of clips")
    axes.set_title("Failures, broken clips and members' reactions")
    axes.legend(fontsize=8)


def _draw_signals(axes, rows, summaries: list[Summary]) -> None:
    """Each model's median of each signal over the median of all the clips' (1 = typical)."""
    overall = {s.name: quality.median_of([r for r in rows if r.status == "done"], s.name) for s in SIGNALS}
    names = [n for n, v in overall.items() if v not in (None, 0)]
    width = 0.8 / max(1, len(summaries))
    for i, s in enumerate(summaries):
        values = [(s.medians[n] or 0) / overall[n] for n in names]
        axes.bar([x + i * width for x in range(len(names))], values, width, label=s.model)
    axes.axhline(1, color="grey", linewidth=1)
    axes.set_xticks([x + width * (len(summaries) - 1) / 2 for x in range(len(names))], names, rotation=30)
    axes.set_ylabel("model median / median of all clips")
    axes.set_title("Quality signals per model")
    axes.legend(fontsize=8)


def _draw_calibration(axes, rows, summaries) -> None:
    for model, by_flag in quality.calibration(rows).items():
        flags = sorted(by_flag)
        axes.plot(flags, [by_flag[f][0] for f in flags], marker="o", label=model)
    axes.set_xticks(range(5))
    axes.set_xlabel("-motion asked")
    axes.set_ylabel("motion measured (% width/s, median)")
    axes.set_title("-motion calibration")
    axes.legend(fontsize=8)


def _draw_time(axes, rows, summaries: list[Summary]) -> None:
    models = [s.model for s in summaries]
    xs = range(len(models))
    axes.bar([x - 0.27 for x in xs], [s.render_p50 or 0 for s in summaries], 0.27, label="render p50")
    axes.bar(list(xs), [s.render_p95 or 0 for s in summaries], 0.27, label="render p95")
    axes.bar([x + 0.27 for x in xs], [s.gpu_per_clip or 0 for s in summaries], 0.27, label="GPU s per clip")
    axes.set_xticks(list(xs), models)
    axes.set_ylabel("seconds")
    axes.set_title("Render time and GPU seconds")
    axes.legend(fontsize=8)


def _draw_canary(axes, verdict: trial.Verdict) -> None:
    rates = [d for d in verdict.differences if d.kind == "rate" and d.low is not None]
    ys = range(len(rates))
    centres = [(d.candidate - d.control) * 100 for d in rates]
    axes.errorbar(centres, list(ys), xerr=[[c - d.low * 100 for c, d in zip(centres, rates)],
                                           [d.high * 100 - c for c, d in zip(centres, rates)]],
                  fmt="o", capsize=3)
    for y, d in zip(ys, rates):
        if d.worse:
            axes.plot([centres[y]], [y], "o", color="red")
    axes.axvline(0, color="grey", linewidth=1)
    axes.set_yticks(list(ys), [d.name + (" (guard)" if d.guard else "") for d in rates])
    axes.set_xlabel("candidate - control, percentage points")
    axes.set_title(f"Canary verdict: {verdict.decision}")


CHARTS = (("Failures, broken clips and members' reactions", _draw_rates),
          ("Quality signals per model", _draw_signals),
          ("-motion calibration", _draw_calibration),
          ("Render time and GPU seconds", _draw_time))
