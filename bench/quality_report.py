"""`reelbot quality` on a seeded database: the table, the -motion calibration and the canary's
verdict as an operator sees them, and the HTML report's charts as one PNG (docs/).

Seeds a fresh SQLite database with bench/quality_seed.py's made-up clips (three models, two
revisions and two knob sets of one, members' reactions, a canary of ltx-2 against ltx-video),
then runs the same code as `reelbot quality --since 7d --canary --html`.

    python bench/quality_report.py [--clips 600] [--png docs/quality-report.png] [--html report.html]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.quality_seed import seed  # noqa: E402
from core.canary import compare  # noqa: E402
from core.settings import load_settings  # noqa: E402
from reelbot import quality as report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=600)
    parser.add_argument("--png", default=str(ROOT / "docs" / "quality-report.png"))
    parser.add_argument("--html", help="also write the HTML report here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/quality.db"
        asyncio.run(seed(url, args.clips))
        since = datetime.now(timezone.utc) - timedelta(days=7)
        rows = asyncio.run(report.report_rows(load_settings(database_url=url), since, None, False))
        canary_rows = [r for r in rows if r.canary]
        print(report.report_text(rows, since, None))
        print()
        print(report.canary_text(compare(canary_rows)))
        report.report_figure(rows, args.png)
        print(f"\nwrote {args.png}")
        if args.html:
            Path(args.html).write_text(report.report_html(rows, since, None, compare(canary_rows)), encoding="utf-8")
            print(f"wrote {args.html}")


if __name__ == "__main__":
    main()
